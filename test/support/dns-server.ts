// A small DNS server on loopback for the trace_dns tests, over UDP and TCP,
// IPv4 and IPv6, answering by the question's first label. It works on the
// message's bytes (not through a DNS library) because the tests also send
// what a library would refuse or mend: a question name made of a
// compression pointer, which is echoed back as it came.
import dgram from 'node:dgram';
import net from 'node:net';

/** The addresses every other name resolves to (as rdataByType has them). */
export const ANSWER_A = '192.0.2.1';
export const ANSWER_AAAA = '2001:db8::1';
/** How long a "slow" name's answer is held back. */
export const SLOW_MS = 200;

export const Rcode = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3 } as const;

function firstLabel(msg: Buffer): string | undefined {
  const len = msg[12]!;
  if (len > 63) return undefined;
  return msg.subarray(13, 13 + len).toString('latin1');
}

/** The end of the first question (name, QTYPE, QCLASS), if it is there. */
function questionEnd(msg: Buffer): number | undefined {
  let pos = 12;
  while (pos < msg.length) {
    const len = msg[pos]!;
    if (len === 0) pos += 1;
    else if ((len & 0xc0) === 0xc0) pos += 2;
    else if (len <= 63) {
      pos += 1 + len;
      continue;
    } else return undefined;
    return pos + 4 <= msg.length ? pos + 4 : undefined;
  }
  return undefined;
}

function isPlainName(msg: Buffer, end: number): boolean {
  for (let pos = 12; pos < end - 4; pos += 1 + msg[pos]!) if (msg[pos]! > 63) return false;
  return true;
}

// The answers' addresses as the wire has them.
const rdataByType = new Map<number, Buffer>([
  [1, Buffer.from([192, 0, 2, 1])],
  [28, Buffer.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])],
]);

function answer(type: number): Buffer | undefined {
  const rdata = rdataByType.get(type);
  if (!rdata) return undefined;
  const rr = Buffer.alloc(12);
  rr.writeUInt16BE(0xc00c, 0); // the question's name
  rr.writeUInt16BE(type, 2);
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(60, 6);
  rr.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([rr, rdata]);
}

/**
 * The reply to a query, and how long to hold it; undefined: no reply. By
 * the name's first label: `nx` NXDOMAIN, `fail` SERVFAIL, `drop` no answer,
 * `slow` an answer after SLOW_MS; any other name gets its A or AAAA answer
 * (none for other types). A name that is not plain labels gets FORMERR,
 * its question echoed as it came.
 */
function replyTo(query: Buffer): { reply: Buffer; delayMs: number } | undefined {
  if (query.length < 12 || query[2]! & 0x80) return undefined;
  const end = questionEnd(query);
  if (end === undefined || query.readUInt16BE(4) !== 1) return undefined;
  const plain = isPlainName(query, end);
  const label = plain ? firstLabel(query) : undefined;
  if (label === 'drop') return undefined;
  const rcode = !plain ? Rcode.formErr : label === 'nx' ? Rcode.nxDomain : label === 'fail' ? Rcode.servFail : Rcode.noError;
  const rr = rcode === Rcode.noError ? answer(query.readUInt16BE(end - 4)) : undefined;
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header[2] = 0x80 | (query[2]! & 0x79) | 0x04; // QR, the query's opcode and RD, AA
  header[3] = 0x80 | rcode; // RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rr ? 1 : 0, 6);
  const reply = Buffer.concat([header, query.subarray(12, end), ...(rr ? [rr] : [])]);
  return { reply, delayMs: label === 'slow' ? SLOW_MS : 0 };
}

export interface DnsServer {
  port: number;
  /** Queries received, over every socket. */
  received: number;
  close(): Promise<void>;
}

function listenUdp(host: string, port: number, onQuery: (msg: Buffer, send: (b: Buffer) => void) => void): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const v6 = host.includes(':');
    const socket = dgram.createSocket(v6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    socket.once('error', reject);
    socket.on('message', (msg, from) => onQuery(msg, (b) => socket.send(b, from.port, from.address)));
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

function listenTcp(host: string, port: number, onQuery: (msg: Buffer, send: (b: Buffer) => void) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const connections = new Set<net.Socket>();
    const server = net.createServer((conn) => {
      let pending = Buffer.alloc(0);
      connections.add(conn);
      conn.on('close', () => connections.delete(conn));
      conn.on('error', () => {});
      conn.on('data', (data) => {
        pending = Buffer.concat([pending, data]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          const len = pending.readUInt16BE(0);
          const msg = pending.subarray(2, 2 + len);
          pending = pending.subarray(2 + len);
          // Each reply with its length prefix, in one write.
          onQuery(msg, (b) => {
            const prefix = Buffer.alloc(2);
            prefix.writeUInt16BE(b.length);
            if (!conn.destroyed) conn.write(Buffer.concat([prefix, b]));
          });
        }
      });
    });
    // Closing the server ends the connections still open too.
    server.on('close', () => {
      for (const c of connections) c.destroy();
    });
    server.once('error', reject);
    server.listen({ port, host, ipv6Only: host.includes(':') }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * Starts the server on UDP and TCP at port (0: one free on every host) of
 * each host.
 */
export async function startDnsServer(port = 0, hosts: readonly string[] = ['127.0.0.1', '::1']): Promise<DnsServer> {
  const state = { received: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const onQuery = (msg: Buffer, send: (b: Buffer) => void) => {
    state.received++;
    const r = replyTo(msg);
    if (!r) return;
    if (!r.delayMs) return send(r.reply);
    const t = setTimeout(() => {
      timers.delete(t);
      send(r.reply);
    }, r.delayMs);
    timers.add(t);
  };
  for (let attempt = 0; ; attempt++) {
    const udp: dgram.Socket[] = [];
    const tcp: net.Server[] = [];
    try {
      udp.push(await listenUdp(hosts[0]!, port, onQuery));
      const bound = udp[0]!.address().port;
      for (const host of hosts.slice(1)) udp.push(await listenUdp(host, bound, onQuery));
      for (const host of hosts) tcp.push(await listenTcp(host, bound, onQuery));
      return {
        port: bound,
        get received() {
          return state.received;
        },
        async close() {
          for (const t of timers) clearTimeout(t);
          await Promise.all([...udp.map((s) => new Promise<void>((r) => s.close(() => r()))), ...tcp.map((s) => new Promise<void>((r) => s.close(() => r())))]);
        },
      };
    } catch (err) {
      for (const s of udp) s.close();
      for (const s of tcp) s.close();
      // A free port on the first host may be taken on another: try another.
      if (port !== 0 || attempt >= 10 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}
