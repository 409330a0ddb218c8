#include "cgroup_names.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

namespace ebpf_forward {

namespace {

constexpr size_t kIdLength = 64;

bool IsHexId(std::string_view s) {
  if (s.size() != kIdLength) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The id a container's cgroup name carries, or "": `<id>`, or `docker-`,
// `cri-containerd-`, `crio-` or `libpod-` <id>, with or without `.scope`
// (podman's and CRI-O's cgroupfs drivers leave it out).
std::string_view IdOfContainerName(std::string_view name) {
  if (IsHexId(name)) return name;
  static constexpr std::string_view kPrefixes[] = {"docker-", "cri-containerd-", "crio-", "libpod-"};
  if (EndsWith(name, ".scope")) name.remove_suffix(6);
  for (std::string_view prefix : kPrefixes) {
    if (StartsWith(name, prefix) && IsHexId(name.substr(prefix.size()))) return name.substr(prefix.size());
  }
  return {};
}

// Reads a small file whole (a /proc file, which stat says is 0 bytes).
bool ReadSmallFile(const char* path, std::string* out, size_t limit = 64 * 1024) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > limit) break;  // a cgroup file is never this long
  }
  close(fd);
  return true;
}

}  // namespace

const std::string& CgroupRoot() {
  static const std::string* root = [] {
    std::string mounts;
    if (ReadSmallFile("/proc/self/mounts", &mounts, 1 << 20)) {
      size_t at = 0;
      while (at < mounts.size()) {
        size_t end = mounts.find('\n', at);
        if (end == std::string::npos) end = mounts.size();
        std::string_view line(mounts.data() + at, end - at);
        at = end + 1;
        // "<source> <mount point> <type> ..."; a mount point with a space (\040) is not ours.
        size_t a = line.find(' ');
        size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
        size_t c = b == std::string_view::npos ? b : line.find(' ', b + 1);
        if (c == std::string_view::npos || line.substr(b + 1, c - b - 1) != "cgroup2") continue;
        return new std::string(line.substr(a + 1, b - a - 1));
      }
    }
    return new std::string();
  }();
  return *root;
}

uint8_t ChildRoles(uint8_t parent, std::string_view name) {
  uint8_t roles = 0;
  if (parent & kRootRole) {
    // A top-level cgroup only root makes; a service or scope may be delegated.
    if (!EndsWith(name, ".service") && !EndsWith(name, ".scope")) roles |= kContainerParent;
    if (name == "kubepods" || name == "kubepods.slice") roles |= kPodParent;
    if (name == "machine.slice") roles |= kPodSliceParent;
  }
  if (parent & kPodParent) {
    if (name == "burstable" || name == "besteffort" || name == "kubepods-burstable.slice" || name == "kubepods-besteffort.slice")
      roles |= kPodParent;
    else if (StartsWith(name, "pod") || (StartsWith(name, "kubepods-") && EndsWith(name, ".slice")))
      roles |= kContainerParent;
  }
  if ((parent & kPodSliceParent) && StartsWith(name, "machine-libpod_pod_") && EndsWith(name, ".slice")) roles |= kContainerParent;
  return roles;
}

std::string_view ContainerIdOfChild(uint8_t parent, std::string_view name) {
  return (parent & kContainerParent) ? IdOfContainerName(name) : std::string_view();
}

std::string ContainerIdOfPath(std::string_view path) {
  uint8_t roles = kRootRole;
  while (roles && !path.empty()) {
    size_t slash = path.find('/');
    std::string_view name = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (name.empty()) continue;  // the leading slash
    std::string_view id = ContainerIdOfChild(roles, name);
    if (!id.empty()) return std::string(id);
    roles = ChildRoles(roles, name);
  }
  return "";
}

CgroupNames& CgroupNames::Process() {
  static CgroupNames* names = new CgroupNames();  // never destroyed: no order-of-exit questions
  return *names;
}

std::string* CgroupNames::Insert(uint64_t id, std::string container) {
  last_ = nullptr;
  if (current_.size() >= kGeneration && current_.find(id) == current_.end()) {
    previous_ = std::move(current_);
    current_.clear();
  }
  std::string& slot = current_[id];
  slot = std::move(container);
  return &slot;
}

