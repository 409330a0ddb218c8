#!/usr/bin/env node
// Builds a copy of the N-API addon with AddressSanitizer and
// UndefinedBehaviorSanitizer into build-sanitizers/ (never build/, which
// node-gyp rebuild wipes, nor prebuilds/): the sources, include dirs,
// defines and libraries of binding.gyp, compiled with g++ one object per
// source, each rebuilt only when it is older than its source, a header of
// native/ or binding.gyp, or was built with other flags. Prints the addon's
// path. Used by scripts/fuzz.sh.
import { spawn, execSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sanitizerDir = join(root, 'build-sanitizers');
export const sanitizerAddon = join(sanitizerDir, 'ebpf_forward.node');

const SANITIZE = ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-fno-sanitize-recover=undefined'];

function fail(message) {
  process.stderr.write(`ebpf-forward fuzz build: ${message}\n`);
  process.exit(1);
}

// binding.gyp is a gyp file that is also JSON; `<!(cmd)` is gyp's "output of cmd".
function readBinding() {
  let gyp;
  try {
    gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8'));
  } catch (err) {
    fail(`binding.gyp: ${err.message} (this build reads it as JSON)`);
  }
  const target = gyp.targets?.find((t) => t.target_name === 'ebpf_forward');
  if (!target) fail('binding.gyp has no target ebpf_forward');
  const expand = (s) => s.replace(/<!\((.*)\)$/, (_, cmd) => execSync(cmd, { cwd: root, encoding: 'utf8' }).trim());
  return {
    sources: target.sources.map((s) => join(root, s)),
    includes: (target.include_dirs ?? []).map((d) => resolve(root, expand(d))),
    defines: target.defines ?? [],
    // Its own -O level gives way to the sanitizers' -O1 -g (readable reports, still quick).
    cflags: (target.cflags_cc ?? []).filter((f) => !/^-O/.test(f)),
    libraries: target.libraries ?? [],
  };
}

// Node's own headers (node_api.h): where the running node's are, as scripts/native-addon.mjs looks.
function nodeInclude() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
  ].filter(Boolean);
  const found = candidates.find((d) => existsSync(join(d, 'node_api.h')));
  if (!found) fail(`cannot find node_api.h (looked in ${candidates.join(', ')}); install Node's headers (Debian: apt-get install libnode-dev)`);
  return found;
}

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

function run(cmd, args) {
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('close', (code, signal) => resolveRun(code === 0 ? null : `${cmd} ${args.at(-1)} failed (exit ${code ?? signal})`));
  });
}

export async function buildSanitizerAddon() {
  const binding = readBinding();
  const flags = ['-std=c++17', ...binding.cflags, '-O1', '-g', '-fPIC', ...SANITIZE,
    ...binding.includes.map((d) => `-I${d}`), `-I${nodeInclude()}`, ...binding.defines.map((d) => `-D${d}`)];
  mkdirSync(sanitizerDir, { recursive: true });
  // Flags changed (binding.gyp, this script): every object is rebuilt.
  const flagsFile = join(sanitizerDir, 'flags');
  const flagsText = flags.join(' ') + '\n';
  const sameFlags = existsSync(flagsFile) && readFileSync(flagsFile, 'utf8') === flagsText;
  const headers = [join(root, 'binding.gyp'),
    ...readdirSync(join(root, 'native')).filter((f) => f.endsWith('.h')).map((f) => join(root, 'native', f))];
  const newestHeader = Math.max(...headers.map(mtime));

  const objects = binding.sources.map((src) => ({ src, obj: join(sanitizerDir, basename(src).replace(/\.cc$/, '.o')) }));
  const stale = objects.filter(({ src, obj }) => !sameFlags || mtime(obj) <= Math.max(mtime(src), newestHeader));
  // A few at a time: each g++ of napi.h takes a few hundred MB and some seconds.
  const queue = [...stale];
  const errors = [];
  const worker = async () => {
    for (let next; (next = queue.shift()); ) {
      const error = await run('g++', [...flags, '-c', '-o', next.obj, next.src]);
      if (error) errors.push(error);
    }
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), 4) }, worker));
  if (errors.length) fail(errors.join('; '));
  writeFileSync(flagsFile, flagsText);

  if (stale.length > 0 || mtime(sanitizerAddon) <= Math.max(...objects.map(({ obj }) => mtime(obj)))) {
    const error = await run('g++', ['-shared', ...SANITIZE, '-o', sanitizerAddon, ...objects.map(({ obj }) => obj), ...binding.libraries]);
    if (error) fail(error);
  }
  return { addon: sanitizerAddon, rebuilt: stale.length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { addon, rebuilt } = await buildSanitizerAddon();
  process.stderr.write(`ebpf-forward fuzz build: ${addon} (${rebuilt} of its objects rebuilt)\n`);
  process.stdout.write(`${addon}\n`);
}
