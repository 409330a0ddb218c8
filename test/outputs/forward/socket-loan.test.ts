// The connection's socket lent to ring readers (socket-loan.ts,
// native/forward_socket.cc): lent only where the output would write the
// same bytes itself, its messages byte for byte the output's own, a message
// the socket can't take at once finished as it drains, and one that can't be
// finished sent again: nothing it takes is lost uncounted.
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeForwardMessage, encodePackedForwardMessage } from '../../../src/outputs/forward/framing.js';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import type { SocketLease } from '../../../src/outputs/types.js';
import { IndependentReceiver } from './receivers.js';
import { stalledLink, type StalledLink } from './stalled-link.js';
import { createForward, makeChunk, sleep, tally, waitFor } from './support.js';

/** Keeps every byte that arrives, on one connection after another. */
async function rawReceiver(): Promise<{ port: number; bytes(): Buffer; close(): Promise<void> }> {
  const parts: Buffer[] = [];
  const server: Server = createServer((socket) => socket.on('data', (d: Buffer) => parts.push(d)).on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    bytes: () => Buffer.concat(parts),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Writes chunks of 5000 records (seq from `from` on) until the lent socket holds a message back; returns the next seq. */
function fillUntilBusy(output: ForwardOutput, lease: SocketLease, from: number): number {
  let next = from;
  // Until the kernel's buffers (ours and the link's) are full.
  while (!lease.socket.busy() && next < 3_000_000) {
    output.write('t', makeChunk(next, 5000));
    next += 5000;
  }
  expect(lease.socket.busy()).toBe(true);
  return next;
}

/** Writes a first chunk through the output's own path (it connects), then asks for the socket once that is delivered. */
async function lentAfterFirst(output: ForwardOutput, tag = 't'): Promise<SocketLease> {
  output.write(tag, makeChunk(0, 10));
  await waitFor('the first chunk delivered', () => output.counters().records_sent === 10);
  await waitFor('the socket lent', () => output.lendSocket(tag) !== undefined);
  return output.lendSocket(tag)!;
}

describe('the forward output lends its socket to ring readers', () => {
  let output: ForwardOutput | undefined;
  let receiver: IndependentReceiver | undefined;
  let link: StalledLink | undefined;
  const closers: (() => Promise<void>)[] = [];
  /** A receiver behind a stalled link, the output lent its socket (after a first chunk through its own path). */
  async function lentBehindStalledLink(): Promise<{ receiver: IndependentReceiver; link: StalledLink; output: ForwardOutput; lease: SocketLease }> {
    const r = (receiver = await new IndependentReceiver().start());
    const l = (link = await stalledLink(r.port));
    const o = (output = createForward({ port: String(l.port) }));
    await o.start();
    return { receiver: r, link: l, output: o, lease: await lentAfterFirst(o) };
  }
  afterEach(async () => {
    await output?.close(500);
    await link?.close();
    await receiver?.close();
    for (const close of closers.splice(0)) await close();
    output = receiver = link = undefined;
  });

  it('only once connected with nothing held, and only where its own writes would be the same bytes', async () => {
    receiver = await new IndependentReceiver().start();
    const port = String(receiver.port);
    output = createForward({ port });
    expect(output.lendSocket('t')).toBeUndefined(); // not started
    await output.start();
    expect(output.lendSocket('t')).toBeUndefined(); // not connected yet
    const lease = await lentAfterFirst(output);
    expect(lease.prefix.equals(Buffer.from([0x92, 0xa1, 0x74]))).toBe(true); // [ "t"
    expect(output.lendSocket('t')).toBe(lease);
    await output.close(500);

    // Acks, gzip and Time_as_Integer change or follow each message: never lent.
    const unlendable: Record<string, string>[] = [{ require_ack_response: 'on' }, { compress: 'gzip' }, { time_as_integer: 'on' }];
    for (const settings of unlendable) {
      output = createForward({ port, ...settings });
      await output.start();
      output.write('t', makeChunk(0, 10));
      await waitFor('the chunk delivered', () => output!.counters().records_sent === 10);
      await sleep(50);
      expect(output.lendSocket('t'), JSON.stringify(settings)).toBeUndefined();
      await output.close(500);
    }
    output = undefined;
  });

  for (const mode of ['Forward', 'PackedForward'] as const) {
    it(`writes ${mode} messages byte for byte as the output writes them, Tag and Send_options honoured, and counts them`, async () => {
      const raw = await rawReceiver();
      closers.push(raw.close);
      output = createForward({ port: String(raw.port), forward_mode: mode, send_options: 'on', tag: 'renamed' });
      await output.start();
      const first = makeChunk(0, 10);
      output.write('t', first);
      await waitFor('the first chunk delivered', () => output!.counters().records_sent === 10);
      await waitFor('the socket lent', () => output!.lendSocket('t') !== undefined);
      const chunks = [makeChunk(10, 1), makeChunk(11, 15), makeChunk(26, 16), makeChunk(42, 70_000)];
      for (const c of chunks) output.write('t', c);
      const frame = (c: ReturnType<typeof makeChunk>) =>
        Buffer.concat(mode === 'Forward' ? encodeForwardMessage('renamed', c.entries, c.count, { size: c.count }) : encodePackedForwardMessage('renamed', c.entries, { size: c.count }));
      const expected = Buffer.concat([first, ...chunks].map(frame));
      await waitFor('every byte', () => raw.bytes().length >= expected.length);
      expect(raw.bytes().equals(expected)).toBe(true);
      const counters = output.counters();
      expect(counters.records_in).toBe(70_042);
      expect(counters.records_sent).toBe(70_042);
      expect(counters.bytes_sent).toBe(expected.length);
    });
  }

  it('a receiver that stops reading: the message the socket could not take is finished as it drains, whole and in order', async () => {
    receiver = await new IndependentReceiver().start();
    link = await stalledLink(receiver.port);
    output = createForward({ port: String(link.port) });
    await output.start();
    output.write('t', makeChunk(0, 10));
    await waitFor('the first write in the kernel', () => output!.counters().records_sent === 10);
    const lease = output.lendSocket('t')!;
    expect(lease).toBeDefined();
    const next = fillUntilBusy(output, lease, 10);
    expect(output.counters().records_sent).toBeLessThan(next);
    link.release();
    await waitFor('every record', () => receiver!.entries.length >= next, 60_000);
    expect(tally(receiver.seqs())).toEqual({ unique: next, duplicates: 0 });
    expect(receiver.seqs()).toEqual([...Array(next).keys()]);
    expect(lease.socket.stats().keptMessages).toBe(1);
    expect(output.counters().records_sent).toBe(next);
    expect(output.lendSocket('t')).toBe(lease); // still lent
  }, 90_000);

  it('a batch that comes while the socket finishes a message releases it: that message goes out whole, then the queue, on the same connection, in order', async () => {
    const { receiver, link, output, lease } = await lentBehindStalledLink();
    let next = fillUntilBusy(output, lease, 10);
    output.write('t', makeChunk(next, 10)); // as a reader's batch would come once the socket is busy
    next += 10;
    expect(output.lendSocket('t')).toBeUndefined(); // released: not lent again meanwhile
    expect(lease.socket.stats().open).toBe(true); // finishing its message
    link.release();
    await waitFor('every record', () => receiver.entries.length >= next, 60_000);
    expect(receiver.seqs()).toEqual([...Array(next).keys()]);
    expect(receiver.connections).toBe(1);
    expect(lease.socket.stats().open).toBe(false);
    const counters = output.counters();
    expect(counters.records_in).toBe(next);
    expect(counters.records_sent).toBe(next);
    // Idle again: lent again.
    await waitFor('lent again', () => output.lendSocket('t') !== undefined);
  }, 90_000);

  it('closed while the socket holds a message: the message cut short is sent again on a new connection within Grace, nothing twice', async () => {
    const { receiver, link, output, lease } = await lentBehindStalledLink();
    const next = fillUntilBusy(output, lease, 10);
    const closing = output.close(20_000);
    expect(lease.socket.stats().open).toBe(false);
    link.release();
    await closing;
    await waitFor('every record', () => new Set(receiver.seqs()).size >= next, 30_000);
    expect(tally(receiver.seqs())).toEqual({ unique: next, duplicates: 0 });
    const counters = output.counters();
    expect(counters.records_sent).toBe(next);
    expect(Object.keys(counters.records_dropped)).toEqual([]);
  }, 90_000);

  it('a write that fails (the link reset) hands the held batch back: it is sent again once the receiver is reachable', async () => {
    const { receiver, link, output, lease } = await lentBehindStalledLink();
    const next = fillUntilBusy(output, lease, 10);
    const heldFrom = next - 5000;
    link.reset();
    await waitFor('the loan ended', () => !lease.socket.stats().open);
    expect(lease.socket.stats().error).toBeGreaterThan(0);
    link.release();
    // What the link held when it was reset is gone, as for any receiver
    // killed without acks; the held batch is not: it goes out again.
    await waitFor('the held batch again', () => receiver.seqs().includes(next - 1), 60_000);
    const seqs = new Set(receiver.seqs());
    for (let s = heldFrom; s < next; s++) expect(seqs.has(s)).toBe(true);
    const counters = output.counters();
    expect(counters.records_in).toBe(next);
    expect(counters.records_sent).toBe(next);
  }, 90_000);

  it('recallSocket() ends the loan (an idle socket at once): the next batch goes through the queue', async () => {
    receiver = await new IndependentReceiver().start();
    output = createForward({ port: String(receiver.port) });
    await output.start();
    const lease = await lentAfterFirst(output);
    output.recallSocket();
    expect(lease.socket.stats().open).toBe(false);
    output.write('t', makeChunk(10, 5));
    await waitFor('15 records', () => receiver!.entries.length === 15);
    expect(receiver.seqs()).toEqual([...Array(15).keys()]);
  });
});
