import t from 'tap';
import {
  encodeJt1078Packet,
  hisiliconPrefixLength,
  Jt1078Reassembler,
  parseJt1078Packet,
  type Jt1078Event,
  type Jt1078FrameEvent,
  type Jt1078Packet,
  type Jt1078PacketFields,
  type Jt1078ReassemblerOptions,
} from '../../../src/protocol/jt1078/index.js';

type Spec = Partial<Jt1078PacketFields> & { body?: Uint8Array };

/** Builds packets with a shared connection sequence counter (like every capture). */
class Device {
  seq = 0;
  constructor(
    readonly sim = '13800138000',
    readonly channel = 1,
  ) {}
  packet(spec: Spec): Jt1078Packet {
    const fields: Jt1078PacketFields = {
      payloadType: 98,
      sequence: this.seq,
      sim: this.sim,
      channel: this.channel,
      dataType: 1,
      subPackage: 0,
      timestamp: 0,
      lastFrameInterval: 40,
      body: Buffer.from([0, 0, 0, 1, 0x41, 1, 2, 3]),
      ...spec,
    };
    this.seq = (fields.sequence + 1) & 0xffff;
    const r = parseJt1078Packet(encodeJt1078Packet(fields), 0, '2016');
    if (!r.ok) throw new Error('test packet did not parse');
    return r.packet;
  }
  /** One video frame of `parts` sub-packages (atomic when 1). */
  frame(dataType: number, timestamp: number, parts = 1, extra: Spec = {}): Jt1078Packet[] {
    const out: Jt1078Packet[] = [];
    for (let i = 0; i < parts; i++) {
      const subPackage = parts === 1 ? 0 : i === 0 ? 1 : i === parts - 1 ? 2 : 3;
      out.push(this.packet({ dataType, timestamp, subPackage, body: Buffer.from([i === 0 ? 0 : 0xaa, i, dataType]), ...extra }));
    }
    return out;
  }
  audio(timestamp: number, extra: Spec = {}): Jt1078Packet {
    return this.packet({ dataType: 3, payloadType: 6, timestamp, body: Buffer.alloc(160, 0xd5), ...extra });
  }
}

function run(packets: Jt1078Packet[], options?: Jt1078ReassemblerOptions) {
  const r = new Jt1078Reassembler(options);
  const events: Jt1078Event[] = [];
  for (const p of packets) {
    const e = r.push(p);
    if (e !== null) events.push(e);
  }
  const frames = events.filter((e): e is Jt1078FrameEvent => e.type === 'frame');
  return { r, events, frames, c: r.counters };
}

t.test('sub-packages are concatenated, atomic frames pass through', async (t) => {
  const d = new Device();
  const { frames, c } = run([...d.frame(0, 0, 4), ...d.frame(1, 40), ...d.frame(1, 80, 2)]);
  t.equal(frames.length, 3);
  t.same([...frames[0]!.frame.data], [0, 0, 0, 0xaa, 1, 0, 0xaa, 2, 0, 0xaa, 3, 0]);
  t.match(frames[0], { packets: 4, dataType: 0, payloadType: 98, channel: 1, sim: '013800138000', frame: { kind: 'video', codec: 'h264', key: true } });
  t.match(frames[1], { packets: 1, frame: { key: false } });
  t.equal(frames[2]!.frame.data.length, 6);
  t.equal(c.keyFrames, 1);
  t.equal(c.droppedFrames, 0);
});

t.test('video waits for an I-frame at start', async (t) => {
  const d = new Device();
  const { frames, c } = run([...d.frame(1, 0), ...d.frame(1, 40, 3), ...d.frame(0, 80, 2), ...d.frame(1, 120)]);
  t.same(frames.map((f) => f.deviceTimestamp), [80, 120]);
  t.equal(c.drops['await-keyframe'], 2, 'each skipped frame counted once');
});

