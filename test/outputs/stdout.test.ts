// The stdout output: a chunk decoded and printed in each Format as it was
// printed from records before chunks (the expected text is what that code
// printed for these records); the time under json_date_key in each date
// format, record keys in order, strings escaped, 64-bit integers exact;
// nested maps and arrays, booleans, nil and bin; an unreadable chunk counted.
import { describe, expect, it } from 'vitest';
import { StdoutOutput, formatJsonRecord, stdoutOutput } from '../../src/outputs/stdout.js';
import { createLogger } from '../../src/log.js';
import { chunkOf, type TestEvent } from '../support/chunks.js';

const event = { time: { sec: 1795369166, nsec: 5 }, record: { event_type: 'vfs', path: 'a "quoted"\npath', address: 18446744073709551615n, fd: -2 } };

describe('stdout JSON records', () => {
  it('NaN and the infinities are null in JSON (which has no such numbers); the msgpack dump shows them as msgpack-c does', () => {
    const odd = { time: { sec: 1795369166, nsec: 5 }, record: { a: Number.NaN, b: Number.POSITIVE_INFINITY, c: Number.NEGATIVE_INFINITY, d: [Number.NaN], e: 1.5 } };
    const line = formatJsonRecord(odd, 'date', 'double');
    expect(JSON.parse(line)).toEqual({ date: 1795369166.000000005, a: null, b: null, c: null, d: [null], e: 1.5 });
    const { output, text } = stdoutTo({ format: 'msgpack' });
    output.write('t', chunkOf([{ sec: 1795369166, nsec: 5, record: { a: Number.NaN, b: Number.POSITIVE_INFINITY, c: Number.NEGATIVE_INFINITY } }]));
    expect(text()).toContain('{"a"=>nan, "b"=>inf, "c"=>-inf}');
  });

  it('double: seconds with all nine digits of nanoseconds, then the record in order', () => {
    const line = formatJsonRecord(event, 'date', 'double');
    expect(line).toBe('{"date":1795369166.000000005,"event_type":"vfs","path":"a \\"quoted\\"\\npath","address":18446744073709551615,"fd":-2}');
    expect(JSON.parse(line).path).toBe('a "quoted"\npath');
  });

  it('epoch, epoch_ms, iso8601, and no date key', () => {
    expect(formatJsonRecord(event, 'date', 'epoch')).toMatch(/^\{"date":1795369166,/);
    expect(formatJsonRecord({ ...event, time: { sec: 1795369166, nsec: 987_654_321 } }, 'time', 'epoch_ms')).toMatch(/^\{"time":1795369166987,/);
    expect(formatJsonRecord(event, 'date', 'iso8601')).toMatch(/^\{"date":"2026-11-22T\d\d:\d\d:\d\d\.000000005Z",/);
    expect(formatJsonRecord(event, undefined, 'double')).toMatch(/^\{"event_type":"vfs",/);
  });
});

/** A stdout output writing into a string, with its keys as the config loader gives them. */
function stdoutTo(keys: Record<string, string> = {}) {
  const values = new Map<string, unknown>();
  for (const spec of stdoutOutput.keys) values.set(spec.name, spec.parse(keys[spec.name] ?? spec.default!));
  const log: string[] = [];
  let text = '';
  const stream = {
    write(chunk: string, done?: () => void) {
      text += chunk;
      done?.();
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  const logger = createLogger('info', { write: (line) => log.push(line) });
  const output = new StdoutOutput(values, { instance: 'stdout.0', log: logger, service: {} as never, configDir: '/' }, stream);
  return { output, text: () => text, log };
}

const vfs: TestEvent = { sec: 1795369166, nsec: 5, record: { event_type: 'vfs', path: 'a "quoted"\npath', address: 18446744073709551615n, fd: -2 } };
const signal: TestEvent = {
  sec: 1795369167,
  nsec: 987654321,
  record: { event_type: 'signal', pid: 4023, comm: 'kill', signal: 10, big: 1099511627776, neg: -1099511627776n, ratio: 1.5, ok: true, unicode: 'é€😀' },
};

// What the output printed for [vfs, signal] then [vfs] when it took records.
const vfsJson = '"event_type":"vfs","path":"a \\"quoted\\"\\npath","address":18446744073709551615,"fd":-2}';
const signalJson = '"event_type":"signal","pid":4023,"comm":"kill","signal":10,"big":1099511627776,"neg":-1099511627776,"ratio":1.5,"ok":true,"unicode":"é€😀"}';
const printedBefore: [Record<string, string>, string][] = [
  [
    { format: 'msgpack' },
    '[0] host.t: [[1795369166.000000005, {}], {"event_type"=>"vfs", "path"=>"a \\"quoted\\"\\npath", "address"=>18446744073709551615, "fd"=>-2}]\n' +
      '[1] host.t: [[1795369167.987654321, {}], {"event_type"=>"signal", "pid"=>4023, "comm"=>"kill", "signal"=>10, "big"=>1099511627776, "neg"=>-1099511627776, "ratio"=>1.5, "ok"=>true, "unicode"=>"é€😀"}]\n' +
      '[2] host.t: [[1795369166.000000005, {}], {"event_type"=>"vfs", "path"=>"a \\"quoted\\"\\npath", "address"=>18446744073709551615, "fd"=>-2}]\n',
  ],
  [{ format: 'json_lines' }, `{"date":1795369166.000000005,${vfsJson}\n{"date":1795369167.987654321,${signalJson}\n{"date":1795369166.000000005,${vfsJson}\n`],
  [{ format: 'json', json_date_format: 'epoch' }, `[{"date":1795369166,${vfsJson},{"date":1795369167,${signalJson}]\n[{"date":1795369166,${vfsJson}]\n`],
  [{ format: 'json_stream', json_date_key: 'time', json_date_format: 'epoch_ms' }, `{"time":1795369166000,${vfsJson}\n{"time":1795369167987,${signalJson}\n{"time":1795369166000,${vfsJson}\n`],
  [
    { format: 'json_lines', json_date_format: 'iso8601' },
    `{"date":"2026-11-22T17:39:26.000000005Z",${vfsJson}\n{"date":"2026-11-22T17:39:27.987654321Z",${signalJson}\n{"date":"2026-11-22T17:39:26.000000005Z",${vfsJson}\n`,
  ],
  [{ format: 'json_lines', json_date_key: 'false' }, `{${vfsJson}\n{${signalJson}\n{${vfsJson}\n`],
];

describe('stdout output of chunks', () => {
  for (const [keys, expected] of printedBefore) {
    it(`${JSON.stringify(keys)} prints what it printed for the same records`, () => {
      const { output, text } = stdoutTo(keys);
      output.write('host.t', chunkOf([vfs, signal]));
      output.write('host.t', chunkOf([vfs]));
      expect(text()).toBe(expected);
      expect(output.counters()).toMatchObject({ records_in: 3, records_sent: 3, records_dropped: {}, bytes_sent: Buffer.byteLength(expected) });
    });
  }

  const nested: TestEvent = {
    sec: 1,
    nsec: 2,
    record: { task: { pid: 7, comm: 'sh', flags: [true, false, null], addr: 2n ** 63n }, list: [1, [2, [3]], {}], none: null, raw: Buffer.from('bytes') },
  };

  it('JSON formats: nested maps and arrays as JSON, booleans, null, bin as a string', () => {
    const { output, text } = stdoutTo({ format: 'json_lines', json_date_key: 'false' });
    output.write('t', chunkOf([nested]));
    expect(text()).toBe('{"task":{"pid":7,"comm":"sh","flags":[true,false,null],"addr":9223372036854775808},"list":[1,[2,[3]],{}],"none":null,"raw":"bytes"}\n');
    expect(JSON.parse(text()).task.comm).toBe('sh');
  });

  it('msgpack format: nested values as Fluent Bit dumps them (maps with =>, nil)', () => {
    const { output, text } = stdoutTo({ format: 'msgpack' });
    output.write('t', chunkOf([nested]));
    expect(text()).toBe('[0] t: [[1.000000002, {}], {"task"=>{"pid"=>7, "comm"=>"sh", "flags"=>[true, false, nil], "addr"=>9223372036854775808}, "list"=>[1, [2, [3]], {}], "none"=>nil, "raw"=>"bytes"}]\n');
  });

  it('a chunk that cannot be read is dropped and counted, with one warning', () => {
    const { output, text, log } = stdoutTo({ format: 'json_lines' });
    const good = chunkOf([vfs, signal]);
    output.write('t', { ...good, entries: good.entries.subarray(0, 20) });
    output.write('t', { ...good, count: 3 });
    output.write('t', chunkOf([vfs]));
    expect(text()).toBe(`{"date":1795369166.000000005,${vfsJson}\n`);
    expect(output.counters()).toMatchObject({ records_in: 6, records_sent: 1, records_dropped: { invalid_record: 5 } });
    expect(log.filter((l) => l.includes('invalid_record'))).toHaveLength(1);
  });
});