bool CgroupNames::PathOfProcess(uint64_t id, uint32_t pid, std::string* path) {
  char file[48];
  snprintf(file, sizeof(file), "/proc/%u/cgroup", pid);
  std::string text;
  if (!ReadSmallFile(file, &text)) return false;  // the process is gone
  // cgroup v2's line is "0::<path>".
  size_t at = text.compare(0, 3, "0::") == 0 ? 0 : text.find("\n0::");
  if (at == std::string::npos) return false;
  if (at > 0) at++;
  size_t end = text.find('\n', at);
  std::string rel = text.substr(at + 3, end == std::string::npos ? std::string::npos : end - at - 3);
  std::string full = CgroupRoot() + rel;
  struct stat st;
  // The process may have moved since, or its path be another cgroup
  // namespace's: only the directory whose inode is the id is it.
  if (stat(full.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || static_cast<uint64_t>(st.st_ino) != id) return false;
  *path = std::move(rel);
  return true;
}

std::unordered_map<uint64_t, std::string> CgroupNames::Scan(uint64_t budget, bool* complete) {
  struct Pending {
    std::string rel;        // "" for the root, else "/a/b"
    uint8_t roles;          // outside a container: what its children may be
    std::string container;  // inside one: its id
    int depth;
  };
  std::unordered_map<uint64_t, std::string> index;
  std::vector<Pending> stack{{"", kRootRole, "", 0}};
  uint64_t dirs = 0;
  while (!stack.empty() && dirs < budget) {
    Pending dir = std::move(stack.back());
    stack.pop_back();
    std::string full = CgroupRoot() + dir.rel;
    int fd = open(full.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;  // gone meanwhile, or not ours to read
    DIR* d = fdopendir(fd);
    if (!d) {
      close(fd);
      continue;
    }
    dirs++;
    while (struct dirent* e = readdir(d)) {
      if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      std::string_view name(e->d_name);
      std::string container = dir.container;
      uint8_t roles = 0;
      if (container.empty()) {
        container = std::string(ContainerIdOfChild(dir.roles, name));
        if (container.empty()) roles = ChildRoles(dir.roles, name);
      }
      // kernfs gives each entry's inode number, the cgroup id, in d_ino: no stat per directory.
      if (!container.empty()) index[static_cast<uint64_t>(e->d_ino)] = container;
      // Below a container, everything is its; elsewhere only where a container may be.
      if ((!container.empty() || roles) && dir.depth + 1 < kMaxDepth)
        stack.push_back({dir.rel + "/" + e->d_name, roles, std::move(container), dir.depth + 1});
    }
    closedir(d);
  }
  *complete = stack.empty();
  std::lock_guard<std::mutex> lock(mutex_);
  scans_++;
  scanned_dirs_ += dirs;
  return index;
}

void CgroupNames::ScanLoop() {
  int64_t last_ns = 0;
  for (;;) {
    uint64_t serving;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return requested_ > started_; });
    }
    // At most one scan per interval: the wait gathers the misses meanwhile.
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t now_ns = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
    if (last_ns && now_ns - last_ns < kScanIntervalNs) {
      int64_t wait = kScanIntervalNs - (now_ns - last_ns);
      struct timespec pause = {static_cast<time_t>(wait / 1000000000), static_cast<long>(wait % 1000000000)};
      nanosleep(&pause, nullptr);
      clock_gettime(CLOCK_MONOTONIC, &now);
      now_ns = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
    }
    last_ns = now_ns;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      serving = started_ = requested_;  // every miss asked for up to now: the scan begins after it
    }
    // Past kMaxScanDirs, what it did not read is taken for no container.
    bool complete;
    std::unordered_map<uint64_t, std::string> index = Scan(kMaxScanDirs, &complete);
    std::lock_guard<std::mutex> lock(mutex_);
    scanned_ = std::move(index);
    served_ = serving;
    served_atomic_.store(serving, std::memory_order_release);
  }
}

uint64_t CgroupNames::RequestScan() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!thread_started_) {
    // Never joined: it lives as long as the process, as Process() does.
    std::thread([this] { ScanLoop(); }).detach();
    thread_started_ = true;
  }
  // One request covers every miss until a scan begins.
  if (requested_ == started_) {
    requested_++;
    wake_.notify_one();
  }
  return requested_;
}

