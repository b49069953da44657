import type { FastifyInstance } from 'fastify';
import { ApiError, envelopeSchema, errorResponses, notFound, ok } from './envelope.js';
import { idParams } from './schemas.js';
import type { ParentChannel } from '../../shared/contracts/lifecycle.js';
import type { SipContract } from '../../shared/contracts/sip.js';
import type { ConfigType, DeviceControlCommand, PtzCommand, SubscriptionKind } from '../../protocol/gb28181/index.js';
import type { StreamManager } from '../streams.js';

/**
 * GB28181 control (docs/gb28181-control.md): PTZ, presets, guard, alarm reset, record,
 * I-frame, reboot, status and config queries, playback control and subscriptions. Each call
 * waits for the device (its 200 and, where the standard has one, its Response MESSAGE);
 * failures come back from the SIP thread as ServiceErrors: 409 device not registered,
 * 502 refused or Result ERROR, 504 no answer, 503 busy, 400 a value the command cannot carry.
 */

/** A SIP transaction times out after 32 s and a Response is waited for 10 s more. */
const CONTROL_TIMEOUT = 45_000;

const int = { type: 'integer' } as const;
const str = { type: 'string' } as const;

const PTZ_ACTIONS = ['left', 'right', 'up', 'down', 'upleft', 'upright', 'downleft', 'downright', 'zoomin', 'zoomout', 'stop', 'focusnear', 'focusfar', 'irisopen', 'irisclose'] as const;
type PtzAction = (typeof PTZ_ACTIONS)[number];

/** The A.3 PTZCmd for an API action: only the moving axis gets the speed; zoom speed is 4 bits. */
export function ptzCommandOf(action: PtzAction, speed: number): PtzCommand {
  const axis = (positive: string, negative: string): -1 | 0 | 1 => (action.includes(positive) ? 1 : action.includes(negative) ? -1 : 0);
  if (action.startsWith('focus') || action.startsWith('iris')) {
    const focus = axis('focusfar', 'focusnear');
    const iris = axis('irisopen', 'irisclose');
    return { kind: 'fi', focus, iris, focusSpeed: focus === 0 ? 0 : speed, irisSpeed: iris === 0 ? 0 : speed };
  }
  const pan = axis('right', 'left');
  const tilt = axis('up', 'down');
  const zoom = axis('zoomin', 'zoomout');
  return { kind: 'ptz', pan, tilt, zoom, panSpeed: pan === 0 ? 0 : speed, tiltSpeed: tilt === 0 ? 0 : speed, zoomSpeed: zoom === 0 ? 0 : Math.round((speed * 15) / 255) };
}

const outcomeSchema = {
  type: 'object',
  description: 'How the device answered: `sip` (its 200 is the whole answer) or `response` (a Response MESSAGE came too).',
  properties: { answeredBy: { type: 'string', enum: ['sip', 'response'] }, result: str, latencyMs: int },
} as const;

const anyObject = { type: 'object', additionalProperties: true } as const;

const subscriptionSchema = {
  type: 'object',
  properties: {
    deviceId: str,
    kind: { type: 'string', enum: ['catalog', 'alarm', 'mobilePosition'] },
    state: { type: 'string', enum: ['pending', 'active', 'rejected', 'failed', 'terminated', 'unsubscribed'] },
    reason: str,
    status: int,
    expires: int,
    callId: str,
    refreshes: int,
    notifies: int,
  },
} as const;

/** `channelid` of a device-level command: the device itself unless a channel or alarm input is named. */
const targetProperty = { channelid: { type: 'string', pattern: '^[0-9]{20}$', description: 'Channel or alarm input to address (default: the device)' } } as const;

const KIND_OF: Record<string, SubscriptionKind> = { catalog: 'catalog', alarm: 'alarm', 'mobile-position': 'mobilePosition', mobilePosition: 'mobilePosition' };

