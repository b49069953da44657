/** The peer of a channel is gone, or the channel was closed, before the answer came. */
export class ChannelClosedError extends Error {
  constructor(message = 'channel closed') {
    super(message);
    this.name = 'ChannelClosedError';
  }
}

/** A request got no answer in time. */
export class ChannelTimeoutError extends Error {
  constructor(method: string, ms: number) {
    super(`request ${method} got no answer within ${ms} ms`);
    this.name = 'ChannelTimeoutError';
  }
}

/** The remote handler failed; name and message are the remote error's. */
export class RemoteError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}
