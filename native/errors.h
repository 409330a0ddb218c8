// The one way native code reports a failure to JS: an Error whose message is
// what failed, the errno text and libbpf's messages, with .errno and .code set
// so that TypeScript can explain the failure to the user.
#pragma once
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "libbpf_log.h"

namespace ebpf_forward {

inline const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case E2BIG: return "E2BIG";
    case ENOMEM: return "ENOMEM";
    case EBUSY: return "EBUSY";
    case ENOTSUP: return "ENOTSUP";
    case ESRCH: return "ESRCH";
    case ENODEV: return "ENODEV";
    case EEXIST: return "EEXIST";
    case ENOSPC: return "ENOSPC";
    default: return "EBPF";
  }
}

inline void ThrowFailure(Napi::Env env, const std::string& what, int err) {
  if (err < 0) err = -err;
  Napi::Error error = Napi::Error::New(env, DescribeFailure(what, err));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.ThrowAsJavaScriptException();
}

inline void ThrowUsage(Napi::Env env, const std::string& what) {
  Napi::TypeError::New(env, what).ThrowAsJavaScriptException();
}

}  // namespace ebpf_forward
