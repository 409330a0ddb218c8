// The test every runtime file runs: two real containers of the runtime (the
// one traced, and another beside it), the built CLI with trace_exec twice
// (every process, and an input with a `cgroup` filter on the traced
// container's id), an exec in each container with its own marker argument.
// The traced container's exec must carry container_id = the runtime's own
// full id, cgroup_id = its cgroup's inode and mntns_id = its mount namespace;
// the filtered input must have that exec and nothing from anywhere else, the
// other container's exec included. Records are picked by marker and by the
// containers' own cgroups, never by what else runs on the machine.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupRoot } from '../../../src/records/container-names.js';
import { startCli, waitFor, type RunningCli } from '../../support/cli.js';
import { requireRuntime, type RuntimeName } from './setup-status.js';

export interface RunningContainer {
  /** The runtime's own full id for it (what its inspect/status shows). */
  id: string;
  /** Its first process, as the host sees it. */
  pid: number;
  /** Runs `argv` in it as the runtime's exec does; resolves once it exited 0. */
  exec(argv: string[]): Promise<void>;
}

export interface ContainerRuntime {
  name: string;
  setup: RuntimeName;
  /** Starts a container that sleeps until removed; `role` tells the two apart. */
  start(role: 'traced' | 'other'): Promise<RunningContainer>;
  /** Removes every container start made (also after a start that failed half way). */
  removeAll(): Promise<void>;
  /** The cgroup v2 path of the container's processes, as observed for this runtime here. */
  expectedCgroup(container: RunningContainer): string;
}

/** Runs a command; rejects with its stderr's last line. */
export function command(file: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim().split('\n').at(-1) || error.message}`));
      else resolve(stdout.trim());
    });
  });
}

/** The cgroup v2 path of a process (its `0::` line of /proc/<pid>/cgroup). */
export function cgroupPathOf(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
  if (!line) throw new Error(`process ${pid} has no cgroup v2 line`);
  return line.slice(3);
}

type ExecRecord = Record<string, unknown>;

/** The CLI's stdout as records, parsed as they come. */
class CliRecords {
  private parsed = 0;
  readonly records: ExecRecord[] = [];
  constructor(readonly cli: RunningCli) {}

  all(): ExecRecord[] {
    const out = this.cli.stdout();
    const end = out.lastIndexOf('\n') + 1;
    for (const line of out.slice(this.parsed, end).split('\n')) if (line.startsWith('{')) this.records.push(JSON.parse(line) as ExecRecord);
    this.parsed = end;
    return this.records;
  }

  /** The exit record of the exec of markedCommand(marker). */
  execWith(marker: string): Promise<ExecRecord> {
    // The filename tells it from the host's `<runtime> exec ... <marker>` that started it.
    return waitFor(() => this.all().find((r) => r.filename === '/bin/sh' && r.argv_last === marker && r.stage === 'exit'), 15_000, `the exec record of ${marker}`);
  }
}

/**
 * What the tests run in a container: a shell that lives half a second, so
 * that it is still there when its record is encoded and its cgroup is found
 * from /proc/<pid>/cgroup (one already gone is left to the encoder's scan of
 * the tree, which test/containers covers), with `marker` as its $0.
 */
function markedCommand(marker: string): string[] {
  return ['/bin/sh', '-c', 'sleep 0.5', marker];
}

const newMarker = () => `ebpf-forward-test-${randomBytes(6).toString('hex')}`;

function startTracing(extra: string[]): CliRecords {
  return new CliRecords(startCli(['-i', 'ebpf', '-p', 'trace=trace_exec', ...extra, '-o', 'stdout', '-p', 'format=json_lines', '-m', '*', '-f', '0.2']));
}

/** The runtime's tests; `more` adds tests of its own, run while its containers are up. */
export function describeRuntime(runtime: ContainerRuntime, more?: (notStarted: () => Error | undefined) => void): void {
  describe(`${runtime.name}: a real container's records`, () => {
    let traced: RunningContainer;
    let other: RunningContainer;
    let everything: CliRecords | undefined;
    let onlyTraced: CliRecords | undefined;

    // Why the containers or the CLIs could not start: each test fails with it (a runtime missing here is a failure, not a skip).
    let notStarted: Error | undefined;

    beforeAll(async () => {
      try {
        requireRuntime(runtime.setup);
        traced = await runtime.start('traced');
        other = await runtime.start('other');
        everything = startTracing([]);
        onlyTraced = startTracing(['-p', `cgroup=${traced.id}`]);
        const attached = /privileges dropped in all \d+ threads/;
        await Promise.all([everything.cli.waitForLog(attached), onlyTraced.cli.waitForLog(attached)]);
      } catch (error) {
        notStarted = error as Error;
      }
    });

    afterAll(async () => {
      await Promise.all([everything?.cli.stop(), onlyTraced?.cli.stop()]);
      await runtime.removeAll();
    });

    it('runs its container in the cgroup observed for it here', () => {
      if (notStarted) throw notStarted;
      expect(cgroupPathOf(traced.pid)).toBe(runtime.expectedCgroup(traced));
      expect(traced.id).toMatch(/^[0-9a-f]{64}$/);
    });

    it("an exec in the container has container_id = the runtime's id, and its cgroup and mount namespace", async () => {
      if (notStarted) throw notStarted;
      const marker = newMarker();
      await traced.exec(markedCommand(marker));
      const record = await everything!.execWith(marker);
      expect(record.filename).toBe('/bin/sh');
      expect(BigInt(record.cgroup_id as number)).toBe(statSync(cgroupRoot() + cgroupPathOf(traced.pid), { bigint: true }).ino);
      expect(BigInt(record.mntns_id as number)).toBe(statSync(`/proc/${traced.pid}/ns/mnt`, { bigint: true }).ino);
      expect(record.container_id).toBe(traced.id);
    });

    it("a cgroup filter on the container's id keeps its events and no other's", async () => {
      if (notStarted) throw notStarted;
      const otherMarker = newMarker();
      const tracedMarker = newMarker();
      // The other container's exec first: by the time the filtered ring has the traced one, it would have had it.
      await other.exec(markedCommand(otherMarker));
      expect((await everything!.execWith(otherMarker)).container_id).toBe(other.id);
      await traced.exec(markedCommand(tracedMarker));
      const record = await onlyTraced!.execWith(tracedMarker);
      expect(record.container_id).toBe(traced.id);
      const records = onlyTraced!.all();
      expect(records.filter((r) => r.argv_last === otherMarker)).toEqual([]);
      // Nothing else on this busy machine passed: every record is of a process in the traced container.
      const cgroupId = statSync(cgroupRoot() + cgroupPathOf(traced.pid), { bigint: true }).ino;
      expect(records.filter((r) => BigInt(r.cgroup_id as number) !== cgroupId)).toEqual([]);
      expect(new Set(records.map((r) => r.container_id))).toEqual(new Set([traced.id]));
    });

    more?.(() => notStarted);
  });
}