t.test('a sequence gap drops the frame and video waits for the next I-frame', async (t) => {
  const d = new Device();
  const i0 = d.frame(0, 0, 3);
  const p1 = d.frame(1, 40, 3);
  p1.splice(1, 1); // lose the middle packet
  const p2 = d.frame(1, 80);
  const p3 = d.frame(1, 120, 2);
  const i4 = d.frame(0, 160, 2);
  const p5 = d.frame(1, 200);
  const { frames, c } = run([...i0, ...p1, ...p2, ...p3, ...i4, ...p5]);
  t.same(frames.map((f) => f.deviceTimestamp), [0, 160, 200]);
  t.equal(c.sequenceGaps, 1);
  t.equal(c.drops['sequence-gap'], 1, 'the damaged frame');
  t.equal(c.drops['await-keyframe'], 2, 'the P-frames until the I-frame');
  t.equal(c.droppedFrames, 3);
  t.equal(c.drops.orphan, 0, 'the last sub-package of the damaged frame is not counted again');
});

t.test('a lost first sub-package: the rest of that frame counted once', async (t) => {
  const d = new Device();
  const i0 = d.frame(0, 0);
  const p1 = d.frame(1, 40, 4).slice(1);
  const i2 = d.frame(0, 80);
  const { frames, c } = run([...i0, ...p1, ...i2]);
  t.same(frames.map((f) => f.deviceTimestamp), [0, 80]);
  t.equal(c.droppedFrames, 1);
  t.equal(c.drops['sequence-gap'], 1);
});

t.test('a lost atomic audio packet still makes video wait (the loss cannot be attributed)', async (t) => {
  const d = new Device();
  const packets = [...d.frame(0, 0), d.audio(0), d.audio(20), ...d.frame(1, 40), d.audio(40)];
  packets.splice(2, 1);
  const { frames, c } = run([...packets, ...d.frame(1, 80), ...d.frame(0, 120)]);
  t.same(
    frames.map((f) => `${f.frame.kind}@${f.deviceTimestamp}`),
    ['video@0', 'audio@0', 'audio@40', 'video@120'],
  );
  t.equal(c.drops['await-keyframe'], 2);
});

t.test('16-bit sequence wrap is not a gap', async (t) => {
  const d = new Device();
  d.seq = 65533;
  const { frames, c } = run([...d.frame(0, 0, 5), ...d.frame(1, 40, 2)]);
  t.equal(frames.length, 2);
  t.equal(c.sequenceGaps, 0);
});

t.test('audio interleaved inside a video frame (shared counter) is not a gap', async (t) => {
  // Sequence numbers follow the emission order: video first, audio, video middle, audio, video last.
  const e = new Device();
  const p0 = e.packet({ dataType: 0, subPackage: 1, body: Buffer.from([1]) });
  const pa = e.audio(0);
  const p1 = e.packet({ dataType: 0, subPackage: 3, body: Buffer.from([2]) });
  const pb = e.audio(20);
  const p2 = e.packet({ dataType: 0, subPackage: 2, body: Buffer.from([3]) });
  const { frames, c } = run([p0, pa, p1, pb, p2]);
  t.equal(c.sequenceGaps, 0);
  t.same(
    frames.map((f) => f.frame.kind),
    ['audio', 'audio', 'video'],
  );
  t.same([...frames[2]!.frame.data], [1, 2, 3]);
});

t.test('per-kind sequence counters are accepted too', async (t) => {
  const video = new Device();
  const audio = new Device();
  audio.seq = 1000;
  const packets = [...video.frame(0, 0, 2), audio.audio(0), audio.audio(20), ...video.frame(1, 40, 2), audio.audio(40)];
  const { frames, c } = run(packets);
  t.equal(c.sequenceGaps, 0);
  t.equal(frames.length, 5);
});

