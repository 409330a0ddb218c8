// A receiver's replies are small (HELO, PONG, acks). One that sends a huge
// msgpack value, garbage, or a reply it never finishes is dropped with one
// error line, and its batches go to the next node.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { encode } from '@msgpack/msgpack';
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { MAX_REPLY_BYTES, ReplyReader } from '../../../src/outputs/forward/replies.js';
import { IndependentReceiver } from './receivers.js';
import { createForward, makeChunk, tally, testLog, waitFor } from './support.js';

type Misbehaviour = 'a huge value' | 'garbage' | 'an unfinished reply';

/** A receiver that reads what it is sent and answers with `misbehaviour` on every connection. */
class HostileReceiver {
  port = 0;
  connections = 0;
  /** Connections that ended while it was still sending (the output closed them). */
  closedOnIt = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly misbehaviour: Misbehaviour) {}

  async start(): Promise<this> {
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  private serve(socket: Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.resume(); // takes every batch, acks none
    socket.on('error', () => {});
    let open = true;
    socket.on('close', () => {
      open = false;
      this.closedOnIt++;
      this.sockets.delete(socket);
    });
    if (this.misbehaviour === 'an unfinished reply') {
      // {ack: <str of 255 bytes>}, one byte every 50 ms: never complete in time.
      socket.write(Buffer.from([0x81, 0xa3, 0x61, 0x63, 0x6b, 0xd9, 0xff]));
      const timer = setInterval(() => (open ? socket.write('x') : clearInterval(timer)), 50);
      return;
    }
    // A bin 32 of 4 GB, then its bytes as fast as the socket takes them; or bytes no msgpack value starts with.
    const block = Buffer.alloc(64 * 1024, this.misbehaviour === 'garbage' ? 0xc1 : 0);
    const head = this.misbehaviour === 'a huge value' ? Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff]) : Buffer.alloc(0);
    socket.write(head);
    const pour = () => {
      while (open && socket.write(block));
      if (open) socket.once('drain', pour);
    };
    pour();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe.each<Misbehaviour>(['a huge value', 'garbage', 'an unfinished reply'])('a receiver replying with %s', (misbehaviour) => {
  let dir: string;
  let hostile: HostileReceiver | undefined;
  let good: IndependentReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(300);
    await hostile?.close();
    await good?.close();
    output = hostile = good = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('is dropped with one error line, and its batches go to the next node', async () => {
    hostile = await new HostileReceiver(misbehaviour).start();
    good = await new IndependentReceiver().start();
    dir = mkdtempSync(join(tmpdir(), 'forward-replies-'));
    writeFileSync(join(dir, 'upstream.conf'), ['[UPSTREAM]', '    name  two', '', ...[hostile.port, good.port].flatMap((port, i) => ['[NODE]', `    name  node${i}`, '    host  127.0.0.1', `    port  ${port}`, ''])].join('\n'));
    const log = testLog();
    // net.connect_timeout bounds how long a reply may take to arrive whole.
    output = createForward({ upstream: 'upstream.conf', require_ack_response: 'on', retry_limit: 'no_limits', 'net.connect_timeout': '0.5', ack_response_timeout: '20' }, { configDir: dir, log: log.logger });
    await output.start();
    const total = 2000;
    for (let i = 0; i < total; i += 100) output.write('t', makeChunk(i, 100));
    await output.flush();
    await waitFor('the hostile connection closed by the output', () => hostile!.closedOnIt >= 1, 10_000);
    await waitFor(`${total} records at the good node`, () => tally(good!.seqs()).unique === total, 20_000);
    await output.flush();
    const errors = log.lines.filter((l) => l.includes('[error]'));
    console.log(`[${misbehaviour}] ${hostile.connections} connections to it, error lines: ${errors.map((l) => l.trim()).join(' | ')}`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/node0: sent .*(reply|msgpack).*: connection dropped|node0: a reply did not arrive whole within 0.5s: connection dropped/);
    expect(output.counters()).toMatchObject({ records_acked: total, records_dropped: {} });
  });
});

describe('ReplyReader', () => {
  const ack = (id: string) => Buffer.from(encode({ ack: id }));

  it('reads replies however the socket splits them: byte by byte, several in one read', () => {
    const reader = new ReplyReader();
    const bytes = Buffer.concat([ack('first'), ack('second'), ack('third')]);
    const got: unknown[] = [];
    for (let i = 0; i < bytes.length - 3; i++) got.push(...reader.read(bytes.subarray(i, i + 1)));
    expect(reader.unfinished).toBe(true);
    got.push(...reader.read(bytes.subarray(bytes.length - 3)));
    expect(reader.unfinished).toBe(false);
    expect(got.map((r) => Buffer.from((r as { ack: Uint8Array }).ack).toString())).toEqual(['first', 'second', 'third']);
  });

  it('refuses a reply larger than MAX_REPLY_BYTES once that much has come, complete or not', () => {
    const big = Buffer.from(encode({ ack: 'x'.repeat(MAX_REPLY_BYTES) }));
    expect(() => new ReplyReader().read(big)).toThrow(/more than 65536 bytes/);
    const reader = new ReplyReader();
    expect(reader.read(big.subarray(0, MAX_REPLY_BYTES))).toEqual([]);
    expect(() => reader.read(big.subarray(MAX_REPLY_BYTES, MAX_REPLY_BYTES + 2))).toThrow(/more than 65536 bytes/);
  });
});
