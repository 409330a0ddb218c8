#include "libbpf_log.h"

#include <bpf/libbpf.h>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>

namespace ebpf_forward {
namespace {

// libbpf is called from the JS thread only, so one capture buffer suffices.
std::deque<std::string> captured;
bool debug = false;
constexpr size_t kMaxLines = 12;

// One libbpf message can be long: a verifier rejection comes as one message
// holding the whole log between its BEGIN and END markers. Its end (the
// reason, the refused source line) is what explains the failure, so a long
// message keeps its first line and its last kKeepTail bytes.
constexpr size_t kKeepTail = 32 * 1024;

std::string Format(const char* format, va_list args) {
  char small[1024];
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(small, sizeof small, format, copy);
  va_end(copy);
  if (n < 0) return std::string();
  if (static_cast<size_t>(n) < sizeof small) return std::string(small, static_cast<size_t>(n));
  std::string text(static_cast<size_t>(n) + 1, '\0');
  va_copy(copy, args);
  vsnprintf(text.data(), text.size(), format, copy);
  va_end(copy);
  text.resize(static_cast<size_t>(n));
  if (text.size() > 2 * kKeepTail) {
    size_t first_line = text.find('\n');
    if (first_line == std::string::npos || first_line > kKeepTail) first_line = 0;
    text = text.substr(0, first_line + 1) + "...\n" + text.substr(text.size() - kKeepTail);
  }
  return text;
}

int PrintFn(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !debug) return 0;
  std::string text = Format(format, args);
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
