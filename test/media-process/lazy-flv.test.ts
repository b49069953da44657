/**
 * Issue #17: a media worker muxes a stream to FLV only while the viewer server wants it.
 * A real media process with one worker, a JT/T 1078 terminal replayed in real time (the
 * simulator), HTTP-FLV viewers read over the socket and judged by ffprobe; the worker's FLV
 * tag count comes from its ping (what it wrote into its FLV ring).
 */
import t from 'tap';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManagedChild, processSpawner } from '../../src/shared/child.js';
import { entryPath } from '../../src/shared/entry.js';
import type { MediaContract } from '../../src/shared/contracts/media.js';
import { loopbackMediaConfig } from '../../src/tools/loopback.js';
import { startSimulation } from '../../src/tools/sim/index.js';
import { capturesDir } from '../helpers/jt1078.js';
import { waitFor } from '../helpers/appliance.js';
import { rtpFromPcap, sendPaced } from '../helpers/rtp-sink.js';
import { needPeer } from '../helpers/peers.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { parseVideoBody, readFlvHeader, readFlvTags } from '../protocol/flv/fixtures/flv-reader.js';

/** Reads an HTTP-FLV URL for `ms`: the bytes and when the first video key frame arrived. */
async function watch(url: string, ms: number): Promise<{ bytes: Buffer; firstKeyAfterMs: number | undefined }> {
  const abort = new AbortController();
  const started = Date.now();
  const response = await fetch(url, { signal: abort.signal });
  const chunks: Buffer[] = [];
  let firstKeyAfterMs: number | undefined;
  const stop = setTimeout(() => abort.abort(), ms);
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      chunks.push(Buffer.from(chunk));
      if (firstKeyAfterMs === undefined && videoTags(Buffer.concat(chunks)).some((v) => v.key)) firstKeyAfterMs = Date.now() - started;
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  } finally {
    clearTimeout(stop);
  }
  return { bytes: Buffer.concat(chunks), firstKeyAfterMs };
}

/** The video tags of an FLV byte stream: sequence header or frame, key or not. */
function videoTags(bytes: Buffer): Array<{ config: boolean; key: boolean; timestamp: number }> {
  const header = readFlvHeader(bytes);
  if (!header) return [];
  return readFlvTags(bytes, header.dataOffset + 4)
    .tags.filter((tag) => tag.type === 9)
    .map((tag) => {
      const body = parseVideoBody(tag.body)!;
      return { config: body.packetType === 0, key: body.frameType === 1 && body.packetType !== 0, timestamp: tag.timestamp };
    });
}

const pcap = new URL('../../../shared/sipp/gb_h264_4s_rtp.pcap', import.meta.url).pathname;

/** A real media process with one worker (not started), and the notes it sends. */
async function mediaProcess() {
  const config = await loopbackMediaConfig({ workers: 1 });
  const notes: Array<[string, any]> = [];
  const media = new ManagedChild<MediaContract>('media', processSpawner<MediaContract>(entryPath('media-process'), () => ({ config }), []), {
    onChannel: (channel) => {
      for (const event of ['stream.started', 'stream.stopped', 'worker.restarted'] as const) channel.onNote(event, (data) => notes.push([event, data]));
    },
  });
  return { config, notes, media };
}

/** A stream's figures once its bitrate and video codec are known (GET /streams' source). */
async function liveFigures(media: ManagedChild<MediaContract>, name: string): Promise<any> {
  return waitFor(
    async () => {
      const [stats] = await media.channel!.request('streams.stats', { names: [name] });
      return stats && stats.bitsPerSecond > 0 && stats.video ? stats : undefined;
    },
    10_000,
    `bitrate and codec of ${name}`,
  );
}

async function probe(bytes: Buffer): Promise<{ json: any; stderr: string }> {
  const file = join(mkdtempSync(join(tmpdir(), 'camgate-lazyflv-')), 'view.flv');
  writeFileSync(file, bytes);
  return ffprobe(['-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,nb_read_frames', file], 60_000);
}

