/**
 * The media process's intercom on real sockets: a werift PeerConnection stands in for the
 * browser, a TalkClient for the terminal's talk connection. Both directions with PCMA and
 * PCMU, the answer's single candidate on the mux port, the pool (503 exhausted, 409 port
 * in use, ports back after hang-up), and the hang-up paths (request, browser closes,
 * terminal disconnects, never connects).
 */
import t, { type Test } from 'tap';
import { IntercomServer } from '../../src/media-process/intercom/intercom-server.js';
import { defaultConfig } from '../../src/shared/config/config.js';
import { MEDIA_COUNTER_NAMES } from '../../src/shared/contracts/media-counters.js';
import type { AudioJoin, AudioLeave, IntercomEnded } from '../../src/shared/contracts/media.js';
import { SharedCounters } from '../../src/shared/counters.js';
import { ServiceError } from '../../src/shared/errors.js';
import { TalkClient, WebrtcPeer, toneRatio } from '../../src/tools/sim/index.js';
import { readFileSync } from 'node:fs';
import { decodeG711 } from '../../src/protocol/audio/g711.js';
import { decodeG726, G726State } from '../../src/protocol/audio/g726.js';
import { capturesDir } from '../helpers/jt1078.js';
import { freePort } from '../helpers/ports.js';

async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function server(t: Test, overrides: { connectTimeout?: number; ports?: number } = {}) {
  const config = defaultConfig();
  const base = (await freePort()) ;
  const count = overrides.ports ?? 2;
  // Consecutive free ports are likely above a free one; retried by the caller on EADDRINUSE.
  config.jt1078.host = '127.0.0.1';
  config.jt1078.intercom = { ...config.jt1078.intercom, enabled: true, webrtcPort: await freePort(), audioPorts: `${base}-${base + count - 1}`, connectTimeout: overrides.connectTimeout ?? 20 };
  const counters = SharedCounters.create(MEDIA_COUNTER_NAMES);
  const ended: IntercomEnded[] = [];
  const joins: AudioJoin[] = [];
  const leaves: AudioLeave[] = [];
  const connected: string[] = [];
  const intercom = new IntercomServer(config, counters, {
    connected: (id) => connected.push(id),
    ended: (e) => ended.push(e),
    join: (j) => joins.push(j),
    leave: (l) => leaves.push(l),
  }, { silenceMs: 5000 });
  await intercom.listen();
  t.teardown(() => intercom.shutdown());
  return { intercom, counters, ended, joins, leaves, connected, base, config };
}


