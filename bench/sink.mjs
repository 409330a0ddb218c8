#!/usr/bin/env node
// A Fluent Forward receiver for the benchmark, independent of ebpf-forward's
// own code: it accepts Message, Forward, PackedForward and
// CompressedPackedForward (gzip) on loopback, acks `chunk` options, and
// counts records by origin with their kernel-to-receiver latency.
//
//   node bench/sink.mjs [--port N]
//
// stdout, one JSON object a line:
//   {"listening": PORT} once ready;
//   the stats, in reply to a "stats" line on stdin and once more when stdin
//   ends or on SIGTERM/SIGINT (then it exits);
//   on a "close" line, a receiver going down in an orderly way: it stops
//   listening, ends each connection (FIN) and keeps reading until the client
//   closes its side, so that all a client wrote is counted; then the stats;
//   on a "reset" line, a receiver dying: it stops listening and resets its
//   connections (what is unread or unacked is the client's to send again);
//   then the stats;
//   on a "listen" line, back up on the same port: {"listening": PORT}.
// The counts go on across outages (duplicates are seen across them).
// Stats: records, bytes, messages, connections (open_connections: not yet
// closed, all they carried counted), by_tag, and origins: per origin pid (the
// record's pid; for execve the ppid, the process that ran execve) per kind
// (event_type; "signal:N" for a signal record with signal N != 0), the count,
// the wall time (ms) the first and last arrived, and latency p50/p99/max in
// ms (arrival wall time - the record's EventTime), and with --unique the
// distinct records by event_id (CPU in bits 63..48, a per-CPU counter below:
// one bit per counter value) and the duplicates, for at-least-once delivery.
//
// Decoding uses msgpackr: for Forward batches of small records it decodes
// 1.5-2x faster than @msgpack/msgpack here (bench/decode-speed.mjs).
import { createServer } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { addExtension, Packr, Unpackr } from 'msgpackr';

const { values: args } = parseArgs({ options: { port: { type: 'string', default: '0' }, unique: { type: 'boolean', default: false } } });

/** EventTime (ext type 0) as wall-clock milliseconds. */
class EventTime {
  constructor(ms) {
    this.ms = ms;
  }
}
addExtension({
  type: 0,
  unpack: (b) => new EventTime(((b[0] << 24) >>> 0) * 1000 + ((b[1] << 16) | (b[2] << 8) | b[3]) * 1000 +
    (((b[4] << 24) >>> 0) + ((b[5] << 16) | (b[6] << 8) | b[7])) / 1e6),
});

// Latency histogram: log buckets of 1% width from 1 µs; percentiles within 1%.
const BUCKET_BASE = Math.log(1.01);
const MIN_MS = 0.001;
class Latency {
  constructor() {
    this.buckets = new Float64Array(2400); // up to ~1e7 ms
    this.count = 0;
    this.max = 0;
    this.negative = 0; // arrived "before" it happened: clocks disagree
  }

  add(ms) {
    this.count++;
    if (ms > this.max) this.max = ms;
    if (ms < 0) {
      this.negative++;
      ms = 0;
    }
    const i = ms <= MIN_MS ? 0 : Math.min(this.buckets.length - 1, Math.ceil(Math.log(ms / MIN_MS) / BUCKET_BASE));
    this.buckets[i]++;
  }

  percentile(p) {
    if (this.count === 0) return null;
    const want = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i];
      if (seen >= want) return MIN_MS * Math.exp(i * BUCKET_BASE);
    }
    return this.max;
  }

  toJSON() {
    const round = (v) => (v === null ? null : Math.round(v * 1000) / 1000);
    return { p50_ms: round(this.percentile(50)), p99_ms: round(this.percentile(99)), max_ms: round(this.max), negative: this.negative };
  }
}

const totals = { records: 0, bytes: 0, messages: 0, integer_times: 0, connections: 0, open_connections: 0, errors: [] };
const byTag = new Map();
/** origin pid -> kind -> { count, latency } */
const origins = new Map();

