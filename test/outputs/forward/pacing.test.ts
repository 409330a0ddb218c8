// When the forward output sends: at once while a connection slot is free (a
// write per input batch, no Flush wait), batched while every slot is busy;
// and when it says it is full (and then when it has room again), so that
// inputs stop reading before anything would be dropped here.
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { IndependentReceiver } from './receivers.js';
import { stalledLink } from './stalled-link.js';
import { createForward, makeChunk, sleep, waitFor } from './support.js';

describe('forward output pacing', () => {
  let receiver: IndependentReceiver | undefined;
  let link: Awaited<ReturnType<typeof stalledLink>> | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(100);
    await link?.close();
    await receiver?.close();
    output = receiver = link = undefined;
  });

  it('sends a write at once when a connection slot is free, long before Flush', async () => {
    receiver = await new IndependentReceiver().start();
    output = createForward({ port: String(receiver.port) }, { flushSeconds: 600 });
    await output.start();
    output.write('t', makeChunk(0, 10));
    await waitFor('the 10 records', () => receiver!.entries.length === 10, 10_000);
    output.write('t', makeChunk(10, 5));
    await waitFor('the next 5', () => receiver!.entries.length === 15, 10_000);
    expect(receiver.messages.map((m) => m.entries)).toEqual([10, 5]);
  });

  it('batches what is written while every slot is busy, and sends it when one frees', async () => {
    receiver = await new IndependentReceiver().start();
    // Once the sockets' kernel buffers are full (a few MB), writes stop
    // completing and every slot stays busy.
    link = await stalledLink(receiver.port);
    output = createForward({ port: String(link.port) }, { flushSeconds: 600 });
    await output.start();
    const writes = 80;
    for (let i = 0; i < writes; i++) {
      output.write('t', makeChunk(i * 2000, 2000));
      await sleep(2);
    }
    link.release();
    await waitFor('all the records', () => receiver!.entries.length === writes * 2000, 30_000);
    expect(receiver.messages.length).toBeLessThan(writes);
    expect(output.counters().records_dropped).toEqual({});
  });

  it('says it is full at three quarters of mem_buf_limit, before it would drop, and tells when it has room again', async () => {
    receiver = await new IndependentReceiver().start();
    link = await stalledLink(receiver.port);
    output = createForward({ port: String(link.port), mem_buf_limit: '256K' }, { flushSeconds: 600 });
    await output.start();
    let writes = 0;
    // What an input does: write while the output has room.
    while (!output.whenRoom() && writes < 5000) {
      output.write('t', makeChunk(writes * 50, 50));
      writes++;
      await sleep(1);
    }
    const room = output.whenRoom();
    expect(room).toBeInstanceOf(Promise);
    expect(output.counters().buffer_bytes).toBeGreaterThanOrEqual(0.75 * 256_000);
    expect(output.counters().records_dropped).toEqual({});
    let told = false;
    void room!.then(() => (told = true));
    await sleep(100);
    expect(told).toBe(false); // nothing left while the link is stalled
    link.release();
    await room;
    expect(output.counters().buffer_bytes).toBeLessThan(0.75 * 256_000);
    expect(output.whenRoom()).toBeUndefined();
    await waitFor('every record', () => receiver!.entries.length === writes * 50, 20_000);
  });
});
