// The router: each tag's events go to every output whose Match accepts it,
// events no output matches are counted, and a full output holds its inputs.
import { describe, expect, it } from 'vitest';
import { compileMatch } from '../src/config/match.js';
import type { FluentEvent } from '../src/event.js';
import type { Output, OutputCounters } from '../src/outputs/types.js';
import { Router } from '../src/router.js';

class RecordingOutput implements Output {
  got: [string, number][] = [];
  isFull = false;
  constructor(readonly instance: string) {}
  async start() {}
  write(tag: string, events: FluentEvent[]) {
    this.got.push([tag, events.length]);
  }
  full() {
    return this.isFull;
  }
  async flush() {}
  async close() {}
  counters(): OutputCounters {
    return { records_in: 0, records_sent: 0, records_acked: 0, records_retried: 0, records_dropped: {}, bytes_sent: 0, connection: 'n/a', buffer_bytes: 0, buffer_bytes_peak: 0 };
  }
}

const event = (): FluentEvent => ({ sec: 1, nsec: 2, record: { event_type: 'signal' } });

describe('Router', () => {
  const all = new RecordingOutput('all');
  const net = new RecordingOutput('net');
  const router = new Router([
    { output: all, matches: compileMatch({ kind: 'wildcard', pattern: 'host.*' }) },
    { output: net, matches: compileMatch({ kind: 'wildcard', pattern: 'host.net' }) },
  ]);

  it('sends to every matching output, and counts what matches none', () => {
    router.route('host.proc', [event(), event()]);
    router.route('host.net', [event()]);
    router.route('ebpf.0', [event(), event(), event()]);
    expect(all.got).toEqual([['host.proc', 2], ['host.net', 1]]);
    expect(net.got).toEqual([['host.net', 1]]);
    expect(router.unrouted).toBe(3);
  });

  it('is accepting only while no output of the tag is full', () => {
    expect(router.accepting('host.net')).toBe(true);
    net.isFull = true;
    expect(router.accepting('host.net')).toBe(false);
    expect(router.accepting('host.proc')).toBe(true); // net does not take host.proc
    net.isFull = false;
    expect(router.accepting('host.net')).toBe(true);
  });
});
