// CgroupNames: the container id a cgroup v2 id stands for, from the cgroup's
// path as docker, containerd, CRI-O, podman and the kubelet lay it out. One
// instance per process (Process()), used on the JS thread only (the
// encoders run there); its big scans run on a thread of their own, which
// hands each finished index over under a lock.
//
// Cached by the 64-bit id, never by path: a cgroup made again at the same
// path after a container dies has another id (the kernfs id, which is its
// directory's inode number, is never reused), so a stale entry can't answer
// for it. Only a miss touches the filesystem; a hit is one hash lookup.
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace ebpf_forward {

// Where cgroup v2 is mounted: the first cgroup2 mount of /proc/self/mounts
// (/sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid
// one; wherever a container mounts the host's). Read once. "" when there is
// none: then no cgroup names a container (a cgroup v1 directory's inode is
// another hierarchy's number, and must not be taken for a v2 id).
const std::string& CgroupRoot();

// Which cgroups are containers (the one rule; src/records/container-names.ts
// is its TypeScript twin, tested against this one): a cgroup named as a
// runtime names a container (a bare 64-hex id, or `docker-`,
// `cri-containerd-`, `crio-` or `libpod-` <64 hex>, with or without
// `.scope`) counts only where a runtime puts it, a place anchored at the
// root of the hierarchy that only root can make:
//   - a child of a top-level cgroup that is not a systemd service or scope
//     (/docker/<id>, /libpod_parent/libpod-<id>, /<containerd namespace>/<id>,
//     /system.slice/docker-<id>.scope, /machine.slice/libpod-<id>.scope);
//   - a child of a kubelet pod cgroup: /kubepods[.slice], then an optional
//     QoS level (burstable, besteffort, kubepods-<qos>.slice), then the pod
//     (pod<uid>, kubepods-[<qos>-]pod<uid>.slice);
//   - a child of a podman pod: /machine.slice/machine-libpod_pod_<id>.slice.
// Nothing under a delegated subtree (a service, a scope, a user's slice)
// counts, whatever its name. The outermost container of a path is its
// container: what a container makes below itself (a nested container, the
// podman `container` child) is its workload, with its id.
//
// Roles: what a cgroup's children may be. The root has kRootRole.
enum CgroupRole : uint8_t {
  kRootRole = 1,
  kContainerParent = 2,  // a child with a container's name is a container
  kPodParent = 4,        // kubepods or a QoS level: a child is a QoS level or a pod
  kPodSliceParent = 8,   // machine.slice: a child machine-libpod_pod_*.slice is a podman pod
};
// The roles of a child `name` of a cgroup with roles `parent` (0: none).
uint8_t ChildRoles(uint8_t parent, std::string_view name);
// The id a child `name` of a cgroup with roles `parent` names as a
// container; "" if it is not one.
std::string_view ContainerIdOfChild(uint8_t parent, std::string_view name);
// The container id of a cgroup path (relative to the hierarchy's root, as
// /proc/<pid>/cgroup shows it): that of its outermost container; "" if none.
std::string ContainerIdOfPath(std::string_view path);

class CgroupNames {
 public:
  static CgroupNames& Process();

  // The container id of cgroup `id`, nullptr when it names none, or is not
  // known yet. `pid` is a process that was in it when the record was made:
  // its /proc/<pid>/cgroup is tried first. The pointer is valid until the
  // next call.
  const std::string* ContainerOf(uint64_t id, uint32_t pid);

  struct Stats {
    // walks: scans of the container places; walked_dirs: directories they read;
    // unresolved: misses left without an answer until the next scan.
    uint64_t hits = 0, misses = 0, walks = 0, walked_dirs = 0, unresolved = 0;
  };
  Stats stats();
  size_t size() const { return current_.size() + previous_.size(); }
  // Misses waiting for a scan, after taking any finished one.
  size_t pending();

  // Entries per generation: at most twice this many are kept. A host that
  // makes thousands of short-lived cgroups keeps the recent ones.
  static constexpr size_t kGeneration = 4096;
  // A miss whose process is gone (or elsewhere) is answered by a scan of
  // where containers can be (the roles above), at most this deep, at most
  // once per interval: here, on the record's path, if it reads at most
  // kScanHereDirs directories (so that the first record of a short-lived
  // process in a new container is named, as a rule); else on the scan
  // thread (kMaxScanDirs), the record going out without container_id, its
  // cgroup pending until a scan begun after the miss answers it (one scan
  // answers every pending one).
  static constexpr int kMaxDepth = 16;
  static constexpr uint64_t kScanHereDirs = 1024;
  static constexpr uint64_t kMaxScanDirs = 20000;
  static constexpr int64_t kScanIntervalNs = 1000000000;
  // After a scan here found more than kScanHereDirs, the next one waits this long.
  static constexpr int64_t kScanHereBackoffNs = 30 * kScanIntervalNs;
  static constexpr size_t kMaxPending = 4096;

 private:
  // Two generations: when the current one is full it becomes the previous
  // one (dropping the older), and a hit in the previous one moves it back.
  std::string* Insert(uint64_t id, std::string container);
  // The cgroup path (from the root) /proc/<pid>/cgroup gives for cgroup
  // v2, checked to be the directory of `id`; false if it is not.
  bool PathOfProcess(uint64_t id, uint32_t pid, std::string* path);
  // Reads the container places: every container cgroup and each of its
  // descendants, with its container id. On the scan thread.
  // `complete`: false if it stopped at `budget` directories.
  std::unordered_map<uint64_t, std::string> Scan(uint64_t budget, bool* complete);
  // A scan on this thread, if none was in the interval and it is small;
  // true if it read everything (index_ is then current).
  bool ScanHere();
  // Asks for a scan that answers misses up to now; returns its number.
  uint64_t RequestScan();
  // Takes the scan thread's newest index, and answers the pending misses it covers.
  void AdoptScan();
  void ScanLoop();

  std::unordered_map<uint64_t, std::string> current_, previous_;
  // The last adopted scan's answers, and the misses it has not answered
  // yet (each with the number of the scan request it waits for).
  std::unordered_map<uint64_t, std::string> index_;
  std::unordered_map<uint64_t, uint64_t> pending_;
  uint64_t adopted_ = 0;
  int64_t next_scan_here_ns_ = 0;
  bool scanned_here_ = false;
  // Shared with the scan thread, under mutex_: requests made, the newest
  // one a scan has begun for, the one the newest finished scan answers (all
  // up to it), its index, its figures.
  std::mutex mutex_;
  std::condition_variable wake_;
  bool thread_started_ = false;
  uint64_t requested_ = 0, started_ = 0, served_ = 0;
  std::unordered_map<uint64_t, std::string> scanned_;
  uint64_t scans_ = 0, scanned_dirs_ = 0;
  std::atomic<uint64_t> served_atomic_{0};
  // The last answer: records come in runs from one task (no hash then).
  // Cleared by Insert, which may move or drop the entry it points at.
  uint64_t last_id_ = 0;
  const std::string* last_ = nullptr;
  Stats stats_;
};

// ContainerMetadata: what a container's runtime says of it (its name, image,
// pod; src/containers/ learns it from the runtimes' APIs on the JS thread),
// as msgpack key/value pairs encoded once per container and written as they
// are by CONTAINER_METADATA after a record's container fields. Keyed by
// container id; each cgroup's answer is memoised by cgroup id (a cgroup's
// container never changes) and valid until the next Set or Remove, which
// bump a generation rather than walk the memo. Used on the JS thread only.
class ContainerMetadata {
 public:
  static ContainerMetadata& Process();

  // `pairs` msgpack key/value pairs, back to back: [0] plain, [1] with
  // the pod's annotations (kubernetes_annotations On).
  struct Blob {
    std::string bytes[2];
    uint32_t pairs[2];
  };
  // The pairs of cgroup `cgroup_id`, whose container is `container` (as
  // CgroupNames answered); nullptr when its runtime said nothing of it.
  // Valid until the next Set or Remove.
  const Blob* Of(uint64_t cgroup_id, const std::string& container) {
    if (by_container_.empty()) return nullptr;
    if (cgroup_id == last_cgroup_ && last_generation_ == generation_) return last_;
    return Find(cgroup_id, container);
  }
  void Set(const std::string& container, Blob blob);
  void Remove(const std::string& container);
  size_t size() const { return by_container_.size(); }

  // The most bytes one container's pairs may take (the encoder's bound
  // counts them for every record); src/containers/ keeps within it.
  static constexpr size_t kMaxBytes = 16384;
  static constexpr size_t kMaxCgroups = 8192;

 private:
  const Blob* Find(uint64_t cgroup_id, const std::string& container);
  struct Slot {
    const Blob* blob;
    uint64_t generation;
  };
  std::unordered_map<std::string, Blob> by_container_;
  std::unordered_map<uint64_t, Slot> by_cgroup_;
  uint64_t generation_ = 1;
  uint64_t last_cgroup_ = 0, last_generation_ = 0;
  const Blob* last_ = nullptr;
};

// containerNames: {lookup(cgroupId: bigint, pid: number): string | undefined,
// stats(): {...}, parse(path: string): string, root: string} for tests and
// benchmarks; containerMetadata: {set(containerId: string, plain: Buffer,
// plainCount: number, annotated: Buffer, annotatedCount: number),
// remove(containerId: string), size(): number, maxBytes}.
void InitCgroupNames(Napi::Env env, Napi::Object exports);

}  // namespace ebpf_forward
