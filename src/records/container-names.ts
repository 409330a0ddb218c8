// The container id a cgroup v2 id stands for: the TypeScript twin of
// native/cgroup_names.cc, which the native encoder uses, for the reference
// encoder (js-encoder.ts). Same rules, same answers: the id is read from the
// cgroup's path as docker, containerd, CRI-O and podman name it, the path
// found from /proc/<pid>/cgroup (checked by the directory's inode, which is
// the cgroup id) or else by a walk of the cgroup tree; cached by the id.
import { opendirSync, readFileSync, statSync, type Dir } from 'node:fs';

const HEX_ID = /^[0-9a-f]{64}$/;
const SCOPE_ID = /^(?:docker|cri-containerd|crio|libpod)-([0-9a-f]{64})\.scope$/;

/**
 * The container id a cgroup's own name carries: a bare 64-hex id
 * (`/docker/<id>`, cgroupfs kubepods) or `docker-`, `cri-containerd-`,
 * `crio-` or `libpod-` <id> `.scope`; else undefined.
 */
export function containerIdOfName(name: string): string | undefined {
  if (HEX_ID.test(name)) return name;
  return SCOPE_ID.exec(name)?.[1];
}

/** The container id a cgroup path names: that of its nearest component, from the end, that names one. */
export function containerIdOfPath(path: string): string | undefined {
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const id = containerIdOfName(parts[i]!);
    if (id) return id;
  }
  return undefined;
}

let root: string | undefined;

/** Where cgroup v2 is mounted: the first cgroup2 mount in /proc/self/mounts (as native CgroupRoot()); "" when none (then no cgroup names a container). */
export function cgroupRoot(): string {
  if (root === undefined) {
    let mounts = '';
    try {
      mounts = readFileSync('/proc/self/mounts', 'utf8');
    } catch {
      // no /proc: the default
    }
    const line = mounts.split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
    root = line?.split(' ')[1] ?? '';
  }
  return root;
}

const GENERATION = 4096;
const MAX_DEPTH = 16;
const MAX_WALK_DIRS = 100_000;

export class ContainerNames {
  // Two generations, as the native cache: "" for a cgroup that names no container.
  private current = new Map<bigint, string>();
  private previous = new Map<bigint, string>();

  containerIdOf(cgroupId: bigint, pid: number): string | undefined {
    let id = this.current.get(cgroupId);
    if (id === undefined && (id = this.previous.get(cgroupId)) !== undefined) {
      this.previous.delete(cgroupId);
      this.insert(cgroupId, id);
    }
    if (id === undefined && cgroupRoot() === '') {
      id = '';
      this.insert(cgroupId, id);
    }
    if (id === undefined) {
      const path = this.rootIfIt(cgroupId) ?? this.pathOfProcess(cgroupId, pid) ?? this.walk(cgroupId);
      id = (path !== undefined && containerIdOfPath(path)) || '';
      this.insert(cgroupId, id);
    }
    return id === '' ? undefined : id;
  }

  private insert(cgroupId: bigint, id: string): void {
    if (this.current.size >= GENERATION && !this.current.has(cgroupId)) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(cgroupId, id);
  }

  private rootIfIt(cgroupId: bigint): string | undefined {
    return inodeOf(cgroupRoot()) === cgroupId ? '/' : undefined;
  }

  private pathOfProcess(cgroupId: bigint, pid: number): string | undefined {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      return undefined; // the process is gone
    }
    const line = text.split('\n').find((l) => l.startsWith('0::'));
    if (line === undefined) return undefined;
    const path = line.slice(3);
    return inodeOf(cgroupRoot() + path, true) === cgroupId ? path : undefined;
  }

  private walk(cgroupId: bigint): string | undefined {
    const stack: { rel: string; depth: number }[] = [{ rel: '', depth: 0 }];
    let dirs = 0;
    while (stack.length > 0 && dirs < MAX_WALK_DIRS) {
      const { rel, depth } = stack.pop()!;
      let dir: Dir;
      try {
        dir = opendirSync(cgroupRoot() + rel);
      } catch {
        continue;
      }
      dirs++;
      try {
        for (let e = dir.readSync(); e !== null; e = dir.readSync()) {
          if (!e.isDirectory()) continue;
          const child = `${rel}/${e.name}`;
          // Node's Dirent has no d_ino: one stat per directory (the native walk reads d_ino).
          const ino = inodeOf(cgroupRoot() + child);
          if (ino === undefined) continue;
          this.insert(ino, containerIdOfPath(child) ?? '');
          if (ino === cgroupId) return child;
          if (depth + 1 < MAX_DEPTH) stack.push({ rel: child, depth: depth + 1 });
        }
      } finally {
        dir.closeSync();
      }
    }
    return undefined;
  }
}

function inodeOf(path: string, mustBeDir = false): bigint | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return mustBeDir && !st.isDirectory() ? undefined : st.ino;
  } catch {
    return undefined;
  }
}