t.test('broken sub-package runs are dropped and counted by reason', async (t) => {
  // Sequence numbers stay contiguous: the device really sent a continuation without a first.
  const e = new Device();
  const i0 = e.frame(0, 0);
  const mid = e.packet({ dataType: 1, subPackage: 3, timestamp: 40 });
  const last = e.packet({ dataType: 1, subPackage: 2, timestamp: 40 });
  const i1 = e.frame(0, 80);
  let res = run([...i0, mid, last, ...i1]);
  t.equal(res.c.drops.orphan, 1, 'middle + last without first: one orphan frame');
  t.same(res.frames.map((f) => f.deviceTimestamp), [0, 80]);

  const f = new Device();
  const first = f.packet({ dataType: 0, subPackage: 1, timestamp: 0 });
  const again = f.frame(0, 40, 2);
  res = run([first, ...again]);
  t.equal(res.c.drops.incomplete, 1, 'new first before last');
  t.same(res.frames.map((x) => x.deviceTimestamp), [40]);

  const g = new Device();
  const gi = g.frame(0, 0);
  const start = g.packet({ dataType: 1, subPackage: 1, timestamp: 40 });
  const wrongType = g.packet({ dataType: 0, subPackage: 2, timestamp: 40 });
  const gi2 = g.frame(0, 80);
  res = run([...gi, start, wrongType, ...gi2]);
  t.equal(res.c.drops['mixed-frame'], 1);
  t.same(res.frames.map((x) => x.deviceTimestamp), [0, 80]);

  const h = new Device();
  const pending = h.packet({ dataType: 0, subPackage: 1, timestamp: 0 });
  const r = new Jt1078Reassembler();
  r.push(pending);
  t.equal(r.pendingBytes, pending.bodyLength);
  r.dropPending();
  t.equal(r.pendingBytes, 0);
  t.equal(r.counters.drops.incomplete, 1);
});

t.test('caps: frame size and pending bytes', async (t) => {
  const d = new Device();
  const big = Buffer.alloc(1000, 1);
  const packets = [
    ...d.frame(0, 0, 3, { body: big }), // 3000 bytes > 2500
    ...d.frame(0, 40, 2, { body: big }), // 2000 OK
    ...d.frame(1, 80, 1, { body: Buffer.alloc(2600) }), // atomic too large
    ...d.frame(0, 120, 2, { body: big }),
  ];
  const { frames, c, r } = run(packets, { maxFrameBytes: 2500 });
  t.same(frames.map((f) => f.deviceTimestamp), [40, 120]);
  t.equal(c.drops['frame-too-large'], 2);
  t.equal(r.pendingBytes, 0);

  // Unfinished frames on many channels: the pending cap holds.
  const r2 = new Jt1078Reassembler({ maxPendingBytes: 5000 });
  let seq = 0;
  let maxPending = 0;
  for (let ch = 1; ch <= 20; ch++) {
    const dev = new Device('1', ch);
    dev.seq = seq;
    r2.push(dev.packet({ dataType: 0, subPackage: 1, body: big }));
    r2.push(dev.packet({ dataType: 0, subPackage: 3, body: big }));
    seq = dev.seq;
    maxPending = Math.max(maxPending, r2.pendingBytes);
  }
  t.ok(maxPending <= 5000, `pending stayed under the cap (${maxPending})`);
  t.ok(r2.counters.drops['pending-cap'] > 0);
});

t.test('several logical channels on one connection', async (t) => {
  const d1 = new Device('13800138000', 1);
  const d2 = new Device('13800138000', 2);
  const packets: Jt1078Packet[] = [];
  let seq = 0;
  const take = (d: Device, make: () => Jt1078Packet[]) => {
    d.seq = seq;
    const ps = make();
    seq = d.seq;
    packets.push(...ps);
  };
  take(d1, () => d1.frame(0, 1000, 2).slice(0, 1));
  take(d2, () => d2.frame(0, 5000, 2));
  take(d1, () => [d1.packet({ dataType: 0, subPackage: 2, timestamp: 1000, body: Buffer.from([9]) })]);
  take(d2, () => d2.frame(1, 5040));
  take(d1, () => d1.frame(1, 1040));
  const { frames, c } = run(packets);
  t.equal(c.sequenceGaps, 0);
  t.same(
    frames.map((f) => [f.channel, f.deviceTimestamp, f.frame.pts]),
    [
      [2, 5000, 0],
      [1, 1000, 0],
      [2, 5040, 3600],
      [1, 1040, 3600],
    ],
    'each channel has its own timeline from the base',
  );
});

