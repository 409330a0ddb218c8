// The bench's reading of another process's memory (bench/proc-stats.mjs):
// resident bytes by kind from /proc/PID/smaps add up to VmRSS, and 64 MB a
// child fills shows as anonymous, the node binary as file-backed.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { rssByKind, statusBytes } from '../../bench/proc-stats.mjs';

const MB = 2 ** 20;

describe('rssByKind', () => {
  it("splits a node child's resident set into anonymous and file-backed, adding up to VmRSS", async () => {
    // The child fills 64 MB once it reads a line, and says so.
    const child = spawn(process.execPath, ['-e', `
      process.stdout.write('ready\\n');
      process.stdin.once('data', () => { globalThis.kept = Buffer.alloc(${64 * MB}, 1); process.stdout.write('filled\\n'); });
      setInterval(() => {}, 1000);`], { stdio: ['pipe', 'pipe', 'inherit'] });
    const said = (word: string) => new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => d.toString().includes(word) && resolve()));
    try {
      await said('ready');
      const before = rssByKind(child.pid!);
      const beforeTotal = statusBytes(child.pid!, 'VmRSS');
      child.stdin.write('go\n');
      await said('filled');
      const after = rssByKind(child.pid!);
      expect(after.anon - before.anon).toBeGreaterThan(60 * MB);
      expect(after.file).toBeGreaterThan(10 * MB);
      expect(after.bpfMaps).toBe(0);
      const sum = (r: typeof after) => r.anon + r.file + r.bpfMaps;
      expect(Math.abs(sum(before) - beforeTotal)).toBeLessThan(MB);
      expect(Math.abs(sum(after) - statusBytes(child.pid!, 'VmRSS'))).toBeLessThan(MB);
    } finally {
      child.kill();
    }
  });
});
