/**
 * Load generator for bench:play: replays the PS/RTP packets of a pcap (Ethernet/
 * IPv4/UDP, e.g. ../shared/sipp/gb_h264_4s_rtp.pcap) to N UDP ports, paced by the
 * RTP timestamps, looping with continuous sequence numbers and timestamps; one SSRC
 * per destination. Prints a JSON line with what it sent.
 *   node dist/bench/rtp-sender.js PCAP SECONDS HOST PORT[,PORT...]
 */
import { createSocket } from 'node:dgram';
import { udpPayloadsOfPcap } from '../src/tools/pcap.js';

const [pcapPath, secondsArg, host, portsArg] = process.argv.slice(2);
if (!pcapPath || !secondsArg || !host || !portsArg) {
  process.stderr.write('usage: rtp-sender PCAP SECONDS HOST PORT[,PORT...]\n');
  process.exit(2);
}
const ports = portsArg.split(',').map(Number);


const packets = udpPayloadsOfPcap(pcapPath);
const ts0 = packets[0]!.readUInt32BE(4);
const offsetsMs = packets.map((p) => ((p.readUInt32BE(4) - ts0) >>> 0) / 90);
const loopMs = offsetsMs.at(-1)! + 40;
const socket = createSocket('udp4');
const started = performance.now();
const until = started + Number(secondsArg) * 1000;
let index = 0;
let loop = 0;
let sent = 0;

function tick(): void {
  const now = performance.now();
  while (now >= started + loop * loopMs + offsetsMs[index]!) {
    const src = packets[index]!;
    const seq = (loop * packets.length + index) & 0xffff;
    const ts = (ts0 + Math.round((loop * loopMs + offsetsMs[index]!) * 90)) >>> 0;
    ports.forEach((port, i) => {
      const out = Buffer.allocUnsafe(src.length);
      src.copy(out);
      out.writeUInt16BE(seq, 2);
      out.writeUInt32BE(ts, 4);
      out.writeUInt32BE(i + 1, 8);
      socket.send(out, port, host!);
      sent++;
    });
    index++;
    if (index === packets.length) {
      index = 0;
      loop++;
    }
  }
  if (now < until) setTimeout(tick, 5);
  else setTimeout(() => {
    process.stdout.write(JSON.stringify({ sent, streams: ports.length, seconds: (now - started) / 1000 }) + '\n');
    socket.close();
  }, 100);
}
tick();
