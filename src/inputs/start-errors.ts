// Why a trace could not start, told to the user in one message: the trace,
// what the kernel (or the install, or the privileges) lacks, and what the
// trace needs; libbpf's own lines only where nothing else explains it.
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { NativeError } from '../native/addon.js';
import { lacksSysAdmin, underSeccompFilter } from '../privileges.js';
import type { TraceDefinition } from '../traces/types.js';

/** A trace that could not start; the message names the trace and what the kernel lacks. */
export class TraceStartError extends Error {
  constructor(
    readonly trace: string,
    message: string,
    readonly errno?: number,
  ) {
    super(message);
    this.name = 'TraceStartError';
  }
}

/** What a step that failed was doing, for the message. */
export interface FailedStep {
  /** "opening its BPF object", "loading", "attaching bind_enter"... */
  what: string;
  /** The BPF object file the step opened. */
  file?: string;
  /** The kernel hook an attach step targets, as a user names it: "tracepoint syscalls:sys_enter_bind". */
  hook?: string;
  /** The trace runs without this step. */
  optional?: boolean;
  /** Loading: each program's SEC() name, to name the hook of the one the kernel refused. */
  sections?: ReadonlyMap<string, string>;
}

/** A program's SEC() name as the kernel hook it names. */
export function hookOf(section: string): string {
  const [kind, ...rest] = section.split('/');
  if ((kind === 'tracepoint' || kind === 'tp') && rest.length === 2) return `tracepoint ${rest[0]}:${rest[1]}`;
  if (kind === 'raw_tp' || kind === 'raw_tracepoint') return `raw tracepoint ${rest.join('/')}`;
  if (kind === 'tp_btf') return `BTF tracepoint ${rest.join('/')}`;
  if (kind === 'fentry' || kind === 'fexit' || kind === 'kprobe' || kind === 'kretprobe') return `${kind} on kernel function ${rest.join('/')}`;
  return section;
}

/** The verifier's closing statistics, which are not its reason. */
const VERIFIER_STATS = /^(?:processed \d+ insns|stack depth |verification time |max_states_per_insn )/;

/** Why a hook is missing, where that can be told apart. */
function missingHookReason(hook: string): string {
  const syscall = /^tracepoint syscalls:sys_(?:enter|exit)_(\w+)$/.exec(hook);
  if (!syscall) return '';
  const haveSyscallTracepoints = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].some((dir) => existsSync(join(dir, 'events', 'syscalls')));
  return haveSyscallTracepoints ? ` (it has no system call ${syscall[1]})` : ' (it was built without syscall tracepoints, CONFIG_FTRACE_SYSCALLS)';
}

/** The system's text for the error ("No such file or directory"), without the addon's context. */
function reasonOf(err: NativeError): string {
  const first = err.message.split('\n')[0] ?? err.message;
  return /: ([^:]+) \(errno \d+\)$/.exec(first)?.[1] ?? first;
}

/**
 * One message for the user: the trace, what the kernel (or the install)
 * lacks, and what the trace needs. libbpf's own lines are kept only where
 * the error is not explained otherwise (a verifier rejection, say).
 */
