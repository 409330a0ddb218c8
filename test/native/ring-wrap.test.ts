// The ring reader maps the ring's data pages once (not twice, as libbpf
// does), so a record that wraps past the ring's end is copied whole before
// it is encoded. Here trace_vfs runs with the smallest ring (one 4096-byte
// page) while a child opens paths of many odd lengths: its records (variable
// size, the path last) wrap around the end again and again, and every one
// that arrives must carry its path intact.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import { taskFilterFor } from '../../src/task-filter/keys.js';
import { trace_vfs } from '../../src/traces/vfs/index.js';
import { compileC } from '../support/c-program.js';
import { decodeEntries, type DecodedEvent } from '../support/decoded-events.js';

const RING_BYTES = 4096;
const OPENS = 400;

// Opens OPENS missing paths, each of its own length, a little apart so that
// the reader keeps up with a one-page ring (a loss is counted, not hidden).
const SOURCE = String.raw`
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  char path[512];
  printf("%d\n", getpid());
  fflush(stdout);
  for (int i = 0; i < ${OPENS}; i++) {
    int n = snprintf(path, sizeof path, "/nonexistent-ring-wrap/%d-", i);
    int pad = (i * 37) % 181;
    memset(path + n, 'a' + i % 26, pad);
    path[n + pad] = 0;
    open(path, O_RDONLY);
    usleep(500);
  }
  return 0;
}
`;

function expectedPath(i: number): string {
  const prefix = `/nonexistent-ring-wrap/${i}-`;
  return prefix + String.fromCharCode(97 + (i % 26)).repeat((i * 37) % 181);
}

let session: TraceSession | undefined;

afterEach(() => {
  session?.close();
  session = undefined;
});

describe('ring reader over a one-page ring', () => {
  it('hands on every record that wraps around the ring\'s end intact', async () => {
    addon().ensureTracefs();
    const bin = compileC('ring-wrap', SOURCE);
    const keys = new Map<string, unknown>([['comm', [['ring-wrap']]]]);
    const events: DecodedEvent[] = [];
    session = TraceSession.start({
      trace: trace_vfs,
      settings: { keys, selfPid: process.pid, filter: taskFilterFor(trace_vfs, keys) },
      ringbufMapName: 'events',
      ringbufBytes: RING_BYTES,
      onChunk: (chunk) => events.push(...decodeEntries(chunk)),
    });
    expect(session.ringStats()?.ringBytes).toBe(RING_BYTES);

    // Spawned, not spawnSync: the reader must read while the child opens.
    const child = spawn(bin, [], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    await new Promise((resolve) => child.on('exit', resolve));
    const pid = Number(out.trim());
    // (The dynamic loader's opens of the child come too: only its own count.)
    const mine = () => events.filter((e) => e.record.pid === pid && String(e.record.path).startsWith('/nonexistent-ring-wrap/'));
    const end = Date.now() + 10_000;
    while (mine().length + session.lost() < OPENS && Date.now() < end) await new Promise((r) => setTimeout(r, 20));

    const paths = mine().map((e) => String(e.record.path));
    expect(paths.length + session.lost()).toBe(OPENS);
    // The records went around the ring many times (each at least 64 bytes).
    expect(paths.length * 64).toBeGreaterThan(4 * RING_BYTES);
    let last = -1;
    for (const path of paths) {
      const i = Number(/^\/nonexistent-ring-wrap\/(\d+)-/.exec(path)?.[1]);
      expect(path).toBe(expectedPath(i));
      expect(i).toBeGreaterThan(last); // in order, each once
      last = i;
    }
  });
});
