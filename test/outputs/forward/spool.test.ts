// The filesystem spool (storage.path): a receiver down longer than
// mem_buf_limit holds, and a restart of the output with chunks on disk.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from '@msgpack/msgpack';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { skipValue } from '../../../src/msgpack/skip.js';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { smallTmpfs } from '../../support/small-disk.js';
import { receivers, type TestReceiver } from './receivers.js';
import { createForward, makeChunk, sleep, tally, testLog, waitFor } from './support.js';

const chunkFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.chunk'));

describe.each(receivers)('spool with %s', (name, start) => {
  let receiver: TestReceiver | undefined;
  let outputs: ForwardOutput[] = [];
  let storage: string;
  beforeEach(() => {
    storage = mkdtempSync(join(tmpdir(), 'forward-spool-'));
  });
  afterEach(async () => {
    for (const o of outputs) await o.close(300);
    await receiver?.close();
    receiver = undefined;
    outputs = [];
    rmSync(storage, { recursive: true, force: true });
  });

  const open = async (keys: Record<string, string>, log = testLog()) => {
    const output = createForward({ port: String(receiver!.port), require_ack_response: 'on', retry_limit: 'no_limits', ...keys }, { storagePath: storage, log: log.logger });
    outputs.push(output);
    await output.start();
    return output;
  };

  it('receiver down longer than the memory buffer holds: chunks go to disk, all are delivered after', async () => {
    receiver = await start();
    await receiver.kill();
    const limit = 200_000;
    const output = await open({ mem_buf_limit: String(limit) });
    // About 1.7 MB of entries (eight times the memory buffer) at 20,000
    // records/s: a pace the disk keeps up with, so nothing is dropped.
    const total = 20_000;
    for (let i = 0; i < total; i += 100) {
      output.write('host.ebpf', makeChunk(i, 100));
      await sleep(5);
    }
    const during = output.counters();
    expect(during.records_spooled).toBeGreaterThan(total / 2);
    expect(chunkFiles(join(storage, 'forward.0')).length).toBeGreaterThan(0);
    await receiver.restart();
    // Everything not dropped (nothing should be: checked below, with the count).
    const kept = () => total - Object.values(output.counters().records_dropped).reduce((a, b) => a + b, 0);
    await waitFor(`${total} records`, () => tally(receiver!.seqs()).unique === kept(), 20_000);
    await output.flush();
    const c = output.counters();
    console.log(`[${name}] outage: ${c.records_spooled} records spooled, buffer peak ${c.buffer_bytes_peak} of ${limit} bytes, received ${receiver.seqs().length} (${tally(receiver.seqs()).duplicates} duplicates)`);
    expect(c.buffer_bytes_peak).toBeLessThanOrEqual(limit);
    expect(c.records_dropped).toEqual({});
    expect(c.records_acked).toBe(total);
    expect(tally(receiver.seqs()).duplicates).toBeLessThanOrEqual(c.records_retried);
    await waitFor('an empty spool', () => chunkFiles(join(storage, 'forward.0')).length === 0);
    expect(c.spool_bytes).toBe(0);
  });

  it('restart of the output: chunks spooled at close are sent by the next run', async () => {
    receiver = await start();
    const first = await open({});
    first.write('host.ebpf', makeChunk(0, 1000));
    await first.flush();
    expect(first.counters().records_acked).toBe(1000);
    await receiver.kill();
    first.write('host.ebpf', makeChunk(1000, 2000));
    await first.close(300); // the receiver is down: everything left goes to disk
    const before = first.counters();
    expect(before).toMatchObject({ records_sent: 1000, records_acked: 1000, records_dropped: {} });
    expect(before.records_spooled).toBe(2000);
    expect(chunkFiles(join(storage, 'forward.0')).length).toBeGreaterThan(0);

    await receiver.restart();
    const second = await open({});
    await waitFor('3000 records', () => tally(receiver!.seqs()).unique === 3000, 20_000);
    await second.flush();
    const after = second.counters();
    const { unique, duplicates } = tally(receiver.seqs());
    console.log(`[${name}] output restart: first run sent ${before.records_sent} and spooled ${before.records_spooled}; second run restored ${after.records_restored}, sent ${after.records_sent}, acked ${after.records_acked}; received ${receiver.seqs().length} (${unique} distinct, ${duplicates} duplicates)`);
    expect(after).toMatchObject({ records_restored: 2000, records_sent: 2000, records_acked: 2000, records_in: 0, records_dropped: {} });
    expect(unique).toBe(3000);
    expect(duplicates).toBe(0);
    await waitFor('an empty spool', () => chunkFiles(join(storage, 'forward.0')).length === 0);
  });
  it('a stop with the receiver down spends no retries: with the default Retry_Limit, what is left stays on disk and the next start sends it', async () => {
    receiver = await start();
    await receiver.kill();
    // Retry_Limit 1 (the default): the attempts the grace makes every 250 ms must not use it up.
    const first = await open({ retry_limit: '1' });
    first.write('host.ebpf', makeChunk(0, 600));
    first.write('host.ebpf', makeChunk(600, 400));
    await first.close(1500);
    const before = first.counters();
    expect(before.records_dropped).toEqual({});
    expect(before.records_spooled).toBe(1000);
    expect(chunkFiles(join(storage, 'forward.0')).length).toBeGreaterThan(0);

    await receiver.restart();
    const second = await open({ retry_limit: '1' });
    await waitFor('1000 records', () => tally(receiver!.seqs()).unique === 1000, 20_000);
    await second.flush();
    expect(second.counters()).toMatchObject({ records_restored: 1000, records_dropped: {} });
    expect(tally(receiver.seqs()).duplicates).toBe(0);
  });
});

