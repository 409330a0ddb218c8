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
//   ends or on SIGTERM/SIGINT (then it exits).
// Stats: records, bytes, messages, connections (open_connections: not yet
// closed, all they carried counted), by_tag, and origins: per origin pid (the
// record's pid; for execve the ppid, the process that ran execve) per kind
// (event_type; "signal:N" for a signal record with signal N != 0), the count,
// the wall time (ms) the first and last arrived, and latency p50/p99/max in
// ms (arrival wall time - the record's EventTime).
//
// Decoding uses msgpackr: for Forward batches of small records it decodes
// 1.5-2x faster than @msgpack/msgpack here (bench/decode-speed.mjs).
import { createServer } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { addExtension, Packr, Unpackr } from 'msgpackr';

const { values: args } = parseArgs({ options: { port: { type: 'string', default: '0' } } });

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

function countRecord(time, record, arrivalMs) {
  totals.records++;
  const type = record?.event_type;
  const pid = type === 'execve' ? record.ppid : record?.pid;
  let kinds = origins.get(pid);
  if (!kinds) origins.set(pid, (kinds = new Map()));
  const kind = type === 'signal' && record.signal !== 0 ? `signal:${record.signal}` : String(type);
  let entry = kinds.get(kind);
  if (!entry) kinds.set(kind, (entry = { count: 0, latency: new Latency(), firstMs: arrivalMs, lastMs: 0 }));
  entry.count++;
  entry.lastMs = arrivalMs;
  if (time instanceof EventTime) entry.latency.add(arrivalMs - time.ms);
  else totals.integer_times++;
}

const entriesReader = new Unpackr({ mapsAsObjects: true, useRecords: false });

/** One Forward protocol message; returns the option map (for acks). */
function handleMessage(message, arrivalMs) {
  if (!Array.isArray(message) || typeof message[0] !== 'string') throw new Error('not a Forward protocol message');
  totals.messages++;
  const [tag, second] = message;
  let n = 0;
  let option;
  if (Array.isArray(second)) {
    // Forward: [tag, [[time, record], ...], option?]
    for (const entry of second) countRecord(entry[0], entry[1], arrivalMs);
    n = second.length;
    option = message[2];
  } else if (second instanceof Uint8Array) {
    // PackedForward / CompressedPackedForward: [tag, entries-stream, option?]
    option = message[2];
    const stream = option?.compressed === 'gzip' ? gunzipSync(second) : second;
    // Collected first: msgpackr can't decode while inside its own forEach.
    const entries = entriesReader.unpackMultiple(stream);
    for (const entry of entries) countRecord(entry[0], entry[1], arrivalMs);
    n = entries.length;
  } else {
    // Message: [tag, time, record, option?]
    countRecord(second, message[2], arrivalMs);
    n = 1;
    option = message[3];
  }
  byTag.set(tag, (byTag.get(tag) ?? 0) + n);
  return option;
}

const ackWriter = new Packr({ useRecords: false });
const messageReader = new Unpackr({ mapsAsObjects: true, useRecords: false });

function onConnection(socket) {
  totals.connections++;
  totals.open_connections++;
  let pending = null; // bytes not yet decoded
  let arrivalMs = 0;
  let scheduled = false;

  // Parsing waits for the end of the event-loop turn so that all chunks that
  // came in together are parsed once (a large message spans many chunks).
  const parse = () => {
    scheduled = false;
    if (!pending) return;
    const messages = [];
    let consumed = 0;
    try {
      messageReader.unpackMultiple(pending, (m, _start, end) => {
        messages.push(m);
        consumed = end;
      });
    } catch (err) {
      if (!err.incomplete) {
        totals.errors.push(String(err.message));
        socket.destroy();
        return;
      }
      consumed = err.lastPosition ?? consumed;
    }
    pending = consumed >= pending.length ? null : pending.subarray(consumed);
    for (const m of messages) {
      try {
        const option = handleMessage(m, arrivalMs);
        if (option && option.chunk !== undefined) socket.write(ackWriter.pack({ ack: option.chunk }));
      } catch (err) {
        totals.errors.push(String(err.message));
      }
    }
  };

  socket.on('data', (chunk) => {
    arrivalMs = performance.timeOrigin + performance.now();
    totals.bytes += chunk.length;
    pending = pending ? Buffer.concat([pending, chunk]) : chunk;
    if (!scheduled) {
      scheduled = true;
      setImmediate(parse);
    }
  });
  // Parsed now, not on the next turn: once a connection is closed, all that
  // came over it is counted (the driver waits for that).
  socket.on('end', () => parse());
  socket.on('close', () => totals.open_connections--);
  socket.on('error', () => {});
}

function stats() {
  const out = { ...totals, by_tag: Object.fromEntries(byTag), origins: {} };
  for (const [pid, kinds] of origins) {
    out.origins[pid] = {};
    for (const [kind, e] of kinds) {
      out.origins[pid][kind] = { count: e.count, first_arrival_ms: e.firstMs, last_arrival_ms: e.lastMs, latency: e.latency.toJSON() };
    }
  }
  return out;
}

const print = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const server = createServer(onConnection);
server.listen(Number(args.port), '127.0.0.1', () => print({ listening: server.address().port }));

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  print(stats());
  server.close();
  process.exit(0);
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
  }
});
process.stdin.on('end', finish);
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
