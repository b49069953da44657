/**
 * The configuration schema: one JSON Schema that carries every key, its type, its
 * bounds and its default. `config/camgate.yaml` documents the same keys for
 * operators; a test keeps the two in step.
 */
import type { Destination } from '../contracts/destination.js';

const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const host = { type: 'string', minLength: 1 } as const;
const gbId = { type: 'string', pattern: '^[0-9]{20}$' } as const;
const url = { type: 'string', pattern: '^https?://' } as const;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    api: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { ...host, default: '0.0.0.0' },
        port: { ...port, default: 8090 },
        tokens: {
          type: 'array',
          items: { type: 'string', minLength: 16 },
          default: [],
        },
        publicMetrics: { type: 'boolean', default: true },
        bodyLimit: { type: 'integer', minimum: 1024, maximum: 16777216, default: 1048576 },
      },
    },
    sip: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { ...host, default: '0.0.0.0' },
        port: { ...port, default: 5060 },
        advertisedHost: { type: 'string', default: '' },
        id: { ...gbId, default: '37070000082008000001' },
        domain: { type: 'string', pattern: '^[0-9]{10}$', default: '3707000008' },
        password: { type: 'string', minLength: 1, maxLength: 64, default: '12345678' },
        transports: {
          type: 'array',
          items: { enum: ['udp', 'tcp'] },
          minItems: 1,
          uniqueItems: true,
          default: ['udp', 'tcp'],
        },
        limits: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            tcpConnections: { type: 'integer', minimum: 1, maximum: 1000000, default: 10000 },
            tcpConnectionsPerAddress: { type: 'integer', minimum: 1, maximum: 1000000, default: 256 },
            maxMessageSize: { type: 'integer', minimum: 1024, maximum: 4194304, default: 65536 },
            tcpIdleTimeout: { type: 'integer', minimum: 1, maximum: 86400, default: 600 },
            tcpUnregisteredTimeout: { type: 'integer', minimum: 1, maximum: 86400, default: 30 },
            nonces: { type: 'integer', minimum: 100, maximum: 10000000, default: 20000 },
            challengesPerSecond: { type: 'integer', minimum: 1, maximum: 1000000, default: 200 },
            challengeBurst: { type: 'integer', minimum: 1, maximum: 1000000, default: 1000 },
            authFailures: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
            authWindow: { type: 'integer', minimum: 1, maximum: 86400, default: 60 },
            banTime: { type: 'integer', minimum: 1, maximum: 86400, default: 60 },
            banTimeMax: { type: 'integer', minimum: 1, maximum: 604800, default: 3600 },
            trackedAddresses: { type: 'integer', minimum: 100, maximum: 10000000, default: 10000 },
          },
        },
      },
    },
    gb28181: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        did: { type: 'string', pattern: '^[0-9]{14}$', default: '37070000081118' },
        cid: { type: 'string', pattern: '^[0-9]{14}$', default: '37070000081318' },
        registration: { enum: ['provisioned', 'open'], default: 'provisioned' },
        registerExpires: { type: 'integer', minimum: 60, maximum: 86400, default: 3600 },
        keepaliveInterval: { type: 'integer', minimum: 5, maximum: 3600, default: 60 },
        keepaliveTimeouts: { type: 'integer', minimum: 1, maximum: 10, default: 3 },
        catalogInterval: { type: 'integer', minimum: 0, maximum: 86400, default: 3600 },
        // Voice broadcast: seconds a camera has, after its Broadcast Response, to INVITE us.
        broadcastInviteTimeout: { type: 'integer', minimum: 1, maximum: 120, default: 10 },
        subscribe: {
          type: 'array',
          uniqueItems: true,
          items: { enum: ['catalog', 'alarm', 'mobilePosition'] },
          default: [],
        },
        queries: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            concurrency: { type: 'integer', minimum: 1, maximum: 100000, default: 64 },
            perDevice: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
            perSecond: { type: 'integer', minimum: 1, maximum: 100000, default: 100 },
            backlog: { type: 'integer', minimum: 1, maximum: 10000000, default: 20000 },
          },
        },
        cascade: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            vehicleIdPrefix: { type: 'string', pattern: '^([0-9]{10})?$', default: '' },
            vehicleIdType: { enum: ['131', '132'], default: '131' },
            tcpAcceptTimeout: { type: 'integer', minimum: 1, maximum: 300, default: 10 },
          },
        },
      },
    },
    store: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: {
          type: 'string',
          pattern: '^(sqlite:|mysql://)',
          default: 'sqlite:./data/camgate.db',
        },
        // MySQL: bound on one connect, query or transaction (ms); past it the API answers
        // 503 and REGISTER 503 + Retry-After instead of hanging on a frozen server.
        timeout: { type: 'integer', minimum: 100, maximum: 60000, default: 1500 },
        // Write-behind queue of presence and stream rows (src/supervisor/write-behind.ts):
        // keys (devices, vehicles, streams) pending at most, and the longest retry delay (ms)
        // while the store is unavailable.
        queueSize: { type: 'integer', minimum: 100, maximum: 1000000, default: 50000 },
        retryMax: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: {
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
          default: 'info',
        },
      },
    },
    media: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        workers: { type: 'integer', minimum: 0, maximum: 64, default: 0 },
        server: { enum: ['builtin', 'zlm'], default: 'builtin' },
        host: { ...host, default: '0.0.0.0' },
        httpPort: { ...port, default: 18080 },
        publicHost: { type: 'string', default: '' },
        rtpPorts: { type: 'string', pattern: '^[0-9]{1,5}-[0-9]{1,5}$', default: '30000-30999' },
        ringBytes: { type: 'integer', minimum: 65536, maximum: 268435456, default: 4194304 },
        forwardHighWater: { type: 'integer', minimum: 16384, maximum: 268435456, default: 2097152 },
      },
    },
    jt1078: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { ...host, default: '0.0.0.0' },
        idleTimeout: { type: 'integer', minimum: 5, maximum: 3600, default: 60 },
        callbackTimeout: { type: 'integer', minimum: 100, maximum: 60000, default: 3000 },
        packetTimeout: { type: 'integer', minimum: 1, maximum: 3600, default: 20 },
        realtime: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            port: { ...port, default: 12051 },
            prefix: { type: 'string', pattern: '^[A-Za-z0-9_./-]+$', default: 'live/jt1078' },
            onJoinUrl: { type: 'string', pattern: '^(https?://.*)?$', default: '' },
            onLeaveUrl: { type: 'string', pattern: '^(https?://.*)?$', default: '' },
          },
        },
        playback: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            port: { ...port, default: 12052 },
            prefix: { type: 'string', pattern: '^[A-Za-z0-9_./-]+$', default: 'live/jt1079' },
            onJoinUrl: { type: 'string', pattern: '^(https?://.*)?$', default: '' },
            onLeaveUrl: { type: 'string', pattern: '^(https?://.*)?$', default: '' },
          },
        },
        intercom: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            // Off by default as in m7s (intercom.enable): on, it binds webrtcPort (UDP) and every audio port (TCP).
            enabled: { type: 'boolean', default: false },
            webrtcPort: { ...port, default: 12020 },
            publicIp: { type: 'string', default: '' },
            audioPorts: { type: 'string', pattern: '^[0-9]{1,5}-[0-9]{1,5}$', default: '12021-12050' },
            onJoinUrl: { type: 'string', pattern: '^(https?://.*)?$', default: '' },
            onLeaveUrl: { type: 'string', pattern: '^(https?://.*)?$', default: '' },
            connectTimeout: { type: 'integer', minimum: 1, maximum: 600, default: 20 },
            overtime: { type: 'integer', minimum: 0, maximum: 86400, default: 600 },
          },
        },
        forward: {
          type: 'array',
          default: [],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['host', 'port'],
            properties: {
              host: host,
              port: port,
              transport: { enum: ['udp', 'tcp'], default: 'udp' },
              ssrc: { type: 'integer', minimum: 0, maximum: 4294967295 },
            },
          },
        },
        simulations: {
          type: 'array',
          default: [],
          maxItems: 1000,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'addr'],
            properties: {
              name: { type: 'string', minLength: 1, maxLength: 4096 },
              addr: { type: 'string', pattern: '^[A-Za-z0-9.:\\[\\]-]+:[0-9]{1,5}$', maxLength: 300 },
              sim: { type: 'string', pattern: '^[0-9]{1,20}$' },
              channel: { type: 'integer', minimum: 1, maximum: 255 },
            },
          },
        },
      },
    },
    jt808: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { ...host, default: '0.0.0.0' },
        port: { ...port, default: 12001 },
        udp: { type: 'boolean', default: false },
        registration: { enum: ['provisioned', 'open'], default: 'open' },
        offlineAfter: { type: 'integer', minimum: 10, maximum: 86400, default: 180 },
        mediaHost: { type: 'string', default: '' },
        maxConnections: { type: 'integer', minimum: 1, maximum: 1000000, default: 20000 },
        unauthenticatedTimeout: { type: 'integer', minimum: 1, maximum: 3600, default: 30 },
        streamTimeout: { type: 'integer', minimum: 1, maximum: 120, default: 15 },
      },
    },
    zlm: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        api: { ...url, default: 'http://127.0.0.1:8080' },
        secret: { type: 'string', default: '' },
        timeout: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
        rtpHost: { type: 'string', default: '' },
        mediaServerId: { type: 'string', default: '' },
        closeUnwatched: { type: 'boolean', default: false },
        urls: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            http: { type: 'string', default: '' },
            ws: { type: 'string', default: '' },
            rtmp: { type: 'string', default: '' },
            rtsp: { type: 'string', default: '' },
          },
        },
        templates: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            flv: { type: 'string', default: '' },
            wsflv: { type: 'string', default: '' },
            hls: { type: 'string', default: '' },
            rtmp: { type: 'string', default: '' },
            rtsp: { type: 'string', default: '' },
            webrtc: { type: 'string', default: '' },
          },
        },
      },
    },
    streams: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        transport: { enum: ['udp', 'tcp'], default: 'udp' },
        mediaTimeout: { type: 'integer', minimum: 2, maximum: 600, default: 30 },
        noViewerClose: { type: 'integer', minimum: 0, maximum: 86400, default: 300 },
      },
    },
    downloads: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        dir: { type: 'string', minLength: 1, default: './data/downloads' },
        maxConcurrent: { type: 'integer', minimum: 1, maximum: 64, default: 4 },
        maxFileBytes: { type: 'integer', minimum: 1048576, default: 2147483648 },
        maxTotalBytes: { type: 'integer', minimum: 1048576, default: 21474836480 },
        retention: { type: 'integer', minimum: 60, maximum: 31536000, default: 86400 },
      },
    },
    pool: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxThreads: { type: 'integer', minimum: 1, maximum: 64, default: 2 },
      },
    },
    notify: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        secret: { type: 'string', default: '' },
        timeout: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
        activeEvents: { enum: ['change', 'every'], default: 'change' },
        urls: {
          type: 'object',
          default: {},
          propertyNames: { pattern: '^[a-z]+\\.[a-z]+$' },
          additionalProperties: url,
        },
      },
    },
  },
} as const;