describe('spool limits and damage', () => {
  let storage: string;
  let outputs: ForwardOutput[] = [];
  beforeEach(() => {
    storage = mkdtempSync(join(tmpdir(), 'forward-spool-'));
  });
  afterEach(async () => {
    for (const o of outputs) await o.close(100);
    outputs = [];
    rmSync(storage, { recursive: true, force: true });
  });

  it('storage.total_limit_size: the oldest spooled chunks are dropped and counted', async () => {
    // Port 9 (discard) on loopback: nothing listens, every connect is refused.
    const output = createForward({ port: '9', retry_limit: 'no_limits', mem_buf_limit: '40000', 'storage.total_limit_size': '30000' }, { storagePath: storage });
    outputs.push(output);
    await output.start();
    for (let i = 0; i < 3000; i += 50) {
      output.write('t', makeChunk(i, 50));
      await sleep(2);
    }
    await output.close(100);
    const c = output.counters();
    const dropped = c.records_dropped.storage_full ?? 0;
    expect(dropped).toBeGreaterThan(0);
    expect(c.spool_bytes).toBeLessThanOrEqual(30_000);
    expect(c.records_dropped.buffer_full ?? 0).toBe(0);
    // Nothing vanished: what is on disk plus what was dropped is everything.
    const onDisk = createForward({ port: '9' }, { storagePath: storage });
    outputs.push(onDisk);
    await onDisk.start();
    expect(onDisk.counters().records_restored! + dropped).toBe(3000);
  });

  it('a disk that fills part way through a chunk: no chunk file cut short, the chunk stays in memory, nothing lost as invalid', async () => {
    // A 256 KiB tmpfs: chunks of about 85 KB fill it, the last one part way.
    const disk = smallTmpfs('256k');
    const small = disk.dir;
    try {
      const output = createForward({ port: '9', retry_limit: 'no_limits', mem_buf_limit: '200000' }, { storagePath: small });
      outputs.push(output);
      await output.start();
      for (let i = 0; i < 12_000; i += 1000) {
        output.write('t', makeChunk(i, 1000));
        await sleep(20);
      }
      await output.close(100);
      const dir = join(small, 'forward.0');
      expect(readdirSync(dir).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
      // Every chunk file on disk reads back whole; what is not on disk was counted.
      const after = createForward({ port: '9' }, { storagePath: small });
      outputs.push(after);
      await after.start();
      const c = output.counters();
      expect(after.counters().records_dropped).toEqual({});
      expect(after.counters().records_restored! + Object.values(c.records_dropped).reduce((a, b) => a + b, 0)).toBe(12_000);
      await after.close(100);
      outputs = outputs.filter((o) => o !== after && o !== output);
    } finally {
      disk.remove();
    }
  });

  it('a disk that takes some chunk files and refuses others: one error line while it lasts, not one per change', async () => {
    const log = testLog();
    const output = createForward({ port: '9', retry_limit: 'no_limits', mem_buf_limit: '200000' }, { storagePath: storage, log: log.logger });
    outputs.push(output);
    await output.start();
    // A disk about full: every other file fits.
    const spool = (output as unknown as { spiller: { spool: { write: (...args: unknown[]) => Promise<string> } } }).spiller.spool;
    const write = spool.write.bind(spool);
    let n = 0;
    spool.write = (...args) => (n++ % 2 ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })) : write(...args));
    for (let i = 0; i < 12_000; i += 1000) {
      output.write('t', makeChunk(i, 1000));
      await sleep(20);
    }
    await output.close(100);
    expect(n).toBeGreaterThan(4);
    const lines = log.lines.filter((l) => /\[error\].*cannot write to the spool|writing to the spool .* again/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\[error\] cannot write to the spool in .* \(ENOSPC: no space left on device\): keeping chunks in memory while it lasts/);
  });

  it('a chunk file holds the chunk\'s entries as they came, behind a header and a frame head', async () => {
    const output = createForward({ port: '9', retry_limit: 'no_limits' }, { storagePath: storage });
    outputs.push(output);
    await output.start();
    const chunk = makeChunk(0, 25);
    output.write('t', chunk);
    await output.close(100);
    const dir = join(storage, 'forward.0');
    const [file] = chunkFiles(dir);
    const bytes = readFileSync(join(dir, file!));
    const headerEnd = skipValue(bytes, 0);
    const [magic, version, header] = decode(bytes.subarray(0, headerEnd)) as [string, number, Record<string, unknown>];
    expect([magic, version, header.tag, header.checksum]).toEqual(['ebpf-forward chunk', 2, 't', false]);
    expect(bytes.readUInt32BE(headerEnd)).toBe(25);
    expect(bytes.readUInt32BE(headerEnd + 4)).toBe(chunk.entries.length);
    expect(bytes.subarray(headerEnd + 12).equals(chunk.entries)).toBe(true);
  });

  it('a damaged chunk file is set aside with an error, the others are sent', async () => {
    const dir = join(storage, 'forward.0');
    const first = createForward({ port: '9', retry_limit: 'no_limits' }, { storagePath: storage });
    await first.start();
    first.write('t', makeChunk(0, 10));
    await first.close(100);
    writeFileSync(join(dir, '0000000000001-1-000000.chunk'), 'not msgpack at all');
    const log = testLog();
    const second = createForward({ port: '9' }, { storagePath: storage, log: log.logger });
    outputs.push(second);
    await second.start();
    expect(second.counters().records_restored).toBe(10);
    expect(log.text()).toMatch(/0000000000001-1-000000.chunk is not .*moved to .*\.bad/);
    expect(readdirSync(dir).filter((n) => n.endsWith('.bad'))).toHaveLength(1);
  });
});
