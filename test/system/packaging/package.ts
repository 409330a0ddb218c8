// The package as users get it: `npm pack` of the committed tree (git archive
// HEAD, so others' edits in progress are not packed), then installed with
// npm from the tarball inside a mount namespace where Debian packages are
// hidden as if they were not installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..', '..', '..');

/**
 * Packs the package once: EBPF_FORWARD_TARBALL names a tarball made before
 * (to save the build), else HEAD is packed in a temporary folder, with the
 * checkout's node_modules for the build's tools. Runs the package's prepack.
 */
export function packTarball(workDir: string): string {
  if (process.env.EBPF_FORWARD_TARBALL) return resolve(process.env.EBPF_FORWARD_TARBALL);
  const src = join(workDir, 'src');
  mkdirSync(src);
  execFileSync('sh', ['-c', 'git -C "$1" archive HEAD | tar -x -C "$2"', 'sh', repoRoot, src]);
  symlinkSync(join(repoRoot, 'node_modules'), join(src, 'node_modules'));
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', workDir], { cwd: src, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return join(workDir, out.trim().split('\n').pop()!);
}

/** A copy of the tarball without one of its folders (e.g. "prebuilds"). */
export function tarballWithout(tarball: string, folder: string, workDir: string): string {
  const dir = mkdtempSync(join(workDir, 'repack-'));
  execFileSync('tar', ['-xzf', tarball, '-C', dir]);
  execFileSync('rm', ['-rf', join(dir, 'package', folder)]);
  const out = join(workDir, basename(tarball).replace(/\.tgz$/, `-without-${folder}.tgz`));
  execFileSync('tar', ['-czf', out, '-C', dir, 'package']);
  return out;
}

// Only these trees are overlaid: where packages put programs, headers and libraries.
const OVERLAID = ['/usr/bin', '/usr/sbin', '/usr/include', '/usr/lib'];

/**
 * Hides every file of these Debian packages: a read-only overlay over each of
 * OVERLAID whose top layer holds whiteouts (char device 0:0) for them, so the
 * files are absent, as if never installed, in the namespace the returned
 * command prefix makes. Packages not installed here are skipped.
 */
export function hidingPackages(packages: string[], workDir: string): string[] {
  const layer = mkdtempSync(join(workDir, 'hidden-'));
  const listed = spawnSync('dpkg', ['-L', ...packages], { encoding: 'utf8' }).stdout.split('\n');
  // llvm's private tree goes whole; its thousands of files need not be listed.
  const wholeTrees = existsSync('/usr/lib') ? readdirSync('/usr/lib').filter((d) => /^llvm-\d+$/.test(d)).map((d) => `/usr/lib/${d}`) : [];
  const hidden = new Set<string>(packages.some((p) => p.startsWith('llvm') || p.startsWith('clang')) ? wholeTrees : []);
  for (const path of listed) {
    if (!path.startsWith('/') || !existsSync(dirname(path))) continue;
    // /bin, /lib... are links into /usr on Debian 12.
    const real = join(realpathSync(dirname(path)), basename(path));
    if (!OVERLAID.some((top) => real.startsWith(top + '/'))) continue;
    if ([...hidden].some((tree) => real.startsWith(tree + '/'))) continue;
    let isDir: boolean;
    try {
      isDir = lstatSync(real).isDirectory();
    } catch {
      continue;
    }
    if (!isDir) hidden.add(real);
  }
  for (const path of hidden) {
    mkdirSync(dirname(join(layer, path)), { recursive: true });
    execFileSync('mknod', [join(layer, path), 'c', '0', '0']);
  }
  const mounts = OVERLAID.filter((top) => existsSync(join(layer, top)))
    .map((top) => `mount -t overlay -o ro,lowerdir=${join(layer, top)}:${top} overlay ${top}`);
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', `set -e; ${mounts.join('; ')}; exec "$@"`, 'sh'];
}

/** What a build needs and the installed package must not: clang, llvm, bpftool, libbpf-dev. */
export const BPF_TOOLCHAIN = ['clang', 'clang-14', 'llvm', 'llvm-14', 'bpftool', 'libbpf-dev'];
/** What a build of the addon from source needs. */
export const CXX_TOOLCHAIN = ['g++', 'g++-12', 'gcc', 'gcc-12', 'cpp', 'cpp-12', 'make'];

export function tempWorkDir(): string {
  return mkdtempSync(join(tmpdir(), 'ebpf-forward-packaging-'));
}
