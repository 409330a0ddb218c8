// Which cgroups are containers, and the container id a cgroup v2 id stands
// for: the TypeScript twin of native/cgroup_names.cc, which the native
// encoder uses, for the tests' reference encoder (test/support/js-encoder.ts, which loads no
// addon) and the cgroup filter's walk (src/task-filter/kernel.ts). Same rule,
// same answers (test/containers/container-rule.test.ts holds them to it).
// The path is found from /proc/<pid>/cgroup (checked by the directory's
// inode, which is the cgroup id) or else by a scan of where containers can
// be; cached by the id.
import { opendirSync, readFileSync, statSync, type Dir } from 'node:fs';

const HEX_ID = /^[0-9a-f]{64}$/;
const NAMED_ID = /^(?:docker|cri-containerd|crio|libpod)-([0-9a-f]{64})(?:\.scope)?$/;

/** What a cgroup's children may be (native CgroupRole). The root has ROOT. */
export const ROOT = 1;
const CONTAINER_PARENT = 2;
const POD_PARENT = 4;
const POD_SLICE_PARENT = 8;

/**
 * The roles of a child `name` of a cgroup with roles `parent` (0: none):
 * a top-level cgroup that is no systemd service or scope (which may be
 * delegated) holds containers; kubepods and its QoS levels hold QoS levels
 * and pods; a pod, and a podman pod under machine.slice, holds containers.
 */
export function childRoles(parent: number, name: string): number {
  let roles = 0;
  if (parent & ROOT) {
    if (!name.endsWith('.service') && !name.endsWith('.scope')) roles |= CONTAINER_PARENT;
    if (name === 'kubepods' || name === 'kubepods.slice') roles |= POD_PARENT;
    if (name === 'machine.slice') roles |= POD_SLICE_PARENT;
  }
  if (parent & POD_PARENT) {
    if (name === 'burstable' || name === 'besteffort' || name === 'kubepods-burstable.slice' || name === 'kubepods-besteffort.slice') roles |= POD_PARENT;
    else if (name.startsWith('pod') || (name.startsWith('kubepods-') && name.endsWith('.slice'))) roles |= CONTAINER_PARENT;
  }
  if (parent & POD_SLICE_PARENT && name.startsWith('machine-libpod_pod_') && name.endsWith('.slice')) roles |= CONTAINER_PARENT;
  return roles;
}

/**
 * The container id a child `name` of a cgroup with roles `parent` names: a
 * bare 64-hex id, or `docker-`, `cri-containerd-`, `crio-` or `libpod-`
 * <id>, with or without `.scope`, where containers are held; else undefined.
 */
export function containerIdOfChild(parent: number, name: string): string | undefined {
  if (!(parent & CONTAINER_PARENT)) return undefined;
  if (HEX_ID.test(name)) return name;
  return NAMED_ID.exec(name)?.[1];
}

/**
 * The container id a cgroup path (from the hierarchy's root, as
 * /proc/<pid>/cgroup shows it) names: that of its outermost container, so
 * that what a container makes below itself is its own; else undefined.
 */
export function containerIdOfPath(path: string): string | undefined {
  let roles = ROOT;
  for (const name of path.split('/')) {
    if (!roles) break;
    if (!name) continue;
    const id = containerIdOfChild(roles, name);
    if (id) return id;
    roles = childRoles(roles, name);
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
const MAX_SCAN_DIRS = 20_000;

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
      const path = this.rootIfIt(cgroupId) ?? this.pathOfProcess(cgroupId, pid);
      // The reference scans at once, where the native cache scans on its own thread, at most once a second.
      id = (path !== undefined ? containerIdOfPath(path) : scan().get(cgroupId)) ?? '';
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
}

/** Every container cgroup, and each of its descendants, by cgroup id: read only where containers can be (as native Scan). */
function scan(): Map<bigint, string> {
  const index = new Map<bigint, string>();
  const stack: { rel: string; roles: number; container: string | undefined; depth: number }[] = [{ rel: '', roles: ROOT, container: undefined, depth: 0 }];
  let dirs = 0;
  while (stack.length > 0 && dirs < MAX_SCAN_DIRS) {
    const { rel, roles, container, depth } = stack.pop()!;
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
        const itsContainer = container ?? containerIdOfChild(roles, e.name);
        const itsRoles = itsContainer ? 0 : childRoles(roles, e.name);
        if (!itsContainer && !itsRoles) continue;
        if (itsContainer) {
          // Node's Dirent has no d_ino: one stat per directory (the native scan reads d_ino).
          const ino = inodeOf(cgroupRoot() + child);
          if (ino !== undefined) index.set(ino, itsContainer);
        }
        if (depth + 1 < MAX_DEPTH) stack.push({ rel: child, roles: itsRoles, container: itsContainer, depth: depth + 1 });
      }
    } finally {
      dir.closeSync();
    }
  }
  return index;
}
function inodeOf(path: string, mustBeDir = false): bigint | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return mustBeDir && !st.isDirectory() ? undefined : st.ino;
  } catch {
    return undefined;
  }
}
