/**
 * bench:cascade — camgate as the lower platform of a cascade (issue 16), against an upper
 * platform played by this process over UDP with camgate's own SIP core:
 *
 * 1. Catalog: 10,000 shared channels (5,000 camera channels of one device and 1,250
 *    vehicles × 4 channels, written into the appliance's SQLite file); the upper sends one
 *    Catalog query and answers every Response MESSAGE 200. Printed: messages, items
 *    received, distinct IDs, SumNum, time from the query to the last item. "Without loss"
 *    means every one of the 10,000 IDs arrived, each once, and every message said SumNum 10000.
 * 2. First PS packet: a vehicle channel made live through the API (simulated terminal), then
 *    N INVITEs from the upper for it, each timed from sending the INVITE to the first RTP
 *    packet (with a PS pack header) at the SDP's address; BYE after each.
 */
import dgram from 'node:dgram';
import { join } from 'node:path';
import {
  buildResponse,
  createRequest,
  formatVia,
  newBranch,
  parseMessage,
  randomToken,
  serializeMessage,
  type SipRequest,
  type SipResponse,
} from '../src/protocol/sip/index.js';
import { encodeXmlBody, parseManscdp } from '../src/protocol/gb28181/index.js';
import { openStore } from '../src/supervisor/store/index.js';
import { startTerminalSimulation } from '../src/tools/sim/index.js';
import { freePort, percentile, quick, repoRoot, startAppliance, table, writeResult } from './lib.js';

const UPPER = { id: '44000000002000000001', domain: '4400000000' };
const LOWER_AS_DEVICE = '44010000002000000077';
const CAMERAS = quick ? 1000 : 5000;
const VEHICLES = quick ? 250 : 1250;
const TOTAL = CAMERAS + VEHICLES * 4;
const INVITES = quick ? 5 : 20;

/** The upper platform: one UDP socket, requests answered, responses routed by CSeq method + Call-ID. */
class Upper {
  readonly socket = dgram.createSocket('udp4');
  port = 0;
  lower: { address: string; port: number } | undefined;
  readonly catalog = new Map<string, number>();
  messages = 0;
  sumNums = new Set<number>();
  lastItemAt = 0;
  registered!: Promise<void>;
  #registered: () => void = () => undefined;
  readonly #waiting = new Map<string, (response: SipResponse) => void>();

