// Builds the N-API addon from source with npm's own node-gyp, against the
// vendored libbpf headers (native/vendor/libbpf) and Debian's libbpf.so.1.
// Shared by scripts/build.mjs (development) and scripts/install.mjs (the
// installed package, when its prebuilt addon can't load).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const builtAddon = (root) => join(root, 'build', 'Release', 'ebpf_forward.node');
export const prebuiltAddon = (root) => join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'ebpf_forward.node');

const hasCommand = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** The Debian packages a build from source needs and lacks (node-gyp runs python3, make and g++). */
export function missingBuildTools() {
  return ['g++', 'make', 'python3'].filter((cmd) => !hasCommand(cmd));
}

/** Runs node-gyp rebuild in root; throws an Error with one line if it fails. */
export function buildAddon(root, { silent = true } = {}) {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].filter(Boolean);
  const gyp = candidates.find((c) => existsSync(c));
  if (!gyp) throw new Error('cannot find node-gyp (it ships with npm); reinstall npm or run: npm install -g node-gyp');
  // Build against the headers that come with this Node: node-gyp would
  // otherwise download them from nodejs.org.
  const nodedir = process.env.npm_config_nodedir || resolve(dirname(process.execPath), '..');
  const args = [gyp, 'rebuild'];
  if (silent) args.push('--silent');
  if (existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) throw new Error(`node-gyp rebuild failed (exit ${r.status ?? r.signal})`);
}