for (const codec of ['PCMA', 'PCMU'] as const) {
  t.test(`${codec}: browser tone reaches the terminal, terminal tone reaches the browser`, async (t) => {
    const s = await server(t);
    const peer = new WebrtcPeer();
    t.teardown(() => peer.close());
    const payloadType = codec === 'PCMA' ? 6 : 7;
    const opened = await s.intercom.open({ id: 'a', sdp: await peer.offer(), audioCodec: payloadType, targets: [{ sim: '13800000001', channel: 1, port: 0 }], mode: 'talk' });
    t.equal(opened.codec, codec);
    t.equal(opened.targets[0]!.port, s.base, 'the first free pool port');
    const candidates = opened.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate'));
    t.same(candidates, [`a=candidate:1 1 udp 2130706431 127.0.0.1 ${s.config.jt1078.intercom.webrtcPort} typ host`], 'one host candidate: the mux port');
    t.match(opened.sdp, new RegExp(`a=rtpmap:${codec === 'PCMA' ? 8 : 0} ${codec}/8000`));
    await peer.answer(opened.sdp);
    await peer.connected(10_000);
    await waitFor(() => s.connected.includes('a'), 5000, 'intercom.connected');

    const terminal = new TalkClient({ host: '127.0.0.1', port: opened.targets[0]!.port, sim: '13800000001', channel: 1, payloadType });
    await terminal.connect();
    t.teardown(() => terminal.close());
    await waitFor(() => s.joins.length === 1, 2000, 'audio join');
    t.match(s.joins[0], { port: s.base, address: /^127\.0\.0\.1:\d+$/, startTime: Number });

    peer.sendTone(1000, codec === 'PCMA' ? 'alaw' : 'ulaw');
    terminal.sendTone(440);
    await waitFor(() => terminal.detector.ratio() > 0.8, 10_000, `1 kHz at the terminal (ratio ${terminal.detector.ratio()})`);
    const first = terminal.received[0]!;
    t.match(first, { payloadType, dataType: 3, subPackage: 0, channel: 1, sim: '013800000001' }, 'JT/T 1078 audio packets in the terminal\'s codec');
    t.equal(first.body.length, 160, '20 ms per packet, the RTP payload as it is');
    await waitFor(() => peer.received.length > 60, 10_000, 'uplink RTP at the browser');
    const pcm = decodeG711(Buffer.concat(peer.received.slice(-50).map((r) => r.payload)), codec === 'PCMA' ? 'alaw' : 'ulaw');
    const ratio = toneRatio(pcm, 440, 8000);
    t.ok(ratio > 0.8, `440 Hz at the browser (ratio ${ratio.toFixed(3)})`);
    t.ok(peer.received.every((r) => r.payloadType === (codec === 'PCMA' ? 8 : 0)), 'RTP payload type of the negotiated codec');
    // Our RTCP sender reports count every packet sent, including those that bypass werift's RtpSender.
    const reported = await waitFor(async () => {
      for (const stat of (await peer.pc.getStats()).values() as Iterable<{ type: string; packetsSent?: number }>) if (stat.type === 'remote-outbound-rtp' && (stat.packetsSent ?? 0) > 60) return stat.packetsSent;
      return undefined;
    }, 5000, 'a sender report');
    const heard = peer.received.length;
    t.ok(reported >= heard * 0.5 && reported <= heard + 10, `sender report counts ${reported} packets sent, the browser has ${heard}`);
    t.ok(s.counters.get('intercom_packets|down') > 0 && s.counters.get('intercom_packets|up') > 0, 'counted both ways');

    // Forged SRTP from the browser's own address (its ICE pair): refused by authentication, counted, and the audio goes on.
    const forged = Buffer.alloc(188, 0x11);
    forged[0] = 0x80;
    forged[1] = codec === 'PCMA' ? 8 : 0;
    for (let i = 0; i < 5; i++) await peer.transceiver.dtlsTransport.iceTransport.connection.send(forged);
    await waitFor(() => s.counters.get('intercom_drops|srtp') === 5, 2000, `5 forged packets counted (${s.counters.get('intercom_drops|srtp')})`);
    const before = terminal.received.length;
    await waitFor(() => terminal.received.length > before + 10, 2000, 'audio still reaches the terminal');
    t.pass('forged SRTP counted as intercom_drops|srtp, audio unaffected');

    t.ok(s.intercom.close('a', 'hung up by request'));
    t.match(s.ended[0], { id: 'a', reason: 'hung up by request', codec, targets: [{ port: s.base }] });
    t.ok(s.ended[0]!.packetsDown > 20 && s.ended[0]!.packetsUp > 20, `packet counts ${s.ended[0]!.packetsDown}/${s.ended[0]!.packetsUp}`);
    t.equal(s.intercom.ping().portsInUse, 0, 'the port is back in the pool');
  });
}

