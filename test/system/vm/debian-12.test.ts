// The traces on the kernel most users run, Debian 12's 6.1 (the host's is
// newer, and its verifier takes programs 6.1's refuses): the same tests as on
// the host, in qemu (scripts/vm-run.sh; software emulation where KVM does
// not work), over this checkout's build: the traces, the filter program
// with the knobs that change it, and the example object of one's own. Each
// case boots the kernel once.
import { describe, expect, it } from 'vitest';
import { expectAllPassed, vmRun } from './vm-run.js';

const KERNEL = 'debian-12'; // its newest linux-image-6.1.0-<N>-amd64
const RELEASE = /^6\.1\.\d+-\d+-amd64$/;
// Under emulation a test's 10 s wait can run out on a busy host (trace_dns's
// refused-receive case did, once in four runs beside a compile loop): a
// failed test is run again, up to twice, before the tier fails.
const RETRY = '--retry=2';

describe("Debian 12's kernel (6.1), booted in qemu", () => {
  it('every trace in one input, to a forward receiver (test/system/e2e/every-trace.test.ts)', async () => {
    const run = await vmRun(KERNEL, ['sh', '-c', `uname -r && npx vitest run ${RETRY} test/system/e2e/every-trace.test.ts`], 900);
    expectAllPassed(run, RELEASE);
  }, 960_000);

  it('the shared filter with each kind of key, and a BPF_Object of your own (test/task-filter, test/system/e2e/bpf-object.test.ts)', async () => {
    const run = await vmRun(KERNEL, ['sh', '-c', `uname -r && npx vitest run ${RETRY} test/task-filter/ test/system/e2e/bpf-object.test.ts`], 900);
    expectAllPassed(run, RELEASE);
  }, 960_000);

  // 6.1 takes fexit programs, so trace_bind, trace_tcp and trace_vfs run
  // their tests by each set of hooks (the input's attach key): fexit with
  // the other traces' files, then their tracepoints (test/support/attach-path.ts).
  it("each trace's own tests (test/traces, a file at a time), trace_bind, trace_tcp and trace_vfs by fexit, then by tracepoints", async () => {
    const byTracepoints = 'test/traces/bind.test.ts test/traces/tcp.test.ts test/traces/vfs.test.ts';
    const command = `uname -r && EBPF_FORWARD_TEST_ATTACH=fentry npx vitest run ${RETRY} test/traces/ && EBPF_FORWARD_TEST_ATTACH=tracepoint npx vitest run ${RETRY} ${byTracepoints}`;
    const run = await vmRun(KERNEL, ['sh', '-c', command], 1320);
    expectAllPassed(run, RELEASE);
    // Both runs reported (each file checks that its trace ran by the hooks asked for).
    expect([...run.output.matchAll(/^\s*Tests\s/gm)], run.output).toHaveLength(2);
  }, 1_380_000);
});