bool CgroupNames::ScanHere() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  int64_t now_ns = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
  if (scanned_here_ && now_ns < next_scan_here_ns_) return false;
  scanned_here_ = true;
  bool complete;
  std::unordered_map<uint64_t, std::string> index = Scan(kScanHereDirs, &complete);
  // A big host: the scan thread reads it all, and this one waits longer before trying again.
  next_scan_here_ns_ = now_ns + (complete ? kScanIntervalNs : kScanHereBackoffNs);
  if (!complete) return false;
  index_ = std::move(index);
  // Begun after every pending miss: it answers them all.
  for (const auto& [waiting, request] : pending_) {
    auto found = index_.find(waiting);
    Insert(waiting, found == index_.end() ? "" : found->second);
  }
  pending_.clear();
  return true;
}

void CgroupNames::AdoptScan() {
  if (served_atomic_.load(std::memory_order_acquire) == adopted_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    index_ = std::move(scanned_);
    scanned_.clear();
    adopted_ = served_;
  }
  // Not found by a scan begun after the miss: gone before it, or in no
  // container. A cgroup id is never reused, so the answer holds for good.
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second > adopted_) {
      ++it;
      continue;
    }
    auto found = index_.find(it->first);
    Insert(it->first, found == index_.end() ? "" : found->second);
    it = pending_.erase(it);
  }
}

CgroupNames::Stats CgroupNames::stats() {
  Stats out = stats_;
  std::lock_guard<std::mutex> lock(mutex_);
  out.walks = scans_;
  out.walked_dirs = scanned_dirs_;
  return out;
}

size_t CgroupNames::pending() {
  AdoptScan();
  return pending_.size();
}

const std::string* CgroupNames::ContainerOf(uint64_t id, uint32_t pid) {
  if (last_ && id == last_id_) {
    stats_.hits++;
    return last_->empty() ? nullptr : last_;
  }
  AdoptScan();  // one atomic load, unless a scan has finished
  auto it = current_.find(id);
  if (it != current_.end()) {
    stats_.hits++;
    last_id_ = id;
    last_ = &it->second;
    return it->second.empty() ? nullptr : &it->second;
  }
  it = previous_.find(id);
  if (it != previous_.end()) {
    stats_.hits++;
    std::string* kept = Insert(id, std::move(it->second));
    previous_.erase(id);
    return kept->empty() ? nullptr : kept;
  }
  stats_.misses++;
  std::string path;
  std::string container;
  struct stat root;
  if (CgroupRoot().empty()) {
    container = "";  // no cgroup v2 mount to find the id in
  } else if (stat(CgroupRoot().c_str(), &root) == 0 && static_cast<uint64_t>(root.st_ino) == id) {
    container = "";  // the root cgroup: host processes
  } else if (PathOfProcess(id, pid, &path)) {
    container = ContainerIdOfPath(path);
  } else {
    auto found = index_.find(id);
    bool scanned = false;
    if (found == index_.end() && (scanned = ScanHere())) found = index_.find(id);
    if (found != index_.end()) {
      container = found->second;
    } else if (!scanned) {
      // The process is gone (or elsewhere), and no scan begun since has
      // read the places: the record goes without, the scan thread looks.
      // (Past kMaxPending waiting, a cgroup asks again on its next record.)
      if (!pending_.count(id) && pending_.size() < kMaxPending) pending_[id] = RequestScan();
      stats_.unresolved++;
      return nullptr;
    }
    // Else not seen by a scan begun during this miss: gone before it, or in
    // no container. A cgroup id is never reused: the answer holds for good.
  }
  pending_.erase(id);
  std::string* kept = Insert(id, std::move(container));
  return kept->empty() ? nullptr : kept;
}

ContainerMetadata& ContainerMetadata::Process() {
  static ContainerMetadata instance;
  return instance;
}

const ContainerMetadata::Blob* ContainerMetadata::Find(uint64_t cgroup_id, const std::string& container) {
  const Blob* blob = nullptr;
  auto slot = by_cgroup_.find(cgroup_id);
  if (slot != by_cgroup_.end() && slot->second.generation == generation_) {
    blob = slot->second.blob;
  } else {
    auto found = by_container_.find(container);
    if (found != by_container_.end()) blob = &found->second;
    if (slot != by_cgroup_.end()) {
      slot->second = {blob, generation_};
    } else {
      if (by_cgroup_.size() >= kMaxCgroups) by_cgroup_.clear();
      by_cgroup_.emplace(cgroup_id, Slot{blob, generation_});
    }
  }
  last_cgroup_ = cgroup_id;
  last_generation_ = generation_;
  last_ = blob;
  return blob;
}

