/**
 * End-to-end over a simulated lossy UDP network on a fake clock: a GB28181
 * platform and a device, each a TransactionLayer, exchanging real bytes.
 * Shows how the pieces wire together (registrar digest flow, keepalive,
 * INVITE/ACK/BYE with a Dialog) and that retransmission timers recover loss.
 */
import t from 'tap';
import { FakeClock } from '../../../src/protocol/sip/clock.js';
import {
  Dialog,
  NonceStore,
  TransactionLayer,
  buildChallenge,
  buildAuthorization,
  parseChallenge,
  createRequest,
  formatVia,
  newBranch,
  parseAuthorization,
  parseMessage,
  verifyDigest,
  type ClientTransaction,
  type Endpoint,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../../src/protocol/sip/index.js';

const PLATFORM: Endpoint = { transport: 'UDP', address: '10.0.0.1', port: 5060 };
const DEVICE: Endpoint = { transport: 'UDP', address: '10.0.0.5', port: 5070 };
const REALM = '3402000000';
const SERVER_ID = '34020000002000000001';
const DEVICE_ID = '34020000001320000001';
const CHANNEL_ID = '34020000001310000001';
const PASSWORD = '12345678';

function setup(drop: (m: SipMessage, from: Endpoint) => boolean) {
  const clock = new FakeClock();
  const log: string[] = [];
  const layers = new Map<string, TransactionLayer>();
  const wire = (self: Endpoint) => (bytes: Uint8Array, remote: Endpoint, message: SipMessage) => {
    const label = message.kind === 'request' ? message.method : `${message.status}`;
    if (drop(message, self)) {
      log.push(`${self.port}->${remote.port} ${label} (lost)`);
      return;
    }
    log.push(`${self.port}->${remote.port} ${label}`);
    const copy = Buffer.from(bytes);
    // 1 ms latency keeps delivery asynchronous, like a real socket.
    clock.setTimer(1, () => layers.get(`${remote.port}`)!.receiveParsed(parseMessage(copy), self));
  };
  return { clock, log, layers, wire };
}

t.test('register with digest, keepalive, INVITE/ACK/BYE, with packet loss', async (t) => {
  let lostRegister = false;
  let lost200 = false;
  const net = setup((m, from) => {
    if (!lostRegister && m.kind === 'request' && m.method === 'REGISTER') return (lostRegister = true);
    if (!lost200 && from === DEVICE && m.kind === 'response' && m.status === 200 && m.headers.get('cseq')?.endsWith('INVITE')) return (lost200 = true);
    return false;
  });
  const { clock, log, layers, wire } = net;

  // --- platform (registrar + UAC for INVITE)
  const nonces = new NonceStore({ clock });
  const registered: string[] = [];
  const acks: SipRequest[] = [];
  let dialog: Dialog | undefined;
  const platform = new TransactionLayer(
    {
      send: wire(PLATFORM),
      onRequest(tx, req) {
        if (tx === undefined) {
          if (req.method === 'ACK') acks.push(req);
          return;
        }
        if (req.method === 'REGISTER') {
          const creds = parseAuthorization(req.headers.get('authorization'));
          if (creds === null) {
            tx.reply(401, undefined, [['WWW-Authenticate', buildChallenge({ realm: REALM, nonce: nonces.issue() })]]);
            return;
          }
          const result = verifyDigest(creds, { method: req.method, password: PASSWORD, realm: REALM, nonces });
          if (!result.ok) {
            tx.reply(401, undefined, [['WWW-Authenticate', buildChallenge({ realm: REALM, nonce: nonces.issue(), stale: result.stale })]]);
            return;
          }
          registered.push(creds.username);
          tx.reply(200, undefined, [['Date', '2026-11-22T05:00:00.000'], ['Expires', req.headers.get('expires') ?? '3600']]);
          return;
        }
        tx.reply(200);
      },
      onResponse(tx, res) {
        if (tx?.request.method === 'INVITE' && res.status === 200) {
          dialog = Dialog.fromUacResponse(tx.request, res) ?? undefined;
        }
        // 2xx to INVITE (first or retransmitted, with or without a transaction): ACK it.
        if (res.status === 200 && res.headers.get('cseq')?.endsWith('INVITE') && dialog !== undefined) {
          platform.sendStateless(dialog.createAck({ sentBy: { transport: 'UDP', host: PLATFORM.address, port: PLATFORM.port } }), DEVICE);
        }
      },
    },
    { clock },
  );
  layers.set(`${PLATFORM.port}`, platform);

  // --- device (sipp-like UAC for REGISTER/keepalive, UAS for INVITE/BYE)
  let cseq = 1;
  const deviceRequest = (method: string, headers: Array<[string, string]>, body?: Uint8Array): SipRequest =>
    createRequest(
      method,
      `sip:${SERVER_ID}@${REALM}`,
      [
        ['Via', formatVia({ transport: 'UDP', host: DEVICE.address, port: DEVICE.port, branch: newBranch(), rport: true })],
        ['From', `<sip:${DEVICE_ID}@${REALM}>;tag=devtag`],
        ['To', `<sip:${method === 'REGISTER' ? DEVICE_ID : SERVER_ID}@${REALM}>`],
        ['Call-ID', 'device-call-1'],
        ['CSeq', `${cseq++} ${method}`],
        ['Max-Forwards', '70'],
        ...headers,
      ],
      body,
    );
  const finals: Array<[string, number]> = [];
  const device: TransactionLayer = new TransactionLayer(
    {
      send: wire(DEVICE),
      onRequest(tx, req) {
        if (tx === undefined) return;
        if (req.method === 'INVITE') {
          tx.reply(100);
          const sdp = Buffer.from(`v=0\r\no=${CHANNEL_ID} 0 0 IN IP4 ${DEVICE.address}\r\ns=Play\r\nc=IN IP4 ${DEVICE.address}\r\nt=0 0\r\nm=video 6000 RTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\ny=0200000001\r\n`);
          tx.reply(200, undefined, [['Contact', `<sip:${CHANNEL_ID}@${DEVICE.address}:${DEVICE.port}>`]], { body: sdp, contentType: 'APPLICATION/SDP' });
          return;
        }
        tx.reply(200);
      },
      onResponse(tx: ClientTransaction | undefined, res: SipResponse) {
        if (tx === undefined || res.status < 200) return;
        finals.push([tx.request.method, res.status]);
        if (res.status === 401) {
          const challenge = parseChallenge(res.headers.get('www-authenticate'))!;
          const uri = `sip:${PLATFORM.address}:${PLATFORM.port}`; // sipp's habit
          const authorization = buildAuthorization({ challenge, username: DEVICE_ID, password: PASSWORD, method: 'REGISTER', uri })!;
          device.sendRequest(deviceRequest('REGISTER', [['Expires', '3600'], ['Authorization', authorization]]),
            PLATFORM,
          );
        }
      },
    },
    { clock },
  );
  layers.set(`${DEVICE.port}`, device);

  // REGISTER; the first copy is lost, Timer E resends it after 500 ms.
  device.sendRequest(deviceRequest('REGISTER', [['Expires', '3600'], ['Contact', `<sip:${DEVICE_ID}@${DEVICE.address}:${DEVICE.port}>`]]), PLATFORM);
  clock.advance(2_000);
  t.same(registered, [DEVICE_ID]);
  t.same(finals, [['REGISTER', 401], ['REGISTER', 200]]);

  // Keepalive MESSAGE with a MANSCDP body.
  device.sendRequest(deviceRequest('MESSAGE', [['Content-Type', 'Application/MANSCDP+xml']], Buffer.from('<?xml version="1.0" encoding="GB2312"?>\r\n<Notify><CmdType>Keepalive</CmdType><SN>1</SN></Notify>\r\n')), PLATFORM);
  clock.advance(100);
  t.same(finals.at(-1), ['MESSAGE', 200]);

  // Platform INVITEs a channel; the device's first 200 is lost, its 2xx retransmission gets through and is ACKed.
  const invite = createRequest('INVITE', `sip:${CHANNEL_ID}@${DEVICE.address}:${DEVICE.port}`, [
    ['Via', formatVia({ transport: 'UDP', host: PLATFORM.address, port: PLATFORM.port, branch: newBranch(), rport: true })],
    ['From', `<sip:${SERVER_ID}@${REALM}>;tag=plat1`],
    ['To', `<sip:${CHANNEL_ID}@${REALM}>`],
    ['Call-ID', 'play-1'],
    ['CSeq', '20 INVITE'],
    ['Contact', `<sip:${SERVER_ID}@${PLATFORM.address}:${PLATFORM.port}>`],
    ['Subject', `${CHANNEL_ID}:0200000001,${SERVER_ID}:0`],
    ['Max-Forwards', '70'],
  ]);
  platform.sendRequest(invite, DEVICE);
  clock.advance(1_000);
  t.ok(dialog, 'dialog created from the retransmitted 200');
  t.equal(acks.length, 0, 'platform sees no ACK (it is the UAC)');
  t.same(dialog!.state.remoteTarget, `sip:${CHANNEL_ID}@${DEVICE.address}:${DEVICE.port}`);
  const sentAfterAck = log.length;
  clock.advance(10_000);
  t.equal(log.length, sentAfterAck, 'the device stopped retransmitting its 200 once ACKed');

  // BYE in the dialog.
  let byeStatus = 0;
  platform.sendRequest(dialog!.createBye({ sentBy: { transport: 'UDP', host: PLATFORM.address, port: PLATFORM.port } }), DEVICE, { onResponse: (r) => (byeStatus = r.status) });
  clock.advance(100);
  t.equal(byeStatus, 200);

  clock.advance(60_000);
  t.equal(platform.clientCount + platform.serverCount + device.clientCount + device.serverCount, 0, 'every transaction ended');
  t.equal(clock.pending, 0);
  t.same(
    log.filter((l) => l.includes('lost')),
    ['5070->5060 REGISTER (lost)', '5070->5060 200 (lost)'],
  );
});