t.test('payload types', async (t) => {
  const d = new Device();
  const packets = [
    ...d.frame(0, 0, 1, { payloadType: 99 }),
    d.audio(0, { payloadType: 6 }),
    d.audio(20, { payloadType: 7 }),
    d.audio(40, { payloadType: 19, body: Buffer.from('fff15080', 'hex') }),
    d.audio(60, { payloadType: 8, body: Buffer.alloc(80) }),
    d.audio(80, { payloadType: 26, body: Buffer.alloc(168) }),
    d.audio(100, { payloadType: 25 }), // MP3: not handled
    ...d.frame(1, 40, 1, { payloadType: 100 }), // AVS: not handled
    ...d.frame(1, 80, 1, { payloadType: 99 }),
  ];
  const { frames, c } = run(packets);
  t.same(
    frames.map((f) => f.frame.codec),
    ['h265', 'g711a', 'g711u', 'aac', 'g726', 'adpcm', 'h265'],
  );
  t.equal(c.drops['unsupported-payload'], 2);
  t.equal(c.drops['await-keyframe'], 0, 'an unsupported video frame does not break the chain');
  t.ok(frames.filter((f) => f.frame.kind === 'audio').every((f) => f.frame.key));
});

t.test('HiSilicon audio prefix is stripped', async (t) => {
  const d = new Device();
  const payload = Buffer.alloc(160, 0x55);
  const prefixed = Buffer.concat([Buffer.from([0, 1, 0x50, 0]), payload]);
  const adpcm = Buffer.concat([Buffer.from([0, 1, 0x52, 0]), Buffer.alloc(164, 3)]);
  const notPrefix = Buffer.concat([Buffer.from([0, 1, 0x51, 0]), payload]); // wrong length word
  const { frames, c } = run([
    d.audio(0, { body: prefixed }),
    d.audio(20, { payloadType: 26, body: adpcm }),
    d.audio(40, { body: notPrefix }),
  ]);
  t.ok(Buffer.from(frames[0]!.frame.data).equals(payload));
  t.equal(frames[1]!.frame.data.length, 164);
  t.equal(frames[2]!.frame.data.length, 164);
  t.equal(c.hisiliconPrefixes, 2);
  t.equal(hisiliconPrefixLength(Buffer.from([0, 1, 0, 0])), 4, 'empty payload after the prefix');
  t.equal(hisiliconPrefixLength(Buffer.from([0, 1, 0])), 0);
});

t.test('transparent data is surfaced as an event', async (t) => {
  const d = new Device();
  const { events, frames } = run([
    ...d.frame(0, 0),
    d.packet({ dataType: 4, payloadType: 91, body: Buffer.from('gps') }),
    d.packet({ dataType: 4, payloadType: 91, subPackage: 1, body: Buffer.from('ab') }),
    d.packet({ dataType: 4, payloadType: 91, subPackage: 2, body: Buffer.from('cd') }),
  ]);
  t.equal(frames.length, 1);
  const transparent = events.filter((e) => e.type === 'transparent');
  t.same(
    transparent.map((e) => (e.type === 'transparent' ? Buffer.from(e.data).toString() : '')),
    ['gps', 'abcd'],
  );
  t.match(transparent[0], { channel: 1, payloadType: 91, sim: '013800138000' });
});