void ContainerMetadata::Set(const std::string& container, Blob blob) {
  by_container_[container] = std::move(blob);
  generation_++;
}

void ContainerMetadata::Remove(const std::string& container) {
  if (by_container_.erase(container) == 0) return;
  generation_++;
  if (by_container_.empty()) by_cgroup_.clear();
}

namespace {

Napi::Value Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsBigInt() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "lookup(cgroupId: bigint, pid: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool lossless;
  uint64_t id = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  uint32_t pid = info[1].As<Napi::Number>().Uint32Value();
  const std::string* container = CgroupNames::Process().ContainerOf(id, pid);
  if (!container) return env.Undefined();
  return Napi::String::New(env, *container);
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CgroupNames& names = CgroupNames::Process();
  CgroupNames::Stats stats = names.stats();
  Napi::Object out = Napi::Object::New(env);
  out.Set("hits", Napi::Number::New(env, static_cast<double>(stats.hits)));
  out.Set("misses", Napi::Number::New(env, static_cast<double>(stats.misses)));
  out.Set("walks", Napi::Number::New(env, static_cast<double>(stats.walks)));
  out.Set("walkedDirs", Napi::Number::New(env, static_cast<double>(stats.walked_dirs)));
  out.Set("unresolved", Napi::Number::New(env, static_cast<double>(stats.unresolved)));
  out.Set("pending", Napi::Number::New(env, static_cast<double>(names.pending())));
  out.Set("entries", Napi::Number::New(env, static_cast<double>(names.size())));
  return out;
}

Napi::Value Parse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "parse(path: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::String::New(env, ContainerIdOfPath(info[0].As<Napi::String>().Utf8Value()));
}

Napi::Value SetMetadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsBuffer() || !info[2].IsNumber() || !info[3].IsBuffer() || !info[4].IsNumber()) {
    Napi::TypeError::New(env, "set(containerId: string, plain: Buffer, plainCount: number, annotated: Buffer, annotatedCount: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ContainerMetadata::Blob blob;
  for (int i = 0; i < 2; i++) {
    Napi::Buffer<uint8_t> bytes = info[1 + 2 * i].As<Napi::Buffer<uint8_t>>();
    if (bytes.Length() > ContainerMetadata::kMaxBytes) {
      Napi::RangeError::New(env, "container metadata of " + std::to_string(bytes.Length()) + " bytes is over " + std::to_string(ContainerMetadata::kMaxBytes)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    blob.bytes[i].assign(reinterpret_cast<const char*>(bytes.Data()), bytes.Length());
    blob.pairs[i] = info[2 + 2 * i].As<Napi::Number>().Uint32Value();
  }
  ContainerMetadata::Process().Set(info[0].As<Napi::String>().Utf8Value(), std::move(blob));
  return env.Undefined();
}

Napi::Value RemoveMetadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "remove(containerId: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ContainerMetadata::Process().Remove(info[0].As<Napi::String>().Utf8Value());
  return env.Undefined();
}

Napi::Value MetadataSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(ContainerMetadata::Process().size()));
}

}  // namespace

void InitCgroupNames(Napi::Env env, Napi::Object exports) {
  Napi::Object names = Napi::Object::New(env);
  names.Set("lookup", Napi::Function::New(env, Lookup, "lookup"));
  names.Set("stats", Napi::Function::New(env, Stats, "stats"));
  names.Set("parse", Napi::Function::New(env, Parse, "parse"));
  names.Set("root", Napi::String::New(env, CgroupRoot()));
  exports.Set("containerNames", names);
  Napi::Object metadata = Napi::Object::New(env);
  metadata.Set("set", Napi::Function::New(env, SetMetadata, "set"));
  metadata.Set("remove", Napi::Function::New(env, RemoveMetadata, "remove"));
  metadata.Set("size", Napi::Function::New(env, MetadataSize, "size"));
  metadata.Set("maxBytes", Napi::Number::New(env, static_cast<double>(ContainerMetadata::kMaxBytes)));
  exports.Set("containerMetadata", metadata);
}

}  // namespace ebpf_forward
