// Several receivers from an Upstream file: round-robin, failover past a dead
// node (no retry spent on it), the dead node tried again later, per-node
// keys, and the file's errors with file:line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { IndependentReceiver, receivers, type TestReceiver } from './receivers.js';
import { createForward, makeChunk, tally, waitFor } from './support.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'forward-upstream-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function upstreamFile(nodes: { name: string; port: number; extra?: string[] }[], name = 'upstream.conf'): string {
  const lines = ['[UPSTREAM]', '    name  receivers', ''];
  for (const n of nodes) lines.push('[NODE]', `    name  ${n.name}`, '    host  127.0.0.1', `    port  ${n.port}`, ...(n.extra ?? []).map((e) => `    ${e}`), '');
  writeFileSync(join(dir, name), lines.join('\n'));
  return name;
}

describe.each(receivers)('Upstream with %s', (_name, start) => {
  let live: TestReceiver | undefined;
  let dead: TestReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(300);
    await live?.close();
    await dead?.close();
    output = live = dead = undefined;
  });

  it('two nodes, one dead: every batch reaches the live one, no retry spent, the dead one is tried again later', async () => {
    live = await start();
    dead = await start();
    await dead.kill();
    const file = upstreamFile([
      { name: 'dead', port: dead.port },
      { name: 'live', port: live.port },
    ]);
    // no_retries: failing over to the next node must not cost a retry.
    output = createForward({ upstream: file, retry_limit: 'no_retries', require_ack_response: 'on' }, { configDir: dir });
    await output.start();
    for (let i = 0; i < 20; i++) {
      output.write('t', makeChunk(i * 50, 50));
      await output.flush();
    }
    expect(tally(live.seqs())).toEqual({ unique: 1000, duplicates: 0 });
    expect(output.counters()).toMatchObject({ records_acked: 1000, records_dropped: {}, connection: 'connected' });
    const dying = output.nodes().find((n) => n.name === 'dead')!;
    expect(dying).toMatchObject({ connected: false });
    expect(dying.failures).toBeGreaterThanOrEqual(1);

    // Back up: once its skip time (1 s after the first failure) is over, it gets batches again.
    await dead.restart();
    let seq = 1000;
    await waitFor('the revived node to get records', () => {
      output!.write('t', makeChunk(seq, 10));
      seq += 10;
      return dead!.seqs().length > 0;
    }, 10_000);
    await output.flush();
    expect(tally([...live.seqs(), ...dead.seqs()])).toEqual({ unique: seq, duplicates: 0 });
  });
});

describe('Upstream round-robin and per-node keys (independent receivers)', () => {
  const opened: IndependentReceiver[] = [];
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(300);
    for (const r of opened.splice(0)) await r.close();
    output = undefined;
  });

  it('batches alternate between live nodes, each with its own Shared_Key', async () => {
    const a = await new IndependentReceiver({ security: { sharedKey: 'key-a' } }).start();
    const b = await new IndependentReceiver({ security: { sharedKey: 'key-b' }, nonceAs: 'bin' }).start();
    opened.push(a, b);
    const file = upstreamFile([
      { name: 'a', port: a.port, extra: ['shared_key key-a'] },
      { name: 'b', port: b.port, extra: ['shared_key key-b'] },
    ]);
    output = createForward({ upstream: file, require_ack_response: 'on', retry_limit: 'no_retries' }, { configDir: dir });
    await output.start();
    for (let i = 0; i < 10; i++) {
      output.write('t', makeChunk(i * 10, 10));
      await output.flush();
    }
    expect(a.seqs()).toHaveLength(50);
    expect(b.seqs()).toHaveLength(50);
    expect(output.counters().records_acked).toBe(100);
  });

  it('a node inherits the [OUTPUT]\'s Shared_Key and may turn it off with its own', async () => {
    const a = await new IndependentReceiver({ security: { sharedKey: 'shared' } }).start();
    const b = await new IndependentReceiver({ security: { sharedKey: '' } }).start();
    opened.push(a, b);
    const file = upstreamFile([
      { name: 'a', port: a.port },
      { name: 'b', port: b.port, extra: ['empty_shared_key on'] },
    ]);
    output = createForward({ upstream: file, shared_key: 'shared', require_ack_response: 'on', retry_limit: 'no_retries' }, { configDir: dir });
    await output.start();
    for (let i = 0; i < 4; i++) {
      output.write('t', makeChunk(i * 10, 10));
      await output.flush();
    }
    expect(a.seqs().length + b.seqs().length).toBe(40);
    expect(a.seqs().length).toBeGreaterThan(0);
    expect(b.seqs().length).toBeGreaterThan(0);
  });
});

describe('Upstream file errors', () => {
  const load = (text: string) => {
    writeFileSync(join(dir, 'up.conf'), text);
    return () => createForward({ upstream: 'up.conf' }, { configDir: dir });
  };

  it('names file and line', () => {
    const file = join(dir, 'up.conf');
    expect(load('[NODE]\n    name a\n    host h\n    port 1\n')).toThrow(`${file}: no [UPSTREAM] section`);
    expect(load('[UPSTREAM]\n    foo bar\n[NODE]\n    name a\n    host h\n    port 1\n')).toThrow(`${file}:1: [UPSTREAM] has no Name`);
    expect(load('[UPSTREAM]\n    name u\n')).toThrow(`${file}:1: the Upstream file defines no [NODE]`);
    expect(load('[UPSTREAM]\n    name u\n[NODE]\n    name a\n    port 1\n')).toThrow(`${file}:3: [NODE] a: no Host`);
    expect(load('[UPSTREAM]\n    name u\n[NODE]\n    host h\n    port 1\n')).toThrow(`${file}:3: [NODE] #1: no Name`);
    expect(load('[UPSTREAM]\n    name u\n[NODE]\n    name a\n    host h\n    port 1\n    colour blue\n')).toThrow(`${file}:7: colour is not a [NODE] key; known keys: name, host, port`);
    expect(load('[UPSTREAM]\n    name u\n[NODE]\n    name a\n    host h\n    port 1\n    Tag other\n')).toThrow(`${file}:7: Tag is not a [NODE] key; Tag applies to every node: set it in the [OUTPUT] section`);
    expect(load('[UPSTREAM]\n    name u\n[NODE]\n    name a\n    host h\n    port 99999\n')).toThrow(`${file}:6: port: 99999 is out of range`);
    expect(load('[UPSTREAM]\n    name u\n[NODE]\n    name a\n    host h\n    port 1\n    tls.key_file k.pem\n')).toThrow(`${file}:3: [NODE] a: tls.crt_file and tls.key_file go together`);
    expect(load('[UPSTREAM]\n    name u\n[FILTER]\n    name a\n')).toThrow(`${file}:3: unexpected [FILTER] section in an Upstream file`);
    expect(() => createForward({ upstream: 'missing.conf' }, { configDir: dir })).toThrow(/missing\.conf/);
  });
});

