/* SPDX-License-Identifier: Apache-2.0 */
/* The input's filters (pid, comm, uid, cgroup and their exclude forms),
 * checked at every trace's entry points before any ring space is reserved
 * or per-event state stored. Include after common.bpf.h.
 *
 * Each kind is a hash map from an item to its bits (FILTER_IN: an include
 * item, FILTER_OUT: an exclude item), filled by user space after load
 * (src/inputs/filters.ts). An event passes when, for each kind with include
 * items, its item is one, and no item of it is excluded. filter_kinds says
 * which kinds have items: set before load, so the verifier prunes the checks
 * of the others and an input without filters pays for none.
 *
 * Cgroups: the map holds every cgroup (v2) the filters name and all their
 * descendants, so a task's check is one lookup of its own cgroup id.
 * filter_cgroup_mkdir adds a new cgroup whose parent is in it, or which is a
 * container with a configured id prefix (containers started after
 * ebpf-forward): a runtime's name where its runtime puts it, as the records'
 * rule says (native/cgroup_names.cc), by the places map below;
 * filter_cgroup_rmdir takes it out. User space loads these two only when a
 * cgroup filter is set, attaches them first, then walks the existing tree. */
#ifndef EBPF_FORWARD_TASK_FILTER_BPF_H
#define EBPF_FORWARD_TASK_FILTER_BPF_H

/* An item's bits in its kind's map. */
enum filter_item_bits {
	FILTER_IN = 1,
	FILTER_OUT = 2,
};

/* filter_kinds bits: which kinds have include (IN) and exclude (OUT)
 * items. src/inputs/filters.ts reads both enums from the object's BTF. */
enum filter_kind_bits {
	FILTER_PID_IN = 1 << 0,
	FILTER_PID_OUT = 1 << 1,
	FILTER_COMM_IN = 1 << 2,
	FILTER_COMM_OUT = 1 << 3,
	FILTER_UID_IN = 1 << 4,
	FILTER_UID_OUT = 1 << 5,
	FILTER_CGROUP_IN = 1 << 6,
	FILTER_CGROUP_OUT = 1 << 7,
};
ENUM_TYPE(filter_item_bits);
ENUM_TYPE(filter_kind_bits);

const volatile __u32 filter_kinds = 0;

struct filter_comm {
	char name[TASK_COMM_LEN];
};

/* max_entries are set before load to what the input needs (1 when unused). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8);
} filter_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8);
} filter_uids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct filter_comm);
	__type(value, __u8);
} filter_comms SEC(".maps");

/* Not preallocated: sized for whole cgroup trees, mostly empty. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u8);
} filter_cgroups SEC(".maps");

/* Events the filters left out, per CPU (ebpf-forward's own are not counted). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} filtered SEC(".maps");

static __always_inline void count_filtered(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&filtered, &zero);
	if (n)
		*n += 1;
}

/* Whether an item with these bits passes its kind's filter. */
static __always_inline bool item_passes(__u8 bits, __u32 in_kind, __u32 out_kind)
{
	if ((filter_kinds & in_kind) && !(bits & FILTER_IN))
		return false;
	if ((filter_kinds & out_kind) && (bits & FILTER_OUT))
		return false;
	return true;
}

static __always_inline __u8 item_bits(void *map, const void *key)
{
	__u8 *bits = bpf_map_lookup_elem(map, key);
	return bits ? *bits : 0;
}

#define FILTER_KIND_SET(in, out) (filter_kinds & ((in) | (out)))

static __always_inline bool pid_passes(__u32 tgid)
{
	return !FILTER_KIND_SET(FILTER_PID_IN, FILTER_PID_OUT) ||
	       item_passes(item_bits(&filter_pids, &tgid), FILTER_PID_IN, FILTER_PID_OUT);
}

static __always_inline bool uid_passes(__u32 uid)
{
	return item_passes(item_bits(&filter_uids, &uid), FILTER_UID_IN, FILTER_UID_OUT);
}