/** Counter values seen per CPU, as bits (a soak's millions of ids in a few MB). */
class SeenIds {
  constructor() {
    this.cpus = new Map();
    this.unique = 0;
    this.duplicates = 0;
  }

  add(id) {
    if (typeof id !== 'number' && typeof id !== 'bigint') return;
    const n = BigInt(id);
    const cpu = Number(n >> 48n);
    const counter = Number(n & 0xffffffffffffn);
    let bits = this.cpus.get(cpu);
    const byte = counter >> 3;
    if (!bits || bits.length <= byte) {
      const grown = new Uint8Array(Math.max(byte + 1, (bits?.length ?? 0) * 2, 1 << 16));
      if (bits) grown.set(bits);
      this.cpus.set(cpu, (bits = grown));
    }
    const mask = 1 << (counter & 7);
    if (bits[byte] & mask) this.duplicates++;
    else {
      bits[byte] |= mask;
      this.unique++;
    }
  }
}

function countRecord(time, record, arrivalMs) {
  // Fluent Bit 2+ keeps events as [[time, metadata], record], and its out_forward sends them so.
  if (Array.isArray(time)) time = time[0];
  totals.records++;
  const type = record?.event_type;
  const pid = type === 'execve' ? record.ppid : record?.pid;
  let kinds = origins.get(pid);
  if (!kinds) origins.set(pid, (kinds = new Map()));
  const kind = type === 'signal' && record.signal !== 0 ? `signal:${record.signal}` : String(type);
  let entry = kinds.get(kind);
  if (!entry) kinds.set(kind, (entry = { count: 0, latency: new Latency(), firstMs: arrivalMs, lastMs: 0, ids: args.unique ? new SeenIds() : undefined }));
  entry.count++;
  entry.ids?.add(record?.event_id);
  entry.lastMs = arrivalMs;
  if (time instanceof EventTime) entry.latency.add(arrivalMs - time.ms);
  else totals.integer_times++;
}

const reader = new Unpackr({ mapsAsObjects: true, useRecords: false });
const ackWriter = new Packr({ useRecords: false });

function count(tag, n) {
  byTag.set(tag, (byTag.get(tag) ?? 0) + n);
}

class NotForward extends Error {
  constructor() {
    super('not a Forward protocol message');
  }
}

/**
 * Length of the msgpack array or bin header at `at` and the size it gives,
 * or undefined if the byte there starts neither (or is not all in yet).
 * These container headers are all this reads itself; msgpackr decodes every
 * value. Knowing them lets a Forward batch be decoded entry by entry as it
 * arrives, instead of as one multi-megabyte message decoded again from its
 * start whenever more of it comes in (and held whole in memory).
 */
function containerHeader(b, at) {
  const t = b[at];
  if (t === undefined) return undefined;
  if (t >= 0x90 && t <= 0x9f) return { kind: 'array', bytes: 1, size: t & 0x0f };
  const wide = { 0xdc: ['array', 2], 0xdd: ['array', 4], 0xc4: ['bin', 1], 0xc5: ['bin', 2], 0xc6: ['bin', 4] }[t];
  if (!wide) return undefined;
  const [kind, n] = wide;
  if (at + 1 + n > b.length) return { incomplete: true };
  const size = n === 1 ? b[at + 1] : n === 2 ? b.readUInt16BE(at + 1) : b.readUInt32BE(at + 1);
  return { kind, bytes: 1 + n, size };
}

/** Decodes msgpack values from `b` at `at` while `each(value)` is true; returns where it stopped. */
function decodeFrom(b, at, each) {
  if (at >= b.length) return at;
  let end = at;
  try {
    reader.unpackMultiple(b.subarray(at), (value, _start, stop) => {
      end = at + stop;
      return each(value);
    });
  } catch (err) {
    if (!err.incomplete) throw err;
  }
  return end;
}

