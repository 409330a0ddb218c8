// The package installs and runs with no compiler at run time: packed once, installed by npm from the tarball where clang, llvm,
// bpftool and libbpf-dev are not there, then run for real: --dry-run, and a
// trace that records an exec and stops cleanly.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BPF_TOOLCHAIN, CXX_TOOLCHAIN, hidingPackages, packTarball, tarballWithout, tempWorkDir } from './package.js';

const INSTALL_TIMEOUT = 300_000;
let work: string;
let tarball: string;

beforeAll(() => {
  work = tempWorkDir();
  tarball = packTarball(work);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Installed {
  prefix: string;
  /** The installed package's folder. */
  root: string;
  code: number | null;
  stderr: string;
}

/** npm install -g --prefix <tmp> <tarball>, inside `hide` (a command prefix). */
function install(hide: string[], from: string, name: string): Installed {
  const prefix = join(work, name);
  const r = spawnSync(hide[0]!, [...hide.slice(1), 'npm', 'install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', from],
    { encoding: 'utf8', timeout: INSTALL_TIMEOUT });
  return { prefix, root: join(prefix, 'lib', 'node_modules', 'ebpf-forward'), code: r.status, stderr: r.stderr };
}

function run(hide: string[], cmd: string, args: string[]) {
  return spawnSync(hide[0]!, [...hide.slice(1), cmd, ...args], { encoding: 'utf8', timeout: 60_000 });
}

const CONFIG = `[SERVICE]
    Flush 0.2
[INPUT]
    Name  ebpf
    Trace trace_exec
    Tag   packaging
`;

/** Runs the installed binary until it has recorded an exec of ours, then stops it with SIGTERM. */
async function traceOneExec(hide: string[], bin: string): Promise<{ code: number | null; record: Record<string, unknown>; stderr: string }> {
  const config = join(work, 'exec.conf');
  writeFileSync(config, CONFIG);
  const marker = `packaging-${process.pid}-${Date.now()}`;
  const child = spawn(hide[0]!, [...hide.slice(1), bin, '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const record = (): Record<string, unknown> | undefined => out.split('\n').filter((l) => l.includes(marker))
    .map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.stage === 'exit');
  try {
    // Execs before the trace is attached are not seen: exec again until one is.
    for (let i = 0; i < 200 && !record() && child.exitCode === null; i++) {
      execFileSync('/bin/true', [marker]);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    child.kill('SIGTERM');
  }
  const code = await exited;
  const found = record();
  if (!found) throw new Error(`no exec record of ${marker}; stderr:\n${err}`);
  return { code, record: found, stderr: err };
}

describe('the package', () => {
  it('holds the CO-RE objects, dist, the prebuilt addon and the vendored headers, and no TypeScript source', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(files).toContain('package/bpf/.output/exec.bpf.o');
    expect(files).toContain('package/dist/cli.js');
    expect(files).toContain('package/prebuilds/linux-x64/ebpf_forward.node');
    expect(files).toContain('package/native/vendor/libbpf/include/bpf/libbpf.h');
    expect(files).toContain('package/native/vendor/libbpf/LICENSE');
    expect(files.filter((f) => f.endsWith('.ts') || f.endsWith('vmlinux.h') || f.startsWith('package/build/'))).toEqual([]);
  });

  it('prebuilt addon: links libbpf.so.1 and uses only symbols libbpf 1.1 exports', () => {
    const dir = join(work, 'unpacked');
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('tar', ['-xzf', tarball, '-C', dir, 'package/prebuilds']);
    const addon = join(dir, 'package', 'prebuilds', 'linux-x64', 'ebpf_forward.node');
    const needed = execFileSync('readelf', ['-d', addon], { encoding: 'utf8' });
    expect(needed).toContain('Shared library: [libbpf.so.1]');
    expect(needed).not.toMatch(/Shared library: \[lib(elf|z)\.so/);
    // Every libbpf symbol is versioned LIBBPF_x.y.z; Debian 12's libbpf1 is 1.1.2.
    const versions = [...execFileSync('nm', ['-D', '--undefined-only', addon], { encoding: 'utf8' }).matchAll(/@LIBBPF_(\d+)\.(\d+)\.\d+/g)]
      .map((m) => [Number(m[1]), Number(m[2])] as const);
    expect(versions.length).toBeGreaterThan(10);
    expect(versions.filter(([major, minor]) => major > 1 || (major === 1 && minor > 1))).toEqual([]);
  });
});

describe('installed where clang, llvm, bpftool, libbpf-dev and the C++ compiler are not', () => {
  let hide: string[];
  let installed: Installed;
  beforeAll(() => {
    hide = hidingPackages([...BPF_TOOLCHAIN, ...CXX_TOOLCHAIN], work);
    installed = install(hide, tarball, 'prebuilt');
  }, INSTALL_TIMEOUT);

  it('has none of them in its namespace (but has libbpf.so.1)', () => {
    const r = run(hide, 'sh', ['-c', 'for c in clang llc llvm-strip bpftool g++ gcc cc make; do command -v $c; done; '
      + 'ls -d /usr/include/bpf/* /usr/lib/x86_64-linux-gnu/libbpf.so /usr/lib/x86_64-linux-gnu/libbpf.a /usr/lib/x86_64-linux-gnu/pkgconfig/libbpf.pc 2>/dev/null; '
      + 'ls /usr/lib/x86_64-linux-gnu/libbpf.so.1']);
    expect(r.stdout.trim()).toBe('/usr/lib/x86_64-linux-gnu/libbpf.so.1');
  });

  it('installs from the tarball, using the prebuilt addon (nothing compiled)', () => {
    expect(installed.stderr).not.toMatch(/ebpf-forward install:/);
    expect(installed.code).toBe(0);
    expect(existsSync(join(installed.root, 'build'))).toBe(false);
    const ldd = run(hide, 'ldd', [join(installed.root, 'prebuilds', 'linux-x64', 'ebpf_forward.node')]);
    expect(ldd.stdout).toMatch(/libbpf\.so\.1 => \S+libbpf\.so\.1/);
  });

  it('checks a config with --dry-run', () => {
    const r = run(hide, join(installed.prefix, 'bin', 'ebpf-forward'), ['--dry-run', '-c', join(installed.root, 'conf', 'ebpf-forward.conf')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('traces an exec with the shipped object and stops cleanly', async () => {
    const { code, record, stderr } = await traceOneExec(hide, join(installed.prefix, 'bin', 'ebpf-forward'));
    expect(record).toMatchObject({ event_type: 'execve', filename: '/bin/true', argv1: expect.stringMatching(/^packaging-/), error_raw: 0 });
    expect(stderr).toMatch(/tracing trace_exec/);
    expect(code).toBe(0);
  });

  it('without the prebuilt addon and no compiler, install fails with one line saying what to install', () => {
    const bare = install(hide, tarballWithout(tarball, 'prebuilds', work), 'no-compiler');
    expect(bare.code).not.toBe(0);
    const ours = bare.stderr.split('\n').filter((l) => l.includes('ebpf-forward install:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/no prebuilt addon for linux-x64 loads here .*apt-get install -y libbpf1 g\+\+ make/);
  }, INSTALL_TIMEOUT);
});

describe('installed without the prebuilt addon, with g++ but no clang, llvm, bpftool or libbpf-dev', () => {
  let hide: string[];
  let installed: Installed;
  beforeAll(() => {
    hide = hidingPackages(BPF_TOOLCHAIN, work);
    installed = install(hide, tarballWithout(tarball, 'prebuilds', work), 'from-source');
  }, INSTALL_TIMEOUT);

  it('builds the addon from source against the vendored headers and libbpf.so.1', () => {
    expect(installed.code).toBe(0);
    expect(installed.stderr).toMatch(/building it from source/);
    const addon = join(installed.root, 'build', 'Release', 'ebpf_forward.node');
    expect(run(hide, 'ldd', [addon]).stdout).toMatch(/libbpf\.so\.1 => /);
    // The compiler read libbpf's headers from the package, not /usr/include/bpf.
    const deps = readFileSync(join(installed.root, 'build', 'Release', '.deps', 'Release', 'obj.target', 'ebpf_forward', 'native', 'bpf_object.o.d'), 'utf8');
    expect(deps).toContain('native/vendor/libbpf/include/bpf/libbpf.h');
    expect(deps).not.toContain('/usr/include/bpf/');
  });

  it('traces an exec and stops cleanly', async () => {
    const { code, record } = await traceOneExec(hide, join(installed.prefix, 'bin', 'ebpf-forward'));
    expect(record).toMatchObject({ event_type: 'execve', filename: '/bin/true' });
    expect(code).toBe(0);
  });
});
