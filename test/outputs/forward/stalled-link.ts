// A TCP proxy between the forward output and a receiver that holds what the
// sender writes until released: the sender's socket fills, as with a
// receiver that stopped reading.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface StalledLink {
  port: number;
  release(): void;
  /** Resets both sides of every connection through it, as a crashed proxy's kernel would. */
  reset(): void;
  close(): Promise<void>;
}

/** A TCP proxy that reads nothing until release(): the sender's writes stop completing once the kernel buffers are full. */
export async function stalledLink(targetPort: number): Promise<StalledLink> {
  const sockets = new Set<Socket>();
  let released = false;
  const flows: (() => void)[] = [];
  const server = createServer((client) => {
    client.pause();
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('error', () => {});
    upstream.on('error', () => {});
    const flow = () => {
      client.pipe(upstream);
      upstream.pipe(client);
    };
    if (released) flow();
    else flows.push(flow);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    release() {
      released = true;
      for (const f of flows.splice(0)) f();
    },
    reset() {
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
