// The traces on the kernel most users run, Debian 12's 6.1 (the host's is
// newer, and its verifier takes programs 6.1's refuses): the same tests as on
// the host, in qemu (scripts/vm-run.sh; software emulation where KVM does
// not work), over this checkout's build: the traces, the filter program
// with the knobs that change it, and the example object of one's own. Each
// case boots the kernel once.
import { describe, it } from 'vitest';
import { expectAllPassed, vmRun } from './vm-run.js';

const KERNEL = 'debian-12'; // its newest linux-image-6.1.0-<N>-amd64
const RELEASE = /^6\.1\.\d+-\d+-amd64$/;
// Under emulation a test's 10 s wait can run out on a busy host (trace_dns's
// refused-receive case did, once in four runs beside a compile loop): a
// failed test is run again, up to twice, before the tier fails.
const RETRY = '--retry=2';

describe("Debian 12's kernel (6.1), booted in qemu", () => {
  it('all nine traces in one input, to a forward receiver (test/e2e/nine-traces.test.ts)', async () => {
    const run = await vmRun(KERNEL, ['sh', '-c', `uname -r && npx vitest run ${RETRY} test/e2e/nine-traces.test.ts`], 900);
    expectAllPassed(run, RELEASE);
  }, 960_000);

  it('the shared filter with each kind of key, and a BPF_Object of your own (test/filters, test/e2e/bpf-object.test.ts)', async () => {
    const run = await vmRun(KERNEL, ['sh', '-c', `uname -r && npx vitest run ${RETRY} test/filters/ test/e2e/bpf-object.test.ts`], 900);
    expectAllPassed(run, RELEASE);
  }, 960_000);

  it("each trace's own tests (test/traces, a file at a time)", async () => {
    const run = await vmRun(KERNEL, ['sh', '-c', `uname -r && npx vitest run ${RETRY} test/traces/`], 1200);
    expectAllPassed(run, RELEASE);
  }, 1_260_000);
});