/** jt1078.intercom: browser ⇄ vehicle talk (README "Intercom"). */
export interface IntercomConfig {
  enabled: boolean;
  /** The one UDP port every WebRTC session uses (ICE, DTLS, SRTP muxed). */
  webrtcPort: number;
  /** Address written into the answer's host candidate; empty: media.publicHost, else 127.0.0.1. */
  publicIp: string;
  /** TCP ports terminals send talk audio to (0x9101 data type 2), all listening from start-up. */
  audioPorts: string;
  onJoinUrl: string;
  onLeaveUrl: string;
  /** Seconds a session may wait for ICE and DTLS to connect before it is hung up. */
  connectTimeout: number;
  /** Seconds without downlink audio after which a terminal's talk connection is closed (m7s overtime_second); 0: never. */
  overtime: number;
}

export interface Jt1078Service {
  port: number;
  prefix: string;
  onJoinUrl: string;
  onLeaveUrl: string;
}

/** sip.limits: what a device or an attacker may cost the SIP thread (README "Limits"). */
export interface SipLimits {
  tcpConnections: number;
  tcpConnectionsPerAddress: number;
  maxMessageSize: number;
  tcpIdleTimeout: number;
  tcpUnregisteredTimeout: number;
  nonces: number;
  challengesPerSecond: number;
  challengeBurst: number;
  authFailures: number;
  authWindow: number;
  banTime: number;
  banTimeMax: number;
  trackedAddresses: number;
}

