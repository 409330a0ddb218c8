// trace_dns: DNS queries and responses over UDP and TCP, parsed in the kernel
// from the send and receive syscalls (dns.bpf.c); a response carries the
// latency since its query's send.
import { join } from 'node:path';
import { bpfObjectDir } from '../../inputs/session-options.js';
import { Btf } from '../../records/btf.js';
import type { Knobs } from '../../records/knobs.js';
import type { TraceDefinition, TraceKey, TraceSettings } from '../types.js';

export const DEFAULT_DNS_PORT = 53;
const OBJECT = 'dns.bpf.o';

/**
 * How many ports the kernel side holds: dns_ports' length in the object's
 * BTF (undefined when the object can't be read: its start says why).
 */
let portSlots: number | null | undefined;
function dnsPortSlots(): number | undefined {
  if (portSlots === undefined) {
    try {
      const type = Btf.ofObject(join(bpfObjectDir, OBJECT)).globals().get('dns_ports');
      portSlots = type?.kind === 'array' ? type.length : null;
    } catch {
      portSlots = null;
    }
  }
  return portSlots ?? undefined;
}

const portKey: TraceKey = {
  name: 'dns_port',
  get maxItems() {
    return dnsPortSlots();
  },
  get description() {
    const slots = dnsPortSlots();
    return `ports that count as DNS, on the server's side (default ${DEFAULT_DNS_PORT}): a list separated by commas or spaces, the key may repeat${slots ? `; at most ${slots} in all` : ''}`;
  },
  repeatable: true,
  parse(value) {
    const items = value.split(/[\s,]+/).filter((s) => s.length > 0);
    if (items.length === 0) throw new Error('dns_port needs at least one port');
    return items.map((item) => {
      if (!/^\d+$/.test(item) || Number(item) < 1 || Number(item) > 65535) {
        throw new Error(`dns_port: '${item}' is not a port (a whole number from 1 to 65535)`);
      }
      return Number(item);
    });
  },
};

/** The ports of every dns_port key given, once each; the default without one. */
export function dnsPorts(settings: TraceSettings): number[] {
  const value = settings.keys.get(portKey.name);
  if (value === undefined) return [DEFAULT_DNS_PORT];
  return [...new Set((Array.isArray(value) ? value.flat(2) : [value]) as number[])];
}

/** Writes the ports into dns_ports / dns_port_count. */
function configureDns(knobs: Knobs, settings: TraceSettings): void {
  const ports = dnsPorts(settings);
  knobs.set('dns_ports', ports);
  knobs.set('dns_port_count', ports.length);
}

export const trace_dns: TraceDefinition = {
  name: 'trace_dns',
  summary: 'DNS queries and responses (UDP and TCP) with name, type, id, response code and latency',
  object: OBJECT,
  needs:
    'syscall tracepoints (syscalls:sys_enter/exit_sendto, _sendmsg, _sendmmsg, _write, _writev, _recvfrom, _recvmsg, _read, _readv, sys_enter_connect), ' +
    'BTF for CO-RE socket reads, and BPF task storage (Linux 5.11+)',
  record: {
    struct: 'dns_event',
    eventType: 'dns',
    fields: [
      { key: 'query', type: 'string', from: { string: 'query', length: 'query_len' }, doc: 'first question name, dotted (`"."` for the root; `""` when it is not plain labels, or there is none)' },
      { key: 'query_type', type: 'uint16', from: { copy: 'query_type' }, doc: 'QTYPE of that question (1 A, 28 AAAA, 15 MX...; 0 when unread)' },
      { key: 'txid', type: 'uint16', from: { copy: 'txid' }, doc: "the DNS header's id (over TCP too: the length prefix is not taken for it)" },
      { key: 'response', type: 'uint8', from: { copy: 'response' }, doc: '0 for a query sent, 1 for a response received' },
      { key: 'rcode', type: 'uint8', from: { copy: 'rcode' }, doc: "the response's code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN...); 0 on a query" },
      { key: 'latency_ns', type: 'uint64', from: { copy: 'latency_ns' }, doc: "on a response: from its query's send to its receipt; 0 on a query, or when the query was not seen" },
      { key: 'error_raw', type: 'int', from: { copy: 'error_raw' }, doc: 'positive errno of a failed send or receive, else 0' },
      { key: 'server_addr', type: 'string', from: { address: 'server' }, doc: "further field: the server's address as text (a query's destination, a response's source)" },
      { key: 'server_port', type: 'uint16', from: { copy: 'server.port' }, doc: "further field: the server's port" },
      { key: 'transport', type: 'string', from: { names: { DNS_UDP: 'udp', DNS_TCP: 'tcp' }, enum: 'dns_transport', of: 'transport', otherwise: 'unknown' }, doc: 'further field: `udp` or `tcp`' },
    ],
  },
  keys: [portKey],
  configure: configureDns,
};
