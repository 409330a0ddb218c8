// Real cgroup v2 directories named as container engines name them, for the
// container identity tests: made under one folder of this test run, with
// children moved into them before they exec, and removed afterwards.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupRoot } from '../../src/records/container-names.js';

/** A 64-hex container id made from a seed (distinct per seed), as engines make them. */
export function containerIdFrom(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

export class TestCgroups {
  /** The folder of this run under the cgroup v2 root. */
  readonly base: string;
  private readonly made: string[] = [];

  constructor(name = `ebpf-forward-test-${process.pid}`) {
    const root = cgroupRoot();
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    if (!mounts.split('\n').some((l) => l.split(' ')[1] === root && l.split(' ')[2] === 'cgroup2')) throw new Error(`no cgroup v2 mount at ${root}`);
    this.base = join(root, name);
  }

  /** Makes base/rel (and its parents); returns its path and cgroup id (its inode number). */
  make(rel: string): { path: string; id: bigint } {
    const path = join(this.base, rel);
    let at = this.base;
    for (const part of ['', ...rel.split('/')]) {
      at = part ? join(at, part) : at;
      if (!existsSync(at)) {
        mkdirSync(at);
        this.made.push(at);
      }
    }
    return { path, id: this.idOf(rel) };
  }

  idOf(rel: string): bigint {
    return statSync(join(this.base, rel), { bigint: true }).ino;
  }

  /** Removes base/rel (it must hold no process). */
  remove(rel: string): void {
    const path = join(this.base, rel);
    rmdirSync(path);
    this.made.splice(this.made.indexOf(path), 1);
  }

  /** Moves whatever is left back to the root, then removes every cgroup made, deepest first. */
  cleanup(): void {
    const root = cgroupRoot();
    for (const path of [...this.made].reverse()) {
      if (!existsSync(path)) continue;
      for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(join(root, 'cgroup.procs'), pid);
        } catch {
          // gone meanwhile
        }
      }
      for (const child of readdirSync(path, { withFileTypes: true })) if (child.isDirectory()) rmdirSync(join(path, child.name));
      rmdirSync(path);
    }
    this.made.length = 0;
  }
}

export interface CgroupChild {
  /** The shell's pid, which the exec keeps: the records' pid. */
  pid: number;
  /** Its mount namespace's inode number, as it printed it. */
  mntns: bigint;
}

/**
 * A shell that moves itself into the cgroup at `path`, prints its mount
 * namespace's inode, then execs `command` (in a new mount namespace first
 * with `newMountNamespace`); resolves once it has exited.
 */
export function runInCgroup(path: string, command: string, options: { newMountNamespace?: boolean } = {}): Promise<CgroupChild> {
  const script = `echo $$ > '${path}/cgroup.procs' && stat -L -c %i /proc/$$/ns/mnt && exec ${command}`;
  const [file, args] = options.newMountNamespace ? ['unshare', ['-m', 'sh', '-c', script]] : ['sh', ['-c', script]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`${file} ${args.join(' ')} exited ${code}: ${err}`));
      else resolve({ pid: child.pid!, mntns: BigInt(out.trim().split('\n')[0]!) });
    });
  });
}
