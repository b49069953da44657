import t from 'tap';
import fc from 'fast-check';
import { buildPlayUrls, ssrcFromStreamId, streamIdFromSsrc, ZLM_PLAY_URL_KINDS } from '../../../src/media-server/zlm/index.js';

t.test('stream id = SSRC as 8 upper-case hex digits (gosip §7, ZLM rtp_proxy naming)', async (t) => {
  t.equal(streamIdFromSsrc('0700000001'), '29B92701', 'live, leading 0');
  t.equal(streamIdFromSsrc('1700000001'), '6553F101', 'playback');
  t.equal(streamIdFromSsrc(0x0bebc2aa), '0BEBC2AA', 'padded to 8 digits, as ZLM names rtp/0BEBC2AA');
  t.equal(streamIdFromSsrc(0), '00000000');
  t.equal(streamIdFromSsrc('4294967295'), 'FFFFFFFF');
  t.throws(() => streamIdFromSsrc('4294967296'), RangeError, 'above 32 bits (gosip overflow defect)');
  t.throws(() => streamIdFromSsrc('17000000010'), RangeError, '11 digits');
  t.throws(() => streamIdFromSsrc('12a'), RangeError);
  t.throws(() => streamIdFromSsrc(''), RangeError);
  t.throws(() => streamIdFromSsrc(-1), RangeError);
  t.throws(() => streamIdFromSsrc(1.5), RangeError);
});

t.test('ssrcFromStreamId inverts streamIdFromSsrc and ignores other ids', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (ssrc) => ssrcFromStreamId(streamIdFromSsrc(ssrc)) === ssrc));
  t.equal(ssrcFromStreamId('cam01'), undefined);
  t.equal(ssrcFromStreamId('29b92701'), undefined, 'lower case is not the ZLM form');
});

t.test('play URLs in the forms ZLM serves', async (t) => {
  const urls = buildPlayUrls(
    { http: 'http://127.0.0.1:18080/', ws: 'ws://127.0.0.1:18080', rtmp: 'rtmp://127.0.0.1:11935', rtsp: 'rtsp://127.0.0.1:18554' },
    streamIdFromSsrc('0700000001'),
  );
  t.same(urls, {
    flv: 'http://127.0.0.1:18080/rtp/29B92701.live.flv',
    hls: 'http://127.0.0.1:18080/rtp/29B92701/hls.m3u8',
    rtmp: 'rtmp://127.0.0.1:11935/rtp/29B92701',
    rtsp: 'rtsp://127.0.0.1:18554/rtp/29B92701',
    wsflv: 'ws://127.0.0.1:18080/rtp/29B92701.live.flv',
    webrtc: 'http://127.0.0.1:18080/index/api/webrtc?app=rtp&stream=29B92701&type=play',
  });
  t.same(Object.keys(urls).sort(), [...ZLM_PLAY_URL_KINDS].sort(), 'one key per kind, spelled as the built-in backend spells flv and wsflv');
});

t.test('unconfigured bases leave their URLs out; templates and app can be changed', async (t) => {
  t.same(buildPlayUrls({ http: 'http://h:8080' }, 'cam01'), {
    flv: 'http://h:8080/rtp/cam01.live.flv',
    hls: 'http://h:8080/rtp/cam01/hls.m3u8',
    webrtc: 'http://h:8080/index/api/webrtc?app=rtp&stream=cam01&type=play',
  });
  t.same(buildPlayUrls({ http: '  ' }, 'cam01'), {}, 'a blank base counts as unset');
  t.same(
    buildPlayUrls({ http: 'https://gw.example/media', rtsp: 'rtsp://gw.example' }, 'a/b c', {
      app: 'live',
      templates: { hls: '{http}/{app}/{id}/hls.fmp4.m3u8', rtsp: '{rtsp}/{app}/{id}?token={unknown}', webrtc: '', flv: '' },
    }),
    {
      flv: 'https://gw.example/media/live/a%2Fb%20c.live.flv',
      hls: 'https://gw.example/media/live/a%2Fb%20c/hls.fmp4.m3u8',
      rtsp: 'rtsp://gw.example/live/a%2Fb%20c?token={unknown}',
      webrtc: 'https://gw.example/media/index/api/webrtc?app=live&stream=a%2Fb%20c&type=play',
    },
    'ids are URL-encoded; unknown placeholders are left alone; an empty template keeps ZLM’s form',
  );
  t.throws(() => buildPlayUrls({ http: 'http://h' }, ''), RangeError);
});
