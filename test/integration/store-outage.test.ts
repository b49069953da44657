import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { parseMessage, type SipResponse } from '../../src/protocol/sip/index.js';
import { getJson, startAppliance, waitFor, type Appliance } from '../helpers/appliance.js';
import { startPrivateMariadb } from '../helpers/private-mariadb.js';

/*
 * Issue 11 item 3 (slice): while MariaDB is frozen (SIGSTOP: TCP accepted, nothing
 * answered) or stopped, the API and /healthz answer 503 with a reason within 2 s, and a
 * REGISTER gets 503 with Retry-After; after SIGCONT everything is healthy again.
 * A private mariadbd is used so the shared test database is never frozen.
 */

const REALM = '3707000008'; // sip.domain default
const PASSWORD = 'outage-secret';
const BOUND_MS = 2000;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** What every part answers during an outage; `auths` is the expected store-unavailable count after it. */
async function checkOutage(t: Test, app: Appliance, device: Device, label: string, reason: RegExp, auths: number): Promise<string> {
  const devices = await timed(() => getJson(`${app.api}/devices`));
  t.equal(devices.value.status, 503, `${label}: GET /devices 503`);
  t.equal(devices.value.body.code, '1001');
  t.ok(devices.ms < BOUND_MS, `${label}: GET /devices answered in ${devices.ms} ms (< ${BOUND_MS})`);

  const health = await timed(() => getJson(`${app.api}/healthz`));
  t.equal(health.value.status, 503, `${label}: /healthz 503`);
  t.equal(health.value.body.status, 'degraded');
  t.equal(health.value.body.parts.store.ok, false);
  t.match(health.value.body.parts.store.error, reason, `${label}: the reason is given`);
  t.ok(health.ms < BOUND_MS, `${label}: /healthz answered in ${health.ms} ms (< ${BOUND_MS})`);

  const register = await timed(() => device.register());
  t.equal(register.value.status, 503, `${label}: REGISTER 503`);
  t.equal(register.value.headers.get('retry-after'), '5');
  t.ok(register.ms < BOUND_MS + 500, `${label}: REGISTER (challenge + answer) answered in ${register.ms} ms`);

  const scrape = await timed(async () => {
    const res = await fetch(`${app.api}/metrics`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, text: await res.text() };
  });
  t.equal(scrape.value.status, 200, `${label}: /metrics still scrapes`);
  t.ok(scrape.ms < BOUND_MS, `${label}: /metrics answered in ${scrape.ms} ms (< ${BOUND_MS})`);
  t.match(scrape.value.text, new RegExp(`camgate_sip_auth_total\\{result="store-unavailable"\\} ${auths}\\b`), 'the outage REGISTER counted as auth store-unavailable');
  t.notMatch(scrape.value.text, /^camgate_devices\{/m, 'no stale device counts while the store is unavailable');
  return `${label}: GET /devices ${devices.ms} ms, /healthz ${health.ms} ms, REGISTER ${register.ms} ms, /metrics ${scrape.ms} ms`;
}

/** Healthy again: /healthz 200, the API and REGISTER work, device counts are back. */
async function checkRecovered(t: Test, app: Appliance, device: Device, label: string): Promise<string> {
  const recovered = await timed(() =>
    waitFor(async () => {
      const h = await getJson(`${app.api}/healthz`);
      return h.status === 200 && h.body;
    }, 10_000, `healthy again after ${label}`),
  );
  t.equal(recovered.value.parts.store.ok, true);
  t.equal((await getJson(`${app.api}/devices`)).status, 200, `GET /devices after ${label}`);
  t.equal((await device.register()).status, 200, `REGISTER accepted after ${label}`);
  const metrics = await (await fetch(`${app.api}/metrics`)).text();
  t.match(metrics, /^camgate_devices\{state="online"\} 1$/m, `device counts back after ${label}`);
  return `healthy ${recovered.ms} ms after ${label}`;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: Math.round(performance.now() - started) };
}

/** A device's UDP side: sends a REGISTER, waits for the final answer to that CSeq. */
class Device {
  readonly socket: Socket = createSocket('udp4');
  #cseq = 0;
  constructor(readonly id: string, readonly sipPort: number) {}

  async bind(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
  }

