// struct inet_address (bpf/inet_socket.bpf.h), shared by trace_bind and
// trace_tcp: u16 family, u16 port (host order), u8 addr[16] (network order).
import { SocketAddress } from 'node:net';

export const INET_ADDRESS_SIZE = 20;
export const AF_INET = 2;
export const AF_INET6 = 10;

export function readInetFamily(data: Buffer, offset: number): number {
  return data.readUInt16LE(offset);
}

export function readInetPort(data: Buffer, offset: number): number {
  return data.readUInt16LE(offset + 2);
}

/**
 * The address as text: "127.0.0.1", "::1", "::ffff:10.0.0.1" (IPv4-mapped),
 * or "" when the record carries none (family 0).
 */
export function readInetAddressText(data: Buffer, offset: number): string {
  const family = data.readUInt16LE(offset);
  const addr = offset + 4;
  if (family === AF_INET) {
    return `${data[addr]}.${data[addr + 1]}.${data[addr + 2]}.${data[addr + 3]}`;
  }
  if (family === AF_INET6) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(data.readUInt16BE(addr + i).toString(16));
    // Node's SocketAddress canonicalises (RFC 5952: "::" compression, mapped IPv4 as dotted quad).
    return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
  }
  return '';
}
