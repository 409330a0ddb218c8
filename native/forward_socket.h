// ForwardSocket: a forward output's TCP connection, lent to ring readers so
// that a batch goes from the ring to the receiver without entering JS (the
// cost of a wake-up at low rates is mostly JS and Node's stream machinery).
// It holds its own dup of the connection's fd, so that the number stays ours
// until close(), whatever Node does with its own.
//
// A message is written whole or kept: when the socket takes only part of it
// (or none: EAGAIN), the rest is copied here, with the batch's entries, and
// written as the socket drains; meanwhile the socket is busy and readers
// hand their batches to JS, whose output buffers them (it has the memory
// for a slow receiver) and releases the socket: release() lets it finish
// the message it holds, then close, and tell JS (onEnd with errno 0). A
// write that fails closes it, and the entries of a message that did not get
// out whole go back to JS (onEnd, or close()'s return) to be sent again on a
// new connection: nothing leaves this object uncounted.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <vector>

namespace ebpf_forward {

// Forward or PackedForward, with or without the {size} option (Fluent Bit's
// Send_options), around a batch of packed entries.
struct MessageFrame {
  // 0x92 or 0x93 and the tag's msgpack bytes.
  std::vector<uint8_t> prefix;
  bool packed = false;
  bool with_size = false;
};

// A batch of entries and its time range, as a reader hands it on.
struct EntryBatch {
  const uint8_t* entries;
  size_t bytes;
  uint32_t count;
  uint32_t min_sec, min_nsec, max_sec, max_nsec;
};

// A ring reader writing to the socket: told when the socket goes. Each side
// unlinks itself from the other when it goes (at teardown either may be
// finalized first).
class SocketUser {
 public:
  virtual void SocketGone() = 0;

 protected:
  ~SocketUser() = default;
};

class ForwardSocket : public Napi::ObjectWrap<ForwardSocket> {
 public:
  enum class SendResult { kSent, kKept, kClosed };

  static Napi::Function Init(Napi::Env env);
  static ForwardSocket* FromValue(Napi::Env env, Napi::Value value);
  explicit ForwardSocket(const Napi::CallbackInfo& info);
  ~ForwardSocket() override;

  // Writes the batch's message. kKept: part of it (or none) was written and
  // the rest is kept, to be written as the socket drains. kClosed: nothing
  // was written (closed, or the write failed and closed it): the caller
  // hands the batch on another way.
  SendResult Send(const MessageFrame& frame, const EntryBatch& batch, bool from_reader);
  bool open() const { return fd_ >= 0; }
  // A message is being finished: nothing else may be written until it is.
  bool busy() const { return !tail_.empty(); }
  void Attach(SocketUser* user);
  void Detach(SocketUser* user);

 private:
  Napi::Value SendFromJs(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value IsBusy(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);

  static void OnWritable(uv_poll_t* handle, int status, int events);
  // Writes what is kept; true once all of it is out.
  bool WriteTail();
  // Closes the fd and the poll.
  void Shut();
  // The kept message's batch, as [entries, count, minSec, minNsec, maxSec, maxNsec, cut, prefix].
  Napi::Value KeptBatch(Napi::Env env);
  // The kept message's batch (undefined if none), then Shut(): nothing kept is left behind.
  Napi::Value TakeKeptAndShut(Napi::Env env);
  void Failed(int err);
  // The held message is out after release(): closes, and tells JS.
  void Released();
  // Calls onEnd(err, batch) (inside a handle scope).
  void TellJs(int err, Napi::Value batch);

  Napi::Env env_;
  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference on_end_;
  // The unsent rest of a message, and the entries of its batch.
  std::vector<uint8_t> tail_;
  size_t tail_written_ = 0;
  std::vector<uint8_t> kept_entries_;
  std::vector<uint8_t> kept_prefix_;
  EntryBatch kept_ = {};
  uint64_t kept_bytes_ = 0;  // the whole message's
  std::vector<SocketUser*> users_;
  uint64_t reader_records_ = 0;  // handed in by readers (not from JS)
  uint64_t sent_records_ = 0;    // in the kernel, their message whole
  uint64_t sent_bytes_ = 0;
  uint64_t kept_messages_ = 0;  // messages that had to wait for room
  int error_ = 0;
  // release() was called: no new message; closed once the held one is out.
  bool releasing_ = false;
};

}  // namespace ebpf_forward
