// The head every trace record starts with: struct event_header (bpf/events.h),
// the member `hdr` of each record struct. Its fields come first in every
// record, once, for all traces: event_type (the shape's), then these; and
// its container identity comes last, after each shape's own fields.
import type { FieldDeclaration } from './declaration.js';

/** The member of each record struct that holds struct event_header. */
export const HEADER_MEMBER = 'hdr';
/** bpf_ktime_get_ns() of the event: the entry's time. */
export const TIME_MEMBER = `${HEADER_MEMBER}.ts_ns`;
/** The record's sequence number (sequence_key). */
export const SEQUENCE_MEMBER = `${HEADER_MEMBER}.seq`;

/** The fields after event_type, in this order, on every trace record. */
export const HEAD_FIELDS: readonly FieldDeclaration[] = [
  {
    key: 'event_id',
    type: 'uint64',
    from: { copy: `${HEADER_MEMBER}.event_id` },
    doc: "the record's id: its CPU in bits 63..48, that CPU's count of records from 0 below (unique within the trace)",
  },
  { key: 'pid', type: 'uint', from: { copy: `${HEADER_MEMBER}.pid` }, doc: 'thread-group id' },
  { key: 'tid', type: 'uint', from: { copy: `${HEADER_MEMBER}.tid` }, doc: 'thread id' },
  { key: 'comm', type: 'string', from: { copy: `${HEADER_MEMBER}.comm` }, doc: 'task name (no trailing NULs)' },
];

/**
 * After each shape's own fields (before a sequence_key), unless the input
 * says `container_metadata Off`: the container identity of the task the
 * record is about. container_id is absent for a cgroup that names no container.
 */
export const CONTAINER_FIELDS: readonly FieldDeclaration[] = [
  {
    key: 'cgroup_id',
    type: 'uint64',
    from: { copy: `${HEADER_MEMBER}.cgroup_id` },
    doc: "further field: the task's cgroup v2 id (the inode number of its cgroup's directory)",
  },
  {
    key: 'container_id',
    type: 'string',
    from: { containerOf: `${HEADER_MEMBER}.cgroup_id`, pid: `${HEADER_MEMBER}.pid` },
    doc: 'further field: the 64-hex container id its cgroup path names (docker, containerd, CRI-O, podman); absent for a host process',
  },
  {
    key: 'mntns_id',
    type: 'uint32',
    // 0: the task had let its namespaces go (exiting) when the event was seen.
    from: { nonzero: `${HEADER_MEMBER}.mntns_id` },
    doc: "further field: its mount namespace's inode number (as /proc/<pid>/ns/mnt shows it); absent for a task that had let its namespaces go (in its exit)",
  },
];

/**
 * What a container's runtime says of it (src/containers/), after
 * CONTAINER_FIELDS, unless the input says `container_runtime_metadata Off`
 * (or `container_metadata Off`): one pre-encoded run of pairs per container
 * (CONTAINER_METADATA), absent where no runtime said anything. For the
 * docs' field tables, and the keys no other field may take.
 */
export const RUNTIME_METADATA_FIELDS: readonly { key: string; type: string; doc: string }[] = [
  {
    key: 'container_name',
    type: 'string',
    doc: "further field: a docker or podman container's name (without docker's leading `/`); absent for others",
  },
  {
    key: 'container_image',
    type: 'string',
    doc: 'further field: the image a docker or podman container was made from, as it was named; absent for others',
  },
  {
    key: 'kubernetes',
    type: 'map',
    doc: "further field: a CRI (containerd, CRI-O) container's pod as Fluent Bit's filter_kubernetes names it: `pod_name`, `namespace_name`, `pod_id`, `labels`, `annotations` (with `kubernetes_annotations On`), `container_name`, `container_image`; absent for others",
  },
];
