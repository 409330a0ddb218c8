// Runs a command in a Debian kernel booted in qemu (scripts/vm-run.sh), over
// this checkout's build, and checks the guest's vitest run as a whole.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { repoRoot } from '../../support/cli.js';

export interface GuestRun {
  status: number | null;
  /** The command's output and vm-run.sh's own lines, interleaved as they came. */
  output: string;
}

/** vm-run.sh's status when the guest's kernel locked up (a soft lockup under emulation). */
const GUEST_LOCKED_UP = 123;

/**
 * Runs the command in the guest; booted once more if the guest's kernel
 * locked up (the command's run says nothing then: it did not end); the
 * output is then the second boot's.
 */
export async function vmRun(kernel: string, command: string[], timeoutSeconds: number): Promise<GuestRun> {
  const first = await vmRunOnce(kernel, command, timeoutSeconds);
  if (first.status !== GUEST_LOCKED_UP) return first;
  const again = await vmRunOnce(kernel, command, timeoutSeconds);
  return { status: again.status, output: `(the first boot's kernel locked up: booted again)\n${again.output}` };
}

function vmRunOnce(kernel: string, command: string[], timeoutSeconds: number): Promise<GuestRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(repoRoot, 'scripts', 'vm-run.sh'), '--timeout', String(timeoutSeconds), kernel, '--', ...command], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, output }));
  });
}

/** The guest ran the command on `release` (uname -r first), every test of it passed, none skipped. */
export function expectAllPassed(run: GuestRun, release: RegExp): void {
  // The guest's whole output in the failure: what failed there, and why.
  const shown = `guest exit status ${run.status}; its output:\n${run.output}`;
  expect(run.status, shown).toBe(0);
  expect(run.output.split('\n').find((l) => /^\d+\.\d+\.\d+/.test(l)) ?? '', shown).toMatch(release);
  const summary = [...run.output.matchAll(/^\s*Tests\s+(.*)$/gm)].map((m) => m[1]!.trim());
  expect(summary.length, shown).toBeGreaterThan(0);
  for (const line of summary) {
    const counts = /^(\d+) passed \((\d+)\)$/.exec(line);
    expect(counts && counts[1] === counts[2], `not all passed (none may be skipped): "${line}"\n${shown}`).toBe(true);
  }
}
