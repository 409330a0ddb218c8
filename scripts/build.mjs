#!/usr/bin/env node
// Builds everything ebpf-forward runs: BPF objects (CO-RE, clang -target bpf),
// the N-API addon (vendored libbpf headers, Debian's libbpf.so.1), and the
// TypeScript. Run by `npm ci` in a checkout (scripts/install.mjs) and by
// `npm pack` (--pack). Each step is skipped when its outputs are newer than
// its inputs.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon, builtAddon, prebuiltAddon, missingBuildTools } from './native-addon.mjs';

// --bpf-only: just the BPF objects; --no-ts: all but the TypeScript (for
// working on one part while other TypeScript is mid-change); --pack: all,
// with dist/ compiled afresh (no stale files shipped) and the addon copied to
// prebuilds/ (npm's prepack step).
const bpfOnly = process.argv.includes('--bpf-only');
const noTs = process.argv.includes('--no-ts');
const pack = process.argv.includes('--pack');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'bpf', '.output');

function fail(message) {
  process.stderr.write(`ebpf-forward build: ${message}\n`);
  process.exit(1);
}

function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// One line per missing system package, saying how to install it.
// libbpf-dev: the BPF programs' headers (bpf_helpers.h...); the addon needs
// none of it (its libbpf headers are vendored).
const requirements = [
  { ok: () => hasCommand('clang'), pkg: 'clang' },
  { ok: () => hasCommand('llvm-strip'), pkg: 'llvm' },
  { ok: () => hasCommand('bpftool'), pkg: 'bpftool' },
  { ok: () => existsSync('/usr/include/bpf/bpf_helpers.h'), pkg: 'libbpf-dev' },
  { ok: () => bpfOnly || missingBuildTools().length === 0, pkg: 'make g++ python3' },
];
const missing = requirements.filter((r) => !r.ok()).map((r) => r.pkg);
if (missing.length > 0) {
  fail(`missing system packages: ${missing.join(' ')}; install them with: apt-get install -y ${missing.join(' ')}`);
}

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);
const newest = (paths) => Math.max(0, ...paths.map(mtime));
const filesIn = (dir, re) => (existsSync(dir) ? readdirSync(dir).filter((f) => re.test(f)).map((f) => join(dir, f)) : []);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

// 1. vmlinux.h from the running kernel's BTF (CO-RE: the objects then load on other kernels).
mkdirSync(out, { recursive: true });
const vmlinuxH = join(out, 'vmlinux.h');
if (!existsSync(vmlinuxH)) {
  if (!existsSync('/sys/kernel/btf/vmlinux')) {
    fail('this kernel has no BTF (/sys/kernel/btf/vmlinux); ebpf-forward needs a kernel built with CONFIG_DEBUG_INFO_BTF=y');
  }
  const text = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { maxBuffer: 1 << 30 });
  writeFileSync(vmlinuxH + '.tmp', text);
  renameSync(vmlinuxH + '.tmp', vmlinuxH);
}

// 2. One BPF object per trace folder (src/traces/<name>/<name>.bpf.c ->
// bpf/.output/<name>.bpf.o), and the examples' objects next to their source
// (conf/examples/x.bpf.c -> conf/examples/x.bpf.o, which their configs name).
const bpfDir = join(root, 'bpf');
const headers = filesIn(bpfDir, /\.h$/);
const arch = { x64: 'x86', arm64: 'arm64', s390x: 's390', ppc64: 'powerpc', riscv64: 'riscv' }[process.arch] ?? process.arch;
const tracesDir = join(root, 'src', 'traces');
const sources = [
  ...readdirSync(tracesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => filesIn(join(tracesDir, d.name), /\.bpf\.c$/))
    .map((src) => ({ src, obj: join(out, basename(src).replace(/\.c$/, '.o')) })),
  ...filesIn(join(root, 'conf', 'examples'), /\.bpf\.c$/).map((src) => ({ src, obj: src.replace(/\.c$/, '.o') })),
];
for (const { src, obj } of sources) {
  const local = filesIn(dirname(src), /\.h$/);
  // Objects made before DWARF was stripped get stripped once for the package.
  if (mtime(obj) > newest([src, vmlinuxH, ...headers, ...local])) {
    if (pack) run('llvm-strip', ['-g', obj]);
    continue;
  }
  run('clang', ['-g', '-O2', '-Wall', '-Werror', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`,
    '-I', out, '-I', bpfDir, '-I', dirname(src), '-c', src, '-o', obj]);
  // -g makes the BTF the records are decoded from; the DWARF beside it (6/7
  // of the object) nothing reads.
  run('llvm-strip', ['-g', obj]);
}

if (bpfOnly) process.exit(0);

// 3. The N-API addon, with npm's own node-gyp.
const addon = builtAddon(root);
const nativeSources = [join(root, 'binding.gyp'), ...filesIn(join(root, 'native'), /\.(cc|h)$/),
  ...filesIn(join(root, 'native', 'vendor', 'libbpf', 'include', 'bpf'), /\.h$/)];
if (mtime(addon) <= newest(nativeSources)) {
  try {
    buildAddon(root);
  } catch (err) {
    fail(err.message);
  }
}
if (pack) {
  // N-API: this one build serves every Node >= 20 on linux-x64 with glibc.
  mkdirSync(dirname(prebuiltAddon(root)), { recursive: true });
  copyFileSync(addon, prebuiltAddon(root));
}

if (noTs) process.exit(0);

// 4. TypeScript.
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) fail('TypeScript is not installed; run: npm ci');
if (pack) rmSync(join(root, 'dist'), { recursive: true, force: true });
run(process.execPath, [tsc, '-p', 'tsconfig.build.json']);
// The CLI runs as itself (make run, the bin): with the node flags of its first line.
chmodSync(join(root, 'dist', 'cli.js'), 0o755);
