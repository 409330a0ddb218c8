#!/usr/bin/env node
// npm's install step. In a checkout (the TypeScript sources are there) it
// builds everything with scripts/build.mjs, as `npm ci` always has. In the
// installed package, which ships the BPF objects, dist/ and a prebuilt addon,
// it compiles nothing, unless the prebuilt addon can't load on this host:
// then the addon alone is built from source (g++, make, python3; no clang,
// bpftool or libbpf-dev).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildAddon, missingBuildTools } from './native-addon.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  process.stderr.write(`ebpf-forward install: ${message}\n`);
  process.exit(1);
}

if (existsSync(join(root, 'src', 'cli.ts'))) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

// The same loader the program uses (built addon first, then the prebuilt one).
const { addon } = await import(pathToFileURL(join(root, 'dist', 'native', 'addon.js')).href);
let why;
try {
  addon();
  process.exit(0);
} catch (err) {
  why = err.reason ?? err.message;
}

const missing = missingBuildTools();
if (missing.length > 0) {
  fail(`no prebuilt addon for ${process.platform}-${process.arch} loads here (${why}) and building one needs ${missing.join(', ')}: apt-get install -y libbpf1 ${missing.join(' ')}`);
}
process.stderr.write('ebpf-forward install: no prebuilt addon loads here; building it from source\n');
try {
  buildAddon(root);
  addon();
} catch (err) {
  fail(`${err.message}; the addon needs libbpf.so.1 (apt-get install -y libbpf1)`);
}