static __always_inline bool comm_passes(const struct filter_comm *comm)
{
	return item_passes(item_bits(&filter_comms, comm), FILTER_COMM_IN, FILTER_COMM_OUT);
}

static __always_inline bool cgroup_passes(__u64 id)
{
	return item_passes(item_bits(&filter_cgroups, &id), FILTER_CGROUP_IN, FILTER_CGROUP_OUT);
}

/* Does the current task pass the filters? Each field is read only if its
 * kind is set. */
static __always_inline bool current_passes(void)
{
	if (!pid_passes(bpf_get_current_pid_tgid() >> 32))
		return false;
	if (FILTER_KIND_SET(FILTER_UID_IN, FILTER_UID_OUT) && !uid_passes((__u32)bpf_get_current_uid_gid()))
		return false;
	if (FILTER_KIND_SET(FILTER_COMM_IN, FILTER_COMM_OUT)) {
		/* Zero-padded, as the map's keys are. */
		struct filter_comm comm = {};
		bpf_get_current_comm(comm.name, sizeof(comm.name));
		if (!comm_passes(&comm))
			return false;
	}
	return !FILTER_KIND_SET(FILTER_CGROUP_IN, FILTER_CGROUP_OUT) || cgroup_passes(bpf_get_current_cgroup_id());
}

/* The same for another task than the current one (trace_sched's task
 * switched in or woken, a BTF pointer: its fields are read directly, the
 * pointer chains to its uid and cgroup with CO-RE reads): its tgid, comm,
 * real uid and cgroup v2 id. */
static __always_inline bool task_passes(const struct task_struct *t)
{
	if (!pid_passes(t->tgid))
		return false;
	if (FILTER_KIND_SET(FILTER_UID_IN, FILTER_UID_OUT) && !uid_passes(BPF_CORE_READ(t, cred, uid.val)))
		return false;
	if (FILTER_KIND_SET(FILTER_COMM_IN, FILTER_COMM_OUT)) {
		struct filter_comm comm = {};
		BPF_CORE_READ_STR_INTO(&comm.name, t, comm);
		if (!comm_passes(&comm))
			return false;
	}
	return !FILTER_KIND_SET(FILTER_CGROUP_IN, FILTER_CGROUP_OUT) ||
	       cgroup_passes(BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id));
}

/* Is the current task's event wanted: not ebpf-forward's own, and through
 * the filters? An event the filters leave out is counted. Call it where an
 * event starts (once per event), before anything is reserved or stored. */
static __always_inline bool current_wanted(void)
{
	if ((bpf_get_current_pid_tgid() >> 32) == self_tgid)
		return false;
	if (!filter_kinds || current_passes())
		return true;
	count_filtered();
	return false;
}

/* ebpf-forward's own threads. The idle tasks have tgid 0, so an unset
 * self_tgid must not match them. */
static __always_inline bool is_self_task(const struct task_struct *t)
{
	return self_tgid && t->tgid == self_tgid;
}

/* current_wanted() for another task, at the event about it. */
static __always_inline bool task_wanted(const struct task_struct *t)
{
	if (is_self_task(t))
		return false;
	if (!filter_kinds || task_passes(t))
		return true;
	count_filtered();
	return false;
}

/* The same answer, not counted: for state kept ahead of an event (a wake-up). */
static __always_inline bool task_wanted_quietly(const struct task_struct *t)
{
	return !is_self_task(t) && (!filter_kinds || task_passes(t));
}

/* Container id prefixes (lower-case hex, 6 to 64 digits), each with its
 * bits: the cgroup of a container whose id starts with one, and its
 * descendants, get them. */
#define MAX_CONTAINER_PREFIXES 16
#define CONTAINER_ID_LEN 64
const volatile __u32 filter_prefix_count = 0;
const volatile char filter_prefixes[MAX_CONTAINER_PREFIXES][CONTAINER_ID_LEN] = {};
const volatile __u8 filter_prefix_lens[MAX_CONTAINER_PREFIXES] = {};
const volatile __u8 filter_prefix_bits[MAX_CONTAINER_PREFIXES] = {};

