// Whether this process may load and attach BPF programs, told before trying,
// so that the user gets one clear message instead of a verifier EPERM.
import { readFileSync } from 'node:fs';

const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

function effectiveCapabilities(): bigint {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    return hex ? BigInt(`0x${hex}`) : 0n;
  } catch {
    return 0n;
  }
}

/** Undefined when allowed, else the message to show. */
export function missingPrivileges(): string | undefined {
  const caps = effectiveCapabilities();
  const has = (cap: number) => (caps >> BigInt(cap)) & 1n;
  // tracefs may need mounting (CAP_SYS_ADMIN); BPF and perf events need CAP_BPF + CAP_PERFMON or CAP_SYS_ADMIN.
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) return undefined;
  const who = process.getuid?.() === 0 ? 'root without the needed capabilities' : `uid ${process.getuid?.()}`;
  return `ebpf-forward needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN) to load BPF programs; it runs as ${who}: run it with sudo`;
}
