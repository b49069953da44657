import type { FastifyInstance } from 'fastify';
import { ApiError, badRequest, envelopeSchema, errorResponses, notFound, ok } from './envelope.js';
import type { IntercomControl } from '../intercom.js';
import type { IntercomMode } from '../../shared/contracts/media.js';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;

const targetSchema = { type: 'object', properties: { sim: str, channel: int, port: int } } as const;

const answerSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'The intercom; names it in webhooks' },
    type: { type: 'string', enum: ['answer'] },
    sdp: { type: 'string', description: 'SDP answer; its one candidate is jt1078.intercom.publicIp:webrtcPort' },
    codec: { type: 'string', enum: ['PCMA', 'PCMU', 'G722'] },
    targets: { type: 'array', items: targetSchema, description: 'Each terminal with the audio port it was given (empty for a camera)' },
    camera: {
      type: 'object',
      description:
        'A camera broadcast: its device and channel, how its INVITE asked for the audio (transport from our side: tcp-passive = the camera connects to mediaPort), ' +
        'ms from the Broadcast MESSAGE to its INVITE, our media port as our SDP answer named it',
      properties: {
        deviceId: str,
        channelId: str,
        transport: { type: 'string', enum: ['udp', 'tcp-active', 'tcp-passive'] },
        carriage: { type: 'string', enum: ['raw', 'ps'] },
        inviteMs: int,
        mediaPort: int,
      },
    },
  },
} as const;

const sdpField = { type: 'string', minLength: 10, maxLength: 65536, description: 'The browser\'s SDP offer, after ICE gathering completed (non-trickle)' } as const;

/** The body of both intercom routes (vehicle and camera): the browser's offer and what it is for. */
function offerBody(dataType: string) {
  return {
    type: 'object',
    required: ['sdp'],
    properties: {
      sdp: sdpField,
      type: { type: 'string', enum: ['offer'], default: 'offer' },
      dataType: { type: 'integer', enum: [2, 3, 4], default: 2, description: dataType },
    },
  } as const;
}

const MODES: Record<string, IntercomMode> = { '2': 'talk', '3': 'listen', '4': 'broadcast' };

/**
 * Intercom routes: camgate's own (`/vehicles/:sim/channels/:channel/intercom`, everything
 * managed) and m7s-jt1078's (`/jt1078/api/v1/intercom`, same request and answer bodies).
 * Both need the API token like every other route.
 */
