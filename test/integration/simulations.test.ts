/**
 * m7s-jt1078's `simulations`: captures replayed from start-up into the appliance's own
 * JT/T 1078 port, SIM and channel rewritten, looping; a bad entry costs only its replay.
 */
import t from 'tap';
import { getJson, startHealthyAppliance, waitFor } from '../helpers/appliance.js';
import { capturesDir } from '../helpers/jt1078.js';
import { needPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/ports.js';
import { ffprobe } from '../helpers/ffprobe.js';
import { simulationArgs } from '../../src/supervisor/simulations.js';
import { validateConfig } from '../../src/shared/config/config.js';

t.test('simulationArgs: the simulator CLI replays forever, reconnecting, with the rewrite asked for', async (t) => {
  t.same(simulationArgs({ name: 'a.txt', addr: '127.0.0.1:12051' }), ['jt1078', '--capture', 'a.txt', '--host', '127.0.0.1', '--port', '12051', '--loops', 'inf', '--reconnect', '3000', '--quiet']);
  t.same(simulationArgs({ name: 'b', addr: '[::1]:9', sim: '13800000001', channel: 2 }).slice(3), ['--host', '::1', '--port', '9', '--loops', 'inf', '--reconnect', '3000', '--quiet', '--sim-base', '13800000001', '--channel', '2']);
});

t.test('config: an entry needs name and host:port; the error names the field', async (t) => {
  const base = { jt1078: { simulations: [{ name: 'x', addr: 'nohost' }] } };
  t.throws(() => validateConfig(base), /jt1078\.simulations\/0\/addr|jt1078\.simulations\.0\.addr/);
  t.throws(() => validateConfig({ jt1078: { simulations: [{ addr: '127.0.0.1:1' }] } }), /name/);
  t.equal(validateConfig({ jt1078: { simulations: [{ name: 'x', addr: 'h:1', sim: '1', channel: 1 }] } }).jt1078.simulations.length, 1);
});

t.test('a configured simulation plays from start-up as the SIM and channel it names; a missing file only logs', async (t) => {
  if (!needPeer(t, 'ffprobe', 'ffmpeg')) return;
  const realtime = await freePort();
  const app = await startHealthyAppliance(t, {
    jt1078: {
      host: '127.0.0.1',
      realtime: { port: realtime },
      simulations: [
        { name: `${capturesDir}data.txt`, addr: `127.0.0.1:${realtime}`, sim: '13912345678', channel: 3 },
        { name: '/nonexistent/capture.txt', addr: `127.0.0.1:${realtime}` },
      ],
    },
  });
  const stream = await waitFor(async () => {
    const list = await getJson(`${app.api}/streams?filters=${encodeURIComponent('[{"field_name":"status","operator":"=","value":0}]')}`);
    return list.body.data.List.find((s: { streamid: string }) => s.streamid === 'live/jt1078-13912345678-3');
  }, 20_000, 'the simulated stream live/jt1078-13912345678-3');
  t.match(stream, { kind: 'jt1078', deviceid: '13912345678', channelid: '3' });
  const probed = await ffprobe(['-read_intervals', '%+#30', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', stream.urls.flv], 20_000);
  t.equal(probed.json.streams?.[0]?.codec_name, 'h264', `plays: ${probed.stderr.slice(0, 200)}`);
  await waitFor(async () => /simulation ended; restarting/.test(app.output()), 15_000, 'the bad entry logged');
  t.match(app.output(), /nonexistent\/capture\.txt/, 'the log names the file');
  t.equal((await getJson(`${app.api}/healthz`)).status, 200, 'the appliance is unaffected');
});
