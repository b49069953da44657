/**
 * ZLMediaKit as camgate's media server (`media.server: zlm`): an HTTP API client, the webhook
 * handlers and their fastify route, and play-URL building. Everything is tested against a ZLM
 * test double that replays bodies recorded from a real server, since ZLM itself cannot run in CI.
 */
export {
  ZlmClient,
  ZlmError,
  ZlmTransportError,
  ZLM_CODE,
  type ZlmClientOptions,
  type ZlmTransportFailure,
  type ZlmTcpMode,
  type OpenRtpServerRequest,
  type RtpServerEntry,
  type RtpInfo,
  type MediaListFilter,
  type ZlmMediaEntry,
  type ZlmTrack,
  type CloseStreamsRequest,
  type CloseStreamsResult,
  type ZlmSendPayload,
  type StartSendRtpRequest,
  type StartSendRtpPassiveRequest,
  type SendRtpTarget,
} from './client.js';
export {
  createZlmHooks,
  ZlmHookHandlers,
  NONE_READER_REASONS,
  DEFAULT_PUBLISH_OPTIONS,
  HANDLED_HOOKS,
  type ZlmStreamOwner,
  type ZlmPublishOptions,
  type ZlmHooksOptions,
  type ZlmHookReply,
  type ZlmHookOutcome,
  type ZlmHookStats,
  type ZlmHooks,
} from './hooks.js';
export { zlmWebhookRoutes, ZLM_WEBHOOK_PATH, type ZlmWebhookRoutesOptions } from './routes.js';
export {
  buildPlayUrls,
  streamIdFromSsrc,
  ssrcFromStreamId,
  DEFAULT_ZLM_URL_TEMPLATES,
  ZLM_PLAY_URL_KINDS,
  type ZlmUrlBases,
  type ZlmUrlTemplates,
  type ZlmPlayUrlKind,
  type ZlmPlayUrls,
} from './urls.js';
