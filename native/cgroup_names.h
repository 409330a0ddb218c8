// CgroupNames: the container id a cgroup v2 id stands for, from the cgroup's
// path as docker, containerd, CRI-O and podman name it. One instance per
// process (Process()), used on the JS thread only (the encoders run there),
// so it takes no lock.
//
// Cached by the 64-bit id, never by path: a cgroup made again at the same
// path after a container dies has another id (the kernfs id, which is its
// directory's inode number, is never reused), so a stale entry can't answer
// for it. Only a miss touches the filesystem; a hit is one hash lookup.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ebpf_forward {

// Where cgroup v2 is mounted: the first cgroup2 mount of /proc/self/mounts
// (/sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid
// one; wherever a container mounts the host's). Read once. "" when there is
// none: then no cgroup names a container (a cgroup v1 directory's inode is
// another hierarchy's number, and must not be taken for a v2 id).
const std::string& CgroupRoot();

// The container id a cgroup path names: its nearest component (from the
// end) that is a bare 64-hex id or `docker-`, `cri-containerd-`, `crio-` or
// `libpod-` <64 hex> `.scope`; "" if none does.
std::string ContainerIdOfPath(std::string_view path);

class CgroupNames {
 public:
  static CgroupNames& Process();

  // The container id of cgroup `id`, nullptr when it names none (or can't
  // be found). `pid` is a process that was in it when the record was made:
  // its /proc/<pid>/cgroup is tried before a walk of the cgroup tree. The
  // pointer is valid until the next call.
  const std::string* ContainerOf(uint64_t id, uint32_t pid);

  struct Stats {
    uint64_t hits = 0, misses = 0, walks = 0, walked_dirs = 0;
  };
  const Stats& stats() const { return stats_; }
  size_t size() const { return current_.size() + previous_.size(); }

  // Entries per generation: at most twice this many are kept. A host that
  // makes thousands of short-lived cgroups keeps the recent ones.
  static constexpr size_t kGeneration = 4096;
  // A walk gives up past this depth or this many directories.
  static constexpr int kMaxDepth = 16;
  static constexpr uint64_t kMaxWalkDirs = 100000;

 private:
  // Two generations: when the current one is full it becomes the previous
  // one (dropping the older), and a hit in the previous one moves it back.
  std::string* Insert(uint64_t id, std::string container);
  // The cgroup path (from the root) /proc/<pid>/cgroup gives for cgroup
  // v2, checked to be the directory of `id`; false if it is not.
  bool PathOfProcess(uint64_t id, uint32_t pid, std::string* path);
  // Walks the tree for the directory of `id`, caching every directory seen.
  bool Walk(uint64_t id, std::string* path);

  std::unordered_map<uint64_t, std::string> current_, previous_;
  // The last answer: records come in runs from one task (no hash then).
  // Cleared by Insert, which may move or drop the entry it points at.
  uint64_t last_id_ = 0;
  const std::string* last_ = nullptr;
  Stats stats_;
};

// containerNames: {lookup(cgroupId: bigint, pid: number): string | undefined,
// stats(): {...}, parse(path: string): string, root: string} for tests and
// benchmarks.
void InitCgroupNames(Napi::Env env, Napi::Object exports);

}  // namespace ebpf_forward
