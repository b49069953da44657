import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * native-bench: builds the C baselines with `make -C native-bench` and checks
 * that each one does its job exactly:
 *   - rtp-sink counts a hand-made sequence (gap, duplicate, reordering, 16-bit
 *     wrap, late packet before the first one, a non-RTP datagram) exactly;
 *   - rtp-relay forwards 10,000 packets to two rtp-sinks (plus one Node socket
 *     that checks the bytes) with SSRC / sequence rewritten and no loss;
 *   - jt1078-pipeline turns the data.txt capture (TCP) into PS over RTP that
 *     ffprobe reads as H.264 with 101 frames; garbage bytes are resynced.
 */

const CI = process.env.CI === 'true';
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const nbDir = join(repoRoot, 'native-bench');
const buildDir = join(nbDir, 'build');
const capturePath = fileURLToPath(new URL('../../../shared/testdata/jt1078/data.txt', import.meta.url));

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

interface Running {
  proc: ChildProcess;
  port: number;
  stderr: () => string;
  /** SIGTERM, wait for exit, parse the JSON line on stdout */
  stop: () => Promise<any>;
}

/** Starts a native-bench program with --listen 127.0.0.1:0 and waits for the bound port on stderr. */
function start(prog: string, args: string[]): Promise<Running> {
  return new Promise((resolve, reject) => {
    const proc = spawn(join(buildDir, prog), ['--listen', '127.0.0.1:0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let resolved = false;
    const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /listening on [\d.]+:(\d+)/.exec(err);
      if (m && !resolved) {
        resolved = true;
        resolve({
          proc,
          port: Number(m[1]),
          stderr: () => err,
          stop: async () => {
            proc.kill('SIGTERM');
            const code = await exited;
            if (code !== 0) throw new Error(`${prog} exited with ${code}: ${err}`);
            const lines = out.trim().split('\n');
            return JSON.parse(lines[lines.length - 1]!);
          },
        });
      }
    });
    proc.on('error', reject);
    void exited.then((code) => {
      if (!resolved) reject(new Error(`${prog} exited early (${code}): ${err}`));
    });
    setTimeout(() => {
      if (!resolved) {
        proc.kill('SIGKILL');
        reject(new Error(`${prog} did not report its port: ${err}`));
      }
    }, 10_000).unref();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rtp(seq: number, ssrc: number, payload: Buffer, opts: { marker?: boolean; ts?: number; pt?: number } = {}) {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (opts.marker ? 0x80 : 0) | (opts.pt ?? 96);
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE((opts.ts ?? 0) >>> 0, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([h, payload]);
}

function send(sock: Socket, buf: Buffer, port: number): Promise<void> {
  return new Promise((res, rej) => sock.send(buf, port, '127.0.0.1', (e) => (e ? rej(e) : res())));
}

async function udpReceiver(): Promise<{ sock: Socket; port: number; msgs: Buffer[] }> {
  const sock = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  const msgs: Buffer[] = [];
  sock.on('message', (m) => msgs.push(Buffer.from(m)));
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
  return { sock, port: sock.address().port, msgs };
}

/** waits until no new message arrived for quietMs (or maxMs passed) */
async function settle(msgs: Buffer[], quietMs = 300, maxMs = 10_000) {
  const t0 = Date.now();
  let n = -1;
  while (Date.now() - t0 < maxMs) {
    if (msgs.length === n) return;
    n = msgs.length;
    await sleep(quietMs);
  }
}

const reason = !have('cc') || !have('make') ? 'cc or make is missing' : '';
if (reason && !CI) {
  t.plan(0, reason);
} else {
  t.test('make -C native-bench builds without warnings', async (t) => {
    if (reason) {
      t.fail(`${reason} (CI=true)`);
      return;
    }
    // the binaries the other tests (and benchmarks) use; incremental, never cleaned here
    const run = spawnSync('make', ['-C', nbDir], { encoding: 'utf8' });
    t.equal(run.status, 0, `make: ${run.stderr}`);
    // a from-scratch build in a temp dir, to see every compiler message
    const dir = mkdtempSync(join(tmpdir(), 'native-bench-build-'));
    try {
      const fresh = spawnSync('make', ['-C', nbDir, `BUILD=${join(dir, 'build')}`], { encoding: 'utf8' });
      t.equal(fresh.status, 0, `fresh make: ${fresh.stderr}`);
      t.notMatch(fresh.stderr, /warning/i, 'no compiler warnings');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  t.test('rtp-sink counts gap, duplicate, reordering, wrap and late packets exactly', async (t) => {
    const sink = await start('rtp-sink', ['--expect-ssrcs', '3', '--per-ssrc']);
    const tx = createSocket('udp4');
    const pay = Buffer.alloc(20, 0x55);
    const A = 0x11111111;
    const B = 0x22222222;
    const C = 0x33333333;
    // A: wrap 65533..7, 2 missing, 3 duplicated, 5 before 4
    for (const s of [65533, 65534, 65535, 0, 1, 3, 3, 5, 4, 6, 7]) await send(tx, rtp(s, A, pay), sink.port);
    // B: 100 in order
    for (let s = 100; s < 200; s++) await send(tx, rtp(s, B, pay), sink.port);
    // C: a late packet older than the first one
    for (const s of [10, 9, 11]) await send(tx, rtp(s, C, pay), sink.port);
    // not RTP
    await send(tx, Buffer.from([1, 2, 3, 4, 5]), sink.port);
    await sleep(300);
    const r = await sink.stop();
    tx.close();
    t.equal(r.tool, 'rtp-sink');
    t.equal(r.ssrcs, 3);
    t.equal(r.expect_ssrcs, 3);
    t.equal(r.missing_ssrcs, 0);
    t.equal(r.received, 114, 'received');
    t.equal(r.unique, 113, 'unique');
    t.equal(r.expected, 114, 'expected');
    t.equal(r.lost, 1, 'lost');
    t.equal(r.duplicates, 1, 'duplicates');
    t.equal(r.out_of_order, 2, 'out of order');
    t.equal(r.bytes, 114 * 32, 'bytes');
    t.equal(r.non_rtp, 1, 'non-RTP datagram');
    const per = new Map<number, any>(r.per_ssrc.map((s: any) => [s.ssrc, s]));
    t.match(per.get(A), { received: 11, expected: 11, lost: 1, duplicates: 1, out_of_order: 1, first_seq: 65533, last_seq: 7 });
    t.match(per.get(B), { received: 100, expected: 100, lost: 0, duplicates: 0, out_of_order: 0, first_seq: 100, last_seq: 199 });
    t.match(per.get(C), { received: 3, expected: 3, lost: 0, duplicates: 0, out_of_order: 1, first_seq: 9, last_seq: 11 });
  });

  t.test('rtp-relay forwards 10,000 packets to two sinks with SSRC/seq rewritten, no loss', async (t) => {
    const N = 10_000;
    const sinks = [await start('rtp-sink', ['--per-ssrc']), await start('rtp-sink', ['--per-ssrc'])];
    const check = await udpReceiver();
    const to = [...sinks.map((s) => `127.0.0.1:${s.port}`), `127.0.0.1:${check.port}`].join(',');
    const relay = await start('rtp-relay', ['--to', to, '--ssrc-base', '4096', '--batch', '64']);
    const tx = createSocket('udp4');
    const srcSsrc = 0xabcdef01;
    // modest rate: bursts of 50 packets every 5 ms (about 10 kpps)
    for (let i = 0; i < N; i++) {
      const payload = Buffer.alloc(1000, i & 0xff);
      payload.writeUInt32BE(i, 0);
      await send(tx, rtp(60_000 + i, srcSsrc, payload, { marker: i % 10 === 9, ts: i * 3600, pt: 96 }), relay.port);
      if (i % 50 === 49) await sleep(5);
    }
    await settle(check.msgs);
    const rr = await relay.stop();
    const [r0, r1] = [await sinks[0]!.stop(), await sinks[1]!.stop()];
    tx.close();
    check.sock.close();
    t.equal(rr.tool, 'rtp-relay');
    t.equal(rr.destinations, 3);
    t.equal(rr.packets_in, N, 'relay packets in');
    t.equal(rr.packets_out, 3 * N, 'relay packets out');
    t.equal(rr.bytes_in, N * 1012);
    t.equal(rr.bytes_out, 3 * N * 1012);
    t.equal(rr.send_errors, 0);
    for (const [k, r] of [r0, r1].entries()) {
      t.equal(r.ssrcs, 1, `sink ${k}: one SSRC`);
      t.equal(r.received, N, `sink ${k}: received`);
      t.equal(r.lost, 0, `sink ${k}: no loss`);
      t.equal(r.duplicates, 0, `sink ${k}: no duplicates`);
      t.equal(r.out_of_order, 0, `sink ${k}: in order`);
      t.match(r.per_ssrc[0], { ssrc: 4096 + k, first_seq: 0, last_seq: N - 1 }, `sink ${k}: SSRC and seq rewritten`);
    }
    // the Node receiver checks the bytes of every packet
    t.equal(check.msgs.length, N, 'node receiver got every packet');
    let bad = 0;
    check.msgs.forEach((m, i) => {
      const ok =
        m.length === 1012 &&
        m[0] === 0x80 &&
        m[1] === ((i % 10 === 9 ? 0x80 : 0) | 96) &&
        m.readUInt16BE(2) === (i & 0xffff) &&
        m.readUInt32BE(4) === (i * 3600) >>> 0 &&
        m.readUInt32BE(8) === 4098 &&
        m.readUInt32BE(12) === i &&
        m[1011] === (i & 0xff);
      if (!ok) bad++;
    });
    t.equal(bad, 0, 'marker, PT, timestamp and payload kept; seq and SSRC rewritten');
  });

  const captureBytes = (): Buffer => {
    const hex = readFileSync(capturePath, 'utf8').replace(/[^0-9a-fA-F]/g, '');
    return Buffer.from(hex, 'hex');
  };

  /** sends the bytes over TCP in 4 KiB chunks, 1 ms apart (so a Node UDP receiver keeps up) */
  async function feed(port: number, data: Buffer) {
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((res, rej) => sock.once('connect', () => res()).once('error', rej));
    for (let off = 0; off < data.length; off += 4096) {
      sock.write(data.subarray(off, off + 4096));
      await sleep(1);
    }
    await new Promise<void>((res) => sock.end(() => res()));
  }

  t.test('jt1078-pipeline: data.txt over TCP becomes PS over RTP that ffprobe reads (h264, 101 frames)', async (t) => {
    const data = captureBytes();
    t.equal(data.length, 262_643, 'capture decoded');
    const rx = await udpReceiver();
    const pipe = await start('jt1078-pipeline', ['--to', `127.0.0.1:${rx.port}`, '--ssrc-base', '7000']);
    await feed(pipe.port, data);
    await sleep(200);
    await settle(rx.msgs);
    const st = await pipe.stop();
    rx.sock.close();
    t.equal(st.tool, 'jt1078-pipeline');
    t.equal(st.connections, 1);
    t.equal(st.packets_in, 324, 'JT1078 packets parsed');
    t.equal(st.bytes_in, data.length);
    t.equal(st.video_frames, 101, 'video frames');
    t.equal(st.key_frames, 2, 'key frames');
    t.equal(st.audio_frames, 0);
    t.equal(st.parse_errors, 0);
    t.equal(st.seq_errors, 0);
    t.equal(st.send_errors, 0);
    t.equal(st.rtp_packets_out, rx.msgs.length, 'every RTP packet arrived');

    const pk = rx.msgs;
    t.ok(pk.length > 101, 'RTP packets received');
    t.ok(pk.every((m) => m[0] === 0x80 && (m[1]! & 0x7f) === 96), 'RTP v2, PT 96');
    t.ok(pk.every((m) => m.readUInt32BE(8) === 7000), 'one SSRC, from --ssrc-base');
    t.ok(pk.every((m) => m.length - 12 <= 1400), 'payload ≤ 1400 bytes');
    t.ok(pk.every((m, i) => m.readUInt16BE(2) === (i & 0xffff)), 'sequence continuous from 0');
    t.equal(pk.filter((m) => m[1]! & 0x80).length, 101, 'one marker per frame');
    t.ok(pk.at(-1)![1]! & 0x80, 'marker on the last packet');
    const ps = Buffer.concat(pk.map((m) => m.subarray(12)));
    t.same([...ps.subarray(0, 4)], [0, 0, 1, 0xba], 'PS starts with a pack header');
    // every frame starts with a pack header, at the start of the packet after a marker
    let badStarts = 0;
    pk.forEach((m, i) => {
      const startsFrame = i === 0 || (pk[i - 1]![1]! & 0x80) !== 0;
      if (startsFrame !== (m.readUInt32BE(12) === 0x000001ba)) badStarts++;
    });
    t.equal(badStarts, 0, 'pack header exactly at each frame start');
    // RTP timestamp = 90 kHz PTS; capture ts runs 0..4170 ms → 3600 + 4170*90 at the end
    t.equal(pk[0]!.readUInt32BE(4), 3600, 'first RTP timestamp');
    t.equal(pk.at(-1)!.readUInt32BE(4), 3600 + 4170 * 90, 'last RTP timestamp');
    t.equal(ps.indexOf(Buffer.from([0, 0, 1, 0xbc])) > 0, true, 'PSM present');

    if (!have('ffprobe')) {
      if (CI) t.fail('ffprobe is missing (CI=true)');
      else t.pass('ffprobe check', { skip: 'ffprobe is missing' });
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'native-bench-'));
    try {
      const file = join(dir, 'out.ps');
      writeFileSync(file, ps);
      const run = spawnSync(
        'ffprobe',
        ['-v', 'error', '-count_frames', '-select_streams', 'v', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'json', file],
        { encoding: 'utf8' },
      );
      t.equal(run.status, 0, `ffprobe ran: ${run.stderr}`);
      const streams = JSON.parse(run.stdout || '{}').streams ?? [];
      t.equal(streams.length, 1, 'one video stream');
      t.equal(streams[0]?.codec_name, 'h264', 'codec h264');
      t.equal(Number(streams[0]?.nb_read_frames), 101, '101 frames decoded');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** splits a JT1078 byte stream into {head, body} packets (the capture is clean) */
  function jtPackets(data: Buffer): { head: Buffer; body: Buffer }[] {
    const out: { head: Buffer; body: Buffer }[] = [];
    for (let i = 0; i < data.length; ) {
      const dt = data[i + 15]! >> 4;
      const hl = dt <= 2 ? 30 : dt === 3 ? 26 : 18;
      const bl = data.readUInt16BE(i + hl - 2);
      out.push({ head: data.subarray(i, i + hl), body: data.subarray(i + hl, i + hl + bl) });
      i += hl + bl;
    }
    return out;
  }

  /** a JT1078 packet with the header of `head`, a new sequence number, sub-package flag and body */
  function jtPacket(head: Buffer, seq: number, sub: number, body: Buffer): Buffer {
    const h = Buffer.from(head);
    h.writeUInt16BE(seq & 0xffff, 6);
    h[5] = (h[5]! & 0x7f) | (sub === 0 || sub === 2 ? 0x80 : 0);
    h[15] = (h[15]! & 0xf0) | sub;
    h.writeUInt16BE(body.length, h.length - 2);
    return Buffer.concat([h, body]);
  }

  /** data.txt with its first (atomic) I-frame replaced by `first` cut into 950-byte sub-packages */
  function withBigFirstFrame(first: Buffer): Buffer {
    const pk = jtPackets(captureBytes());
    const head = pk[0]!.head;
    const out: Buffer[] = [];
    let seq = 0;
    for (let off = 0; off < first.length; off += 950) {
      const end = Math.min(first.length, off + 950);
      const sub = off === 0 ? (end === first.length ? 0 : 1) : end === first.length ? 2 : 3;
      out.push(jtPacket(head, seq++, sub, first.subarray(off, end)));
    }
    for (const p of pk.slice(1)) out.push(jtPacket(p.head, seq++, p.head[15]! & 0x0f, p.body));
    return Buffer.concat(out);
  }

  /** PS start codes with their lengths (pack headers skipped) */
  function walkPs(ps: Buffer): { id: number; at: number; len: number }[] {
    const out: { id: number; at: number; len: number }[] = [];
    let i = 0;
    while (i + 6 <= ps.length) {
      if (ps.readUIntBE(i, 3) !== 1) throw new Error(`no start code at ${i}`);
      const id = ps[i + 3]!;
      if (id === 0xba) {
        out.push({ id, at: i, len: 14 + (ps[i + 13]! & 7) });
        i += 14 + (ps[i + 13]! & 7);
        continue;
      }
      const len = ps.readUInt16BE(i + 4);
      out.push({ id, at: i, len });
      i += 6 + len;
    }
    if (i !== ps.length) throw new Error('PS does not end on a unit boundary');
    return out;
  }

  t.test('jt1078-pipeline splits a 1.6 MB I-frame into PES ≤ 65535 bytes (and > 1024 RTP packets)', async (t) => {
    const first = jtPackets(captureBytes())[0]!.body;
    // the original first I-frame + an H.264 filler-data NAL unit (type 12) of 1.6 MB
    const big = Buffer.concat([first, Buffer.from([0, 0, 0, 1, 0x0c]), Buffer.alloc(1_600_000, 0xff), Buffer.from([0x80])]);
    const rx = await udpReceiver();
    const pipe = await start('jt1078-pipeline', ['--to', `127.0.0.1:${rx.port}`]);
    await feed(pipe.port, withBigFirstFrame(big));
    await sleep(200);
    await settle(rx.msgs);
    const st = await pipe.stop();
    rx.sock.close();
    t.equal(st.video_frames, 101);
    t.equal(st.seq_errors, 0);
    t.equal(st.oversize, 0);
    t.equal(st.rtp_packets_out, rx.msgs.length, 'every RTP packet arrived');
    const pk = rx.msgs;
    t.ok(pk.every((m, i) => m.readUInt16BE(2) === (i & 0xffff)), 'sequence continuous');
    const firstMarker = pk.findIndex((m) => (m[1]! & 0x80) !== 0);
    t.ok(firstMarker + 1 > 1024, `first frame spans ${firstMarker + 1} RTP packets`);
    const ps = Buffer.concat(pk.map((m) => m.subarray(12)));
    const units = walkPs(ps);
    const secondPack = units.findIndex((u, i) => i > 0 && u.id === 0xba);
    const frame1 = units.slice(0, secondPack).filter((u) => u.id === 0xe0);
    t.equal(frame1.length, Math.ceil((big.length - 65527) / 65532) + 1, 'first frame: PES count');
    t.ok(frame1.every((u) => u.len <= 65535), 'PES_packet_length fits');
    t.equal(ps[frame1[0]!.at + 7]! & 0xc0, 0x80, 'first PES carries the PTS');
    t.ok(frame1.slice(1).every((u) => ps[u.at + 7] === 0 && ps[u.at + 8] === 0), 'continuation PES without PTS');
    const es = Buffer.concat(frame1.map((u) => ps.subarray(u.at + 9 + ps[u.at + 8]!, u.at + 6 + u.len)));
    t.ok(es.equals(big), 'PES payloads reassemble to the frame');
    if (!have('ffprobe')) {
      if (CI) t.fail('ffprobe is missing (CI=true)');
      else t.pass('ffprobe check', { skip: 'ffprobe is missing' });
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'native-bench-'));
    try {
      const file = join(dir, 'big.ps');
      writeFileSync(file, ps);
      const run = spawnSync(
        'ffprobe',
        ['-v', 'error', '-count_frames', '-select_streams', 'v', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'json', file],
        { encoding: 'utf8' },
      );
      const s0 = (JSON.parse(run.stdout || '{}').streams ?? [])[0];
      t.equal(s0?.codec_name, 'h264', 'codec h264');
      t.equal(Number(s0?.nb_read_frames), 101, '101 frames decoded');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  t.test('jt1078-pipeline drops a frame above 2 MiB and goes on', async (t) => {
    const first = jtPackets(captureBytes())[0]!.body;
    const huge = Buffer.alloc(2 * 1024 * 1024 + 5000, 0xff);
    // the huge I-frame, then data.txt again from its own first I-frame
    const stream = Buffer.concat([withBigFirstFrame(huge), withBigFirstFrame(first)]);
    const rx = await udpReceiver();
    const pipe = await start('jt1078-pipeline', ['--to', `127.0.0.1:${rx.port}`]);
    await feed(pipe.port, stream);
    await sleep(200);
    await settle(rx.msgs);
    const st = await pipe.stop();
    rx.sock.close();
    t.equal(st.oversize, 1, 'one oversize frame');
    // first copy: the 100 frames after the dropped I-frame, the P-frames before the
    // next I-frame are skipped; second copy: all 101 frames
    t.equal(st.skipped_wait_key + st.video_frames, 100 + 101, 'every other frame accounted for');
    t.equal(st.seq_errors, 0, 'no spurious sequence errors from the skipped pieces');
    t.equal(st.incomplete_frames, 0);
  });

  t.test('jt1078-pipeline resyncs on the magic after garbage and a broken header', async (t) => {
    const data = captureBytes();
    const rx = await udpReceiver();
    const pipe = await start('jt1078-pipeline', ['--to', `127.0.0.1:${rx.port}`]);
    // 7 garbage bytes, then a magic with an impossible data type (0xF0), then the capture
    const junk = Buffer.from([0xff, 0x00, 0x30, 0x31, 0x63, 0x00, 0x01]);
    const broken = Buffer.from('303163648162000000000000000001f0', 'hex');
    await feed(pipe.port, Buffer.concat([junk, broken, data]));
    await sleep(200);
    await settle(rx.msgs);
    const st = await pipe.stop();
    rx.sock.close();
    t.equal(st.parse_errors, 1, 'one resync');
    t.equal(st.resync_bytes, junk.length + broken.length, 'skipped bytes');
    t.equal(st.packets_in, 324);
    t.equal(st.video_frames, 101);
    t.equal(st.rtp_packets_out, rx.msgs.length);
  });
}