export function intercomRoutes(control: () => IntercomControl | null) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const intercom = () => {
      const c = control();
      if (!c) throw new ApiError(503, '1001', 'intercom unavailable');
      return c;
    };
    const channelParams = {
      type: 'object',
      required: ['sim', 'channel'],
      properties: {
        sim: { type: 'string', pattern: '^[0-9]{1,20}$', description: 'SIM (phone number); leading zeros optional' },
        channel: { type: 'integer', minimum: 1, maximum: 255 },
      },
    } as const;

    app.post<{ Params: { sim: string; channel: number }; Body: { sdp: string; type?: string; dataType?: number } }>(
      '/vehicles/:sim/channels/:channel/intercom',
      {
        schema: {
          tags: ['vehicles'],
          summary:
            'Talk with a vehicle from a browser (WebRTC): the browser\'s offer in, the answer out. camgate learns the terminal\'s audio codec ' +
            '(stored 0x1003, else 0x9003), takes a free port of jt1078.intercom.audioPorts (503 when none), sends 0x9101 with data type 2 ' +
            '(3 listen only, 4 broadcast) and that port. Hang-up (DELETE, browser closed, ICE failed, no connection within ' +
            'jt1078.intercom.connectTimeout, the terminal disconnected) sends 0x9102 command 4 and frees the port.',
          params: channelParams,
          body: offerBody('2 two-way talk, 3 listen (vehicle → browser), 4 broadcast (browser → vehicle)'),
          response: { 200: envelopeSchema(answerSchema), ...errorResponses },
        },
      },
      async (request) => {
        const mode = MODES[String(request.body.dataType ?? 2)]!;
        return ok(await intercom().openVehicle(request.params.sim, request.params.channel, request.body.sdp, mode));
      },
    );

    app.delete<{ Params: { sim: string; channel: number } }>(
      '/vehicles/:sim/channels/:channel/intercom',
      {
        schema: {
          tags: ['vehicles'],
          summary: 'Hang up the intercom of a vehicle channel: 0x9102 command 4 to the terminal, the port back to the pool.',
          params: channelParams,
          response: { 200: envelopeSchema({ type: 'string' }), ...errorResponses },
        },
      },
      async (request) => {
        if (!(await intercom().hangUp(request.params.sim, request.params.channel))) throw notFound(`vehicle ${request.params.sim} channel ${request.params.channel} is in no intercom`);
        return ok('');
      },
    );

    const cameraParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9]{20}$', description: 'Channel ID' } } } as const;

    app.post<{ Params: { id: string }; Body: { sdp: string; type?: string; dataType?: number } }>(
      '/channels/:id/intercom',
      {
        schema: {
          tags: ['channels'],
          summary:
            'Speak through a camera from a browser (GB28181 voice broadcast, GB/T 28181-2016 §9.12): the browser\'s offer in, the answer out ' +
            '(PCMA). camgate sends Notify Broadcast (SourceID = sip.id, TargetID = the channel), waits for the camera\'s 200 and Response, ' +
            'then for its INVITE (gb28181.broadcastInviteTimeout, else 504 no-invite), answers it and sends the microphone as G.711A to the ' +
            'address of its SDP: RTP PT 8 when it offered PCMA, else in PS (stream type 0x90) on PT 96, UDP or TCP (RFC 4571). ' +
            'Hang-up (DELETE, browser closed, ICE failed, the camera\'s BYE or its TCP connection closed) sends BYE unless the camera did. ' +
            'Same body as the vehicle intercom; dataType 2 and 4 both broadcast (a camera only listens), 3 is refused.',
          params: cameraParams,
          body: offerBody('2 or 4: broadcast (browser → camera); 3 is refused (400)'),
          response: { 200: envelopeSchema(answerSchema), ...errorResponses },
        },
      },
      async (request) => {
        if (request.body.dataType === 3) throw badRequest('dataType', 'a camera broadcast carries the browser\'s audio only; 3 (listen) is not possible');
        return ok(await intercom().openCamera(request.params.id, request.body.sdp));
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/channels/:id/intercom',
      {
        schema: {
          tags: ['channels'],
          summary: 'Hang up the voice broadcast of a camera channel: BYE to the camera (unless it hung up), the browser session closed.',
          params: cameraParams,
          response: { 200: envelopeSchema({ type: 'string' }), ...errorResponses },
        },
      },
      async (request) => {
        if (!(await intercom().hangUpCamera(request.params.id))) throw notFound(`channel ${request.params.id} is in no intercom`);
        return ok('');
      },
    );

    app.get(
      '/intercom',
      {
        schema: {
          tags: ['vehicles'],
          summary: 'Open intercoms.',
          response: {
            200: envelopeSchema({
              type: 'array',
              items: {
                type: 'object',
                properties: { id: str, origin: str, mode: str, codec: str, targets: { type: 'array', items: targetSchema }, camera: { type: 'object', properties: { deviceId: str, channelId: str } } },
              },
            }),
            ...errorResponses,
          },
        },
      },
      async () => ok(intercom().list()),
    );

    app.post<{ Body: { sdp: string; type?: string; group: Array<{ sim: string; channel: number; audioPort: number }>; enterAudioEncoding?: number } }>(
      '/jt1078/api/v1/intercom',
      {
        schema: {
          tags: ['vehicles'],
          summary:
            'm7s-jt1078\'s intercom request: the application already sent 0x9101 (data type 2) with each audioPort; camgate answers the ' +
            'browser\'s offer and carries the microphone to every terminal of the group (and the first terminal\'s voice back). ' +
            'enterAudioEncoding 6 G.711A (default), 7 G.711U, 2 G.722 (passed through), 26 ADPCM, 8 G.726 (PCMA towards the browser, ' +
            'transcoded both ways); anything else 400. A named port in use: 409. ' +
            'Answers {type: "answer", sdp} without the envelope, as m7s.',
          body: {
            type: 'object',
            required: ['sdp', 'group'],
            properties: {
              sdp: sdpField,
              type: { type: 'string', description: 'Forced to offer, as m7s' },
              group: {
                type: 'array',
                minItems: 1,
                maxItems: 64,
                items: {
                  type: 'object',
                  required: ['sim', 'channel', 'audioPort'],
                  properties: {
                    sim: { type: 'string', pattern: '^[0-9]{1,20}$' },
                    channel: { type: 'integer', minimum: 1, maximum: 255 },
                    audioPort: { type: 'integer', minimum: 1, maximum: 65535 },
                  },
                },
              },
              enterAudioEncoding: { type: 'integer', default: 6 },
            },
          },
          response: {
            200: { type: 'object', properties: { type: { type: 'string', enum: ['answer'] }, sdp: str } },
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const { sdp, group } = request.body;
        const encoding = request.body.enterAudioEncoding || 6;
        if (![2, 6, 7, 8, 26].includes(encoding)) throw badRequest('enterAudioEncoding', `${encoding} is not supported (6 G.711A, 7 G.711U, 2 G.722, 26 ADPCM, 8 G.726)`);
        const seen = new Set<number>();
        for (const [i, g] of group.entries()) {
          if (seen.has(g.audioPort)) throw badRequest(`group[${i}].audioPort`, `${g.audioPort} is named twice`);
          seen.add(g.audioPort);
        }
        const answer = await intercom().openM7s(sdp, group.map((g) => ({ sim: g.sim, channel: g.channel, port: g.audioPort })), encoding);
        return { type: 'answer', sdp: answer.sdp };
      },
    );
  };
}