  async start(): Promise<void> {
    this.registered = new Promise((resolve) => (this.#registered = resolve));
    this.socket.on('message', (data, rinfo) => this.#receive(data, rinfo));
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    this.port = this.socket.address().port;
  }

  #send(message: SipRequest | SipResponse, to: { address: string; port: number }): void {
    this.socket.send(serializeMessage(message), to.port, to.address);
  }

  #receive(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const parsed = parseMessage(data);
    if (!parsed.ok) return;
    const message = parsed.message;
    if (message.kind === 'response') {
      if (message.status < 200) return;
      const key = `${message.headers.get('call-id')}|${message.headers.get('cseq')?.split(/\s+/)[1]}`;
      this.#waiting.get(key)?.(message);
      this.#waiting.delete(key);
      return;
    }
    const from = { address: rinfo.address, port: rinfo.port };
    this.#send(buildResponse(message, 200, 'OK', message.method === 'REGISTER' ? [['Expires', '3600']] : []), from);
    if (message.method === 'REGISTER') {
      this.lower = from;
      this.#registered();
      return;
    }
    if (message.method !== 'MESSAGE') return;
    const body = parseManscdp(message.body);
    if (!body.ok || body.message.kind !== 'catalog') return;
    this.messages++;
    if (body.message.sumNum !== undefined) this.sumNums.add(body.message.sumNum);
    for (const item of body.message.items) this.catalog.set(item.deviceId, (this.catalog.get(item.deviceId) ?? 0) + 1);
    this.lastItemAt = performance.now();
  }

  request(method: string, body: Uint8Array, contentType: string, toUser = LOWER_AS_DEVICE, extra: Array<[string, string]> = [], callId = `${randomToken(16)}@127.0.0.1`, cseq = 1): { request: SipRequest; answered: Promise<SipResponse> } {
    const uri = `sip:${toUser}@${UPPER.domain}`;
    const request = createRequest(
      method,
      uri,
      [
        ['Via', formatVia({ transport: 'UDP', host: '127.0.0.1', port: this.port, params: { rport: null, branch: newBranch() } })],
        ['From', `<sip:${UPPER.id}@${UPPER.domain}>;tag=${randomToken(8)}`],
        ['To', `<${uri}>`],
        ['Call-ID', callId],
        ['CSeq', `${cseq} ${method}`],
        ['Max-Forwards', '70'],
        ['Contact', `<sip:${UPPER.id}@127.0.0.1:${this.port}>`],
        ...extra,
        ...(body.length > 0 ? ([['Content-Type', contentType]] as Array<[string, string]>) : []),
      ],
      body,
    );
    const answered = new Promise<SipResponse>((resolve) => this.#waiting.set(`${callId}|${method}`, resolve));
    this.#send(request, this.lower!);
    return { request, answered };
  }

  /** ACK or BYE in the dialog an INVITE's 200 made. */
  inDialog(method: 'ACK' | 'BYE', invite: SipRequest, ok: SipResponse): Promise<SipResponse> | undefined {
    const callId = invite.headers.get('call-id')!;
    const request = createRequest(method, invite.uri, [
      ['Via', formatVia({ transport: 'UDP', host: '127.0.0.1', port: this.port, params: { rport: null, branch: newBranch() } })],
      ['From', invite.headers.get('from')!],
      ['To', ok.headers.get('to')!],
      ['Call-ID', callId],
      ['CSeq', `${method === 'ACK' ? 1 : 2} ${method}`],
      ['Max-Forwards', '70'],
    ]);
    const answered = method === 'BYE' ? new Promise<SipResponse>((resolve) => this.#waiting.set(`${callId}|BYE`, resolve)) : undefined;
    this.#send(request, this.lower!);
    return answered;
  }
}

async function main(): Promise<void> {
  const jt808Port = await freePort();
  const app = await startAppliance({ gb28181: { registration: 'open' }, jt808: { port: jt808Port, registration: 'open' }, streams: { noViewerClose: 0 } });
  const upper = new Upper();
  await upper.start();
  try {
    // The shared channels, written into the appliance's own database (WAL: both may write).
    const store = await openStore(`sqlite:${join(app.dir, 'camgate.db')}`);
    const device = await store.devices.create({ pwd: 'x' });
    const t0 = performance.now();
    for (let i = 0; i < CAMERAS; i++) {
      const channel = await store.channels.create(device.deviceid, { name: `camera ${i}` });
      if (i % 2 === 0) await store.channels.update(channel.channelid, { status: 'ON' });
    }
    for (let i = 0; i < VEHICLES; i++) await store.vehicles.create({ sim: String(13900000000 + i), plate: `粤B${String(i).padStart(5, '0')}`, channels: 4 });
    await store.close();
    const seeded = (performance.now() - t0) / 1000;

    const created = await fetch(`${app.api}/platforms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serverid: UPPER.id, domain: UPPER.domain, host: '127.0.0.1', port: upper.port, deviceid: LOWER_AS_DEVICE, share_cameras: true, share_vehicles: true }),
    });
    const platform = ((await created.json()) as { data: { id: number } }).data.id;
    await upper.registered;

    // 1. Catalog of TOTAL channels.
    const query = `<?xml version="1.0" encoding="GB2312"?>\n<Query>\n<CmdType>Catalog</CmdType>\n<SN>7</SN>\n<DeviceID>${LOWER_AS_DEVICE}</DeviceID>\n</Query>\n`;
    const queriedAt = performance.now();
    await upper.request('MESSAGE', encodeXmlBody(query, 'GB2312'), 'Application/MANSCDP+xml').answered;
    const until = Date.now() + 120_000;
    while (upper.catalog.size < TOTAL && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000)); // anything late or repeated shows up in the counts
    const duplicates = [...upper.catalog.values()].filter((n) => n > 1).length;
    const catalogSeconds = (upper.lastItemAt - queriedAt) / 1000;
    const catalog = {
      shared: TOTAL,
      received: upper.catalog.size,
      duplicates,
      messages: upper.messages,
      sumNum: [...upper.sumNums].join(','),
      seconds: Number(catalogSeconds.toFixed(2)),
      itemsPerSecond: Math.round(upper.catalog.size / catalogSeconds),
      lossless: upper.catalog.size === TOTAL && duplicates === 0 && upper.sumNums.size === 1 && upper.sumNums.has(TOTAL),
    };
    console.log(`catalog of ${TOTAL} shared channels (seeded in ${seeded.toFixed(1)} s)`);
    console.log(table([{ ...catalog, lossless: String(catalog.lossless) }]));

    // 2. First PS packet of an upward INVITE for a channel that is already live.
    const sim = await startTerminalSimulation({ port: jt808Port, simBase: '13800077777', capture: join(repoRoot, '../shared/testdata/jt1078/data.txt'), terminal: { heartbeatMs: 5000, positionMs: 5000 } });
    try {
      for (let i = 0; i < 100; i++) {
        const r = await fetch(`${app.api}/vehicles/13800077777`);
        if (r.status === 200 && ((await r.json()) as { data: { online: number } }).data.online === 1) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await fetch(`${app.api}/vehicles/13800077777`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channels: 1 }) });
      const live = await fetch(`${app.api}/vehicles/13800077777/channels/1/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      if (live.status !== 200) throw new Error(`vehicle stream did not start: ${await live.text()}`);
      const items = ((await (await fetch(`${app.api}/platforms/${platform}/catalog`)).json()) as { data: { List: Array<{ channelId: string; name: string }> } }).data.List;
      // The SIM's last five digits and channel 01 end its stable ID.
      const channelId = items.find((i) => i.channelId.endsWith('7777701'))?.channelId;
      if (!channelId) throw new Error('live vehicle channel not in the catalog');
      const latencies: number[] = [];
      for (let n = 0; n < INVITES; n++) {
        const sink = dgram.createSocket('udp4');
        await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
        const firstPs = new Promise<number>((resolve) =>
          sink.on('message', (packet) => {
            // RTP header (12 bytes, no CSRC/extension from us), then the PS pack header 00 00 01 BA.
            if (packet.length > 16 && packet.readUInt32BE(12) === 0x000001ba) resolve(performance.now());
          }),
        );
        const ssrc = String(100_000_000 + n).padStart(10, '0');
        const sdp = `v=0\r\no=${UPPER.id} 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video ${sink.address().port} RTP/AVP 96\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\ny=${ssrc}\r\n`;
        const sent = performance.now();
        const { request, answered } = upper.request('INVITE', Buffer.from(sdp), 'APPLICATION/SDP', channelId, [['Subject', `${channelId}:${ssrc},${UPPER.id}:0`]]);
        const ok = await answered;
        if (ok.status !== 200) throw new Error(`INVITE answered ${ok.status} ${ok.reason}`);
        upper.inDialog('ACK', request, ok);
        const timeout = new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), 10_000));
        const at = await Promise.race([firstPs, timeout]);
        latencies.push(at - sent);
        await upper.inDialog('BYE', request, ok);
        sink.close();
      }
      const ms = (v: number) => Number(v.toFixed(1));
      const first = {
        invites: INVITES,
        lost: latencies.filter((v) => Number.isNaN(v)).length,
        p50Ms: ms(percentile(latencies.filter((v) => !Number.isNaN(v)), 50)),
        p95Ms: ms(percentile(latencies.filter((v) => !Number.isNaN(v)), 95)),
        maxMs: ms(latencies.filter((v) => !Number.isNaN(v)).reduce((a, b) => (b > a ? b : a), -Infinity)),
      };
      console.log('\nupward INVITE for a live channel → first PS packet at the SDP address');
      console.log(table([first]));
      const file = writeResult('cascade', { catalog, firstPacket: first, targets: { catalogLossless: true, firstPacketMs: 1000 } });
      console.log(`\nresult: ${file}`);
    } finally {
      await sim.stop();
    }
  } finally {
    upper.socket.close();
    await app.stop();
  }
}

await main();
