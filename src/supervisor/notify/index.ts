export {
  DEFAULT_QUEUE,
  DEFAULT_RETRY,
  NOTIFY_EVENTS,
  Notifier,
  type CloseResult,
  type EventListener,
  type NotifierLogger,
  type NotifierOptions,
  type NotifierStats,
  type NotifyEvent,
  type QueueLimits,
  type RetryPolicy,
} from './notifier.js';
export { DEFAULT_TOLERANCE_SECONDS, SIGNATURE_PREFIX, signPayload, verifySignature, type VerifyOptions } from './signature.js';
