// The native encoder's container-id cache (native/cgroup_names.cc), for
// tests and benchmarks: what it answers, and what its misses cost.
import { addon } from '../../src/native/addon.js';

export interface ContainerNamesStats {
  hits: number;
  misses: number;
  /** Scans of where containers can be (for misses whose process was gone, or elsewhere), and the directories they read. */
  walks: number;
  walkedDirs: number;
  /** Lookups answered "not known yet" (the record went without container_id), and the cgroups waiting for a scan now. */
  unresolved: number;
  pending: number;
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
