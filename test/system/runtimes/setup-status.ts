// Whether scripts/test-runtimes.sh could set a runtime up on this machine: it
// writes one line per runtime, "ok" or why not. A runtime that is not there
// fails its tests with that line (it is not skipped).
import { readFileSync } from 'node:fs';

export type RuntimeName = 'podman' | 'docker' | 'ctr' | 'cri';

const STATUS_DIR = '/var/cache/ebpf-forward-test/status';

/** The images scripts/test-runtimes.sh imports into every runtime. */
export const BASE_IMAGE = 'localhost/ebpf-forward-test-base:bookworm';
export const PAUSE_IMAGE = 'localhost/ebpf-forward-test-pause:bookworm';

/** Throws the setup's own words unless `runtime` was set up. */
export function requireRuntime(runtime: RuntimeName): void {
  let line: string;
  try {
    line = readFileSync(`${STATUS_DIR}/${runtime}`, 'utf8').trim();
  } catch {
    throw new Error(`the container runtimes are not set up: run scripts/test-runtimes.sh as root (make test does)`);
  }
  if (line !== 'ok') throw new Error(`${runtime} can't be used on this machine: ${line}`);
}