export function controlRoutes(manager: () => StreamManager | null) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { store } = app.deps;
    const sip = (): ParentChannel<SipContract> => {
      const channel = app.deps.sip?.();
      if (!channel) throw new ApiError(503, '1001', 'signalling is restarting; retry');
      return channel;
    };
    const channelTarget = async (id: string) => {
      const channel = await store.channels.get(id);
      if (!channel) throw notFound(`channel ${id} not found`);
      return { deviceId: channel.deviceid, channelId: channel.channelid };
    };
    const deviceTarget = async (id: string, channelid?: string) => {
      if (!(await store.devices.get(id))) throw notFound(`device ${id} not found`);
      return { deviceId: id, channelId: channelid ?? id };
    };
    const control = (target: { deviceId: string; channelId: string }, command: DeviceControlCommand) =>
      sip().request('control.device', { ...target, command }, CONTROL_TIMEOUT);
    const schema = (tag: string, summary: string, extra: Record<string, unknown>, data: object = outcomeSchema) => ({
      schema: { tags: [tag], summary, params: idParams, ...extra, response: { 200: envelopeSchema(data), ...errorResponses } },
    });

    app.post<{ Params: { id: string }; Body: { action: PtzAction; speed?: number } }>(
      '/channels/:id/ptz',
      schema('control', 'Pan, tilt, zoom, focus or iris (DeviceControl PTZCmd, A.3); `stop` ends a move.', {
        body: {
          type: 'object',
          required: ['action'],
          properties: {
            action: { type: 'string', enum: PTZ_ACTIONS },
            speed: { type: 'integer', minimum: 0, maximum: 255, default: 128, description: 'Pan/tilt/focus/iris speed 0–255; zoom uses it scaled to 0–15' },
          },
        },
      }),
      async (request) => {
        const { action, speed = 128 } = request.body;
        return ok(await control(await channelTarget(request.params.id), { type: 'ptz', command: ptzCommandOf(action, speed) }));
      },
    );

    app.get<{ Params: { id: string } }>(
      '/channels/:id/presets',
      schema('control', 'The channel\'s presets (PresetQuery).', {}, { type: 'array', items: { type: 'object', properties: { id: int, name: str } } }),
      async (request) => ok(await sip().request('control.presets', await channelTarget(request.params.id), CONTROL_TIMEOUT)),
    );

    app.post<{ Params: { id: string }; Body: { action: 'set' | 'call' | 'delete'; index: number } }>(
      '/channels/:id/presets',
      schema('control', 'Set, call or delete a preset (PTZCmd 0x81/0x82/0x83).', {
        body: {
          type: 'object',
          required: ['action', 'index'],
          properties: { action: { type: 'string', enum: ['set', 'call', 'delete'] }, index: { type: 'integer', minimum: 1, maximum: 255 } },
        },
      }),
      async (request) => {
        const { action, index } = request.body;
        return ok(await control(await channelTarget(request.params.id), { type: 'ptz', command: { kind: 'preset', action, preset: index } }));
      },
    );

    app.post<{ Params: { id: string }; Body: { enabled?: boolean; resetTime?: number; presetIndex?: number } }>(
      '/channels/:id/home',
      schema('control', 'Home position: return to a preset after `resetTime` seconds idle (HomePosition), or switch it off.', {
        body: {
          type: 'object',
          properties: {
            enabled: { type: 'boolean', default: true },
            resetTime: { type: 'integer', minimum: 1, maximum: 86400 },
            presetIndex: { type: 'integer', minimum: 1, maximum: 255 },
          },
        },
      }),
      async (request) => {
        const { enabled = true, resetTime, presetIndex } = request.body;
        const command: DeviceControlCommand = { type: 'homePosition', enabled, ...(resetTime === undefined ? {} : { resetTime }), ...(presetIndex === undefined ? {} : { presetIndex }) };
        return ok(await control(await channelTarget(request.params.id), command));
      },
    );

    // Device-level commands (an optional channelid addresses a channel or alarm input).
    type DeviceCommandBody = { action?: string; alarmMethod?: string; alarmType?: string; channelid?: string };
    const deviceCommand = (path: string, summary: string, properties: Record<string, unknown>, required: string[], command: (body: DeviceCommandBody) => DeviceControlCommand) =>
      app.post<{ Params: { id: string }; Body: DeviceCommandBody }>(
        `/devices/:id/${path}`,
        schema('control', summary, { body: { type: 'object', ...(required.length > 0 ? { required } : {}), properties: { ...properties, ...targetProperty } } }),
        async (request) => ok(await control(await deviceTarget(request.params.id, request.body.channelid), command(request.body))),
      );
    deviceCommand('guard', 'Arm (set) or disarm (reset) (GuardCmd).', { action: { type: 'string', enum: ['set', 'reset'] } }, ['action'], (b) => ({
      type: 'guard',
      action: b.action === 'set' ? 'SetGuard' : 'ResetGuard',
    }));
    deviceCommand(
      'alarm-reset',
      'Reset an alarm (AlarmCmd ResetAlarm).',
      { alarmMethod: { type: 'string', pattern: '^[0-9/]{1,16}$' }, alarmType: { type: 'string', pattern: '^[0-9/]{1,16}$' } },
      [],
      (b) => ({ type: 'alarmReset', ...(b.alarmMethod ? { alarmMethod: b.alarmMethod } : {}), ...(b.alarmType ? { alarmType: b.alarmType } : {}) }),
    );
    deviceCommand('record', 'Start or stop recording on the device (RecordCmd).', { action: { type: 'string', enum: ['start', 'stop'] } }, ['action'], (b) => ({
      type: 'record',
      action: b.action === 'start' ? 'Record' : 'StopRecord',
    }));
    deviceCommand('iframe', 'Ask for a key frame now (IFrameCmd).', {}, [], () => ({ type: 'iframe' }));
    deviceCommand('reboot', 'Reboot the device (TeleBoot).', {}, [], () => ({ type: 'teleboot' }));

    app.get<{ Params: { id: string }; Querystring: { channelid?: string } }>(
      '/devices/:id/status',
      schema('control', 'The device\'s status (DeviceStatus query): online, encode, record, alarm inputs.', {
        querystring: { type: 'object', properties: targetProperty },
      }, anyObject),
      async (request) => {
        const target = await deviceTarget(request.params.id, request.query.channelid);
        const status = await sip().request('control.status', target, CONTROL_TIMEOUT);
        // The device's own status is kept on its row (GET /devices shows it with status_at);
        // a channel's or alarm input's answer is only returned.
        if (target.channelId === target.deviceId) {
          await store.devices.update(target.deviceId, { status: { ...status }, status_at: Math.floor(Date.now() / 1000) });
        }
        return ok(status);
      },
    );

    const CONFIG_TYPES = ['BasicParam', 'VideoParamOpt', 'SVACEncodeConfig', 'SVACDecodeConfig', 'VideoParamAttribute', 'VideoRecordPlan', 'VideoAlarmRecord', 'PictureMask', 'FrameMirror', 'AlarmReport', 'OSDConfig', 'SnapShotConfig'] as const;
    app.get<{ Params: { id: string }; Querystring: { channelid?: string; types?: ConfigType[] } }>(
      '/devices/:id/config',
      schema('control', 'The device\'s configuration (ConfigDownload); the password a device may include is not returned.', {
        querystring: {
          type: 'object',
          properties: { ...targetProperty, types: { type: 'array', items: { type: 'string', enum: CONFIG_TYPES }, maxItems: CONFIG_TYPES.length, description: 'Default BasicParam and VideoParamOpt' } },
        },
      }, anyObject),
      async (request) => {
        const types: ConfigType[] = request.query.types?.length ? request.query.types : ['BasicParam', 'VideoParamOpt'];
        return ok(await sip().request('control.configDownload', { ...(await deviceTarget(request.params.id, request.query.channelid)), types }, CONTROL_TIMEOUT));
      },
    );

    app.post<{ Params: { id: string }; Body: { name?: string; expiration?: number; heartBeatInterval?: number; heartBeatCount?: number; channelid?: string } }>(
      '/devices/:id/config',
      schema('control', 'Change the device\'s name, registration expiry or heartbeat (DeviceConfig BasicParam).', {
        body: {
          type: 'object',
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64 },
            expiration: { type: 'integer', minimum: 60, maximum: 86400 },
            heartBeatInterval: { type: 'integer', minimum: 5, maximum: 3600 },
            heartBeatCount: { type: 'integer', minimum: 1, maximum: 100 },
            ...targetProperty,
          },
        },
      }),
      async (request) => {
        const { channelid, ...basic } = request.body;
        return ok(await sip().request('control.config', { ...(await deviceTarget(request.params.id, channelid)), basic }, CONTROL_TIMEOUT));
      },
    );

    const kindParam = { type: 'string', enum: ['catalog', 'alarm', 'mobile-position'] } as const;
    app.post<{ Params: { id: string }; Body: { kind: string; interval?: number } }>(
      '/devices/:id/subscriptions',
      schema('control', 'Subscribe to the device\'s catalog changes, alarms or mobile position; refreshed before it expires.', {
        body: {
          type: 'object',
          required: ['kind'],
          properties: { kind: kindParam, interval: { type: 'integer', minimum: 1, maximum: 3600, description: 'mobile-position: seconds between reports (default 5)' } },
        },
      }, subscriptionSchema),
      async (request) => {
        const { deviceId } = await deviceTarget(request.params.id);
        const { kind, interval } = request.body;
        return ok(await sip().request('subscription.start', { deviceId, kind: KIND_OF[kind]!, ...(interval ? { options: { interval } } : {}) }, CONTROL_TIMEOUT));
      },
    );

    app.delete<{ Params: { id: string; kind: string } }>(
      '/devices/:id/subscriptions/:kind',
      {
        schema: {
          tags: ['control'],
          summary: 'End a subscription (SUBSCRIBE with Expires 0).',
          params: { type: 'object', required: ['id', 'kind'], properties: { ...idParams.properties, kind: kindParam } },
          response: { 200: envelopeSchema(subscriptionSchema), ...errorResponses },
        },
      },
      async (request) => {
        const { deviceId } = await deviceTarget(request.params.id);
        const ended = await sip().request('subscription.stop', { deviceId, kind: KIND_OF[request.params.kind]! }, CONTROL_TIMEOUT);
        if (!ended) throw notFound(`device ${deviceId} has no ${request.params.kind} subscription`);
        return ok(ended);
      },
    );

    app.get<{ Params: { id: string } }>(
      '/devices/:id/subscriptions',
      schema('control', 'The device\'s subscriptions and their state.', {}, { type: 'array', items: subscriptionSchema }),
      async (request) => ok(await sip().request('subscription.list', { deviceId: (await deviceTarget(request.params.id)).deviceId })),
    );
  };
}
