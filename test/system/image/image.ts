// docker/Dockerfile's image, built here with podman on the local stand-ins
// of node:20-bookworm[-slim] (scripts/test-node-images.sh), from the
// committed tree (git archive HEAD: others' edits in progress are not
// built), and kept: its tag is a hash of what the build reads (the
// Dockerfile, its ignore file, the committed content of every path it
// copies, the stand-ins' ids), so a run with none of those changed builds
// nothing. docker and containerd get the same image from podman (podman
// save), also once per tag.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { repoRoot } from '../../support/cli.js';
import { contextSources, parseDockerfile } from './dockerfile.js';

const STATE = '/var/cache/ebpf-forward-test';
export const BUILD_LOG = join(STATE, 'image-build.log');
const REPOSITORY = 'localhost/ebpf-forward-test';
export const STAND_INS = ['docker.io/library/node:20-bookworm', 'docker.io/library/node:20-bookworm-slim'];

function run(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).trim();
}

function tryRun(file: string, args: string[]): string | undefined {
  try {
    return run(file, args);
  } catch {
    return undefined;
  }
}

/** Throws the setup's own words unless the stand-ins were made. */
export function requireStandIns(): void {
  let line: string;
  try {
    line = readFileSync(join(STATE, 'status', 'node-images'), 'utf8').trim();
  } catch {
    throw new Error('the node image stand-ins are not made: run scripts/test-runtimes.sh as root (make test does)');
  }
  if (line !== 'ok') throw new Error(`the node image stand-ins can't be made here: ${line}`);
}

/** The committed file's text at HEAD. */
function headFile(path: string): string {
  return run('git', ['-C', repoRoot, 'show', `HEAD:${path}`]);
}

/** The tag of the image HEAD's docker/Dockerfile builds: a hash of all that build reads. */
export function imageTag(): string {
  const dockerfile = headFile('docker/Dockerfile');
  const hash = createHash('sha256').update(dockerfile).update(headFile('docker/Dockerfile.dockerignore'));
  for (const source of contextSources(parseDockerfile(dockerfile))) hash.update(`${source} ${run('git', ['-C', repoRoot, 'rev-parse', `HEAD:${source}`])}\n`);
  for (const standIn of STAND_INS) hash.update(run('podman', ['image', 'inspect', '-f', '{{.Id}}', standIn]));
  return `${REPOSITORY}:${hash.digest('hex').slice(0, 16)}`;
}

export interface BuiltImage {
  tag: string;
  /** Whether this call built it (false: it was there from an earlier run). */
  built: boolean;
  /** Seconds the build took, when this call built it. */
  seconds?: number;
}

/**
 * The CA file npm must trust where HTTPS goes through a proxy of its own
 * (NODE_EXTRA_CA_CERTS in this environment), passed to the build as the
 * Dockerfile says: its folder mounted read-only at /mnt (a folder every
 * Debian image has, empty, so the mount leaves nothing behind), its path as
 * the build argument.
 */
function caArguments(): string[] {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (!ca || !existsSync(ca)) return [];
  return ['-v', `${dirname(ca)}:/mnt:ro`, '--build-arg', `NODE_EXTRA_CA_CERTS=/mnt/${basename(ca)}`];
}

/** Builds the image with podman unless an earlier run did; older tags of it are removed. */
export async function podmanImage(): Promise<BuiltImage> {
  requireStandIns();
  const tag = imageTag();
  if (tryRun('podman', ['image', 'exists', tag]) !== undefined) return { tag, built: false };
  const context = mkdtempSync(join(tmpdir(), 'ebpf-forward-image-'));
  const started = Date.now();
  try {
    execFileSync('sh', ['-c', 'git -C "$1" archive HEAD | tar -x -C "$2"', 'sh', repoRoot, context]);
    // Host network (no bridge here); only what the build's FROM lines name, never pulled; no
    // intermediate images kept (the tag is the cache).
    const args = ['build', '--network', 'host', '--pull=never', '--layers=false', ...caArguments(), '-f', 'docker/Dockerfile', '-t', tag, '.'];
    const log = openSync(BUILD_LOG, 'w');
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('podman', args, { cwd: context, stdio: ['ignore', log, log] });
      child.on('error', reject);
      child.on('exit', resolve);
    }).finally(() => closeSync(log));
    if (code !== 0) {
      const tail = readFileSync(BUILD_LOG, 'utf8').trim().split('\n').slice(-5).join('\n');
      throw new Error(`podman build of docker/Dockerfile exited ${code} (log: ${BUILD_LOG}):\n${tail}`);
    }
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started) / 1000;
  for (const old of run('podman', ['images', '--format', '{{.Repository}}:{{.Tag}}', REPOSITORY]).split('\n')) {
    if (old && old !== tag) tryRun('podman', ['rmi', old]);
  }
  return { tag, built: true, seconds };
}

/** The image in docker (docker load of podman's archive), once per tag. */
export function dockerImage(tag: string): void {
  if (tryRun('docker', ['image', 'inspect', tag]) !== undefined) return;
  execFileSync('sh', ['-c', 'podman save -q --format docker-archive "$1" | docker load -q', 'sh', tag], { stdio: ['ignore', 'ignore', 'pipe'] });
  for (const old of run('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', REPOSITORY]).split('\n')) {
    if (old && old !== tag) tryRun('docker', ['rmi', old]);
  }
}

/** The image in one of containerd's namespaces (ctr import of podman's archive), once per tag. */
export function containerdImage(tag: string, namespace: string): void {
  const have = run('ctr', ['-n', namespace, 'images', 'ls', '-q']).split('\n');
  if (have.includes(tag)) return;
  execFileSync('sh', ['-c', 'podman save -q --format docker-archive "$1" | ctr -n "$2" images import -', 'sh', tag, namespace], { stdio: ['ignore', 'ignore', 'pipe'] });
  for (const old of have.filter((name) => name.startsWith(`${REPOSITORY}:`))) tryRun('ctr', ['-n', namespace, 'images', 'rm', old]);
}