t.test('FLV tags only while a viewer watches: none before, a mid-GOP viewer starts on the cached key frame, none after the grace, the same after a worker restart', async (t) => {
  if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
  const { config, notes, media } = await mediaProcess();
  const sims: Array<{ stop(): void }> = [];
  t.teardown(async () => {
    for (const sim of sims) sim.stop();
    await media.stop();
  });
  await media.start();
  const worker = async () => (await media.health()).detail?.workers?.[0]?.detail;
  const terminal = async () => {
    const sim = await startSimulation({ capture: `${capturesDir}data.txt`, host: '127.0.0.1', port: config.jt1078.realtime.port, streams: 1, loops: Infinity, speed: 1 });
    sims.push(sim);
    return sim;
  };

  for (const round of ['first worker', 'after a worker restart']) {
    const startedBefore = notes.filter((n) => n[0] === 'stream.started').length;
    await terminal();
    const started = await waitFor(async () => notes.filter((n) => n[0] === 'stream.started')[startedBefore], 10_000, `stream started (${round})`);
    const name: string = started[1].name;
    const url = `http://127.0.0.1:${config.media.httpPort}/${name}.flv`;

    // Nobody watches: no tag in the ring, yet GET /streams' figures (bitrate, codec, size) are there.
    const live = await liveFigures(media, name);
    t.match(live, { viewers: 0, video: { codec: 'h264', width: 720, height: 576 } }, `${round}: live figures without a viewer ${JSON.stringify(live)}`);
    t.ok(live.bitsPerSecond > 100_000 && live.bitsPerSecond < 20_000_000, `${round}: bitrate ${live.bitsPerSecond} bit/s from the worker's source bytes`);
    t.match(await worker(), { flvTags: 0, flvWanted: 0 }, `${round}: no FLV tag written for an unwatched stream`);

    // A viewer in the middle of a GOP: the cached GOP at once, from its key frame, decodable.
    await sleep(700);
    const view = await watch(url, 3000);
    const tags = videoTags(view.bytes);
    t.ok(tags.length > 10, `${round}: ${tags.length} video tags`);
    t.ok(tags[0]?.config, `${round}: the sequence header first`);
    t.ok(tags[1]?.key, `${round}: then a key frame`);
    t.ok(view.firstKeyAfterMs !== undefined && view.firstKeyAfterMs < 1500, `${round}: first picture after ${view.firstKeyAfterMs} ms (from the worker's GOP cache, not the next key frame)`);
    const probed = await probe(view.bytes);
    t.equal(probed.stderr, '', `${round}: ffprobe decodes it without errors`);
    t.match(probed.json.streams?.[0], { codec_name: 'h264', width: 720 });
    t.ok(Number(probed.json.streams?.[0]?.nb_read_frames) >= tags.length - 2, `${round}: ${probed.json.streams?.[0]?.nb_read_frames} frames decoded`);
    const during = await worker();
    t.ok(during?.flvTags && during.flvTags > 10, `${round}: tags written while watched (${during?.flvTags})`);

    // The viewer left: after the grace (5 s) the worker stops writing tags.
    await waitFor(async () => (await worker())?.flvWanted === 0, 15_000, 'unwanted after the grace');
    const stopped = (await worker())!.flvTags!;
    await sleep(1500);
    t.equal((await worker())?.flvTags, stopped, `${round}: no more tags after the grace`);

    if (round === 'first worker') {
      await media.channel!.request('worker.kill', { slot: 0 });
      await waitFor(async () => notes.find((n) => n[0] === 'worker.restarted'), 15_000, 'worker restarted');
      for (const sim of sims.splice(0)) sim.stop();
    }
  }
});

/** The capture's RTP packets again and again at real time, sequence and timestamps carried on across loops, until stopped. */
function loopRtp(packets: Buffer[], send: (packet: Buffer) => void): { stop(): void } {
  let stopped = false;
  const firstTs = packets[0]!.readUInt32BE(4);
  const spanTs = packets[packets.length - 1]!.readUInt32BE(4) - firstTs + 3600;
  void (async () => {
    for (let loop = 0; !stopped; loop++) {
      const copies = packets.map((p, i) => {
        const c = Buffer.from(p);
        c.writeUInt16BE((loop * packets.length + i) & 0xffff, 2);
        c.writeUInt32BE((p.readUInt32BE(4) + loop * spanTs) >>> 0, 4);
        return c;
      });
      await sendPaced(copies, (packet) => !stopped && send(packet), 1);
    }
  })();
  return { stop: () => (stopped = true) };
}

t.test('a GB28181 input nobody watches is only relayed, not demuxed; a viewer still starts on its cached key frame, and demuxing stops again after the grace', async (t) => {
  if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
  const { config, notes, media } = await mediaProcess();
  const sender = createSocket('udp4');
  let feed: { stop(): void } | null = null;
  t.teardown(async () => {
    feed?.stop();
    sender.close();
    await media.stop();
  });
  await media.start();
  const worker = async () => (await media.health()).detail?.workers?.[0]?.detail;
  const name = 'rtp/LAZYDEMUX';
  const { port } = await media.channel!.request('rtp.open', { name, transport: 'udp' });
  feed = loopRtp(rtpFromPcap(pcap), (packet) => sender.send(packet, port, '127.0.0.1'));
  await waitFor(async () => notes.find((n) => n[1].name === name), 10_000, 'stream started');

  // Started and its key frame seen, nobody watching: demuxing stops; codec, size and bitrate stay known.
  await waitFor(async () => (await worker())?.rtpInputsDecoding === 0, 10_000, 'demuxing stops without a viewer');
  const live = await liveFigures(media, name);
  t.match(live, { viewers: 0, video: { codec: 'h264' } }, `live figures without a viewer ${JSON.stringify(live)}`);
  t.ok(live.bitsPerSecond > 50_000 && live.bitsPerSecond < 20_000_000, `bitrate ${live.bitsPerSecond} bit/s from the relayed bytes`);
  await sleep(1500);
  t.equal((await worker())?.rtpInputsDecoding, 0, 'still only relayed');

  const view = await watch(`http://127.0.0.1:${config.media.httpPort}/${name}.flv`, 3000);
  const tags = videoTags(view.bytes);
  t.ok(tags.length > 10, `${tags.length} video tags`);
  t.ok(tags[0]?.config, 'the sequence header first');
  t.ok(tags[1]?.key, 'then a key frame');
  t.ok(view.firstKeyAfterMs !== undefined && view.firstKeyAfterMs < 1500, `first picture after ${view.firstKeyAfterMs} ms (the relays' GOP replayed through a fresh demuxer)`);
  const probed = await probe(view.bytes);
  t.equal(probed.stderr, '', 'ffprobe decodes it without errors');
  t.match(probed.json.streams?.[0], { codec_name: 'h264' });
  t.ok(Number(probed.json.streams?.[0]?.nb_read_frames) >= tags.length - 2, `${probed.json.streams?.[0]?.nb_read_frames} frames decoded`);

  // The viewer left: after the grace, nobody wants frames and demuxing stops again.
  await waitFor(async () => (await worker())?.flvWanted === 0, 15_000, 'unwanted after the grace');
  await waitFor(async () => (await worker())?.rtpInputsDecoding === 0, 5000, 'demuxing stops again');
  t.pass('demuxing stopped again after the viewer left');
});