/* Where containers can be: per cgroup id, what its children may be (the
 * roles of native/cgroup_names.cc and src/records/container-names.ts, the
 * same bits, which the start's walk writes): the root (ROOT), a place whose
 * children with a runtime's name are containers (CONTAINER_PARENT), kubepods
 * or a QoS level under it (POD_PARENT), machine.slice (POD_SLICE_PARENT).
 * filter_cgroup_mkdir gives a new cgroup its roles from its parent's and its
 * name, so a place made after the start is one too, and a runtime's name
 * anywhere else (a user's delegated subtree) is no container. Only cgroups
 * with roles are in it: the root, the top-level cgroups that are no service
 * or scope, kubepods' QoS levels, kubelet's and podman's pods. Used only
 * with container id prefixes. test/containers/container-filter.test.ts
 * holds it to the records' rule. */
#define PLACE_ROOT 1
#define PLACE_CONTAINER_PARENT 2
#define PLACE_POD_PARENT 4
#define PLACE_POD_SLICE_PARENT 8

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u8);
} filter_cgroup_places SEC(".maps");

/* A cgroup's name: a kernfs name is at most NAME_MAX (255) bytes, so it is
 * read whole; and room for the checks past it. */
#define CGROUP_NAME_BYTES 256
#define NAME_AT(i) ((i) & (CGROUP_NAME_BYTES - 1))

/* Whether name starts with prefix's len bytes; with its terminating NUL
 * counted in len, whether name is prefix. */
static __always_inline bool has_prefix(const char *name, const char *prefix, int len)
{
	for (int i = 0; i < len; i++)
		if (name[i] != prefix[i])
			return false;
	return true;
}

/* Whether name, of name_len bytes, ends with suffix's len bytes. */
static __always_inline bool has_suffix(const char *name, int name_len, const char *suffix, int len)
{
	if (name_len < len)
		return false;
	for (int i = 0; i < len; i++)
		if (name[NAME_AT(name_len - len + i)] != suffix[i])
			return false;
	return true;
}

static __always_inline bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Where the 64-hex id starts in a container's cgroup name as the engines
 * make them: "<id>" (cgroupfs driver), "docker-<id>.scope",
 * "cri-containerd-<id>.scope", "crio-<id>.scope", "libpod-<id>.scope", the
 * prefixed ones also without ".scope" (podman's and CRI-O's cgroupfs
 * drivers); -1 for any other name. The name alone: its parent's roles say
 * whether it is a container there. */
static __always_inline int container_id_at(const char *name)
{
	int at = 0;
	if (has_prefix(name, "docker-", 7))
		at = 7;
	else if (has_prefix(name, "cri-containerd-", 15))
		at = 15;
	else if (has_prefix(name, "crio-", 5))
		at = 5;
	else if (has_prefix(name, "libpod-", 7))
		at = 7;
	for (int i = 0; i < CONTAINER_ID_LEN; i++)
		if (!is_hex(name[NAME_AT(at + i)]))
			return -1;
	const char *end = &name[NAME_AT(at + CONTAINER_ID_LEN)];
	if (at == 0 && end[0] == 0)
		return 0;
	if (at > 0 && (end[0] == 0 || has_prefix(end, ".scope", 7)))
		return at;
	return -1;
}

/* The bits of the configured prefixes a container's id (at name + at) matches. */
static __always_inline __u8 container_bits(const char *name, int at)
{
	__u8 bits = 0;
	for (__u32 p = 0; p < MAX_CONTAINER_PREFIXES && p < filter_prefix_count; p++) {
		bool match = true;
		for (int i = 0; i < CONTAINER_ID_LEN && i < filter_prefix_lens[p]; i++) {
			if (name[NAME_AT(at + i)] != filter_prefixes[p][i]) {
				match = false;
				break;
			}
		}
		if (match)
			bits |= filter_prefix_bits[p];
	}
	return bits;
}

