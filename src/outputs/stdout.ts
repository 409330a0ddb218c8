// The stdout output: records printed as Fluent Bit's out_stdout prints them.
// Format json_lines: one JSON object per line with the time under
// json_date_key; Format msgpack (Fluent Bit's default): "[N] tag: [time, {..}]".
// Chunks are decoded here (src/outputs/chunk-decoder.ts): printing needs the
// values.
import { ExtData } from '@msgpack/msgpack';
import type { EventChunk, EventTime } from '../chunk.js';
import type { KeySpec, KeyValues } from '../config/model.js';
import { decodeChunk, type DecodedEvent } from './chunk-decoder.js';
import type { Output, OutputContext, OutputCounters, OutputPlugin } from './types.js';

type DateFormat = 'double' | 'epoch' | 'epoch_ms' | 'iso8601';

function oneOf<T extends string>(key: string, allowed: readonly T[]) {
  return (value: string): T => {
    const v = value.toLowerCase() as T;
    if (!allowed.includes(v)) throw new Error(`${key} must be one of ${allowed.join(', ')} (got "${value}")`);
    return v;
  };
}

const formats = ['json_lines', 'json', 'json_stream', 'msgpack'] as const;
const dateFormats = ['double', 'epoch', 'epoch_ms', 'iso8601'] as const;

const keys: KeySpec[] = [
  { name: 'format', description: 'json_lines, json, json_stream or msgpack (Fluent Bit\'s readable dump)', default: 'msgpack', parse: oneOf('Format', formats) },
  { name: 'json_date_key', description: 'key of the time in JSON formats; "false" leaves it out', default: 'date', parse: (v) => v },
  { name: 'json_date_format', description: 'double (seconds with nanoseconds), epoch, epoch_ms or iso8601', default: 'double', parse: oneOf('json_date_format', dateFormats) },
];

/** Bytes (msgpack bin, ext data) as text, as Fluent Bit prints them: the bytes themselves, here as UTF-8. */
const bytesText = (v: Uint8Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');

/**
 * JSON text of a record value; bigints and integers stay exact, nested maps
 * and arrays are JSON too. NaN and the infinities are null: JSON has no such
 * numbers (Fluent Bit writes null for NaN with its convert_nan_to_null, and
 * an invalid `inf` for the infinities).
 */
function jsonValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'bigint':
    case 'boolean':
      return String(v);
  }
  if (v === null || v === undefined) return 'null';
  if (v instanceof Uint8Array) return JSON.stringify(bytesText(v));
  if (Array.isArray(v)) return `[${v.map(jsonValue).join(',')}]`;
  if (v instanceof ExtData) return JSON.stringify(bytesText(v.data as Uint8Array));
  return `{${Object.entries(v).map(([key, value]) => `${JSON.stringify(key)}:${jsonValue(value)}`).join(',')}}`;
}

/** A value as msgpack-c's msgpack_object_print shows it (Fluent Bit's msgpack dump): maps as {"key"=>value, ...}, nil as nil. */
function dumpValue(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  // msgpack-c prints doubles with %f: nan, inf, -inf.
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  if (Array.isArray(v)) return `[${v.map(dumpValue).join(', ')}]`;
  if (typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof ExtData)) {
    return `{${Object.entries(v).map(([key, value]) => `${JSON.stringify(key)}=>${dumpValue(value)}`).join(', ')}}`;
  }
  return jsonValue(v);
}

function jsonDate(t: EventTime, format: DateFormat): string {
  switch (format) {
    case 'double':
      return `${t.sec}.${String(t.nsec).padStart(9, '0')}`;
    case 'epoch':
      return String(t.sec);
    case 'epoch_ms':
      return String(t.sec * 1000 + Math.floor(t.nsec / 1e6));
    case 'iso8601':
      return JSON.stringify(`${new Date(t.sec * 1000).toISOString().slice(0, 19)}.${String(t.nsec).padStart(9, '0')}Z`);
  }
}

export function formatJsonRecord(e: DecodedEvent, dateKey: string | undefined, dateFormat: DateFormat): string {
  const parts: string[] = [];
  if (dateKey) parts.push(`${JSON.stringify(dateKey)}:${jsonDate(e.time, dateFormat)}`);
  for (const key in e.record) parts.push(`${JSON.stringify(key)}:${jsonValue(e.record[key])}`);
  return `{${parts.join(',')}}`;
}

export class StdoutOutput implements Output {
  private readonly format: (typeof formats)[number];
  private readonly dateKey: string | undefined;
  private readonly dateFormat: DateFormat;
  private printed = 0;
  private count = 0;
  private dropped = 0;
  private bytes = 0;
  private warnedInvalid = false;

  constructor(
    values: KeyValues,
    readonly context: OutputContext,
    private readonly stream: NodeJS.WritableStream = process.stdout,
  ) {
    this.format = values.get('format') as (typeof formats)[number];
    const dateKey = values.get('json_date_key') as string;
    this.dateKey = dateKey.toLowerCase() === 'false' ? undefined : dateKey;
    this.dateFormat = values.get('json_date_format') as DateFormat;
  }

  get instance() {
    return this.context.instance;
  }

  async start(): Promise<void> {}

  write(tag: string, chunk: EventChunk): void {
    this.count += chunk.count;
    let events: DecodedEvent[];
    try {
      events = decodeChunk(chunk);
    } catch (err) {
      this.dropped += chunk.count;
      if (!this.warnedInvalid) {
        this.warnedInvalid = true;
        this.context.log.warn(`dropped a chunk of ${chunk.count} records that cannot be read (${(err as Error).message}); further ones are counted as invalid_record`);
      }
      return;
    }
    let text: string;
    if (this.format === 'msgpack') {
      text = events.map((e) => `[${this.printed++}] ${tag}: [[${jsonDate(e.time, 'double')}, {}], ${dumpValue(e.record)}]\n`).join('');
    } else if (this.format === 'json') {
      text = `[${events.map((e) => formatJsonRecord(e, this.dateKey, this.dateFormat)).join(',')}]\n`;
    } else {
      text = events.map((e) => formatJsonRecord(e, this.dateKey, this.dateFormat) + '\n').join('');
    }
    this.bytes += Buffer.byteLength(text);
    this.stream.write(text);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.stream.write('', () => resolve())));
  }

  counters(): OutputCounters {
    return {
      records_in: this.count,
      records_sent: this.count - this.dropped,
      records_acked: 0,
      records_retried: 0,
      records_dropped: this.dropped ? { invalid_record: this.dropped } : {},
      bytes_sent: this.bytes,
      connection: 'n/a',
      buffer_bytes: 0,
      buffer_bytes_peak: 0,
    };
  }
}

export const stdoutOutput: OutputPlugin = {
  name: 'stdout',
  summary: 'print records to standard output',
  keys,
  create: (values, context) => new StdoutOutput(values, context),
};
