/**
 * Media-plane names of GB28181 inputs: `rtp/<streamid>`, where the stream id is the
 * SSRC in 8 hex digits (as gosip and ZLMediaKit's `rtp` app name them). JT/T 1078
 * streams keep m7s-jt1078's names (`live/jt1078-<sim>-<channel>`, src/protocol/jt1078).
 */
const RTP_APP = 'rtp/';

export function rtpStreamName(streamid: string): string {
  return `${RTP_APP}${streamid}`;
}

/** The stream id of a GB28181 input's name, or null for any other stream. */
export function rtpStreamId(name: string): string | null {
  return name.startsWith(RTP_APP) ? name.slice(RTP_APP.length) : null;
}

export function isRtpStreamName(name: string): boolean {
  return name.startsWith(RTP_APP);
}
