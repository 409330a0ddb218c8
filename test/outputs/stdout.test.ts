// The stdout output's JSON: the time under json_date_key in each date
// format, record keys in order, strings escaped, 64-bit integers exact.
import { describe, expect, it } from 'vitest';
import { formatJsonRecord } from '../../src/outputs/stdout.js';

const event = { sec: 1795369166, nsec: 5, record: { event_type: 'vfs', path: 'a "quoted"\npath', address: 18446744073709551615n, fd: -2 } };

describe('stdout JSON records', () => {
  it('double: seconds with all nine digits of nanoseconds, then the record in order', () => {
    const line = formatJsonRecord(event, 'date', 'double');
    expect(line).toBe('{"date":1795369166.000000005,"event_type":"vfs","path":"a \\"quoted\\"\\npath","address":18446744073709551615,"fd":-2}');
    expect(JSON.parse(line).path).toBe('a "quoted"\npath');
  });

  it('epoch, epoch_ms, iso8601, and no date key', () => {
    expect(formatJsonRecord(event, 'date', 'epoch')).toMatch(/^\{"date":1795369166,/);
    expect(formatJsonRecord({ ...event, nsec: 987_654_321 }, 'time', 'epoch_ms')).toMatch(/^\{"time":1795369166987,/);
    expect(formatJsonRecord(event, 'date', 'iso8601')).toMatch(/^\{"date":"2026-11-22T\d\d:\d\d:\d\d\.000000005Z",/);
    expect(formatJsonRecord(event, undefined, 'double')).toMatch(/^\{"event_type":"vfs",/);
  });
});