/** One replayed capture: the file (`name`, as m7s), where to send it, optional SIM and channel rewrite. */
export interface Jt1078Simulation {
  name: string;
  addr: string;
  sim?: string;
  channel?: number;
}

export interface CamgateConfig {
  api: { host: string; port: number; tokens: string[]; publicMetrics: boolean; bodyLimit: number };
  sip: {
    host: string;
    port: number;
    advertisedHost: string;
    id: string;
    domain: string;
    password: string;
    transports: Array<'udp' | 'tcp'>;
    limits: SipLimits;
  };
  gb28181: {
    did: string;
    cid: string;
    registration: 'provisioned' | 'open';
    registerExpires: number;
    keepaliveInterval: number;
    keepaliveTimeouts: number;
    catalogInterval: number;
    /** Seconds a camera has, after its Broadcast Response, to INVITE us for the audio (504 no-invite after). */
    broadcastInviteTimeout: number;
    /** Subscriptions every device gets when it comes online (through the paced query queue). */
    subscribe: Array<'catalog' | 'alarm' | 'mobilePosition'>;
    queries: { concurrency: number; perDevice: number; perSecond: number; backlog: number };
    /** Stable IDs of vehicle channels in upper platforms' catalogs: prefix ('' = sip.domain) + type + SIM tail + channel. */
    /** tcpAcceptTimeout: seconds an upper platform that offered a=setup:active has to connect (and to reconnect). */
    cascade: { vehicleIdPrefix: string; vehicleIdType: '131' | '132'; tcpAcceptTimeout: number };
  };
  store: { url: string; timeout: number; queueSize: number; retryMax: number };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  media: { server: 'builtin' | 'zlm'; workers: number; host: string; httpPort: number; publicHost: string; rtpPorts: string; ringBytes: number; forwardHighWater: number };
  zlm: {
    api: string;
    secret: string;
    timeout: number;
    rtpHost: string;
    mediaServerId: string;
    closeUnwatched: boolean;
    urls: { http: string; ws: string; rtmp: string; rtsp: string };
    /** Overrides of ZLM's play URL forms; empty: ZLM's own form (DEFAULT_ZLM_URL_TEMPLATES). */
    templates: { flv: string; wsflv: string; hls: string; rtmp: string; rtsp: string; webrtc: string };
  };
  streams: { transport: 'udp' | 'tcp'; mediaTimeout: number; noViewerClose: number };
  /** GB28181 downloads (src/supervisor/downloads.ts): files under `dir`, sizes in bytes, retention in seconds. */
  downloads: { dir: string; maxConcurrent: number; maxFileBytes: number; maxTotalBytes: number; retention: number };
  jt1078: {
    host: string;
    idleTimeout: number;
    callbackTimeout: number;
    packetTimeout: number;
    realtime: Jt1078Service;
    playback: Jt1078Service;
    intercom: IntercomConfig;
    forward: Destination[];
    /** m7s-jt1078's `simulations`: captures replayed from start-up (src/supervisor/simulations.ts). */
    simulations: Jt1078Simulation[];
  };
  jt808: {
    host: string;
    port: number;
    /** Also take JT/T 808 over UDP on the same port. */
    udp: boolean;
    registration: 'provisioned' | 'open';
    offlineAfter: number;
    mediaHost: string;
    maxConnections: number;
    unauthenticatedTimeout: number;
    streamTimeout: number;
  };
  pool: { maxThreads: number };
  notify: { secret: string; timeout: number; activeEvents: 'change' | 'every'; urls: Record<string, string> };
}
