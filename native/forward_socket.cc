#include "forward_socket.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "msgpack_write.h"

namespace ebpf_forward {
namespace {
const napi_type_tag kForwardSocketTag = {0x6f7277617264736bULL, 0x466f727761726453ULL};
// Room for a message's head: the prefix ([ and the tag) comes first, then at
// most a 5-byte array or bin header.
constexpr size_t kHeaderRoom = 5;
// {"size": count}: a fixmap, "size", a uint of at most 5 bytes.
constexpr size_t kOptionsRoom = 1 + 5 + 5;

// writev, again when a signal interrupted it (it may still write part).
ssize_t Writev(int fd, iovec* iov, int count) {
  ssize_t n;
  do {
    n = writev(fd, iov, count);
  } while (n < 0 && errno == EINTR);
  return n;
}
}  // namespace

Napi::Function ForwardSocket::Init(Napi::Env env) {
  return DefineClass(env, "ForwardSocket",
                     {
                         InstanceMethod<&ForwardSocket::SendFromJs>("send"),
                         InstanceMethod<&ForwardSocket::Close>("close"),
                         InstanceMethod<&ForwardSocket::Stats>("stats"),
                         InstanceMethod<&ForwardSocket::IsBusy>("busy"),
                         InstanceMethod<&ForwardSocket::Release>("release"),
                     });
}

ForwardSocket* ForwardSocket::FromValue(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object object = value.As<Napi::Object>();
  if (!object.CheckTypeTag(&kForwardSocketTag)) return nullptr;
  return Unwrap(object);
}

// new ForwardSocket(fd: number, onEnd: (errno, batch?) => void)
ForwardSocket::ForwardSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ForwardSocket>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction()) {
    ThrowUsage(env, "ForwardSocket(fd: number, onEnd: Function)");
    return;
  }
  int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    ThrowFailure(env, "taking the connection's socket", errno);
    return;
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  poll_->data = this;
  int rc = uv_poll_init_socket(loop, poll_, fd);
  if (rc != 0) {
    delete poll_;
    poll_ = nullptr;
    close(fd);
    Napi::Error::New(env, std::string("watching the connection's socket: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
    return;
  }
  fd_ = fd;
  on_end_ = Napi::Persistent(info[1].As<Napi::Function>());
  info.This().As<Napi::Object>().TypeTag(&kForwardSocketTag);
}

ForwardSocket::~ForwardSocket() {
  for (SocketUser* user : std::vector<SocketUser*>(std::move(users_))) user->SocketGone();
  Shut();
}

void ForwardSocket::Attach(SocketUser* user) {
  for (SocketUser* u : users_)
    if (u == user) return;
  users_.push_back(user);
}

void ForwardSocket::Detach(SocketUser* user) {
  for (size_t i = 0; i < users_.size(); i++) {
    if (users_[i] == user) {
      users_.erase(users_.begin() + static_cast<long>(i));
      return;
    }
  }
}

ForwardSocket::SendResult ForwardSocket::Send(const MessageFrame& frame, const EntryBatch& batch, bool from_reader) {
  if (fd_ < 0 || busy() || releasing_) return SendResult::kClosed;
  uint8_t head_bytes[64 + kHeaderRoom];
  std::vector<uint8_t> long_head;
  uint8_t* head = head_bytes;
  if (frame.prefix.size() > 64) {
    long_head.resize(frame.prefix.size() + kHeaderRoom);
    head = long_head.data();
  }
  memcpy(head, frame.prefix.data(), frame.prefix.size());
  uint8_t* head_end = frame.packed ? PutBinHeader(head + frame.prefix.size(), static_cast<uint32_t>(batch.bytes))
                                   : PutArrayHeader(head + frame.prefix.size(), batch.count);
  uint8_t options[kOptionsRoom];
  uint8_t* options_end = options;
  if (frame.with_size) {
    *options_end++ = 0x81;
    *options_end++ = 0xa4;
    memcpy(options_end, "size", 4);
    options_end = PutUint(options_end + 4, batch.count);
  }
  // Without Send_options the third part is empty.
  iovec iov[3] = {{head, static_cast<size_t>(head_end - head)},
                  {const_cast<uint8_t*>(batch.entries), batch.bytes},
                  {options, static_cast<size_t>(options_end - options)}};
  constexpr int parts = 3;
  size_t total = iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
  ssize_t n = Writev(fd_, iov, parts);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    // Nothing of it left: the caller hands the batch on, to a new connection.
    error_ = errno;
    Shut();
    return SendResult::kClosed;
  }
  if (from_reader) reader_records_ += batch.count;
  size_t written = n < 0 ? 0 : static_cast<size_t>(n);
  if (written == total) {
    sent_records_ += batch.count;
    sent_bytes_ += total;
    return SendResult::kSent;
  }
  // Keep the rest, and the entries, until the socket takes it.
  tail_.clear();
  tail_.reserve(total - written);
  size_t skip = written;
  for (int i = 0; i < parts; i++) {
    const uint8_t* base = static_cast<const uint8_t*>(iov[i].iov_base);
    size_t len = iov[i].iov_len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    tail_.insert(tail_.end(), base + skip, base + len);
    skip = 0;
  }
  tail_written_ = 0;
  kept_entries_.assign(batch.entries, batch.entries + batch.bytes);
  kept_prefix_ = frame.prefix;
  kept_ = batch;
  kept_.entries = kept_entries_.data();
  kept_bytes_ = total;
  kept_messages_++;
  uv_poll_start(poll_, UV_WRITABLE, &ForwardSocket::OnWritable);
  return SendResult::kKept;
}

