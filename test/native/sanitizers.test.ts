// scripts/fuzz.sh's short run: the addon built with AddressSanitizer and
// UndefinedBehaviorSanitizer, fuzzed for 20 s through its JS entry points
// (record programs and encodes, mutated BTF and objects, cgroup paths). Any
// sanitizer report, crash or hang fails it. The seed is new each run and
// printed, so a failure can be run again: scripts/fuzz.sh --seed S.
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/native/addon.js';

const SECONDS = 20;

function runFuzz(seed: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(packageRoot, 'scripts', 'fuzz.sh'), '--seconds', String(SECONDS), '--seed', String(seed)], { cwd: packageRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('scripts/fuzz.sh', () => {
  it(`finds nothing in ${SECONDS} s of fuzzing the sanitizer build`, async () => {
    const seed = randomInt(2 ** 32);
    console.log(`fuzz seed ${seed} (again: scripts/fuzz.sh --seed ${seed} --seconds ${SECONDS})`);
    const { status, stdout, stderr } = await runFuzz(seed);
    // The report is at the end of stderr (the sanitizer's, then how to run the case again).
    expect(status, `scripts/fuzz.sh --seed ${seed} failed:\n${stdout}\n${stderr.slice(-12_000)}`).toBe(0);
    // It did fuzz each area: a run that did nothing must not pass.
    const figure = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? 0);
    expect(figure(/(\d+) declarations compiled/)).toBeGreaterThan(0);
    expect(figure(/\((\d+) taken\)/)).toBeGreaterThan(0);
    expect(figure(/encodes of (\d+) records/)).toBeGreaterThan(0);
    expect(figure(/(\d+) opened/)).toBeGreaterThan(0);
    expect(figure(/(\d+) cgroup paths/)).toBeGreaterThan(0);
  }, (SECONDS * 2 + 180) * 1000);
});
