#include "cgroup_names.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
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

// The id a single path component names, or "".
std::string_view IdOfComponent(std::string_view name) {
  if (IsHexId(name)) return name;  // /docker/<id>, cgroupfs kubepods
  static constexpr std::string_view kPrefixes[] = {"docker-", "cri-containerd-", "crio-", "libpod-"};
  static constexpr std::string_view kScope = ".scope";
  for (std::string_view prefix : kPrefixes) {
    if (name.size() == prefix.size() + kIdLength + kScope.size() && name.substr(0, prefix.size()) == prefix &&
        name.substr(name.size() - kScope.size()) == kScope) {
      std::string_view id = name.substr(prefix.size(), kIdLength);
      if (IsHexId(id)) return id;
    }
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

std::string ContainerIdOfPath(std::string_view path) {
  while (!path.empty()) {
    size_t slash = path.rfind('/');
    std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
    std::string_view id = IdOfComponent(last);
    if (!id.empty()) return std::string(id);
    if (slash == std::string_view::npos) break;
    path = path.substr(0, slash);
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

bool CgroupNames::Walk(uint64_t id, std::string* found) {
  stats_.walks++;
  struct Pending {
    std::string rel;  // "" for the root, else "/a/b"
    int depth;
  };
  std::vector<Pending> stack{{"", 0}};
  uint64_t dirs = 0;
  bool hit = false;
  while (!stack.empty() && !hit && dirs < kMaxWalkDirs) {
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
      std::string rel = dir.rel + "/" + e->d_name;
      // kernfs gives each entry's inode number, the cgroup id, in d_ino: no stat per directory.
      uint64_t ino = static_cast<uint64_t>(e->d_ino);
      Insert(ino, ContainerIdOfPath(rel));
      if (ino == id) {
        *found = std::move(rel);
        hit = true;
        break;
      }
      if (dir.depth + 1 < kMaxDepth) stack.push_back({std::move(rel), dir.depth + 1});
    }
    closedir(d);
  }
  stats_.walked_dirs += dirs;
  return hit;
}

const std::string* CgroupNames::ContainerOf(uint64_t id, uint32_t pid) {
  if (last_ && id == last_id_) {
    stats_.hits++;
    return last_->empty() ? nullptr : last_;
  }
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
  } else if (PathOfProcess(id, pid, &path) || Walk(id, &path)) {
    container = ContainerIdOfPath(path);
  }
  // Not found (gone before we looked, or outside what we can see): no id.
  // A cgroup id is never reused, so the answer holds for good.
  std::string* kept = Insert(id, std::move(container));
  return kept->empty() ? nullptr : kept;
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
  const CgroupNames& names = CgroupNames::Process();
  Napi::Object out = Napi::Object::New(env);
  out.Set("hits", Napi::Number::New(env, static_cast<double>(names.stats().hits)));
  out.Set("misses", Napi::Number::New(env, static_cast<double>(names.stats().misses)));
  out.Set("walks", Napi::Number::New(env, static_cast<double>(names.stats().walks)));
  out.Set("walkedDirs", Napi::Number::New(env, static_cast<double>(names.stats().walked_dirs)));
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

}  // namespace

void InitCgroupNames(Napi::Env env, Napi::Object exports) {
  Napi::Object names = Napi::Object::New(env);
  names.Set("lookup", Napi::Function::New(env, Lookup, "lookup"));
  names.Set("stats", Napi::Function::New(env, Stats, "stats"));
  names.Set("parse", Napi::Function::New(env, Parse, "parse"));
  names.Set("root", Napi::String::New(env, CgroupRoot()));
  exports.Set("containerNames", names);
}

}  // namespace ebpf_forward