/**
 * One connection's byte stream, decoded as it arrives. States: 'head' (array
 * header, tag, and what the second element is), 'entries' (Forward: entries
 * one by one), 'packed' (PackedForward: the whole bin and the option, since
 * gzip is said in the option), 'message' (Message mode: time, record,
 * option, decoded together), 'options' (what follows a Forward's entries).
 * Each step starts at the position where the previous one left off; when a
 * step lacks bytes, the stream keeps the bytes from there and waits.
 */
class ForwardStream {
  constructor(socket) {
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.chunks = [];
    this.chunkBytes = 0;
    /** Bytes (from the start of buf) needed before the current step can go on. */
    this.need = 1;
    this.state = 'head';
    this.message = undefined;
    this.arrivalMs = 0;
  }

  push(chunk, arrivalMs) {
    this.arrivalMs = arrivalMs;
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
  }

  /** Decodes all that can be; throws on what is not the Forward protocol. */
  drain() {
    if (this.buf.length + this.chunkBytes < this.need) return;
    if (this.chunkBytes > 0) {
      this.buf = Buffer.concat([this.buf, ...this.chunks], this.buf.length + this.chunkBytes);
      this.chunks = [];
      this.chunkBytes = 0;
    }
    let at = 0;
    this.need = 0;
    while (this.need === 0) at = this.step(at);
    this.buf = this.buf.subarray(at);
  }

  /** One step from `at`: returns the position after it, or `at` having set this.need. */
  step(at) {
    const b = this.buf;
    const m = this.message;
    switch (this.state) {
      case 'head': {
        if (at >= b.length) return this.wait(at, 1);
        const outer = containerHeader(b, at);
        if (outer?.incomplete) return this.wait(at, b.length - at + 1);
        if (!outer || outer.kind !== 'array' || outer.size < 2 || outer.size > 4) throw new NotForward();
        let tag;
        const afterTag = decodeFrom(b, at + outer.bytes, (v) => ((tag = v), false));
        if (tag === undefined || afterTag >= b.length) return this.wait(at, b.length - at + 1);
        if (typeof tag !== 'string') throw new NotForward();
        const second = containerHeader(b, afterTag);
        if (second?.incomplete) return this.wait(at, b.length - at + 1);
        totals.messages++;
        // Elements after the second one (the option, if any).
        this.message = { tag, after: outer.size - 2, option: undefined };
        if (second?.kind === 'array') {
          this.message.entries = second.size;
          count(tag, second.size);
          this.state = 'entries';
          return afterTag + second.bytes;
        }
        if (second?.kind === 'bin') {
          this.message.binHeader = second.bytes;
          this.message.binSize = second.size;
          this.state = 'packed';
        } else {
          this.state = 'message';
        }
        return afterTag;
      }
      case 'entries': {
        if (m.entries === 0) {
          this.state = 'options';
          return at;
        }
        const end = decodeFrom(b, at, (entry) => {
          countRecord(entry[0], entry[1], this.arrivalMs);
          return --m.entries > 0;
        });
        return end === at ? this.wait(at, b.length - at + 1) : end;
      }
      case 'options': {
        if (m.after === 0) return this.finish(at);
        let option;
        const end = decodeFrom(b, at, (v) => ((option = v), false));
        if (end === at) return this.wait(at, b.length - at + 1);
        m.option ??= option;
        m.after--;
        return end;
      }
      case 'packed': {
        const binEnd = at + m.binHeader + m.binSize;
        if (b.length < binEnd + (m.after > 0 ? 1 : 0)) return this.wait(at, binEnd - at + (m.after > 0 ? 1 : 0));
        let end = binEnd;
        if (m.after > 0) {
          let option;
          end = decodeFrom(b, binEnd, (v) => ((option = v), false));
          if (end === binEnd) return this.wait(at, b.length - at + 1);
          m.option = option;
        }
        const bin = b.subarray(at + m.binHeader, binEnd);
        const stream = m.option?.compressed === 'gzip' ? gunzipSync(bin) : bin;
        let n = 0;
        decodeFrom(stream, 0, (entry) => {
          countRecord(entry[0], entry[1], this.arrivalMs);
          n++;
          return true;
        });
        count(m.tag, n);
        return this.finish(end);
      }
      case 'message': {
        // [tag, time, record, option?]: small, decoded together; while it is
        // incomplete, tried again once twice the bytes are in.
        const want = m.after + 1;
        const values = [];
        const end = decodeFrom(b, at, (v) => (values.push(v), values.length < want));
        if (values.length < want) return this.wait(at, 2 * (b.length - at) + 1);
        countRecord(values[0], values[1], this.arrivalMs);
        count(m.tag, 1);
        m.option = values[2];
        return this.finish(end);
      }
    }
    throw new Error(`bad state ${this.state}`);
  }

