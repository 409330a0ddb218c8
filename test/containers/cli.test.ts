// Container ids through the CLI, which gives up every capability once
// attached (src/privileges.ts): reading /proc/<pid>/cgroup and the cgroup
// tree must still work as uid 0 without capabilities, both for a process
// still alive when its record is encoded and for one already gone (the
// places containers can be are scanned). Records read back from stdout, as
// a user sees them. The cgroups are where the runtimes make them.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerIdFrom, runInCgroup } from '../support/cgroups.js';
import { startCli, waitFor, type RunningCli } from '../support/cli.js';
import { AnchoredCgroups } from './anchored-cgroups.js';

const alive = containerIdFrom(`cli alive ${process.pid}`);
const gone = containerIdFrom(`cli gone ${process.pid}`);
const cgroups = new AnchoredCgroups();
const pod = `kubepods/besteffort/pod${process.pid}`;
const service = `system.slice/ebpf-forward-cli-test-${process.pid}.service`;
let cli: RunningCli;

beforeAll(async () => {
  cgroups.cleanup();
  cgroups.make(`system.slice/docker-${alive}.scope`);
  cgroups.make(`${pod}/${gone}`);
  cgroups.make(service);
  cli = startCli(['-i', 'ebpf', '-p', 'trace=trace_exec', '-o', 'stdout', '-p', 'format=json_lines', '-m', '*', '-f', '0.2']);
  await cli.waitForLog(/privileges dropped in all \d+ threads: no capabilities left/);
});

afterAll(async () => {
  await cli?.stop();
  cgroups.cleanup();
});

/** The exec exit record of `pid` running `filename`, from the CLI's stdout. */
function execRecord(pid: number, filename: string): Promise<Record<string, unknown>> {
  return waitFor(
    () => cli.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r.pid === pid && r.filename === filename && r.stage === 'exit'),
    10_000,
    `the exec record of ${pid}`,
  );
}

describe('container identity through the CLI, capabilities dropped', () => {
  it('the CLI runs with no capability left', () => {
    expect(readFileSync(`/proc/${cli.process.pid}/status`, 'utf8')).toMatch(/^CapEff:\s+0+$/m);
  });

  it('a process still running when its record is encoded: found through /proc/<pid>/cgroup', async () => {
    const child = await runInCgroup(cgroups.path(`system.slice/docker-${alive}.scope`), '/bin/sleep 0.5');
    const record = await execRecord(child.pid, '/bin/sleep');
    expect(record.container_id).toBe(alive);
    expect(BigInt(record.cgroup_id as number)).toBe(cgroups.idOf(`system.slice/docker-${alive}.scope`));
    expect(BigInt(record.mntns_id as number)).toBe(child.mntns);
  });

  it('short-lived processes (gone when their records are read): named by a scan, once one has run since the first', async () => {
    // The first may go without container_id (a scan was run in the last second: its cgroup waits for the next).
    const seen: unknown[] = [];
    for (let tries = 0; tries < 20 && seen.at(-1) !== gone; tries++) {
      const child = await runInCgroup(cgroups.path(`${pod}/${gone}`), '/bin/true');
      const record = await execRecord(child.pid, '/bin/true');
      expect(BigInt(record.cgroup_id as number)).toBe(cgroups.idOf(`${pod}/${gone}`));
      seen.push(record.container_id);
      if (seen.at(-1) !== gone) await new Promise((r) => setTimeout(r, 300));
    }
    expect(seen.at(-1)).toBe(gone);
    // Never another id; absent only before the one that has it.
    expect(seen.slice(0, -1).every((v) => v === undefined)).toBe(true);
  });

  it('a host service: no container_id, its cgroup_id and mntns_id all the same', async () => {
    const child = await runInCgroup(cgroups.path(service), '/bin/true');
    const record = await execRecord(child.pid, '/bin/true');
    expect('container_id' in record).toBe(false);
    expect(BigInt(record.cgroup_id as number)).toBe(cgroups.idOf(service));
    expect(Object.keys(record).slice(-2)).toEqual(['cgroup_id', 'mntns_id']);
    expect(cli.stderr()).not.toMatch(/EACCES|EPERM|operation not permitted/i);
  });
});
