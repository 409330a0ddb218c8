#!/usr/bin/env node
// Encoding speed of one Forward batch of typical records (7 fields, as
// trace_signal emits), for the choices the forward output had. msgpackr's
// addExtension can't emit ext type 0 (it rejects a falsy type), so with
// msgpackr EventTime is 11 pre-built bytes ([time, record] header + fixext 8)
// followed by pack(record):
//   msgpackr, pre-built time + pack(record) per entry, fixmap / map16
//   msgpackr, integer time (Time_as_Integer), whole batch in one pack()
//   @msgpack/msgpack, EventTime via ExtensionCodec, whole batch
//   @msgpack/msgpack, pre-built time bytes + encode(record) per entry
// Prints records/s for each; run: node bench/forward-encode.mjs [batch] [rounds]
import { Packr } from 'msgpackr';
import { Encoder, ExtensionCodec } from '@msgpack/msgpack';

const batchSize = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 300);

class EventTime {
  constructor(sec, nsec) {
    this.sec = sec;
    this.nsec = nsec;
  }
}

const comms = ['bash', 'sshd', 'systemd', 'node', 'kworker/0:1', 'containerd', 'sleep'];
const events = Array.from({ length: batchSize }, (_, i) => ({
  sec: 1_790_000_000 + (i >> 10),
  nsec: (i * 7919) % 1_000_000_000,
  record: {
    event_type: 'signal',
    pid: 1000 + (i % 30000),
    tid: 1000 + (i % 30000),
    comm: comms[i % comms.length],
    signal: (i % 31) + 1,
    tpid: 2000 + (i % 5000),
    error_raw: i % 50 === 0 ? 3 : 0,
  },
}));

function timeBytes(e) {
  const b = Buffer.allocUnsafe(11);
  b[0] = 0x92; // [time, record]
  b[1] = 0xd7; // fixext 8
  b[2] = 0x00; // EventTime
  b.writeUInt32BE(e.sec, 3);
  b.writeUInt32BE(e.nsec, 7);
  return b;
}

const variants = {
  'msgpackr pre-built time + pack(record), map16': () => {
    const p = new Packr({ useRecords: false });
    return () => {
      const parts = [];
      for (const e of events) parts.push(timeBytes(e), p.pack(e.record));
      return Buffer.concat(parts);
    };
  },
  'msgpackr integer time, whole batch, fixmap': () => {
    const p = new Packr({ useRecords: false, variableMapSize: true });
    return () => p.pack(events.map((e) => [e.sec, e.record]));
  },
  'msgpackr pre-built time + pack(record), fixmap': () => {
    const p = new Packr({ useRecords: false, variableMapSize: true });
    return () => {
      const parts = [];
      for (const e of events) parts.push(timeBytes(e), p.pack(e.record));
      return Buffer.concat(parts);
    };
  },
  'msgpackr pack(record), time written into one buffer': () => {
    const p = new Packr({ useRecords: false, variableMapSize: true });
    return () => {
      const packed = new Array(events.length);
      let total = 0;
      for (let i = 0; i < events.length; i++) total += (packed[i] = p.pack(events[i].record)).length + 11;
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      for (let i = 0; i < events.length; i++) {
        const e = events[i];
        out[at] = 0x92;
        out[at + 1] = 0xd7;
        out[at + 2] = 0x00;
        out.writeUInt32BE(e.sec, at + 3);
        out.writeUInt32BE(e.nsec, at + 7);
        packed[i].copy(out, at + 11);
        at += 11 + packed[i].length;
      }
      return out;
    };
  },
  '@msgpack/msgpack ExtensionCodec, whole batch': () => {
    const codec = new ExtensionCodec();
    codec.register({ type: 0, encode: (o) => (o instanceof EventTime ? (() => { const b = Buffer.allocUnsafe(8); b.writeUInt32BE(o.sec, 0); b.writeUInt32BE(o.nsec, 4); return b; })() : null), decode: () => null });
    const enc = new Encoder({ extensionCodec: codec });
    return () => enc.encode(events.map((e) => [new EventTime(e.sec, e.nsec), e.record]));
  },
  '@msgpack/msgpack pre-built time + encode(record)': () => {
    const enc = new Encoder();
    return () => {
      const parts = [];
      for (const e of events) parts.push(timeBytes(e), enc.encode(e.record));
      return Buffer.concat(parts);
    };
  },
};

console.log(`batch of ${batchSize} records, ${rounds} rounds each, node ${process.version}`);
for (const [name, make] of Object.entries(variants)) {
  const run = make();
  for (let i = 0; i < 30; i++) run(); // warm up
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) bytes = run().length;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const rate = (batchSize * rounds) / s;
  console.log(`${name.padEnd(50)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} records/s  ${bytes} bytes/batch`);
}
