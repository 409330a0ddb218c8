#include "libbpf_log.h"

#include <bpf/libbpf.h>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>

namespace ebpf_forward {
namespace {

// libbpf is called from the JS thread only, so one capture buffer suffices.
std::deque<std::string> captured;
bool debug = false;
constexpr size_t kMaxLines = 12;

int PrintFn(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !debug) return 0;
  char line[1024];
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(line, sizeof line, format, copy);
  va_end(copy);
  if (n < 0) return 0;
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (debug) fprintf(stderr, "libbpf: %s\n", text.c_str());
  if (level == LIBBPF_DEBUG || text.empty()) return 0;
  captured.push_back(text);
  if (captured.size() > kMaxLines) captured.pop_front();
  return 0;
}

}  // namespace

void InstallLibbpfLog() {
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  libbpf_set_print(PrintFn);
}

void SetLibbpfDebug(bool on) { debug = on; }

void BeginLibbpfCapture() { captured.clear(); }

std::string DescribeFailure(const std::string& what, int err) {
  if (err < 0) err = -err;
  std::string message = what + ": " + strerror(err) + " (errno " + std::to_string(err) + ")";
  for (const auto& line : captured) message += "\nlibbpf: " + line;
  captured.clear();
  return message;
}

}  // namespace ebpf_forward
