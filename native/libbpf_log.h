// Captures libbpf's own messages so that a failed call can put them, with the
// errno, into the JS error it throws (instead of printing them to stderr).
#pragma once
#include <string>

namespace ebpf_forward {

void InstallLibbpfLog();
void SetLibbpfDebug(bool on);
// Starts a new capture: messages from earlier calls are forgotten.
void BeginLibbpfCapture();
// "<what>: <strerror(err)> (errno N)" followed by what libbpf said since the
// last BeginLibbpfCapture, one message per line.
std::string DescribeFailure(const std::string& what, int err);

}  // namespace ebpf_forward