t.test('pool: named ports, 409 in use, 503 exhausted, 400 bad codec; nothing queued for an absent terminal', async (t) => {
  const s = await server(t, { ports: 2 });
  const peers = [new WebrtcPeer(), new WebrtcPeer(), new WebrtcPeer()];
  t.teardown(() => Promise.all(peers.map((p) => p.close())));
  const a = await s.intercom.open({ id: 'a', sdp: await peers[0]!.offer(), audioCodec: 6, targets: [{ sim: '1', channel: 1, port: s.base + 1 }], mode: 'talk' });
  t.equal(a.targets[0]!.port, s.base + 1, 'a named port');
  const offer = await peers[1]!.offer();
  const inUse = await s.intercom.open({ id: 'b', sdp: offer, audioCodec: 6, targets: [{ sim: '2', channel: 1, port: s.base + 1 }], mode: 'talk' }).catch((e: ServiceError) => e);
  t.match(inUse, { status: 409, message: /in use/ });
  const outside = await s.intercom.open({ id: 'b', sdp: offer, audioCodec: 6, targets: [{ sim: '2', channel: 1, port: 1 }], mode: 'talk' }).catch((e: ServiceError) => e);
  t.match(outside, { status: 400, message: /audioPort/ });
  const badCodec = await s.intercom.open({ id: 'b', sdp: offer, audioCodec: 19, targets: [{ sim: '2', channel: 1, port: 0 }], mode: 'talk' }).catch((e: ServiceError) => e);
  t.match(badCodec, { status: 400, message: /enterAudioEncoding/ });
  const b = await s.intercom.open({ id: 'b', sdp: offer, audioCodec: 6, targets: [{ sim: '2', channel: 1, port: 0 }], mode: 'talk' });
  t.equal(b.targets[0]!.port, s.base, 'the free one');
  const full = await s.intercom.open({ id: 'c', sdp: await peers[2]!.offer(), audioCodec: 6, targets: [{ sim: '3', channel: 1, port: 0 }], mode: 'talk' }).catch((e: ServiceError) => e);
  t.match(full, { status: 503, message: /no free audio port/ });
  t.equal(s.intercom.ping().portsInUse, 2);

  // Browser audio with no terminal on the port: dropped and counted, and a terminal that
  // connects later gets only fresh packets (no stale queue, the m7s quirk).
  await peers[0]!.answer(a.sdp);
  await peers[0]!.connected();
  peers[0]!.sendTone(1000, 'alaw');
  await waitFor(() => s.counters.get('intercom_drops|no-terminal') >= 25, 5000, 'drops without a terminal');
  const terminal = new TalkClient({ host: '127.0.0.1', port: s.base + 1, sim: '1', channel: 1, payloadType: 6 });
  await terminal.connect();
  t.teardown(() => terminal.close());
  const before = peers[0]!.sent;
  await waitFor(() => terminal.stats.packetsIn >= 5, 5000, 'fresh packets');
  await new Promise((r) => setTimeout(r, 200));
  t.ok(terminal.stats.packetsIn <= peers[0]!.sent - before + 2, `only packets sent after it connected (${terminal.stats.packetsIn} ≤ ${peers[0]!.sent - before})`);
});

t.test('hang-up paths: browser closes, terminal disconnects, never connects', async (t) => {
  const s = await server(t, { connectTimeout: 1, ports: 3 });
  // Never connects: the offer is answered but no ICE ever comes.
  const silent = new WebrtcPeer();
  t.teardown(() => silent.close());
  await s.intercom.open({ id: 'silent', sdp: await silent.offer(), audioCodec: 6, targets: [{ sim: '9', channel: 1, port: 0 }], mode: 'talk' });
  await waitFor(() => s.ended.find((e) => e.id === 'silent'), 5000, 'connect timeout');
  t.match(s.ended.find((e) => e.id === 'silent'), { reason: 'not connected within connectTimeout' });

  // Browser closes.
  const peer = new WebrtcPeer();
  const opened = await s.intercom.open({ id: 'closes', sdp: await peer.offer(), audioCodec: 6, targets: [{ sim: '9', channel: 1, port: 0 }], mode: 'talk' });
  await peer.answer(opened.sdp);
  await peer.connected();
  await peer.close();
  const closed = await waitFor(() => s.ended.find((e) => e.id === 'closes'), 20_000, 'browser close noticed');
  t.match(closed.reason, /browser|ICE/);

  // Terminal disconnects.
  const peer2 = new WebrtcPeer();
  t.teardown(() => peer2.close());
  const o2 = await s.intercom.open({ id: 'terminal', sdp: await peer2.offer(), audioCodec: 6, targets: [{ sim: '9', channel: 1, port: 0 }], mode: 'talk' });
  await peer2.answer(o2.sdp);
  await peer2.connected();
  const terminal = new TalkClient({ host: '127.0.0.1', port: o2.targets[0]!.port, sim: '9', channel: 1, payloadType: 6 });
  await terminal.connect();
  await waitFor(() => s.joins.length >= 1, 2000, 'join');
  await terminal.close();
  const gone = await waitFor(() => s.ended.find((e) => e.id === 'terminal'), 5000, 'terminal gone');
  t.equal(gone.reason, 'terminal closed the talk connection');
  await waitFor(() => s.leaves.length >= 1, 2000, 'leave');
  t.match(s.leaves[0], { port: o2.targets[0]!.port, endTime: Number });
  t.equal(s.intercom.ping().portsInUse, 0, 'every port back in the pool');
});

