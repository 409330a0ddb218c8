#!/usr/bin/env node
// Decoding speed of one Forward message (a batch of trace_signal-like records
// with EventTime ext 0), msgpackr vs @msgpack/msgpack: the sink uses the
// faster, as it shares two cores with the generator and ebpf-forward.
//   node bench/decode-speed.mjs [batch] [rounds]
import { addExtension, Unpackr } from 'msgpackr';
import { Decoder, Encoder, ExtensionCodec } from '@msgpack/msgpack';

const batchSize = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 500);

const codec = new ExtensionCodec();
codec.register({
  type: 0,
  encode: (o) => {
    if (!(o instanceof Date)) return null;
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    v.setUint32(0, Math.floor(o.getTime() / 1000));
    v.setUint32(4, (o.getTime() % 1000) * 1e6);
    return b;
  },
  decode: (b) => {
    const v = new DataView(b.buffer, b.byteOffset, 8);
    return v.getUint32(0) * 1000 + v.getUint32(4) / 1e6;
  },
});
// Byte arithmetic: Buffer#readUInt32BE on the ext's subarray is slower here.
addExtension({
  type: 0,
  unpack: (b) => ((b[0] << 24) >>> 0) * 1000 + ((b[1] << 16) | (b[2] << 8) | b[3]) * 1000 +
    (((b[4] << 24) >>> 0) + ((b[5] << 16) | (b[6] << 8) | b[7])) / 1e6,
});

const entries = Array.from({ length: batchSize }, (_, i) => [
  new Date(1_790_000_000_000 + i),
  { event_type: 'signal', pid: 1000 + i, tid: 1000 + i, comm: 'loadgen', signal: 0, tpid: 1000 + i, error_raw: 0 },
]);
const message = new Encoder({ extensionCodec: codec }).encode(['bench', entries, {}]);

const variants = {
  msgpackr: () => {
    const u = new Unpackr({ mapsAsObjects: true, useRecords: false });
    return () => u.unpack(message);
  },
  '@msgpack/msgpack': () => {
    const d = new Decoder({ extensionCodec: codec });
    return () => d.decode(message);
  },
};

console.log(`Forward message of ${batchSize} records (${message.length} bytes), ${rounds} rounds, node ${process.version}`);
for (const [name, make] of Object.entries(variants)) {
  const run = make();
  for (let i = 0; i < 50; i++) run();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) run();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${name.padEnd(20)} ${Math.round((batchSize * rounds) / s).toLocaleString('en-US').padStart(12)} records/s`);
}
