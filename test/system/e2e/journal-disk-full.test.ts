// storage.type filesystem on a full disk, as a user runs it: the CLI's
// storage.path is a 1 MB tmpfs, filled while the CLI traces kill(2) calls of
// a child into stdout. Batches go on to the output unjournaled and counted;
// the CLI's descriptors and the journal folder's files stay as they were (a
// descriptor and an empty segment per batch, before); the disk being full is
// one error line, its end one line, and once there is room the journal is
// written again. The records that went on unjournaled are counted in the
// metrics and the stop summary.
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildLoadgen, runLoadgen } from '../../../bench/loadgen.mjs';
import { startCli, waitFor, writeConfig, type RunningCli } from '../../support/cli.js';
import { fillDisk, smallTmpfs, type SmallDisk } from '../../support/small-disk.js';
import { freePort } from '../../support/free-port.js';

const RECORDS = 3000;

beforeAll(() => {
  buildLoadgen();
});

let disk: SmallDisk | undefined;
const clis: RunningCli[] = [];
afterEach(async () => {
  for (const cli of clis.splice(0)) await cli.stop('SIGKILL');
  disk?.remove();
  disk = undefined;
});

/** A 1 MB tmpfs on a new folder (the test runs as root). */
function smallStorage(): string {
  disk = smallTmpfs('1m');
  return disk.dir;
}

const fill = fillDisk;

/** The worker's kill(getpid(), 0) records printed by the stdout output (json_lines). */
const printedOf = (cli: RunningCli, pid: number) => cli.stdout().split('\n').filter((l) => l.includes(`"pid":${pid},`) && l.includes('"signal":0,')).length;

describe('storage.type filesystem, storage.path full', () => {
  it('records flow on unjournaled and counted (metrics, stop summary), descriptors and files stay bounded, one error line; once there is room the journal is written again', async () => {
    const storage = smallStorage();
    const httpPort = await freePort();
    const config = writeConfig(`[SERVICE]
    Flush         1
    Grace         1
    HTTP_Server   On
    HTTP_Listen   127.0.0.1
    HTTP_Port     ${httpPort}
    storage.path  ${storage}

[INPUT]
    Name          ebpf
    Trace         trace_signal
    Tag           full.test
    storage.type  filesystem

[OUTPUT]
    Name          stdout
    Match         *
    Format        json_lines
`);
    const cli = startCli(['-c', config]);
    clis.push(cli);
    await cli.waitForLog(/tracing trace_signal/);
    const folder = join(storage, 'ebpf.0');
    const filler = fill(storage);
    const fds = () => readdirSync(`/proc/${cli.process.pid}/fd`).length;
    const fdsBefore = fds();

    // Many small batches: 3,000 records at 1,000 a second.
    const job = (await runLoadgen('signal', RECORDS, 1000)) as { pid: number };
    await waitFor(() => (printedOf(cli, job.pid) === RECORDS ? true : undefined), 20_000, 'every record at the output');
    const fdsAfter = fds();
    const files = readdirSync(folder);
    console.log(`full storage.path: ${RECORDS} records in batches at 1,000/s: ${fdsBefore} -> ${fdsAfter} descriptors, ${files.length} files in the journal folder`);
    expect(fdsAfter).toBeLessThanOrEqual(fdsBefore + 2);
    expect(files.length).toBeLessThanOrEqual(1);
    const errorLines = () => cli.stderr().split('\n').filter((l) => l.includes('[error]'));
    expect(errorLines()).toHaveLength(1);
    expect(errorLines()[0]).toMatch(/storage\.type filesystem: cannot write to .*ebpf\.0 \(ENOSPC: no space left on device\): records go on to the outputs unjournaled/);

    const metrics = (await (await fetch(`http://127.0.0.1:${httpPort}/api/v1/metrics`)).json()) as { input: Record<string, { unjournaled_records?: number }> };
    expect(metrics.input['ebpf.0']!.unjournaled_records).toBeGreaterThanOrEqual(RECORDS);
    const prometheus = await (await fetch(`http://127.0.0.1:${httpPort}/api/v1/metrics/prometheus`)).text();
    expect(Number(/^ebpf_forward_input_unjournaled_records_total\{name="ebpf\.0"\} (\d+)$/m.exec(prometheus)?.[1])).toBeGreaterThanOrEqual(RECORDS);

    // Room again: within the retry interval the journal takes batches again.
    unlinkSync(filler);
    while (!/writing to .*ebpf\.0 again/.test(cli.stderr())) await runLoadgen('signal', 50, 500);
    expect(errorLines()).toHaveLength(1);
    await waitFor(() => (readdirSync(folder).some((n) => n.endsWith('.journal')) ? true : undefined), 10_000, 'a segment in the journal folder');

    expect(await cli.stop('SIGTERM')).toBe(0);
    const unjournaled = /ebpf\.0: (\d+) records went to the outputs unjournaled/.exec(cli.stderr());
    expect(unjournaled, 'the stop summary counts them').not.toBeNull();
    expect(Number(unjournaled![1])).toBeGreaterThanOrEqual(RECORDS);
  });
});
