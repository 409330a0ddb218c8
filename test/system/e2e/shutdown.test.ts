// SIGTERM at any moment of start-up stops the CLI as a user expects: it
// finishes attaching, detaches, exits 0 — never killed by the signal's
// default action because its handlers were not installed yet.
import { describe, expect, it } from 'vitest';
import { expectNothingLoadedBy } from '../../support/bpf-loaded.js';
import { startCli, writeConfig } from '../../support/cli.js';

// trace_malloc's uprobes make start-up long enough for a signal to land in it.
const config = `[INPUT]
    Name   ebpf
    Trace  trace_signal
    Trace  trace_exec
    Trace  trace_malloc
    malloc_comm  no-such-program

[OUTPUT]
    Name   stdout
    Match  *
`;

describe('SIGTERM during start-up', () => {
  it.each([
    ['the first log line (still attaching)', /ebpf-forward v\S+ \(pid \d+\)\n/],
    ['"tracing ..." (just started)', /tracing trace_signal, trace_exec, trace_malloc\n/],
  ])('sent as soon as %s shows: stops cleanly, exit 0, nothing left loaded', async (_when, line) => {
    const cli = startCli(['-c', writeConfig(config)]);
    // Sent from the stderr handler itself, as early as a supervisor could.
    let sent = false;
    cli.process.stderr!.on('data', () => {
      if (!sent && line.test(cli.stderr())) {
        sent = true;
        cli.process.kill('SIGTERM');
      }
    });
    const code = await cli.exited;
    expect(sent).toBe(true);
    expect(code, cli.stderr()).toBe(0);
    expect(cli.stderr()).toMatch(/tracing trace_signal, trace_exec, trace_malloc\n[^]*SIGTERM: stopping/);
    expect(cli.stderr()).not.toMatch(/\[error\]/);
    await expectNothingLoadedBy(cli.process.pid!);
  });
});
