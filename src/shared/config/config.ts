import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import { configSchema, type CamgateConfig } from './config-schema.js';

export type { CamgateConfig, Jt1078Simulation } from './config-schema.js';

/** sysexits.h EX_CONFIG: systemd and operators read it as "fix the configuration". */
export const EXIT_CONFIG = 78;

export interface ConfigProblem {
  /** Dotted key path, e.g. `api.port`; empty for the document itself. */
  path: string;
  reason: string;
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(source: string, problems: ConfigProblem[]) {
    super(
      `invalid configuration in ${source}:\n` +
        problems.map((p) => `  ${p.path || '(document)'}: ${p.reason}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(configSchema);

function pathOf(error: ErrorObject): string {
  const base = error.instancePath.split('/').filter(Boolean).join('.');
  const extra =
    error.keyword === 'additionalProperties'
      ? (error.params as { additionalProperty: string }).additionalProperty
      : error.keyword === 'required'
        ? (error.params as { missingProperty: string }).missingProperty
        : error.keyword === 'propertyNames'
          ? (error.params as { propertyName: string }).propertyName
          : '';
  return [base, extra].filter(Boolean).join('.');
}

function reasonOf(error: ErrorObject): string {
  switch (error.keyword) {
    case 'additionalProperties':
      return 'unknown key';
    case 'enum':
      return `must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues
        .map((v) => JSON.stringify(v))
        .join(', ')}`;
    case 'propertyNames':
      return 'invalid key name';
    default:
      return error.message ?? error.keyword;
  }
}

/** Checks that the schema alone cannot express. */
function crossCheck(config: CamgateConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const [low, high] = config.media.rtpPorts.split('-').map(Number) as [number, number];
  if (low < 1024 || high > 65535 || low > high) {
    problems.push({ path: 'media.rtpPorts', reason: 'must be a range LOW-HIGH within 1024-65535' });
  }
  const intercom = config.jt1078.intercom;
  const [audioLow, audioHigh] = intercom.audioPorts.split('-').map(Number) as [number, number];
  if (audioLow < 1 || audioHigh > 65535 || audioLow > audioHigh) {
    problems.push({ path: 'jt1078.intercom.audioPorts', reason: 'must be a range LOW-HIGH within 1-65535' });
  }
  const tcpPorts: Array<[string, number]> = [
    ['api.port', config.api.port],
    ['sip.port', config.sip.port],
    ['jt1078.realtime.port', config.jt1078.realtime.port],
    ['jt1078.playback.port', config.jt1078.playback.port],
  ];
  const seen = new Map<number, string>();
  for (const [key, value] of tcpPorts) {
    const other = seen.get(value);
    if (other) problems.push({ path: key, reason: `must differ from ${other}` });
    else seen.set(value, key);
  }
  if (intercom.enabled) {
    for (const [key, value] of tcpPorts) {
      if (value >= audioLow && value <= audioHigh) problems.push({ path: 'jt1078.intercom.audioPorts', reason: `must not hold ${key} (${value})` });
    }
  }
  if (config.media.ringBytes & (config.media.ringBytes - 1)) {
    problems.push({ path: 'media.ringBytes', reason: 'must be a power of two' });
  }
  return problems;
}

/** Validates a parsed document, filling defaults. Throws ConfigError. */
/** m7s-jt1078's spellings of a stream section's keys (jt1078.md §3.2), by key with case and underscores folded. */
const M7S_STREAM_KEYS: Record<string, string> = { onjoinurl: 'onJoinUrl', onleaveurl: 'onLeaveUrl', prefix: 'prefix', port: 'port' };

/**
 * Accepts m7s-jt1078's spellings under `jt1078.realtime` and `jt1078.playback`
 * (`on_join_url` and `onjoinurl` for `onJoinUrl`, `on_leave_url`, and `addr: host:port`
 * for `port`), so a config written for m7s keeps working. Rewrites them in place to our
 * keys; naming the same key twice is a problem reported with its path.
 */
export function applyM7sAliases(document: object): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const jt1078 = (document as Record<string, unknown>).jt1078;
  if (!jt1078 || typeof jt1078 !== 'object' || Array.isArray(jt1078)) return problems;
  applyIntercomAliases(jt1078 as Record<string, unknown>, problems);
  for (const kind of ['realtime', 'playback']) {
    const section = (jt1078 as Record<string, unknown>)[kind];
    if (!section || typeof section !== 'object' || Array.isArray(section)) continue;
    const entries = section as Record<string, unknown>;
    for (const key of Object.keys(entries)) {
      const folded = key.toLowerCase().replaceAll('_', '');
      let ours = M7S_STREAM_KEYS[folded];
      let value = entries[key];
      if (folded === 'addr' && typeof value === 'string') {
        // m7s's "host:port"; the listen host is jt1078.host for both ports here.
        const port = Number(value.slice(value.lastIndexOf(':') + 1));
        if (!Number.isInteger(port)) {
          problems.push({ path: `jt1078.${kind}.${key}`, reason: 'must be host:port' });
          continue;
        }
        ours = 'port';
        value = port;
      }
      if (!ours || ours === key) continue;
      if (ours in entries) {
        problems.push({ path: `jt1078.${kind}.${key}`, reason: `names the same setting as jt1078.${kind}.${ours}` });
        continue;
      }
      delete entries[key];
      entries[ours] = value;
    }
  }
  return problems;
}

/** m7s-jt1078's spellings of `jt1078.intercom` keys, case and underscores folded. */
const M7S_INTERCOM_KEYS: Record<string, string> = {
  enable: 'enabled',
  enabled: 'enabled',
  onjoinurl: 'onJoinUrl',
  onleaveurl: 'onLeaveUrl',
  audioports: 'audioPorts',
  overtimesecond: 'overtime',
  overtime: 'overtime',
  webrtcport: 'webrtcPort',
  publicip: 'publicIp',
  connecttimeout: 'connectTimeout',
};

/**
 * `jt1078.intercom` as m7s writes it: `enable`, `on_join_url` / `onjoinurl`,
 * `on_leave_url`, `audio_ports: [low, high]`, `overtime_second`, and
 * `jt1078webrtc: {ip, port}` for publicIp and webrtcPort.
 */
function applyIntercomAliases(jt1078: Record<string, unknown>, problems: ConfigProblem[]): void {
  const section = jt1078.intercom;
  if (!section || typeof section !== 'object' || Array.isArray(section)) return;
  const entries = section as Record<string, unknown>;
  const put = (from: string, ours: string, value: unknown) => {
    if (ours !== from && ours in entries) {
      problems.push({ path: `jt1078.intercom.${from}`, reason: `names the same setting as jt1078.intercom.${ours}` });
      return;
    }
    if (ours !== from) delete entries[from];
    entries[ours] = value;
  };
  for (const key of Object.keys(entries)) {
    const folded = key.toLowerCase().replaceAll('_', '');
    let value = entries[key];
    if (folded === 'jt1078webrtc' && value && typeof value === 'object' && !Array.isArray(value)) {
      delete entries[key];
      const webrtc = value as Record<string, unknown>;
      if (webrtc.ip !== undefined) put('jt1078webrtc.ip', 'publicIp', webrtc.ip);
      if (webrtc.port !== undefined) put('jt1078webrtc.port', 'webrtcPort', webrtc.port);
      continue;
    }
    const ours = M7S_INTERCOM_KEYS[folded];
    if (!ours) continue;
    if (ours === 'audioPorts' && Array.isArray(value)) {
      if (value.length !== 2 || !value.every((v) => Number.isInteger(v))) {
        problems.push({ path: `jt1078.intercom.${key}`, reason: 'must be [low, high] or "LOW-HIGH"' });
        continue;
      }
      value = `${value[0]}-${value[1]}`;
    }
    if (ours === key && value === entries[key]) continue;
    put(key, ours, value);
  }
}

export function validateConfig(document: unknown, source = 'configuration'): CamgateConfig {
  const data = document ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(source, [{ path: '', reason: 'must be a mapping of keys' }]);
  }
  const copy = structuredClone(data);
  const aliasProblems = applyM7sAliases(copy);
  if (aliasProblems.length > 0) throw new ConfigError(source, aliasProblems);
  if (!validate(copy)) {
    const seen = new Set<string>();
    const problems: ConfigProblem[] = [];
    for (const error of validate.errors ?? []) {
      const problem = { path: pathOf(error), reason: reasonOf(error) };
      const key = `${problem.path}\0${problem.reason}`;
      if (!seen.has(key)) {
        seen.add(key);
        problems.push(problem);
      }
    }
    throw new ConfigError(source, problems);
  }
  const config = copy as unknown as CamgateConfig;
  const problems = crossCheck(config);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return config;
}

/** Parses YAML text and validates it. */
export function parseConfig(text: string, source = 'configuration'): CamgateConfig {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({ path: '', reason: `YAML: ${e.message.split('\n')[0]}` })),
    );
  }
  return validateConfig(doc.toJS(), source);
}

/** The file to read: `--config PATH`, else `$CAMGATE_CONFIG`, else `config/camgate.yaml`. */
export function configPathFrom(argv: string[], env: NodeJS.ProcessEnv): string {
  const flag = argv.indexOf('--config');
  if (flag >= 0 && argv[flag + 1]) return argv[flag + 1]!;
  const inline = argv.find((a) => a.startsWith('--config='));
  if (inline) return inline.slice('--config='.length);
  return env.CAMGATE_CONFIG || 'config/camgate.yaml';
}

export function loadConfig(path: string): CamgateConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(path, [{ path: '', reason: `cannot read file: ${(error as Error).message}` }]);
  }
  return parseConfig(text, path);
}

/** Defaults only, as if the file were empty. */
export function defaultConfig(): CamgateConfig {
  return validateConfig({});
}
