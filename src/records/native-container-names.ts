// The native encoder's container-id cache (native/cgroup_names.cc), for
// tests and benchmarks: what it answers, and what its misses cost.
import { addon } from '../native/addon.js';

export interface ContainerNamesStats {
  hits: number;
  misses: number;
  /** Misses that walked the cgroup tree (the record's process was gone, or elsewhere). */
  walks: number;
  walkedDirs: number;
  entries: number;
}

interface NativeContainerNames {
  lookup(cgroupId: bigint, pid: number): string | undefined;
  stats(): ContainerNamesStats;
  parse(path: string): string;
  /** The cgroup v2 mount it reads. */
  root: string;
}

export function nativeContainerNames(): NativeContainerNames {
  return (addon() as unknown as { containerNames: NativeContainerNames }).containerNames;
}