/* The roles of a child named name (len bytes) of a cgroup with roles
 * parent, as ChildRoles in native/cgroup_names.cc: a top-level cgroup that
 * is no service or scope (which may be delegated) holds containers;
 * kubepods and its QoS levels hold QoS levels and pods; a pod, and a podman
 * pod under machine.slice, holds containers. */
static __always_inline __u8 child_roles(__u8 parent, const char *name, int len)
{
	__u8 roles = 0;
	if (parent & PLACE_ROOT) {
		if (!has_suffix(name, len, ".service", 8) && !has_suffix(name, len, ".scope", 6))
			roles |= PLACE_CONTAINER_PARENT;
		if (has_prefix(name, "kubepods", 9) || has_prefix(name, "kubepods.slice", 15))
			roles |= PLACE_POD_PARENT;
		if (has_prefix(name, "machine.slice", 14))
			roles |= PLACE_POD_SLICE_PARENT;
	}
	if (parent & PLACE_POD_PARENT) {
		if (has_prefix(name, "burstable", 10) || has_prefix(name, "besteffort", 11) ||
		    has_prefix(name, "kubepods-burstable.slice", 25) || has_prefix(name, "kubepods-besteffort.slice", 26))
			roles |= PLACE_POD_PARENT;
		else if (has_prefix(name, "pod", 3) || (has_prefix(name, "kubepods-", 9) && has_suffix(name, len, ".slice", 6)))
			roles |= PLACE_CONTAINER_PARENT;
	}
	if ((parent & PLACE_POD_SLICE_PARENT) && has_prefix(name, "machine-libpod_pod_", 19) && has_suffix(name, len, ".slice", 6))
		roles |= PLACE_CONTAINER_PARENT;
	return roles;
}

/* A new cgroup of the v2 hierarchy (hierarchy 0) takes its parent's bits;
 * with container prefixes, a container where its parent holds containers
 * takes those its id matches, and any other child of a place its roles. */
SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(filter_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	/* self is a cgroup's first member: its css parent is the parent cgroup. */
	struct cgroup *parent = (struct cgroup *)BPF_CORE_READ(cgrp, self.parent);
	if (!parent)
		return 0;
	__u64 parent_id = BPF_CORE_READ(parent, kn, id);
	__u8 bits = item_bits(&filter_cgroups, &parent_id);
	__u8 roles = 0;
	__u8 parent_roles = filter_prefix_count ? item_bits(&filter_cgroup_places, &parent_id) : 0;
	if (parent_roles) {
		/* Zeroed, so that a check past the name's end reads no garbage. */
		char name[CGROUP_NAME_BYTES + 8] = {};
		long n = bpf_probe_read_kernel_str(name, CGROUP_NAME_BYTES, BPF_CORE_READ(cgrp, kn, name));
		if (n > 0) {
			int at = (parent_roles & PLACE_CONTAINER_PARENT) ? container_id_at(name) : -1;
			if (at >= 0)
				bits |= container_bits(name, at);
			else
				roles = child_roles(parent_roles, name, NAME_AT(n - 1));
		}
	}
	if (bits || roles) {
		__u64 id = BPF_CORE_READ(cgrp, kn, id);
		if (bits)
			bpf_map_update_elem(&filter_cgroups, &id, &bits, BPF_ANY);
		if (roles)
			bpf_map_update_elem(&filter_cgroup_places, &id, &roles, BPF_ANY);
	}
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(filter_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	__u64 id = BPF_CORE_READ(cgrp, kn, id);
	bpf_map_delete_elem(&filter_cgroups, &id);
	if (filter_prefix_count)
		bpf_map_delete_elem(&filter_cgroup_places, &id);
	return 0;
}

#endif
