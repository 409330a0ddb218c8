// The input's `attach` key, for the traces whose object holds two sets of
// programs for the same records (trace_bind, trace_tcp, trace_vfs): fexit
// programs on kernel functions, and syscall tracepoint programs. One set is
// loaded (src/inputs/trace-session.ts): fentry where the kernel loads and
// attaches it, else the tracepoints.
import type { TraceKey } from './types.js';

/** A set of a trace's programs: by SEC() kind, fentry/fexit or the rest (tracepoints). */
export type AttachPath = 'fentry' | 'tracepoint';

const CHOICES = ['auto', 'fentry', 'tracepoint'] as const;
export type AttachChoice = (typeof CHOICES)[number];

export const attachKey: TraceKey = {
  name: 'attach',
  description:
    'the hooks trace_bind, trace_tcp and trace_vfs attach by: auto (fentry/fexit on kernel functions where the kernel takes them, else the syscall tracepoints), fentry, or tracepoint; the records are the same',
  parse(value) {
    const choice = value.toLowerCase();
    if (!(CHOICES as readonly string[]).includes(choice)) throw new Error(`attach: '${value}' is not one of ${CHOICES.join(', ')}`);
    return choice as AttachChoice;
  },
};

const FENTRY_SECTION = /^(?:fentry|fexit)(?:\.s)?(?:\/(.+)|$)/;

/** The set a program belongs to, by its SEC() name. */
export function pathOfSection(section: string): AttachPath {
  return FENTRY_SECTION.test(section) ? 'fentry' : 'tracepoint';
}

/** The kernel function an fentry/fexit SEC() name attaches to ("fexit/__sys_bind"), if it names one. */
export function kernelFunctionOf(section: string): string | undefined {
  return FENTRY_SECTION.exec(section)?.[1];
}