export function explain(trace: TraceDefinition, step: FailedStep, err: NativeError): TraceStartError {
  const reason = reasonOf(err);
  // Which program a load failed on is only in libbpf's lines.
  const refused = step.sections && /prog '(\w+)': failed to load/.exec(err.message)?.[1];
  if (refused) step = { ...step, what: `loading ${refused}`, hook: hookOf(step.sections!.get(refused) ?? refused) };
  const needs = step.optional ? `; ${trace.name} runs without it` : `; ${trace.name} needs ${trace.needs}`;
  // The verifier's last word: why it refused the program (an older or differently built kernel).
  const verifierLog = /-- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/.exec(err.message)?.[1];
  const logLines = verifierLog?.split('\n').filter((l) => l.trim() && !VERIFIER_STATS.test(l)) ?? [];
  const verdictAt = logLines.length - 1;
  const verdict = verdictAt >= 0 ? logLines[verdictAt] : undefined;
  // The source line it refused, where the object has line info: "; return *p; @ prog.bpf.c:12".
  const source = logLines.slice(0, Math.max(0, verdictAt)).reverse().find((l) => l.startsWith('; '));
  const where = source ? /^; (.*?)(?: @ (\S+:\d+))?$/.exec(source) : null;
  const at = where ? `, at \`${where[1]!.trim()}\`${where[2] ? ` (${where[2]})` : ''}` : '';
  let text: string;
  let detailed = false;
  if (verdict !== undefined) {
    text = `the kernel's verifier rejected ${step.what.replace(/^loading /, '')}${step.hook ? ` (${step.hook})` : ''}: ${verdict}${at}${needs}`;
  } else if (step.file && err.code === 'ENOENT') {
    text = isAbsolute(trace.object)
      ? `its BPF object ${step.file} is missing`
      : `its BPF object ${step.file} is missing: build it (node scripts/build.mjs) or set EBPF_FORWARD_BPF_DIR to the folder that has it`;
  } else if (err.code === 'EPERM' || err.code === 'EACCES') {
    // The CLI checks privileges first: as root, the kernel itself refuses, or a seccomp filter does.
    const filtered = process.getuid?.() === 0 && underSeccompFilter();
    const why = process.getuid?.() !== 0
      ? 'permission denied: run as root (or with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)'
      : filtered
        ? "refused under this process's seccomp filter (a container runtime's default profile, podman's and CRI-O's among them, lets bpf(2) through only to CAP_SYS_ADMIN): " +
          'give the container a profile that lets bpf(2) and perf_event_open(2) through to CAP_BPF and CAP_PERFMON (deploy/seccomp/allow-bpf.sh makes one), or CAP_SYS_ADMIN'
      : lacksSysAdmin()
        ? 'refused without CAP_SYS_ADMIN (this kernel wants it for some hooks, uprobes among them): grant it, or leave this trace out'
        : 'refused even to root (kernel lockdown, a security module, or a kind of hook this kernel does not allow)';
    text = `${step.what}${step.hook ? ` (${step.hook})` : ''}: ${why}${needs}`;
    // libbpf's guess (RLIMIT_MEMLOCK) would only mislead under a filter.
    detailed = !step.hook && !filtered;
  } else if (err.code === 'ENOENT' && step.hook && !step.hook.startsWith('uprobe')) {
    text = `can't ${step.what.replace(/^attaching/, 'attach')}: this kernel has no ${step.hook}${missingHookReason(step.hook)}${needs}`;
  } else if (err.code === 'ENOENT' && step.hook) {
    text = `can't attach a ${step.hook}: ${reason}${needs}`;
  } else if (err.code === 'EINVAL' || err.code === 'ENOTSUP' || err.code === 'EOPNOTSUPP' || err.code === 'E2BIG') {
    text = `this kernel can't run it (${step.what}${step.hook ? `, ${step.hook}` : ''}: ${reason})${needs}`;
    detailed = true;
  } else {
    // Only a system error says something about the kernel (not a bad key value, say).
    text = `${step.what}${step.hook ? ` (${step.hook})` : ''} failed: ${reason}${err.errno !== undefined ? needs : ''}`;
    detailed = true;
  }
  // The addon prefixes libbpf's lines with "libbpf: ", and libbpf itself often did already.
  const detail = detailed
    ? err.message.split('\n').slice(1).filter((l) => !l.includes('-- BEGIN') && !l.includes('-- END')).map((l) => l.replace(/^(libbpf: )+/, 'libbpf: ')).slice(-3)
    : [];
  return new TraceStartError(trace.name, `${trace.name}: ${text}${detail.length ? `\n  ${detail.join('\n  ')}` : ''}`, err.errno);
}
