// The image (image.ts) run on a real runtime with the settings docs/deployment.md
// gives for that runtime, as a node agent: the host's pid namespace and
// network, a read-only root, BTF, tracefs and the cgroup tree mounted
// read-only, a config with trace_exec and a forward output to a receiver
// on 127.0.0.1 (test/support/receiver.ts). A container started beside it
// on the same runtime runs an exec, whose record must reach the receiver
// with that container's id as container_id. With one setting less the
// image must stop, exit 1, and say why.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../support/cli.js';
import { startReceivers, type Receivers, type WireEntry } from '../../support/receiver.js';
import { requireRuntime, type RuntimeName } from '../runtimes/setup-status.js';
import { podmanImage } from './image.js';

/** Where the image reads its config (its CMD's -c). */
export const CONFIG_IN_IMAGE = '/etc/ebpf-forward/ebpf-forward.conf';

/** Host paths the agent reads, mounted read-only at the same place (as the DaemonSet's hostPath volumes). */
export const HOST_MOUNTS = ['/sys/kernel/btf', '/sys/kernel/tracing', '/sys/fs/cgroup'];

export interface Workload {
  /** The runtime's own full id for it. */
  id: string;
  /** What the runtime's API says of it, as the agent's records carry it (absent: the runtime says nothing here). */
  metadata?: Record<string, unknown>;
  /** Runs argv in it as the runtime's exec does; resolves once it exited 0. */
  exec(argv: string[]): Promise<void>;
}

export interface Agent {
  /** What it has written so far (stdout and stderr). */
  output(): Promise<string>;
  /** Its process, as the host sees it. */
  pid(): Promise<number>;
}

export interface ImageRuntime {
  name: string;
  setup: RuntimeName;
  /** The runtime whose API names containers, through a socket the agent gets read-only (absent: ids only). */
  says?: string;
  /** Makes the image (a podman tag) runnable by this runtime. */
  load(tag: string): void;
  /**
   * Starts the image in the background with the runtime's `settings`
   * (its flags for capabilities and seccomp), the config file mounted at
   * CONFIG_IN_IMAGE and HOST_MOUNTS.
   */
  startAgent(tag: string, config: string, settings: string[]): Promise<Agent>;
  /** The same in the foreground, until it exits. */
  runAgent(tag: string, config: string, settings: string[]): Promise<{ code: number | null; output: string }>;
  /** A container of the base image that sleeps until removed. */
  startWorkload(): Promise<Workload>;
  /** Removes every container this file started. */
  removeAll(): Promise<void>;
}

export interface Settings {
  /** What docs/deployment.md calls them, e.g. "CAP_BPF and CAP_PERFMON, containerd's default seccomp profile". */
  what: string;
  flags: string[];
}

export interface Documented extends Settings {
  /** The capabilities the agent's container holds (its bounding set), e.g. ["BPF", "PERFMON"]. */
  capabilities: string[];
}

export interface Lessened extends Settings {
  /** What the agent says: the lines it must end with. */
  says: RegExp;
}

/** Runs a command; resolves with stdout and stderr together, rejects with its last line. */
export function command(file: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim().split('\n').at(-1) || error.message}`));
      else resolve(stdout + stderr);
    });
  });
}

/** Like command(), but resolves with the exit code and output whatever the code. */
export function commandResult(file: string, args: string[], timeoutMs = 120_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, output: stdout + stderr });
    });
  });
}

/** The agent's config: trace_exec, forwarded to the receiver, tagged by runtime. */
function writeAgentConfig(port: number, tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-image-'));
  chmodSync(dir, 0o755);
  const path = join(dir, 'ebpf-forward.conf');
  writeFileSync(path, `[SERVICE]
    Flush      0.2
    Log_Level  info

[INPUT]
    Name   ebpf
    Trace  trace_exec
    Tag    ${tag}

