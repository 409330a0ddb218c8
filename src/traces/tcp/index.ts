// trace_tcp: listen(), accept()/accept4() and connect() on TCP sockets,
// from syscall tracepoints; one record per call, at its exit.
import { sectionSteps, type TraceDefinition, type TraceRecord } from '../types.js';
import { HEADER_SIZE } from '../header.js';
import { readInetAddressText, readInetPort } from '../inet-address.js';

// Header kind of each record (enum tcp_call in bpf/tcp.bpf.c).
const LISTEN = 0;
const ACCEPT = 1;
const CONNECT = 2;

export const trace_tcp: TraceDefinition = {
  name: 'trace_tcp',
  summary: 'TCP listen, accept/accept4 and connect calls with addresses and results',
  object: 'tcp.bpf.o',
  needs: 'syscall tracepoints (syscalls:sys_enter/exit_listen, _accept, _accept4, _connect) and BTF for CO-RE socket reads',
  attach: sectionSteps(['listen_enter', 'listen_exit', 'accept_enter_tp', 'accept_exit_tp', 'accept4_enter_tp', 'accept4_exit_tp', 'connect_enter', 'connect_exit']),
  decode(data, offset, _length, h): TraceRecord | null {
    const body = offset + HEADER_SIZE;
    switch (h.kind) {
      case LISTEN: // struct listen_event: fd, backlog, error_raw
        return {
          event_type: 'listen',
          pid: h.pid,
          tid: h.tid,
          comm: h.comm,
          fd: data.readInt32LE(body),
          backlog: data.readInt32LE(body + 4),
          error_raw: data.readInt32LE(body + 8),
        };
      case ACCEPT: // struct accept_event: fd, new_fd, error_raw, peer
        return {
          event_type: 'accept',
          pid: h.pid,
          tid: h.tid,
          comm: h.comm,
          fd: data.readInt32LE(body),
          new_fd: data.readInt32LE(body + 4),
          peer_port: readInetPort(data, body + 12),
          peer_addr: readInetAddressText(data, body + 12),
          error_raw: data.readInt32LE(body + 8),
        };
      case CONNECT: // struct connect_event: fd, error_raw, remote
        return {
          event_type: 'connect',
          pid: h.pid,
          tid: h.tid,
          comm: h.comm,
          fd: data.readInt32LE(body),
          remote_port: readInetPort(data, body + 8),
          remote_addr: readInetAddressText(data, body + 8),
          error_raw: data.readInt32LE(body + 4),
        };
      default:
        return null;
    }
  },
};
