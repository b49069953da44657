import t from 'tap';
import { FakeClock } from '../../src/protocol/sip/index.js';
import { DevicePresence, type OfflineReason } from '../../src/sip/presence.js';

function setup() {
  const clock = new FakeClock(0);
  const offline: Array<[string, OfflineReason]> = [];
  const presence = new DevicePresence({
    clock,
    keepaliveInterval: 60,
    keepaliveTimeouts: 3,
    onOffline: (entry, reason) => offline.push([entry.deviceId, reason]),
  });
  return { clock, presence, offline };
}

const at = (address: string, port = 5070, transport = 'UDP') => ({ transport, address, port });

t.test('keepalives keep a device online; silence of 3 intervals takes it offline', async (t) => {
  const { clock, presence, offline } = setup();
  t.equal(presence.register('dev1', at('10.0.0.1'), 'sip:dev1@10.0.0.1', 3600), true);
  for (let i = 0; i < 5; i++) {
    clock.advance(60_000);
    t.equal(presence.keepalive('dev1', at('10.0.0.1')), 'ok');
  }
  t.same(offline, []);
  clock.advance(179_000);
  t.same(offline, [], 'still within 3 × 60 s');
  clock.advance(2_000);
  t.same(offline, [['dev1', 'keepalive-timeout']]);
  t.equal(presence.get('dev1'), undefined);
  t.equal(presence.keepalive('dev1', at('10.0.0.1')), 'not-registered');
});

t.test('registrations expire; a refresh is not a new device', async (t) => {
  const { clock, presence, offline } = setup();
  presence.register('dev1', at('10.0.0.1'), 'c', 100);
  clock.advance(50_000);
  t.equal(presence.register('dev1', at('10.0.0.1'), 'c', 100), false, 'refresh');
  clock.advance(90_000);
  t.same(offline, [], 'the refresh extended the registration');
  clock.advance(20_000);
  t.same(offline, [['dev1', 'expired']]);
});

t.test('keepalive trust: same IP (NAT rebinding moves it), other IP refused', async (t) => {
  const { presence } = setup();
  presence.register('dev1', at('10.0.0.1', 5070), 'c', 3600);
  t.equal(presence.keepalive('dev1', at('10.0.0.9', 5070)), 'untrusted');
  t.equal(presence.get('dev1')!.source.address, '10.0.0.1', 'not moved by an untrusted keepalive');
  t.equal(presence.keepalive('dev1', at('10.0.0.1', 6000)), 'moved');
  t.equal(presence.get('dev1')!.source.port, 6000);
  t.equal(presence.findBySource(at('10.0.0.1', 6000))?.deviceId, 'dev1', 'source index follows the move');
  t.equal(presence.findBySource(at('10.0.0.1', 5070)), undefined);
});

t.test('unregister and restore', async (t) => {
  const { clock, presence, offline } = setup();
  presence.register('dev1', at('10.0.0.1'), 'c', 3600);
  t.equal(presence.unregister('dev1'), true);
  t.equal(presence.unregister('dev1'), false);
  t.same(offline, [['dev1', 'unregistered']]);
  presence.restore({ deviceId: 'dev2', source: at('10.0.0.2'), contact: 'c', expiresAt: clock.now() + 10_000, lastKeepalive: clock.now(), registeredAt: 0 });
  t.equal(presence.keepalive('dev2', at('10.0.0.2')), 'ok');
  clock.advance(11_000);
  t.same(offline.at(-1), ['dev2', 'expired']);
  presence.close();
  t.equal(clock.pending, 0, 'no timer left after close');
});
