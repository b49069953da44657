import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedChild, processSpawner } from '../../src/shared/child.js';
import { entryPath } from '../../src/shared/entry.js';
import { loopbackMediaConfig } from '../../src/tools/loopback.js';
import { psOf, rtpFromPcap, sendPaced, tcpSink, udpSink, type RtpRecord } from '../helpers/rtp-sink.js';
import { waitFor } from '../helpers/appliance.js';
import { needPeer } from '../helpers/peers.js';

const pcap = new URL('../../../shared/sipp/gb_h264_4s_rtp.pcap', import.meta.url).pathname;

function continuous(packets: RtpRecord[]): boolean {
  return packets.every((p, i) => i === 0 || ((packets[i - 1]!.seq + 1) & 0xffff) === p.seq);
}

t.test('relay of a GB28181 input: added and removed at run time, UDP and TCP, own SSRC and sequence, no remux', async (t) => {
  const udp = await udpSink();
  const tcp = await tcpSink();
  const config = await loopbackMediaConfig({ workers: 1 });
  const media = new ManagedChild('media', processSpawner(entryPath('media-process'), () => ({ config })));
  t.teardown(async () => {
    await media.stop();
    udp.close();
    await tcp.close();
  });
  await media.start();
  const { port } = (await media.channel!.request('rtp.open', { name: 'rtp/RELAY', transport: 'udp' })) as { port: number };
  const rtp = rtpFromPcap(pcap);
  const sender = createSocket('udp4');
  const send = (from: number, to: number) => sendPaced(rtp, (packet) => sender.send(packet, port, '127.0.0.1'), 4, from, to);
  const a = (await media.channel!.request('forward.add', { name: 'rtp/RELAY', destination: { host: '127.0.0.1', port: udp.port, transport: 'udp', ssrc: 4242 } })) as { ssrc: number; mode: string };
  t.same(a, { ssrc: 4242, mode: 'relay' });
  const b = (await media.channel!.request('forward.add', { name: 'rtp/RELAY', destination: { host: '127.0.0.1', port: tcp.port, transport: 'tcp' } })) as { ssrc: number };
  t.ok(b.ssrc > 0, 'an SSRC is derived when none is given');
  t.same(((await media.channel!.request('forward.list', { name: 'rtp/RELAY' })) as Array<{ port: number }>).map((f) => f.port), [udp.port, tcp.port]);
  const half = Math.floor(rtp.length / 2);
  await send(0, half);
  await waitFor(async () => udp.packets.length >= half, 5000, 'relayed over UDP');
  t.equal(await media.channel!.request('forward.remove', { name: 'rtp/RELAY', host: '127.0.0.1', port: udp.port }), true);
  const atRemoval = udp.packets.length;
  await send(half, rtp.length);
  await waitFor(async () => tcp.packets.length >= rtp.length, 5000, 'relayed over TCP');
  await new Promise((r) => setTimeout(r, 200));
  sender.close();

  t.equal(udp.packets.length, atRemoval, 'nothing relayed after removal');
  t.equal(udp.packets.length, half, 'every packet while the forward lived');
  t.ok(udp.packets.every((p) => p.ssrc === 4242) && continuous(udp.packets), 'UDP: our SSRC, continuous sequence');
  t.ok(tcp.packets.every((p) => p.ssrc === b.ssrc) && continuous(tcp.packets), 'TCP: its SSRC, continuous sequence');
  t.equal(tcp.packets.length, rtp.length);
  // No remux: payloads are the input's bytes.
  t.ok(tcp.packets.every((p, i) => p.payload.equals(rtp[i]!.subarray(12))), 'payloads relayed unchanged');
  if (needPeer(t, 'ffprobe', 'ffmpeg')) {
    const dir = mkdtempSync(join(tmpdir(), 'camgate-relay-'));
    const frames = (file: string, ps: Buffer) => {
      writeFileSync(join(dir, file), ps);
      const probe = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'json', join(dir, file)], { encoding: 'utf8' });
      return JSON.parse(probe.stdout || '{}').streams?.[0] as { codec_name?: string; nb_read_frames?: string } | undefined;
    };
    const tcpStream = frames('tcp.ps', psOf(tcp.packets, b.ssrc));
    t.equal(tcpStream?.codec_name, 'h264', 'ffprobe reads what the TCP destination received');
    t.ok(Number(tcpStream?.nb_read_frames) >= 45, `${tcpStream?.nb_read_frames} frames from the TCP destination`);
    const udpStream = frames('udp.ps', psOf(udp.packets, 4242));
    t.equal(udpStream?.codec_name, 'h264', 'ffprobe reads what the UDP destination received');
    t.ok(Number(udpStream?.nb_read_frames) >= 20, `${udpStream?.nb_read_frames} frames from the UDP destination (first half)`);
  }
});