t.test('timestamps', async (t) => {
  const pts = (frames: Jt1078FrameEvent[], kind = 'video') => frames.filter((f) => f.frame.kind === kind).map((f) => f.frame.pts);

  t.test('arbitrary origin maps to the base', async (t) => {
    const d = new Device();
    const epoch = 1566919211506;
    const { frames } = run([...d.frame(0, epoch), ...d.frame(1, epoch + 120), ...d.frame(1, epoch + 200)], { ptsBase: 900_000 });
    t.same(pts(frames), [900_000, 900_000 + 120 * 90, 900_000 + 200 * 90]);
    t.same(frames.map((f) => f.deviceTimestamp), [epoch, epoch + 120, epoch + 200], 'raw device timestamp kept');
  });

  t.test('32-bit wrap', async (t) => {
    const d = new Device();
    const top = 2 ** 32 - 40;
    const { frames, c } = run([...d.frame(0, top - 40), ...d.frame(1, top), ...d.frame(1, 0), ...d.frame(1, 40)]);
    t.same(pts(frames), [0, 3600, 7200, 10800]);
    t.equal(c.clockWraps, 1);
    t.equal(c.clockResets, 0);
  });

  t.test('64-bit wrap', async (t) => {
    const d = new Device();
    const frames = run([
      ...d.frame(0, 0, 1, { timestampHigh: 0xffffffff, timestampLow: 0xffffffd8 }),
      ...d.frame(1, 0, 1, { timestampHigh: 0, timestampLow: 0 }),
      ...d.frame(1, 0, 1, { timestampHigh: 0, timestampLow: 40 }),
    ]).frames;
    t.same(pts(frames), [0, 3600, 7200]);
  });

  t.test('frozen clock still advances: by Last-Frame-Interval, else nominal; audio by bytes/8', async (t) => {
    const d = new Device();
    const packets = [
      ...d.frame(0, 777),
      d.audio(777),
      ...d.frame(1, 777, 1, { lastFrameInterval: 120 }),
      d.audio(777),
      ...d.frame(1, 777, 1, { lastFrameInterval: 0xffff }), // garbage field → nominal 40 ms
      d.audio(777, { payloadType: 19, body: Buffer.alloc(10) }), // AAC → nominal 20 ms
    ];
    const { frames, c } = run(packets);
    t.same(pts(frames), [0, 120 * 90, 160 * 90]);
    t.same(pts(frames, 'audio'), [0, 20 * 90, 40 * 90]);
    t.equal(c.clockAdjustments, 4);
  });

  t.test('backward jump (simulator loop restart) re-bases, stays increasing', async (t) => {
    const d = new Device();
    const packets: Jt1078Packet[] = [];
    for (let loop = 0; loop < 2; loop++) {
      d.seq = 0; // sequence numbers restart with the loop, like the m7s simulator
      for (let ms = 0; ms < 2000; ms += 40) {
        packets.push(...d.frame(ms === 0 ? 0 : 1, ms), d.audio(ms), d.audio(ms + 20));
      }
    }
    const { frames, c } = run(packets);
    const v = pts(frames);
    const a = pts(frames, 'audio');
    t.equal(v.length, 100);
    t.ok(v.every((x, i) => i === 0 || x > v[i - 1]!), 'video increasing');
    t.ok(a.every((x, i) => i === 0 || x > a[i - 1]!), 'audio increasing');
    t.equal(c.clockResets, 1);
    t.equal(v[49], 1960 * 90);
    t.equal(v[50], 1980 * 90 + 3600, 'second loop starts one frame interval after the highest pts (audio at 1980 ms)');
    t.equal(v[51], v[50]! + 3600, 'then follows the device clock again');
    t.equal(a[100], v[50], 'audio of the second loop re-based with the video');
  });

  t.test('small backward steps between audio and video are normal', async (t) => {
    const d = new Device();
    const { frames, c } = run([...d.frame(0, 0), d.audio(0), d.audio(20), d.audio(40), d.audio(60), ...d.frame(1, 41), d.audio(80), ...d.frame(1, 83)]);
    t.same(pts(frames), [0, 41 * 90, 83 * 90]);
    t.same(pts(frames, 'audio'), [0, 1800, 3600, 5400, 7200]);
    t.equal(c.clockResets + c.clockAdjustments, 0);
  });

  t.test('large forward jump re-bases', async (t) => {
    const d = new Device();
    const { frames, c } = run([...d.frame(0, 0), ...d.frame(1, 40), ...d.frame(1, 3_600_000), ...d.frame(1, 3_600_040)]);
    t.same(pts(frames), [0, 3600, 7200, 10800]);
    t.equal(c.clockResets, 1);
  });
});
