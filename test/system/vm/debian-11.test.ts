// Debian 11's kernel (5.10) has BTF and ring buffers but runs none of the
// traces (docs/kernels.md): each is refused at load, and the user is told so
// in one line per trace naming it, then the CLI ends, as with any kernel
// that can't run what the config asks for. Booted in qemu as test/system/vm/debian-12.
import { describe, expect, it } from 'vitest';
import { vmRun } from './vm-run.js';

const NINE = ['trace_signal', 'trace_exec', 'trace_bind', 'trace_tcp', 'trace_vfs', 'trace_malloc', 'trace_dns', 'trace_sched', 'trace_openssl'];

describe("Debian 11's kernel (5.10), booted in qemu", () => {
  it('every trace is refused in one line naming it and why; the CLI ends with "no trace could be attached"', async () => {
    const config = `[INPUT]\n    Name ebpf\n${NINE.map((t) => `    Trace ${t}\n`).join('')}[OUTPUT]\n    Name stdout\n    Match *\n`;
    const script = `uname -r && echo "network devices: $(ls /sys/class/net)" && printf '%s' '${config}' >/tmp/nine.conf && exec node dist/cli.js -c /tmp/nine.conf`;
    const run = await vmRun('debian-11', ['sh', '-c', script], 300);
    const shown = `guest exit status ${run.status}; its output:\n${run.output}`;
    expect(run.output.split('\n').find((l) => /^\d+\.\d+\.\d+/.test(l)) ?? '', shown).toMatch(/^5\.10\.\d+-\d+-amd64$/);
    expect(run.output.split('\n'), `the guest has loopback only\n${shown}`).toContain('network devices: lo');
    expect(run.status, shown).not.toBe(0);
    expect(run.status, shown).not.toBe(124); // ended by itself, not by the timeout
    for (const trace of NINE) {
      const lines = run.output.split('\n').filter((l) => l.includes('[error]') && l.includes(`: ${trace}: `));
      expect(lines, `${trace}'s refusal\n${shown}`).toHaveLength(1);
      expect(lines[0], shown).toMatch(/can't run it|verifier rejected/);
    }
    expect(run.output, shown).toContain('no trace could be attached');
  }, 360_000);
});