[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${port}
`);
  return path;
}

/** A shell that lives half a second (so its cgroup is read while it runs), with `marker` as its $0. */
function markedCommand(marker: string): string[] {
  return ['/bin/sh', '-c', 'sleep 0.5', marker];
}

const ATTACHED = /privileges dropped in all \d+ threads/;

/** The capabilities the runtimes' settings name, by number (linux/capability.h). */
const CAPABILITY_NUMBERS: Record<string, number> = { SYS_ADMIN: 21, PERFMON: 38, BPF: 39 };

/**
 * The runtime's tests: with `documented` the agent sends the workload's exec
 * with its container_id; with each of `lessened` it exits 1 saying `says`.
 */
export function describeImageOn(runtime: ImageRuntime, documented: Documented, lessened: Lessened[], more?: (image: () => string) => void): void {
  describe(`the image on ${runtime.name}`, () => {
    let tag = '';
    let receivers: Receivers | undefined;
    let config = '';
    let agent: Agent | undefined;
    let workload: Workload;
    let notStarted: Error | undefined;

    beforeAll(async () => {
      try {
        requireRuntime(runtime.setup);
        tag = (await podmanImage()).tag;
        runtime.load(tag);
        receivers = await startReceivers();
        config = writeAgentConfig(receivers.port, `ebpf.${runtime.setup}`);
        agent = await runtime.startAgent(tag, config, documented.flags);
        workload = await runtime.startWorkload();
        const started = agent;
        let output = '';
        const deadline = Date.now() + 30_000;
        while (!ATTACHED.test(output)) {
          output = await started.output();
          if (/ebpf-forward: /.test(output)) throw new Error(`the agent stopped before attaching:\n${output}`);
          if (Date.now() > deadline) throw new Error(`the agent did not attach within 30 s:\n${output}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      } catch (error) {
        notStarted = error as Error;
      }
    }, 20 * 60_000);

    afterAll(async () => {
      await runtime.removeAll();
      await receivers?.close();
    });

    it(`with ${documented.what}, sends a container's exec with its container_id`, async () => {
      if (notStarted) throw notStarted;
      const marker = `ebpf-forward-image-${randomBytes(6).toString('hex')}`;
      await workload.exec(markedCommand(marker));
      const isIt = (e: WireEntry) => e.record.filename === '/bin/sh' && e.record.argv_last === marker && e.record.stage === 'exit';
      const entry = await waitFor(() => receivers!.wire.find(isIt), 15_000, `the exec record of ${marker}`);
      expect(entry.tag).toBe(`ebpf.${runtime.setup}`);
      expect(entry.container?.container_id).toBe(workload.id);
      const output = await agent!.output();
      expect(output).not.toMatch(/\[ ?error\]|\[ ?warn\]/);
      expect(output).toMatch(ATTACHED);
    });

    if (runtime.says) {
      it(`adds what ${runtime.says} says of the container, through its socket mounted read-only`, async () => {
        if (notStarted) throw notStarted;
        const wanted = workload.metadata!;
        // A runtime that tells of a new container late (podman's polled events) may leave its
        // first records without it: execs until one has it, or 15 s.
        const deadline = Date.now() + 15_000;
        let entry: WireEntry | undefined;
        for (;;) {
          const marker = `ebpf-forward-image-${randomBytes(6).toString('hex')}`;
          await workload.exec(markedCommand(marker));
          entry = await waitFor(() => receivers!.wire.find((e) => e.record.filename === '/bin/sh' && e.record.argv_last === marker && e.record.stage === 'exit'), 15_000, `the exec record of ${marker}`);
          if (Object.keys(wanted).every((key) => key in entry!.record) || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 1000));
        }
        expect(entry.record).toMatchObject(wanted);
      });
    }

    it('runs under a seccomp filter, holding only those capabilities', async () => {
      if (notStarted) throw notStarted;
      const status = readFileSync(`/proc/${await agent!.pid()}/status`, 'utf8');
      expect(status).toMatch(/^Seccomp:\s+2$/m);
      const bounding = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)$/m.exec(status)![1]}`);
      const wanted = documented.capabilities.reduce((mask, cap) => mask | (1n << BigInt(CAPABILITY_NUMBERS[cap]!)), 0n);
      expect(bounding.toString(16)).toBe(wanted.toString(16));
      // Dropped once attached.
      expect(status).toMatch(/^CapEff:\s+0+$/m);
    });

    for (const less of lessened) {
      it(`with ${less.what}, exits 1 saying why`, async () => {
        if (notStarted) throw notStarted;
        const { code, output } = await runtime.runAgent(tag, config, less.flags);
        expect(code, output).toBe(1);
        expect(output).toMatch(less.says);
      });
    }

    more?.(() => tag);
  });
}
