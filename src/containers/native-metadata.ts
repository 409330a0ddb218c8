// The native encoder's copy of each container's pairs (native/cgroup_names.h
// ContainerMetadata), which CONTAINER_METADATA writes.
import { addon } from '../native/addon.js';
import type { MetadataMirror } from './metadata.js';

interface NativeContainerMetadata {
  set(containerId: string, plain: Buffer, plainCount: number, annotated: Buffer, annotatedCount: number): void;
  remove(containerId: string): void;
  size(): number;
  /** The most bytes of one container's pairs. */
  maxBytes: number;
}

export function nativeContainerMetadata(): NativeContainerMetadata {
  return (addon() as unknown as { containerMetadata: NativeContainerMetadata }).containerMetadata;
}

export const nativeMetadataMirror: MetadataMirror = {
  set: (id, plain, annotated) => nativeContainerMetadata().set(id, plain.pairs, plain.count, annotated.pairs, annotated.count),
  remove: (id) => nativeContainerMetadata().remove(id),
};
