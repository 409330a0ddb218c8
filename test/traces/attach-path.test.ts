// The input's `attach` key (src/traces/attach-path.ts) on the kernel the
// tests run on, for the three traces with two sets of hooks. Where the kernel
// refuses fentry (this machine's 6.18), `attach fentry` is one clear error at
// the Trace line and auto attaches by the syscall tracepoints with no warning
// (a debug line says why); where it takes fentry (Debian 12's 6.1, in the VM
// tier), auto attaches by fentry. `attach tracepoint` works on both. The
// records themselves are the trace tests' (bind, tcp, vfs), run by each path.
import { afterAll, describe, expect, it } from 'vitest';
import { TraceStartError } from '../../src/inputs/start-errors.js';
import { trace_bind } from '../../src/traces/bind/index.js';
import { trace_tcp } from '../../src/traces/tcp/index.js';
import { trace_vfs } from '../../src/traces/vfs/index.js';
import type { TraceDefinition } from '../../src/traces/types.js';
import { startTrace, type StartedTrace } from '../support/trace-session.js';
import { runCli, startCli, writeConfig } from '../support/cli.js';

const TRACES: TraceDefinition[] = [trace_bind, trace_tcp, trace_vfs];
const started: StartedTrace[] = [];
afterAll(() => started.forEach((s) => s.session.close()));

/** Whether this kernel took each trace's fentry programs when asked for them (or how it refused). */
const fentryOutcome = new Map<string, { attached: true } | { refused: string }>();

function start(trace: TraceDefinition, keys: Record<string, unknown>): StartedTrace {
  const s = startTrace(trace, keys);
  started.push(s);
  return s;
}

describe.each(TRACES)('$name', (trace) => {
  it('attach fentry: attached by fentry, or one line naming the key, the hook refused, what fentry needs and the way out', () => {
    try {
      expect(start(trace, { attach: 'fentry' }).session.attachedBy).toBe('fentry');
      fentryOutcome.set(trace.name, { attached: true });
    } catch (err) {
      expect(err).toBeInstanceOf(TraceStartError);
      const message = (err as Error).message;
      fentryOutcome.set(trace.name, { refused: message });
      expect(message.split('\n')).toHaveLength(1);
      expect(message).toMatch(new RegExp(`^${trace.name}: attach fentry: loading \\w+ \\(fexit on kernel function \\w+\\): .+; ${trace.name} needs fexit .+; \`attach auto\` uses the syscall tracepoints where fentry can't be had$`));
    }
  });

  it('attach auto: fentry where the kernel took it, else the tracepoints, with no warning', () => {
    const s = start(trace, {});
    expect(s.session.attachedBy).toBe('attached' in fentryOutcome.get(trace.name)! ? 'fentry' : 'tracepoint');
    expect(s.warnings).toEqual([]);
  });

  it('attach tracepoint: the tracepoints, whatever the kernel', () => {
    expect(start(trace, { attach: 'tracepoint' }).session.attachedBy).toBe('tracepoint');
  });
});

describe('the CLI', () => {
  const config = (attach: string) =>
    writeConfig(`[SERVICE]
    Log_Level debug

[INPUT]
    Name        ebpf
    Trace       trace_exec
    Trace       trace_bind
    attach      ${attach}
    Trace_Error exit

[OUTPUT]
    Name  null
    Match *
`);

  it('attach fentry: where the kernel refuses it, one error at the Trace line and exit 1; else attached by fentry', async () => {
    const file = config('fentry');
    const refused = fentryOutcome.get('trace_bind');
    expect(refused).toBeDefined();
    if (refused && 'refused' in refused) {
      const run = await runCli(['-c', file]);
      expect(run.code).toBe(1);
      // Trace_Error exit: the CLI's last line, and no other about it.
      const lines = run.stderr.split('\n').filter((l) => l.includes('attach fentry'));
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toContain(`ebpf-forward: ${file}:7: trace_bind: attach fentry: loading bind_fexit (fexit on kernel function __sys_bind): `);
      expect(run.stderr).not.toMatch(/\n\s+at .+:\d+:\d+|TraceStartError/);
    } else {
      const cli = startCli(['-c', file]);
      try {
        await cli.waitForLog(/trace_bind attached by fentry\n/);
      } finally {
        await cli.stop();
      }
    }
  });

  it('attach auto: the hook each trace runs by at info, and only at debug why fentry was not used', async () => {
    const cli = startCli(['-c', config('auto')]);
    try {
      await cli.waitForLog(/trace_bind attached by (?:fentry|tracepoint)\n/);
    } finally {
      await cli.stop();
    }
    const log = cli.stderr();
    const byFentry = 'attached' in fentryOutcome.get('trace_bind')!;
    expect(log).toContain(`trace_bind attached by ${byFentry ? 'fentry' : 'tracepoint'}\n`);
    expect(log).toMatch(/trace_exec attached\n/); // one set of hooks: nothing to say
    expect(log.split('\n').filter((l) => /\[(?:error| warn)\]/.test(l))).toEqual([]);
    const why = log.split('\n').filter((l) => l.includes('attach auto: not by fentry'));
    expect(why.every((l) => l.includes('[debug]'))).toBe(true);
    expect(why).toHaveLength(byFentry ? 0 : 1);
  });

  it('attach with another value: an error at its line', async () => {
    const run = await runCli(['--dry-run', '-c', config('kprobe')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/:8: attach: 'kprobe' is not one of auto, fentry, tracepoint/);
  });
});