bool ForwardSocket::WriteTail() {
  while (tail_written_ < tail_.size()) {
    iovec iov = {tail_.data() + tail_written_, tail_.size() - tail_written_};
    ssize_t n = Writev(fd_, &iov, 1);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      Failed(errno);
      return false;
    }
    tail_written_ += static_cast<size_t>(n);
  }
  sent_records_ += kept_.count;
  sent_bytes_ += kept_bytes_;
  tail_.clear();
  std::vector<uint8_t>().swap(kept_entries_);
  return true;
}

void ForwardSocket::OnWritable(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<ForwardSocket*>(handle->data);
  if (!self || self->fd_ < 0) return;
  if (status < 0) {
    self->Failed(-status);
    return;
  }
  if (!self->WriteTail()) return;
  uv_poll_stop(self->poll_);
  if (self->releasing_) self->Released();
}

void ForwardSocket::Released() {
  Napi::HandleScope scope(env_);
  Shut();
  TellJs(0, env_.Undefined());
}

void ForwardSocket::TellJs(int err, Napi::Value batch) {
  if (on_end_.IsEmpty()) return;
  Napi::Env env = env_;
  on_end_.MakeCallback(Value(), {Napi::Number::New(env, err), batch});
  if (env.IsExceptionPending()) napi_fatal_exception(env, env.GetAndClearPendingException().Value());
}

// release(): no new message; true if closed now, false if it first finishes
// the one it holds (then onEnd(0) once closed).
Napi::Value ForwardSocket::Release(const Napi::CallbackInfo& info) {
  releasing_ = true;
  if (busy() && fd_ >= 0) return Napi::Boolean::New(info.Env(), false);
  Shut();
  return Napi::Boolean::New(info.Env(), true);
}

void ForwardSocket::Failed(int err) {
  error_ = err;
  Napi::HandleScope scope(env_);
  Napi::Value batch = TakeKeptAndShut(env_);
  TellJs(err, batch);
}

Napi::Value ForwardSocket::TakeKeptAndShut(Napi::Env env) {
  Napi::Value kept = busy() ? KeptBatch(env) : env.Undefined();
  tail_.clear();
  Shut();
  return kept;
}

Napi::Value ForwardSocket::KeptBatch(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env, 8);
  out.Set(0u, Napi::Buffer<uint8_t>::Copy(env, kept_entries_.data(), kept_entries_.size()));
  out.Set(1u, Napi::Number::New(env, kept_.count));
  out.Set(2u, Napi::Number::New(env, kept_.min_sec));
  out.Set(3u, Napi::Number::New(env, kept_.min_nsec));
  out.Set(4u, Napi::Number::New(env, kept_.max_sec));
  out.Set(5u, Napi::Number::New(env, kept_.max_nsec));
  // Part of the message is on the wire: the receiver holds a message cut short.
  out.Set(6u, Napi::Boolean::New(env, kept_bytes_ - tail_.size() + tail_written_ > 0));
  // Its frame's prefix: the tag it goes under.
  out.Set(7u, Napi::Buffer<uint8_t>::Copy(env, kept_prefix_.data(), kept_prefix_.size()));
  return out;
}

void ForwardSocket::Shut() {
  if (poll_) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

// send(prefix: Buffer, packed, withSize, entries: Buffer, count, minSec, minNsec, maxSec, maxNsec):
// 'sent' | 'kept' | 'closed'. A batch from JS (a reader not lent the socket).
Napi::Value ForwardSocket::SendFromJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 9 || !info[0].IsBuffer() || !info[3].IsBuffer()) {
    ThrowUsage(env, "send(prefix: Buffer, packed, withSize, entries: Buffer, count, minSec, minNsec, maxSec, maxNsec)");
    return env.Undefined();
  }
  MessageFrame frame;
  auto prefix = info[0].As<Napi::Buffer<uint8_t>>();
  frame.prefix.assign(prefix.Data(), prefix.Data() + prefix.Length());
  frame.packed = info[1].ToBoolean();
  frame.with_size = info[2].ToBoolean();
  auto entries = info[3].As<Napi::Buffer<uint8_t>>();
  EntryBatch batch = {entries.Data(), entries.Length(), info[4].As<Napi::Number>().Uint32Value(),
                      info[5].As<Napi::Number>().Uint32Value(), info[6].As<Napi::Number>().Uint32Value(),
                      info[7].As<Napi::Number>().Uint32Value(), info[8].As<Napi::Number>().Uint32Value()};
  SendResult r = Send(frame, batch, false);
  return Napi::String::New(env, r == SendResult::kSent ? "sent" : r == SendResult::kKept ? "kept" : "closed");
}

// close(): the batch of a message kept unsent ([entries, count, minSec, minNsec,
// maxSec, maxNsec, cut, prefix]: to be sent again; cut: part of it went out, so the
// connection must be dropped), or undefined.
Napi::Value ForwardSocket::Close(const Napi::CallbackInfo& info) {
  Napi::Value kept = TakeKeptAndShut(info.Env());
  on_end_.Reset();
  return kept;
}

Napi::Value ForwardSocket::IsBusy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy()); }

// stats(): {readerRecords, sentRecords, sentBytes, keptMessages, error, open}
Napi::Value ForwardSocket::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("readerRecords", Napi::Number::New(env, static_cast<double>(reader_records_)));
  out.Set("sentRecords", Napi::Number::New(env, static_cast<double>(sent_records_)));
  out.Set("sentBytes", Napi::Number::New(env, static_cast<double>(sent_bytes_)));
  out.Set("keptMessages", Napi::Number::New(env, static_cast<double>(kept_messages_)));
  out.Set("error", Napi::Number::New(env, error_));
  out.Set("open", Napi::Boolean::New(env, fd_ >= 0));
  return out;
}

}  // namespace ebpf_forward
