// trace_bind: bind() calls on IPv4/IPv6 sockets, from the bind syscall's
// tracepoints (Fluent Bit needs kprobes on inet_bind/inet6_bind).
import { sectionSteps, type TraceDefinition } from '../types.js';
import { HEADER_SIZE } from '../header.js';
import { readInetAddressText, readInetPort } from '../inet-address.js';

// struct bind_event after the header (bpf/bind.bpf.c).
const UID = 0;
const GID = 4;
const ERROR_RAW = 8;
const BOUND_DEV_IF = 12;
const SOCK_FAMILY = 16;
const PROTOCOL = 18;
const ASKED = 20;

export const trace_bind: TraceDefinition = {
  name: 'trace_bind',
  summary: 'bind() calls on IPv4/IPv6 sockets: port asked for, device bound to, result',
  object: 'bind.bpf.o',
  needs: 'syscall tracepoints (syscalls:sys_enter_bind, syscalls:sys_exit_bind) and BTF for CO-RE socket reads',
  attach: sectionSteps(['bind_enter', 'bind_exit']),
  decode(data, offset, _length, h) {
    const body = offset + HEADER_SIZE;
    return {
      event_type: 'bind',
      pid: h.pid,
      tid: h.tid,
      comm: h.comm,
      uid: data.readUInt32LE(body + UID),
      gid: data.readUInt32LE(body + GID),
      port: readInetPort(data, body + ASKED),
      bound_dev_if: data.readUInt32LE(body + BOUND_DEV_IF),
      error_raw: data.readInt32LE(body + ERROR_RAW),
      // Further fields (not in Fluent Bit's record):
      address: readInetAddressText(data, body + ASKED),
      family: data.readUInt16LE(body + SOCK_FAMILY),
      protocol: data.readUInt16LE(body + PROTOCOL),
    };
  },
};
