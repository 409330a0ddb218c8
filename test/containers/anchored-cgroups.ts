// Real cgroup v2 directories where the runtimes make them: from the root of
// the hierarchy (/docker/<id>, /system.slice/docker-<id>.scope, ...), since
// a runtime's name counts only there. Makes only what is missing, removes
// only what it made (deepest first); a shared parent (/docker,
// /system.slice) that something else has put a cgroup in meanwhile is left.
// And the native cache's settled answer for a cgroup: after the scan that
// a miss from a gone process waits for.
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupRoot } from '../../src/records/container-names.js';
import { nativeContainerNames } from '../support/native-container-names.js';
import { waitFor } from '../support/cli.js';

export class AnchoredCgroups {
  private readonly made: string[] = [];

  /** Makes root/rel and whatever of its parents is missing; returns its path and cgroup id (its inode number). */
  make(rel: string): { path: string; id: bigint } {
    let at = cgroupRoot();
    for (const part of rel.split('/')) {
      at = join(at, part);
      if (!existsSync(at)) {
        mkdirSync(at);
        this.made.push(at);
      }
    }
    return { path: at, id: this.idOf(rel) };
  }

  path(rel: string): string {
    return join(cgroupRoot(), rel);
  }

  idOf(rel: string): bigint {
    return statSync(this.path(rel), { bigint: true }).ino;
  }

  /** Removes root/rel (it must hold no process). */
  remove(rel: string): void {
    const path = this.path(rel);
    rmdirSync(path);
    this.made.splice(this.made.indexOf(path), 1);
  }

  /** Moves what is left back to the root, then removes what it made, deepest first. */
  cleanup(): void {
    for (const path of [...this.made].sort((a, b) => b.split('/').length - a.split('/').length)) {
      if (!existsSync(path)) continue;
      for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(join(cgroupRoot(), 'cgroup.procs'), pid);
        } catch {
          // gone meanwhile
        }
      }
      try {
        rmdirSync(path);
      } catch (err) {
        // A parent another (a runtime, another test) has used meanwhile: theirs now.
        if (!['ENOTEMPTY', 'EBUSY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
    }
    this.made.length = 0;
  }
}

/**
 * The native cache's answer for a cgroup once nothing waits for a scan:
 * then a lookup is a hit (checked: no miss counted), so the answer is the
 * cache's, not a "not known yet".
 */
export async function settledContainerOf(cgroupId: bigint): Promise<string | undefined> {
  const names = nativeContainerNames();
  const settled = await waitFor(() => {
    if (names.stats().pending !== 0) return undefined;
    const misses = names.stats().misses;
    const id = names.lookup(cgroupId, 0);
    // A miss (its first lookup, or one still waiting): a scan answers it; ask again.
    return names.stats().misses === misses ? { id } : undefined;
  }, 10_000, `a cached answer for cgroup ${cgroupId}`);
  return settled.id;
}
