import t from 'tap';
import { buildOffer } from '../../../src/protocol/sdp/gb-sdp.js';

const base = { serverId: '34020000002000000001', mediaHost: '10.0.0.5', mediaPort: 30000, transport: 'udp' as const, ssrc: '1340200001' };
const playback = { channelId: '34020000001310000001', start: 1795132800, end: 1795136400 };

t.test('offers: Play, Playback, Download (GB/T 28181-2016 Annex G)', async (t) => {
  const live = buildOffer(base);
  t.match(live, /\r\ns=Play\r\n/);
  t.match(live, /\r\nt=0 0\r\n/);
  t.notMatch(live, /u=|downloadspeed/);

  const replay = buildOffer({ ...base, playback });
  t.match(replay, /\r\ns=Playback\r\nu=34020000001310000001:0\r\n/);
  t.match(replay, /\r\nt=1795132800 1795136400\r\n/);
  t.notMatch(replay, /downloadspeed/);

  const download = buildOffer({ ...base, playback, downloadSpeed: 4 });
  t.match(download, /\r\ns=Download\r\nu=34020000001310000001:0\r\n/);
  t.match(download, /\r\nt=1795132800 1795136400\r\n/);
  t.match(download, /\r\na=downloadspeed:4\r\ny=1340200001\r\n$/, 'downloadspeed after the rtpmaps, before y=');
  t.notMatch(buildOffer({ ...base, downloadSpeed: 2 }), /downloadspeed|s=Download/, 'no download without a range');
});
