// The stdout output: records printed as Fluent Bit's out_stdout prints them.
// Format json_lines: one JSON object per line with the time under
// json_date_key; Format msgpack (Fluent Bit's default): "[N] tag: [time, {..}]".
import type { KeySpec, KeyValues } from '../config/model.js';
import type { FluentEvent } from '../event.js';
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

/** JSON text of a record value; bigints and integers stay exact. */
function jsonValue(v: string | number | bigint): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function jsonDate(e: FluentEvent, format: DateFormat): string {
  switch (format) {
    case 'double':
      return `${e.sec}.${String(e.nsec).padStart(9, '0')}`;
    case 'epoch':
      return String(e.sec);
    case 'epoch_ms':
      return String(e.sec * 1000 + Math.floor(e.nsec / 1e6));
    case 'iso8601':
      return JSON.stringify(`${new Date(e.sec * 1000).toISOString().slice(0, 19)}.${String(e.nsec).padStart(9, '0')}Z`);
  }
}

export function formatJsonRecord(e: FluentEvent, dateKey: string | undefined, dateFormat: DateFormat): string {
  const parts: string[] = [];
  if (dateKey) parts.push(`${JSON.stringify(dateKey)}:${jsonDate(e, dateFormat)}`);
  for (const key in e.record) parts.push(`${JSON.stringify(key)}:${jsonValue(e.record[key]!)}`);
  return `{${parts.join(',')}}`;
}

/** Fluent Bit's msgpack dump of a map: {"key"=>value, ...}. */
function formatMsgpackDump(e: FluentEvent): string {
  const parts: string[] = [];
  for (const key in e.record) parts.push(`${JSON.stringify(key)}=>${jsonValue(e.record[key]!)}`);
  return `{${parts.join(', ')}}`;
}

class StdoutOutput implements Output {
  private readonly format: (typeof formats)[number];
  private readonly dateKey: string | undefined;
  private readonly dateFormat: DateFormat;
  private printed = 0;
  private count = 0;
  private bytes = 0;

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

  write(tag: string, events: FluentEvent[]): void {
    this.count += events.length;
    let text: string;
    if (this.format === 'msgpack') {
      text = events
        .map((e) => `[${this.printed++}] ${tag}: [[${e.sec}.${String(e.nsec).padStart(9, '0')}, {}], ${formatMsgpackDump(e)}]\n`)
        .join('');
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
      records_sent: this.count,
      records_acked: 0,
      records_retried: 0,
      records_dropped: {},
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
