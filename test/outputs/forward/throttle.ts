// A slow link for the slow-receiver test: a TCP proxy that reads from the
// sender at most `bytesPerSecond`, so backpressure reaches the sender whatever
// receiver sits behind it.
import { connect, createServer, type Socket } from 'node:net';

export interface Throttle {
  port: number;
  /** Bytes that went through. */
  passed(): number;
  setRate(bytesPerSecond: number): void;
  close(): Promise<void>;
}

export async function startThrottle(targetPort: number, bytesPerSecond: number): Promise<Throttle> {
  let rate = bytesPerSecond;
  let passed = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (data: Buffer) => {
      passed += data.length;
      upstream.write(data);
      client.pause();
      const timer = setTimeout(() => client.resume(), (data.length / rate) * 1000);
      timer.unref();
    });
    upstream.on('data', (data) => client.write(data));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('close', end);
      s.on('error', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    passed: () => passed,
    setRate: (r) => {
      rate = r;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