  /** Stops until `more` bytes from `at` on are in (drain() keeps the bytes from `at`). */
  wait(at, more) {
    this.need = Math.max(1, more);
    return at;
  }

  finish(at) {
    const chunk = this.message.option?.chunk;
    if (chunk !== undefined) this.socket.write(ackWriter.pack({ ack: chunk }));
    this.message = undefined;
    this.state = 'head';
    return at;
  }
}

const sockets = new Set();

function onConnection(socket) {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  totals.connections++;
  totals.open_connections++;
  const stream = new ForwardStream(socket);
  let scheduled = false;
  const drain = () => {
    scheduled = false;
    try {
      stream.drain();
    } catch (err) {
      totals.errors.push(String(err.message));
      socket.destroy();
    }
  };
  socket.on('data', (chunk) => {
    totals.bytes += chunk.length;
    stream.push(chunk, performance.timeOrigin + performance.now());
    // At the end of this loop turn: the chunks that came in together are
    // decoded in one go.
    if (!scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  });
  // Decoded now: once a connection is closed, all that came over it is
  // counted (the driver waits for that).
  socket.on('end', drain);
  socket.on('close', () => totals.open_connections--);
  socket.on('error', () => {});
}

function stats() {
  const out = { ...totals, by_tag: Object.fromEntries(byTag), origins: {} };
  for (const [pid, kinds] of origins) {
    out.origins[pid] = {};
    for (const [kind, e] of kinds) {
      out.origins[pid][kind] = { count: e.count, first_arrival_ms: e.firstMs, last_arrival_ms: e.lastMs, latency: e.latency.toJSON() };
      if (e.ids) Object.assign(out.origins[pid][kind], { unique: e.ids.unique, duplicates: e.ids.duplicates });
    }
  }
  return out;
}

const print = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const server = createServer(onConnection);
let listenPort = Number(args.port);
server.on('listening', () => {
  listenPort = server.address().port;
  print({ listening: listenPort });
});
server.listen(listenPort, '127.0.0.1');

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  print(stats());
  server.close();
  process.exit(0);
}

/** Stops listening, ends every connection and waits for the clients to close theirs (reading all they send meanwhile). */
function closeOrderly() {
  server.close();
  for (const socket of sockets) socket.end();
  const check = () => (sockets.size === 0 ? setImmediate(() => print(stats())) : setTimeout(check, 20));
  check();
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  input += text;
  let nl;
  while ((nl = input.indexOf('\n')) >= 0) {
    const line = input.slice(0, nl).trim();
    input = input.slice(nl + 1);
    if (line === 'stats') print(stats());
    else if (line === 'close') closeOrderly();
    else if (line === 'reset') {
      server.close();
      for (const socket of sockets) socket.resetAndDestroy();
      print(stats());
    } else if (line === 'listen') server.listen(listenPort, '127.0.0.1');
  }
});
process.stdin.on('end', finish);
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
