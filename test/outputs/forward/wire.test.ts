// The bytes the forward output writes on the socket, in each mode: the
// chunk's entries verbatim inside the framing (gzip of them in compressed
// mode), and with Time_as_Integer the same records behind 6-byte heads.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decode } from '@msgpack/msgpack';
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { chunkOf } from '../../support/chunks.js';
import { createForward, makeEvents, waitFor } from './support.js';

/** A TCP server that keeps every byte it is sent and answers nothing. */
class ByteSink {
  bytes = Buffer.alloc(0);
  port = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  constructor() {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('data', (data) => (this.bytes = Buffer.concat([this.bytes, data])));
      socket.on('error', () => {});
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s).toString('hex');

describe('forward output bytes on the wire', () => {
  let sink: ByteSink | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(200);
    await sink?.close();
    output = sink = undefined;
  });

  /** Sends one chunk of 30 records with these keys; returns the chunk and every byte the receiver got. */
  async function send(keys: Record<string, string>, expectedBytes: (entries: Buffer) => number) {
    sink = await new ByteSink().start();
    output = createForward({ port: String(sink.port), tag: 't', ...keys });
    await output.start();
    const events = makeEvents(0, 30);
    const chunk = chunkOf(events);
    output.write('host.ebpf', chunk);
    await output.flush();
    const length = expectedBytes(chunk.entries);
    await waitFor(`${length} bytes`, () => sink!.bytes.length >= length);
    return { events, chunk, wire: sink.bytes };
  }

  it('Forward: [tag, array of 30, entries verbatim]', async () => {
    const { chunk, wire } = await send({}, (e) => 6 + e.length);
    expect(wire.subarray(0, 6).toString('hex')).toBe('92a174dc001e');
    expect(wire.subarray(6).equals(chunk.entries)).toBe(true);
  });

  it('Forward with Send_options: the options after the entries verbatim', async () => {
    const { chunk, wire } = await send({ send_options: 'on' }, (e) => 6 + e.length + 7);
    expect(wire.subarray(0, 6).toString('hex')).toBe('93a174dc001e');
    expect(wire.subarray(6, 6 + chunk.entries.length).equals(chunk.entries)).toBe(true);
    expect(wire.subarray(6 + chunk.entries.length).toString('hex')).toBe(`81a4${ascii('size')}1e`);
  });

  it('PackedForward: bin of the entries verbatim', async () => {
    const { chunk, wire } = await send({ forward_mode: 'PackedForward' }, (e) => 6 + e.length);
    const n = chunk.entries.length;
    expect(n).toBeGreaterThan(255);
    expect(n).toBeLessThan(65536);
    expect(wire.subarray(0, 6).toString('hex')).toBe(`92a174c5${n.toString(16).padStart(4, '0')}`);
    expect(wire.subarray(6).equals(chunk.entries)).toBe(true);
  });

  it('CompressedPackedForward: bin of the gzip of the entries, which unzips to them verbatim', async () => {
    sink = await new ByteSink().start();
    output = createForward({ port: String(sink.port), tag: 't', compress: 'gzip' });
    await output.start();
    const chunk = chunkOf(makeEvents(0, 30));
    output.write('host.ebpf', chunk);
    await output.flush();
    await waitFor('the message', () => {
      try {
        decode(sink!.bytes);
        return true;
      } catch {
        return false;
      }
    });
    const [tag, payload, options] = decode(sink.bytes) as [string, Uint8Array, unknown];
    expect([tag, options]).toEqual(['t', { size: 30, compressed: 'gzip' }]);
    expect(gunzipSync(payload).equals(chunk.entries)).toBe(true);
    expect(sink.bytes.subarray(0, 3).toString('hex')).toBe('93a174'); // [tag, bin, options]: decode() above refuses bytes left over
  });

  it('Time_as_Integer: each entry as 0x92 0xce + seconds, then its record bytes unchanged', async () => {
    const { events, chunk, wire } = await send({ time_as_integer: 'on' }, (e) => 6 + e.length - 5 * 30);
    // Each entry alone, as chunkOf writes it, with its head swapped by hand.
    const expected = events.map((e) => {
      const entry = chunkOf([e]).entries;
      return Buffer.concat([hex(`92 ce ${e.sec.toString(16).padStart(8, '0')}`), entry.subarray(11)]);
    });
    expect(wire.subarray(0, 6).toString('hex')).toBe('92a174dc001e');
    expect(wire.subarray(6).equals(Buffer.concat(expected))).toBe(true);
    expect(wire.length).toBe(6 + chunk.entries.length - 5 * 30);
  });
});