for (const hisilicon of [true, false]) {
  t.test(`ADPCM terminal (IMA, ${hisilicon ? 'with' : 'without'} the HiSilicon prefix): PCMA to the browser, transcoded both ways`, async (t) => {
    const s = await server(t);
    const peer = new WebrtcPeer();
    t.teardown(() => peer.close());
    const opened = await s.intercom.open({ id: 'adpcm', sdp: await peer.offer(), audioCodec: 26, targets: [{ sim: '13800000005', channel: 1, port: 0 }], mode: 'talk' });
    t.equal(opened.codec, 'PCMA', 'the browser gets PCMA');
    await peer.answer(opened.sdp);
    await peer.connected();
    const terminal = new TalkClient({ host: '127.0.0.1', port: opened.targets[0]!.port, sim: '13800000005', channel: 1, payloadType: 26, hisilicon });
    await terminal.connect();
    t.teardown(() => terminal.close());
    peer.sendTone(1000, 'alaw');
    terminal.sendTone(440);
    await waitFor(() => terminal.detector.ratio() > 0.8, 10_000, `1 kHz in the ADPCM the terminal got (${terminal.detector.ratio()})`);
    const first = terminal.received[0]!;
    t.equal(first.payloadType, 26, 'PT 26 towards the terminal');
    t.same([...first.body.subarray(0, 4)], [0, 1, 42, 0], 'HiSilicon prefix + 4-byte state + 80 code bytes (20 ms)');
    t.equal(first.body.length, 88);
    await waitFor(() => peer.received.length > 60, 10_000, 'uplink at the browser');
    const pcm = decodeG711(Buffer.concat(peer.received.slice(-50).map((r) => r.payload)), 'alaw');
    t.ok(toneRatio(pcm, 440, 8000) > 0.8, `440 Hz at the browser (ratio ${toneRatio(pcm, 440, 8000).toFixed(3)})`);
    t.equal(terminal.stats.decodeErrors, 0);
    t.equal(s.counters.get('intercom_transcode_errors|up') + s.counters.get('intercom_transcode_errors|down'), 0, 'no transcode error');
  });
}

t.test('G.726 terminal: the browser hears in_32.g726 as ffmpeg decodes it; the terminal hears 1 kHz at 32 kbit/s', async (t) => {
  const s = await server(t);
  const peer = new WebrtcPeer();
  t.teardown(() => peer.close());
  const opened = await s.intercom.open({ id: 'g726', sdp: await peer.offer(), audioCodec: 8, targets: [{ sim: '13800000006', channel: 1, port: 0 }], mode: 'talk' });
  t.equal(opened.codec, 'PCMA');
  await peer.answer(opened.sdp);
  await peer.connected();
  const terminal = new TalkClient({ host: '127.0.0.1', port: opened.targets[0]!.port, sim: '13800000006', channel: 1, payloadType: 8 });
  await terminal.connect();
  t.teardown(() => terminal.close());
  const file = readFileSync(`${capturesDir}in_32.g726`);
  const frames = Array.from({ length: 100 }, (_, i) => ({ payloadType: 8, body: file.subarray(i * 160, (i + 1) * 160) }));
  peer.sendTone(1000, 'alaw');
  terminal.sendPackets(frames, 40);
  await waitFor(() => terminal.detector.ratio() > 0.8, 10_000, `1 kHz in the G.726 the terminal got (${terminal.detector.ratio()})`);
  t.match(terminal.received[0], { payloadType: 8 }, 'PT 8 towards the terminal');
  t.equal(terminal.received[0]!.body.length, 160, '40 ms at 32 kbit/s per packet');
  await waitFor(() => peer.received.length >= 60, 10_000, 'uplink at the browser');
  terminal.stopSending();
  const heard = decodeG711(Buffer.concat(peer.received.slice(0, 60).map((r) => r.payload)), 'alaw');
  const expected = decodeG726(file.subarray(0, 60 * 160), new G726State(4));
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < heard.length; i++) {
    sab += heard[i]! * expected[i]!;
    saa += heard[i]! ** 2;
    sbb += expected[i]! ** 2;
  }
  const r = sab / Math.sqrt(saa * sbb);
  t.ok(r > 0.95, `the browser's PCMA follows the G.726 decode (correlation ${r.toFixed(4)} over ${heard.length} samples)`);
});