  #send(authorization?: string): Promise<SipResponse> {
    const cseq = ++this.#cseq;
    const { port } = this.socket.address();
    const lines = [
      `REGISTER sip:${REALM}@127.0.0.1:${this.sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${port};rport;branch=z9hG4bK${randomBytes(6).toString('hex')}`,
      `From: <sip:${this.id}@${REALM}>;tag=outage`,
      `To: <sip:${this.id}@${REALM}>`,
      `Call-ID: outage-${this.id}@127.0.0.1`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${this.id}@127.0.0.1:${port}>`,
      'Max-Forwards: 70',
      'Expires: 3600',
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      'Content-Length: 0',
      '',
      '',
    ];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.off('message', onMessage);
        reject(new Error(`no final answer to REGISTER CSeq ${cseq}`));
      }, 10_000);
      const onMessage = (data: Buffer) => {
        const parsed = parseMessage(data);
        if (!parsed.ok || parsed.message.kind !== 'response') return;
        const response = parsed.message;
        if (response.status < 200 || !response.headers.get('cseq')?.startsWith(`${cseq} `)) return;
        clearTimeout(timer);
        this.socket.off('message', onMessage);
        resolve(response);
      };
      this.socket.on('message', onMessage);
      this.socket.send(lines.join('\r\n'), this.sipPort, '127.0.0.1');
    });
  }

  /** Challenge, then the digest answer (RFC 2617, qop=auth, computed here). */
  async register(): Promise<SipResponse> {
    const challenge = await this.#send();
    if (challenge.status !== 401) return challenge;
    const header = challenge.headers.get('www-authenticate') ?? '';
    const nonce = /nonce="([^"]+)"/.exec(header)?.[1] ?? '';
    const uri = `sip:${REALM}@127.0.0.1:${this.sipPort}`;
    const ha1 = md5(`${this.id}:${REALM}:${PASSWORD}`);
    const ha2 = md5(`REGISTER:${uri}`);
    const cnonce = randomBytes(4).toString('hex');
    const response = md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${ha2}`);
    return this.#send(
      `Digest username="${this.id}",realm="${REALM}",nonce="${nonce}",uri="${uri}",response="${response}",algorithm=MD5,cnonce="${cnonce}",qop=auth,nc=00000001`,
    );
  }
}

t.test('MariaDB frozen, then stopped: API, /healthz and /metrics answer within 2 s, REGISTER 503 + Retry-After, healthy after', async (t) => {
  const db = await startPrivateMariadb(t);
  if (!db) return;
  t.teardown(() => db.stop());
  const app = await startAppliance({ store: { url: db.url, timeout: 1500 } });
  t.teardown(async () => {
    app.process.kill('SIGKILL');
    await app.exited;
  });

  const healthy = await waitFor(async () => {
    const h = await getJson(`${app.api}/healthz`);
    return h.status === 200 && h.body;
  }, 10_000, 'healthy appliance').catch((error) => {
    t.fail(`${(error as Error).message}\n${app.output().slice(-3000)}`);
    return null;
  });
  if (!healthy) return;
  t.equal(healthy.parts.store.dialect, 'mysql');

  const create = await fetch(`${app.api}/devices`, { method: 'POST', body: new URLSearchParams({ name: 'outage', pwd: PASSWORD }) });
  t.equal(create.status, 200);
  const created = (await create.json()) as { data?: { deviceid?: string } };
  const deviceId = String(created.data?.deviceid ?? '');
  t.match(deviceId, /^\d{20}$/);
  const device = new Device(deviceId, app.sipPort);
  await device.bind();
  t.teardown(() => device.socket.close());
  t.equal((await device.register()).status, 200, 'REGISTER accepted while the store is up');

  db.freeze();
  let thawed = false;
  t.teardown(() => {
    if (!thawed) db.thaw();
  });
  const frozen = await checkOutage(t, app, device, 'frozen', /store unavailable: timed out after 1500 ms/, 1);
  db.thaw();
  thawed = true;
  t.comment(`${frozen}; ${await checkRecovered(t, app, device, 'SIGCONT')}`);

  await db.kill();
  const stopped = await checkOutage(t, app, device, 'stopped', /store unavailable: /, 2);
  await db.start();
  t.comment(`${stopped}; ${await checkRecovered(t, app, device, 'restart')}`);
});
