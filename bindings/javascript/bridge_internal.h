/* What the parts of the Node addon's bridge share (bridge.cc: environments, texts, work on the
 * pool, clients, the systems' handles, batches, a system's operations as one batch by kind, and
 * the libuv adapter of loop.h; chat_bridge.cc: the Chat SDK adapter's lanes, jobs and waits;
 * session_bridge.cc: toolhive's session stores; ayepi_bridge.cc: ayepi's stores and sweeps;
 * xp_bridge.cc: xml-pipeline's buffer and registry; window_bridge.cc: key families and migration windows;
 * subscriber_bridge.cc: a client's pub/sub). Private to the addon. */
#ifndef CROSSREDIS_JS_BRIDGE_INTERNAL_H
#define CROSSREDIS_JS_BRIDGE_INTERNAL_H

#include "bridge.h"

#include <uv.h>

#include <stdint.h>
#include <string.h>

#include <climits>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

extern "C" {
#include "binding.h"
#include "crossredis/alloc.h"
#include "crossredis/error.h"
}


namespace xrjs {

/* Texts from this many bytes (or UTF-16 units) are converted on the thread pool: the JS thread
 * only copies them out of or into the JS heap. */
constexpr size_t kBig = 256 * 1024;

/* The last failure of this thread, copied before the next core call can replace it. */
struct Failure {
  int code = 0;
  std::string message;

  void take(int rc) {
    code = rc;
    const char *m = xr_error_last()->message;
    message = (m && m[0]) ? m : xr_strerror(rc);
  }
  void set(int rc, std::string m) {
    code = rc;
    message = std::move(m);
  }
  bool failed() const { return code < 0; }
};

/* ---- environments ---------------------------------------------------------------------------- */

class ClientBox;

/* What one Node environment (main thread or worker) holds. Freed when the environment ended and
 * the last box, loop connection or job that points to it is gone. */
struct EnvState {
  napi_env env;
  napi_ref classes = nullptr; /* code -> Error subclass */
  napi_ref probe = nullptr;   /* JsUsable's array (one element write, nothing made, per check) */
  bool stopping = false;      /* the environment is ending: no JS, no new work */
  int refs = 1;               /* the environment's own, and one per box, loop connection, job */
  std::unordered_set<ClientBox *> clients;
  int chats = 0, sessions = 0, ayepi = 0, xp = 0, windows = 0, subscribers = 0, loops = 0, waits = 0, jobs = 0; /* for xr_js_stats */
  /* bytes of big batches built, and of big results decoded, on each side (xr_js_stats: the tests
   * check that the JS thread does neither) */
  double built_js = 0, built_pool = 0, decoded_js = 0, decoded_pool = 0;
  int closing = 0;            /* libuv handles being closed */
  napi_async_cleanup_hook_handle hook = nullptr;
  bool hook_started = false;

  static std::mutex &mu() {
    static std::mutex *m = new std::mutex; /* never destroyed: process.exit() runs destructors */
    return *m;
  }
  static std::unordered_map<napi_env, EnvState *> &all() {
    static auto *m = new std::unordered_map<napi_env, EnvState *>;
    return *m;
  }

  /* This environment's state, made (with its cleanup hook) on first use. JS thread. */
  static EnvState *Of(napi_env env) {
    {
      std::lock_guard<std::mutex> lock(mu());
      auto it = all().find(env);
      if (it != all().end()) return it->second;
    }
    EnvState *st = new EnvState();
    st->env = env;
    if (napi_add_async_cleanup_hook(env, Teardown, st, &st->hook) != napi_ok) st->hook = nullptr;
    std::lock_guard<std::mutex> lock(mu());
    all()[env] = st;
    return st;
  }

  void Ref() { refs++; }
  /* Drops a reference; the last one frees the state (bridge.cc). */
  void Unref();
  void Forget() {
    std::lock_guard<std::mutex> lock(mu());
    auto it = all().find(env);
    if (it != all().end() && it->second == this) all().erase(it);
  }

  void HandleClosing() { closing++; }
  void HandleClosed() {
    closing--;
    MaybeDone();
  }

  /* The environment is ending (async cleanup hook, on its thread, JS no longer runs): close every
   * client and what is over it; Node waits until the libuv handles closed (MaybeDone). */
  static void Teardown(napi_async_cleanup_hook_handle, void *arg);

  void MaybeDone() {
    if (!hook_started || !hook || closing > 0) return;
    napi_async_cleanup_hook_handle h = hook;
    hook = nullptr;
    Forget(); /* a later environment may get this napi_env's address */
    napi_remove_async_cleanup_hook(h);
    Unref();
  }
};

/* True when JS may run on env now: false once the environment is ending (Node then refuses
 * calls into JS; a Promise settled then would throw from node-addon-api). Needs no scope. */
inline bool JsUsable(napi_env env, EnvState *st) {
  if (st && st->stopping) return false;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
  napi_value o = nullptr, u;
  if (st && st->probe) napi_get_reference_value(env, st->probe, &o);
  if (!o && napi_create_array(env, &o) == napi_ok && st && !st->probe) napi_create_reference(env, o, 1, &st->probe);
  bool ok = o && napi_get_undefined(env, &u) == napi_ok &&
            napi_set_element(env, o, 0, u) == napi_ok; /* refused when JS cannot run */
  napi_close_handle_scope(env, scope);
  return ok;
}


/* ---- texts in and out ------------------------------------------------------------------------ */

/* Memory from malloc, freed by free. */
struct Free {
  void operator()(void *p) const { free(p); }
};
template <class T>
using Malloced = std::unique_ptr<T[], Free>;

/* Memory from xr_malloc (the core's allocator), freed by xr_free. */
struct XrFree {
  void operator()(char *p) const { xr_free(p); }
};
using XrBytes = std::unique_ptr<char[], XrFree>;

/* A JS string as UTF-8 for the core. Small ones are encoded on the JS thread; a big one is only
 * copied there (as its bytes when it is ASCII, else as UTF-16 to encode on the pool: Convert). */
class InText {
 public:
  /* JS thread. A TypeError unless v is a string. */
  void Read(Napi::Env env, Napi::Value v, const char *what) {
    if (!v.IsString()) throw Napi::TypeError::New(env, std::string(what) + " must be a string");
    size_t n16 = 0;
    napi_get_value_string_utf16(env, v, nullptr, 0, &n16);
    if (n16 < kBig) {
      small_ = v.As<Napi::String>().Utf8Value();
      return;
    }
    size_t n8 = 0, got = 0;
    napi_get_value_string_utf8(env, v, nullptr, 0, &n8); /* no copy; quick for one-byte strings */
    if (n8 == n16) { /* ASCII: its Latin-1 bytes are its UTF-8 */
      big_.reset(static_cast<char *>(malloc(n8 + 1)));
      if (!big_) throw Napi::Error::New(env, "out of memory copying a string");
      napi_get_value_string_latin1(env, v, big_.get(), n8 + 1, &got);
      big_n_ = got;
      return;
    }
    u16_.reset(static_cast<char16_t *>(malloc((n16 + 1) * sizeof(char16_t))));
    if (!u16_) throw Napi::Error::New(env, "out of memory copying a string");
    napi_get_value_string_utf16(env, v, u16_.get(), n16 + 1, &got);
    n16_ = got;
  }

  /* Bytes (a Buffer's): copied. */
  void Assign(Napi::Env env, const char *p, size_t n) {
    Clear();
    if (n < kBig) {
      small_.assign(p, n);
      return;
    }
    big_.reset(static_cast<char *>(malloc(n)));
    if (!big_) throw Napi::Error::New(env, "out of memory copying a Buffer");
    memcpy(big_.get(), p, n);
    big_n_ = n;
  }

  size_t Weight() const { return small_.size() + big_n_ + n16_ * 2; }

  /* Any thread: encodes the UTF-16 copy (a lone surrogate becomes U+FFFD; the JS layer refuses
   * them before, and JSON.stringify never writes one). False when out of memory. */
  bool Convert() {
    if (!u16_) return true;
    const char16_t *u = u16_.get();
    size_t n = 0;
    for (size_t i = 0; i < n16_; i++) {
      char16_t c = u[i];
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (Pair(u, i)) n += 4, i++;
      else n += 3;
    }
    Malloced<char> out(static_cast<char *>(malloc(n ? n : 1)));
    if (!out) return false;
    char *o = out.get();
    size_t k = 0;
    for (size_t i = 0; i < n16_; i++) {
      uint32_t c = u[i];
      if (Pair(u, i)) {
        c = 0x10000 + ((c - 0xD800) << 10) + (uint32_t)(u[i + 1] - 0xDC00);
        i++;
      } else if (c >= 0xD800 && c <= 0xDFFF) {
        c = 0xFFFD;
      }
      if (c < 0x80) {
        o[k++] = (char)c;
      } else if (c < 0x800) {
        o[k++] = (char)(0xC0 | (c >> 6));
        o[k++] = (char)(0x80 | (c & 0x3F));
      } else if (c < 0x10000) {
        o[k++] = (char)(0xE0 | (c >> 12));
        o[k++] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[k++] = (char)(0x80 | (c & 0x3F));
      } else {
        o[k++] = (char)(0xF0 | (c >> 18));
        o[k++] = (char)(0x80 | ((c >> 12) & 0x3F));
        o[k++] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[k++] = (char)(0x80 | (c & 0x3F));
      }
    }
    u16_.reset();
    n16_ = 0;
    big_ = std::move(out);
    big_n_ = k;
    return true;
  }

  const char *data() const { return big_ ? big_.get() : small_.data(); }
  size_t size() const { return big_ ? big_n_ : small_.size(); }

  void Clear() {
    std::string().swap(small_);
    big_.reset();
    u16_.reset();
    big_n_ = n16_ = 0;
  }

 private:
  /* u[i] and u[i + 1] are a surrogate pair (n16_ units in all). */
  bool Pair(const char16_t *u, size_t i) const {
    return u[i] >= 0xD800 && u[i] <= 0xDBFF && i + 1 < n16_ && u[i + 1] >= 0xDC00 && u[i + 1] <= 0xDFFF;
  }

  std::string small_;
  Malloced<char> big_;
  size_t big_n_ = 0;
  Malloced<char16_t> u16_;
  size_t n16_ = 0;
};

/* Decodes UTF-8 as V8 (and the WHATWG decoder) does: each maximal invalid subpart becomes one
 * U+FFFD. Returns the UTF-16 length written (out: at least n units). */
inline size_t Utf8ToUtf16(const unsigned char *s, size_t n, char16_t *out) {
  size_t k = 0;
  uint32_t cp = 0;
  int need = 0, seen = 0;
  unsigned lower = 0x80, upper = 0xBF;
  for (size_t i = 0; i < n;) {
    unsigned b = s[i];
    if (need == 0) {
      i++;
      if (b < 0x80) {
        out[k++] = (char16_t)b;
      } else if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        cp = b & 0x1F;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        need = 2;
        cp = b & 0x0F;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        need = 3;
        cp = b & 0x07;
      } else {
        out[k++] = 0xFFFD;
      }
      continue;
    }
    if (b < lower || b > upper) { /* the byte starts over: not consumed */
      cp = 0;
      need = seen = 0;
      lower = 0x80;
      upper = 0xBF;
      out[k++] = 0xFFFD;
      continue;
    }
    i++;
    lower = 0x80;
    upper = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    if (++seen < need) continue;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out[k++] = (char16_t)(0xD800 + (cp >> 10));
      out[k++] = (char16_t)(0xDC00 + (cp & 0x3FF));
    } else {
      out[k++] = (char16_t)cp;
    }
    cp = 0;
    need = seen = 0;
  }
  if (need) out[k++] = 0xFFFD;
  return k;
}

inline bool IsAscii(const char *p, size_t n) {
  const unsigned char *s = reinterpret_cast<const unsigned char *>(p);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (w & 0x8080808080808080ULL) return false;
  }
  for (; i < n; i++)
    if (s[i] & 0x80) return false;
  return true;
}

/* Bytes from the core for JS: a string (UTF-8 decoded) or a Buffer. A big one is prepared on the
 * pool (Prepare): ASCII stays as it is and becomes a string by a copy; other text is decoded to
 * UTF-16 there. Owns its bytes. */
class OutText {
 public:
  void Take(char *p, size_t n) { /* p from xr_malloc */
    Clear();
    p_.reset(p);
    n_ = n;
  }
  bool Copy(const char *p, size_t n) {
    Clear();
    p_.reset(static_cast<char *>(xr_malloc(n ? n : 1)));
    if (!p_) return false;
    if (n) memcpy(p_.get(), p, n);
    n_ = n;
    return true;
  }
  bool Big() const { return form_ == kUtf8 && n_ >= kBig; }

  /* Any thread. */
  void Prepare() {
    if (!Big()) return;
    if (IsAscii(p_.get(), n_)) {
      form_ = kLatin1;
      return;
    }
    Malloced<char16_t> u(static_cast<char16_t *>(malloc(n_ * sizeof(char16_t))));
    if (!u) return; /* decoded on the JS thread then */
    n16_ = Utf8ToUtf16(reinterpret_cast<const unsigned char *>(p_.get()), n_, u.get());
    u16_ = std::move(u);
    p_.reset();
    n_ = 0;
    form_ = kUtf16;
  }

  Napi::Value String(Napi::Env env) const {
    napi_value v = nullptr;
    napi_status s;
    if (form_ == kUtf16) s = napi_create_string_utf16(env, u16_.get(), n16_, &v);
    else if (form_ == kLatin1) s = napi_create_string_latin1(env, p_.get(), n_, &v);
    else s = napi_create_string_utf8(env, p_ ? p_.get() : "", n_, &v);
    if (s != napi_ok) throw Napi::Error::New(env);
    return Napi::Value(env, v);
  }

  /* A big one is handed over (no copy on the JS thread), freed when the Buffer is collected. */
  Napi::Value Buffer(Napi::Env env) {
    if (form_ != kUtf8 || n_ < kBig) return Napi::Buffer<char>::Copy(env, p_ ? p_.get() : "", n_);
    size_t n = n_;
    n_ = 0;
    return Napi::Buffer<char>::New(env, p_.release(), n, [](Napi::Env, char *d) { xr_free(d); });
  }

  size_t size() const { return n_; }
  const char *data() const { return p_.get(); }
  /* Holds text (in any form: Prepare may have turned it into UTF-16). */
  bool present() const { return p_ || u16_; }

  void Clear() {
    p_.reset();
    u16_.reset();
    n_ = n16_ = 0;
    form_ = kUtf8;
  }

 private:
  enum { kUtf8, kLatin1, kUtf16 };
  XrBytes p_;
  size_t n_ = 0;
  Malloced<char16_t> u16_;
  size_t n16_ = 0;
  int form_ = kUtf8;
};

/* A whole number for an int64 argument: TypeError unless a number with an integral value in
 * [-2^63, 2^63) (the JS layer names the argument in its own errors first). */
inline int64_t I64(Napi::Env env, Napi::Value v, const char *what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double)(int64_t)d) {
    throw Napi::RangeError::New(env, std::string(what) + " must be an integer within the 64-bit range");
  }
  return (int64_t)d;
}

inline std::string Utf8(Napi::Env env, Napi::Value v, const char *what) {
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

/* A Promise made on the JS thread, settled there once. A Promise left unsettled because the
 * environment ended is dropped with it. */
class Deferred {
 public:
  napi_value Make(napi_env env) {
    napi_value p = nullptr;
    if (napi_create_promise(env, &d_, &p) != napi_ok) throw Napi::Error::New(env);
    return p;
  }
  void Resolve(napi_env env, napi_value v) {
    if (d_) napi_resolve_deferred(env, d_, v);
    d_ = nullptr;
  }
  void Reject(napi_env env, napi_value e) {
    if (d_) napi_reject_deferred(env, d_, e);
    d_ = nullptr;
  }

 private:
  napi_deferred d_ = nullptr;
};

/* ---- work on the thread pool ------------------------------------------------------------------ */

/* A job on libuv's thread pool (napi async work, which Node waits for when an environment ends).
 * Complete runs on the JS thread; `js` is false when the environment is ending: nothing may be
 * settled then, only released. */
class Work {
 public:
  Work(napi_env env, EnvState *st) : env_(env), st_(st) {
    st_->Ref();
    st_->jobs++;
  }
  virtual ~Work() {
    st_->jobs--;
    st_->Unref();
  }
  /* Hands the job to the pool; throws (the caller still owns it) when Node refuses. */
  void Queue() {
    napi_value name;
    napi_create_string_utf8(env_, "crossredis", NAPI_AUTO_LENGTH, &name);
    if (napi_create_async_work(env_, nullptr, name, OnExecute, OnComplete, this, &work_) != napi_ok ||
        napi_queue_async_work(env_, work_) != napi_ok) {
      if (work_) napi_delete_async_work(env_, work_);
      work_ = nullptr;
      throw Napi::Error::New(Napi::Env(env_), "crossredis: cannot queue work on the thread pool");
    }
  }

  /* Queues the job for a call that returns `promise`: when Node refuses, the promise is rejected
   * with why and the job freed. Returns the promise. */
  Napi::Value QueueOrReject(Deferred &deferred, Napi::Value promise) {
    try {
      Queue();
    } catch (const Napi::Error &e) {
      deferred.Reject(env_, e.Value());
      delete this;
    }
    return promise;
  }

 protected:
  virtual void Execute() = 0;
  virtual void Complete(bool js) = 0;

  napi_env env_;
  EnvState *st_;

 private:
  static void OnExecute(napi_env, void *data) { static_cast<Work *>(data)->Execute(); }
  static void OnComplete(napi_env env, napi_status status, void *data) {
    Work *w = static_cast<Work *>(data);
    napi_delete_async_work(env, w->work_);
    bool js = status == napi_ok && JsUsable(env, w->st_);
    try {
      w->Complete(js);
    } catch (...) {
      /* a JS value could not be made; the Promise was settled or is dropped */
    }
    delete w;
  }

  napi_async_work work_ = nullptr;
};

class LoopConn;
class SystemBox;

/* The native object behind an External tagged `tag`; a TypeError ("expected a crossredis <what>")
 * for any other value. */
template <class T>
inline T *TaggedArg(Napi::Env env, Napi::Value v, const napi_type_tag &tag, const char *what) {
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(env, v, &tag, &tagged);
  if (!tagged) throw Napi::TypeError::New(env, std::string("expected a crossredis ") + what);
  return v.As<Napi::External<T>>().Data();
}

/* ---- clients ----------------------------------------------------------------------------------- */

inline const napi_type_tag kClientTag = {0x63726f7373726564ULL, 0x636c69656e74626fULL};

/* An open xr_client with its loop connection and the systems' handles over it (SystemBox). */
class ClientBox {
 public:
  ClientBox(EnvState *st, xr_client *client) : st_(st), client_(client) {
    st_->Ref();
    st_->clients.insert(this);
  }

  EnvState *St() const { return st_; }
  xr_client *Client() const { return client_; }
  /* Lane `lane`'s loop connection (bridge.h, xr_js_chat_lanes); null when it has none yet. */
  LoopConn *Loop(size_t lane = 0) const { return lane < loops_.size() ? loops_[lane] : nullptr; }
  /* The same, made when the lane is new: not connected yet, so its first batch runs on the thread
   * pool and opens it there, at the lane's node (LaneSlot). Lane 0 is the client's own: made at
   * open, or none when that failed (its batches then run on threads, as before lanes). */
  LoopConn *LaneLoop(napi_env env, size_t lane);
  void SetLoop(LoopConn *l) { loops_.assign(1, l); }
  /* The lane of a key slot (-1: none, or not a Cluster: lane 0): its node's number now
   * (xr_client_node_of_slot) below XR_JS_LANES. The first slot seen of each lane is where the
   * lane's loop connection opens (LaneSlot). JS thread. */
  size_t LaneOf(int slot) {
    int node = slot < 0 ? -1 : xr_client_node_of_slot(client_, slot);
    if (node < 0) return 0;
    size_t lane = (size_t)node % XR_JS_LANES;
    if (lane >= lane_slots_.size()) lane_slots_.resize(lane + 1, -1);
    if (lane_slots_[lane] < 0) lane_slots_[lane] = slot;
    return lane;
  }
  int LaneSlot(size_t lane) const { return lane < lane_slots_.size() ? lane_slots_[lane] : -1; }
  bool Open() const { return client_ && !closing_; }
  void Use() { users_++; }
  void Unuse() {
    users_--;
    Maybe();
  }
  void AddBox(SystemBox *b) {
    boxes_.insert(b);
    Use();
  }
  void RemoveBox(SystemBox *b) {
    boxes_.erase(b);
    Unuse();
  }

  void Cancel();
  void Close();
  void Shutdown();
  static void Finalize(Napi::Env, ClientBox *b) {
    b->Close();
    b->js_gone_ = true;
    b->Maybe();
  }

 private:
  void Maybe();

  EnvState *st_;
  xr_client *client_;
  void CloseLoops();
  std::vector<LoopConn *> loops_; /* by lane; [0] the client's own loop connection (or null) */
  std::vector<int> lane_slots_;
  std::unordered_set<SystemBox *> boxes_;
  int users_ = 0;
  bool closing_ = false, js_gone_ = false;
};

inline ClientBox *ClientArg(Napi::Env env, Napi::Value v) {
  return TaggedArg<ClientBox>(env, v, kClientTag, "client handle");
}

/* ---- a system's handle over a client -------------------------------------------------------------- */

/* A system's native handle over a ClientBox (a Chat SDK adapter, a session store), holding a use
 * of the client. Freed once it was closed (close, its External collected, the environment
 * ending) and no call uses it any more; deleted once its External is gone too. `count` is its
 * line in xr_js_stats (EnvState::chats, ::sessions); `closed` what a call made after the close
 * rejects with (ClientClosedError). */
class SystemBox {
 public:
  SystemBox(ClientBox *client, int EnvState::*count, const char *closed)
      : st_(client->St()), client_(client), count_(count), closed_(closed) {
    st_->Ref();
    client_->AddBox(this);
    st_->*count_ += 1;
  }
  virtual ~SystemBox() = default;

  EnvState *St() const { return st_; }
  ClientBox *Client() const { return client_; } /* null once freed */
  bool Open() const { return live_ && !closing_ && client_ && client_->Open(); }
  const char *ClosedMessage() const { return closed_; }
  bool Cancelled() const { return cancelled_.load(); }
  void Use() { users_++; }
  void Unuse() {
    users_--;
    Maybe();
  }
  /* Cancels what waits over the handle (a system with waits says how). */
  virtual void Cancel() { cancelled_.store(true); }
  void Close() {
    if (closing_) return;
    closing_ = true;
    Maybe();
  }
  static void Finalize(Napi::Env, SystemBox *b) {
    b->Close();
    b->js_gone_ = true;
    b->Maybe();
  }
  /* The External of a new box, tagged. */
  static Napi::Value External(Napi::Env env, SystemBox *box, const napi_type_tag &tag) {
    Napi::External<SystemBox> ext = Napi::External<SystemBox>::New(env, box, Finalize);
    napi_type_tag_object(env, ext, &tag);
    return ext;
  }

 protected:
  /* Frees the native handle: no call uses it now. */
  virtual void FreeHandle() = 0;

 private:
  void Maybe(); /* bridge.cc */

  EnvState *st_;
  ClientBox *client_;
  int EnvState::*count_;
  const char *closed_;
  std::atomic<bool> cancelled_{false};
  int users_ = 0;
  bool live_ = true, closing_ = false, js_gone_ = false;
};

/* A system's core functions for the machinery every system shares (OpsBox, OpsRun), from its
 * names: XR_JS_SYSTEM(ChatSystem, chat, xr_chat, xr_chat_free) is xr_chat_op_at,
 * xr_chat_batch_new, ... (a system's table gives them all: docs/CONVENTIONS.md). */
#define XR_JS_SYSTEM(Name, sys, HandleType, free_fn)                                                      \
  struct Name {                                                                                           \
    using Handle = HandleType;                                                                            \
    using Batch = xr_##sys##_batch;                                                                       \
    static const xr_op_info *OpAt(int op) { return xr_##sys##_op_at(op); }                                \
    static int OpSlot(const Handle *h, int op, const xr_arg *a, size_t n) { return xr_##sys##_op_slot(h, op, a, n); } \
    static int BatchNew(Batch **b, Handle *h) { return xr_##sys##_batch_new(b, h); }                      \
    static void BatchClear(Batch *b) { xr_##sys##_batch_clear(b); }                                       \
    static void BatchFree(Batch *b) { xr_##sys##_batch_free(b); }                                         \
    static size_t BatchCount(const Batch *b) { return xr_##sys##_batch_count(b); }                        \
    static int BatchAdd(Batch *b, int op, const xr_arg *a, size_t n) { return xr_##sys##_batch_add(b, op, a, n); } \
    static int BatchExec(Batch *b) { return xr_##sys##_batch_exec(b); }                                   \
    static int BatchStart(Batch *b, xr_loop_conn *lc, int *wait) { return xr_##sys##_batch_start(b, lc, wait); } \
    static int BatchResult(const Batch *b, size_t i, xr_result *r) { return xr_##sys##_batch_result(b, i, r); } \
    static size_t BatchReplySize(const Batch *b, size_t i) { return xr_##sys##_batch_reply_size(b, i); }  \
    static void Free(Handle *h) { free_fn(h); }                                                           \
  }

/* A system's handle (Sys: an XR_JS_SYSTEM) and the batches of its earlier calls, cleared and kept
 * (their memory too: a call of one operation then allocates almost nothing). */
template <class Sys>
class OpsBox : public SystemBox {
 public:
  OpsBox(ClientBox *client, typename Sys::Handle *h, int EnvState::*count, const char *closed)
      : SystemBox(client, count, closed), h_(h) {}

  typename Sys::Handle *Handle() const { return h_; } /* null once freed */

  /* A batch for a call: one an earlier call gave back, else a new one. Any thread. */
  int TakeBatch(typename Sys::Batch **out) {
    {
      std::lock_guard<std::mutex> hold(kept_mu_);
      if (!kept_.empty()) {
        *out = kept_.back();
        kept_.pop_back();
        return XR_OK;
      }
    }
    return Sys::BatchNew(out, h_);
  }
  /* Gives a call's batch back (NULL: nothing): kept for the next call, a few at most. Any thread
   * (a call holds a use of this box until it is deleted). */
  void GiveBatch(typename Sys::Batch *b) {
    if (!b) return;
    Sys::BatchClear(b);
    {
      std::lock_guard<std::mutex> hold(kept_mu_);
      if (kept_.size() < kKeptBatches) {
        kept_.push_back(b);
        return;
      }
    }
    Sys::BatchFree(b);
  }

 protected:
  void FreeHandle() override {
    for (typename Sys::Batch *b : kept_) Sys::BatchFree(b); /* no call uses the box now */
    kept_.clear();
    Sys::Free(h_);
    h_ = nullptr;
  }

 private:
  typename Sys::Handle *h_;
  static constexpr size_t kKeptBatches = 4;
  std::mutex kept_mu_;
  std::vector<typename Sys::Batch *> kept_;
};

/* ---- batches ------------------------------------------------------------------------------------ */

/* A batch run: built on the JS thread (a big one on the pool), then run on the client's loop
 * connection when it is free (driven by libuv on the JS thread), else on the thread pool by a
 * PoolRun. Holds a use of its client and of the system's handle it runs over until settled.
 * Subclasses say how to build, start and run it blocking, read its results (Collect: on the
 * thread that finished it, right away, while the core's messages are current), convert big texts
 * (Prepare: on the pool) and make the JS result (Result, on the JS thread). Deletes itself once
 * settled. */
class BatchRun {
 public:
  BatchRun(Napi::Env env, ClientBox *client, SystemBox *box) : env_(env), client_(client), box_(box) {}
  virtual ~BatchRun() {
    if (used_) {
      if (box_) box_->Unuse();
      client_->Unuse();
    }
  }

  Napi::Value Go();

  virtual int StartLoop(xr_loop_conn *lc, int *wait) = 0;
  virtual int Exec() = 0;                /* blocking, on a pool thread */
  virtual void Finished(int) {}          /* where the run finished, while the core's message is current */
  virtual void Collect() = 0;            /* the results (any thread) */
  virtual bool HeavyCollect() const { return false; } /* Collect may copy or decode big replies */
  virtual bool NeedsPrepare() const { return false; }
  virtual void Prepare() {}               /* on the pool */
  virtual Napi::Value Result(Napi::Env env) = 0;

  /* On the pool, before Exec, for a batch too big to build on the JS thread. */
  void BuildOnPool() {
    if (!built_) {
      Build();
      built_ = true;
      built_pool_ = weight_;
    }
  }

  /* The loop connection finished (or gave up on) the batch: read the results, convert big ones
   * on the pool, settle inside a callback scope of the connection's async context. */
  void LoopFinished(int rc, napi_async_context context, napi_ref resource);

  /* Settles (when js) and deletes this. */
  void Settle(bool js);

  EnvState *St() const { return box_ ? box_->St() : client_->St(); }

  /* Tells V8 about the native copy a big batch holds until it settles (memory held for JS): its
   * collector then runs soon, while the pool works, and frees what JSON.stringify left in the JS
   * heap (the text and the pieces it was built from, twice the value) before the core's peak. */
  void Hold(Napi::Env env) {
    int64_t unused;
    if (napi_adjust_external_memory(env, (int64_t)weight_, &unused) == napi_ok) held_ = (int64_t)weight_;
  }
  LoopConn *Loop() const { return client_->Loop(lane_); }
  /* Runs on lane's loop connection (xr_js_chat_lanes); 0 unless set. */
  void SetLane(size_t lane) { lane_ = lane; }
  ClientBox *ClientOf() const { return client_; }

 protected:
  virtual void Build() = 0;
  bool big_ = false;   /* build, convert and run on the pool */
  bool built_ = false; /* Build ran */
  Failure failure_;    /* the whole call failed before it ran */
  size_t weight_ = 0;  /* bytes of the texts in it */
  /* for xr_js_stats: what was built on the pool, and the big results decoded on either side */
  size_t built_pool_ = 0, decoded_pool_ = 0, decoded_js_ = 0;
  int64_t held_ = 0; /* reported to V8 (Hold) */

 private:
  Napi::Env env_;
  Deferred deferred_;
  ClientBox *client_;
  SystemBox *box_; /* null: the client's own commands */
  size_t lane_ = 0;
  bool used_ = false;
};

/* A loop connection (client.h) watched by libuv on the JS thread for as long as its client is
 * open: readable always (idle, readable means the server closed it), writable while a batch has
 * more to send, a timer for the reply deadline. It is referenced (keeps the process alive) only
 * while a batch runs. A connection that failed is retired; the next batch goes through the thread
 * pool and opens a new one there (see PoolRun). Deletes itself once closed and its handles closed. */
/* The libuv adapter of loop.h: watches one xr_pollable on the environment's loop. After every
 * step it reads the pollable's fd events and deadline again and re-arms; when a step ends the
 * work (XR_POLL_DONE) or fails (a negative code) it tells its owner. Nothing here knows what the
 * pollable is: the broker's subscriber and the watchdog will be watched the same way. */
class UvWatch {
 public:
  using Outcome = void (*)(void *owner, int rc);

  void Init(uv_loop_t *loop, xr_pollable *p, void *owner, Outcome outcome) {
    p_ = p;
    owner_ = owner;
    outcome_ = outcome;
    events_ = 0; /* fresh handles watch nothing yet (a watch is re-used for a reopened connection) */
    busy_ = false;
    uv_poll_init(loop, &poll_, xr_pollable_fd(p));
    uv_timer_init(loop, &timer_);
    poll_.data = this;
    timer_.data = this;
  }

  /* Watches what the pollable asks for now; keeps the loop alive only while `busy`. */
  void Arm(bool busy) {
    busy_ = busy;
    int want = xr_pollable_events(p_);
    int events = (want & XR_WAIT_READ ? UV_READABLE : 0) | (want & XR_WAIT_WRITE ? UV_WRITABLE : 0);
    if (events != events_) {
      events_ = events;
      if (events) uv_poll_start(&poll_, events, OnPoll);
      else uv_poll_stop(&poll_);
    }
    int64_t deadline = xr_pollable_deadline(p_);
    if (deadline < 0) {
      uv_timer_stop(&timer_);
    } else {
      int64_t in = deadline - xr_monotonic_ms();
      uv_timer_start(&timer_, OnTimer, (uint64_t)(in > 0 ? in : 0), 0);
    }
    if (busy) uv_ref(reinterpret_cast<uv_handle_t *>(&poll_));
    else uv_unref(reinterpret_cast<uv_handle_t *>(&poll_));
    uv_unref(reinterpret_cast<uv_handle_t *>(&timer_));
  }

  /* Stops watching until the next Arm (the pollable is used on another thread meanwhile). */
  void Pause() {
    events_ = 0;
    uv_poll_stop(&poll_);
    uv_timer_stop(&timer_);
  }

  /* Stops watching now; `closed` runs once per handle (two) when libuv let them go. */
  void Close(uv_close_cb closed, void *data) {
    poll_.data = timer_.data = data;
    uv_close(reinterpret_cast<uv_handle_t *>(&poll_), closed);
    uv_close(reinterpret_cast<uv_handle_t *>(&timer_), closed);
  }

 private:
  void Step(int ready) {
    int rc = xr_pollable_process(p_, ready, xr_monotonic_ms());
    if (rc == XR_POLL_DONE || rc < 0) outcome_(owner_, rc == XR_POLL_DONE ? XR_OK : rc); /* it re-arms or closes */
    else Arm(busy_);
  }

  static void OnPoll(uv_poll_t *h, int status, int events) {
    UvWatch *w = static_cast<UvWatch *>(h->data);
    /* a failed poll: let the pollable find the error on the socket */
    int ready = status < 0 ? XR_WAIT_READ | XR_WAIT_WRITE
                           : (events & UV_READABLE ? XR_WAIT_READ : 0) | (events & UV_WRITABLE ? XR_WAIT_WRITE : 0);
    w->Step(ready);
  }

  static void OnTimer(uv_timer_t *t) { static_cast<UvWatch *>(t->data)->Step(0); }

  xr_pollable *p_ = nullptr;
  void *owner_ = nullptr;
  Outcome outcome_ = nullptr;
  uv_poll_t poll_;
  uv_timer_t timer_;
  int events_ = 0;
  bool busy_ = false;
};

/* The client's loop connection: one batch at a time, driven on the JS thread by its UvWatch. */
class LoopConn {
 public:
  LoopConn(napi_env env, EnvState *st, xr_client *client, xr_loop_conn *lc) : env_(env), st_(st), client_(client) {
    st_->Ref();
    st_->loops++;
    napi_value resource, name;
    napi_create_object(env, &resource);
    napi_create_string_utf8(env, "crossredis", NAPI_AUTO_LENGTH, &name);
    if (napi_async_init(env, resource, name, &context_) != napi_ok) context_ = nullptr;
    else if (napi_create_reference(env, resource, 1, &resource_) != napi_ok) resource_ = nullptr;
    Install(lc);
  }

  bool Usable() const { return lc_ && !running_ && !closed_; }
  /* Where a reopen connects first (xr_loop_conn_open_at): a slot of its lane's node, or -1. */
  int Slot() const { return slot_; }
  void SetSlot(int slot) { slot_ = slot; }
  bool Retired() const { return !lc_ && !closed_ && !reopening_; }
  xr_client *Client() const { return client_; }

  /* Starts run's batch (via start, which calls xr_loop_conn_start or xr_chat_batch_start). */
  template <class StartFn>
  void Start(BatchRun *run, StartFn start) {
    running_ = run;
    int wait = 0;
    int rc = start(lc_, &wait);
    if (wait) {
      watch_.Arm(true);
    } else {
      Finish(rc);
    }
  }

  void BeginReopen() { reopening_ = true; }
  /* Called on the JS thread with what the pool thread opened (NULL: it could not). */
  void EndReopen(xr_loop_conn *lc) {
    reopening_ = false;
    if (lc) {
      if (closed_ || lc_) xr_loop_conn_close(lc);
      else Install(lc);
    }
    MaybeDelete();
  }

  /* The client is closing, or the environment ending: a batch still running is settled with
   * ClientClosedError (nothing, when the environment ends); stop watching, close the connection. */
  void Close() {
    if (closed_) return;
    closed_ = true;
    if (running_ && lc_) {
      xr_loop_conn_cancel(lc_, XR_ECLOSED);
      Finish(XR_ECLOSED);
    }
    Retire();
    if (context_) napi_async_destroy(env_, context_);
    context_ = nullptr;
    if (resource_) napi_delete_reference(env_, resource_);
    resource_ = nullptr;
    MaybeDelete();
  }

 private:
  void Install(xr_loop_conn *lc) {
    if (!lc) return;
    uv_loop_t *loop = nullptr;
    napi_get_uv_event_loop(env_, &loop);
    lc_ = lc;
    watch_.Init(loop, xr_loop_conn_pollable(lc), this, OnOutcome);
    handles_ += 2;
    watch_.Arm(false);
  }

  /* The watch's news: the batch finished (0) or failed; idle, the connection broke. */
  static void OnOutcome(void *owner, int rc) {
    LoopConn *self = static_cast<LoopConn *>(owner);
    if (!self->lc_) return;
    if (self->running_) {
      self->Finish(rc);
    } else if (xr_loop_conn_broken(self->lc_)) {
      self->Retire();
    }
  }

  void Finish(int rc) {
    BatchRun *run = running_;
    running_ = nullptr;
    if (xr_loop_conn_broken(lc_)) Retire();
    else watch_.Arm(false);
    run->LoopFinished(rc, context_, resource_); /* last: settling runs JS, which may start the next batch */
  }

  /* Stops watching and closes the connection; a batch still running was cancelled before. */
  void Retire() {
    if (!lc_) return;
    st_->HandleClosing();
    st_->HandleClosing();
    watch_.Close(OnClose, this); /* stops watching the fd now */
    xr_loop_conn_close(lc_);
    lc_ = nullptr;
  }

  static void OnClose(uv_handle_t *h) {
    LoopConn *self = static_cast<LoopConn *>(h->data);
    self->handles_--;
    self->st_->HandleClosed();
    self->MaybeDelete();
  }

  void MaybeDelete() {
    if (closed_ && handles_ == 0 && !lc_ && !reopening_) {
      EnvState *st = st_;
      st->loops--;
      delete this;
      st->Unref();
    }
  }

  napi_env env_;
  EnvState *st_;
  xr_client *client_;
  napi_async_context context_ = nullptr;
  napi_ref resource_ = nullptr; /* context_'s resource: the callback scope of each settling */
  xr_loop_conn *lc_ = nullptr;
  UvWatch watch_;
  int handles_ = 0;
  BatchRun *running_ = nullptr;
  int slot_ = -1;
  bool closed_ = false, reopening_ = false;
};

/* Runs a BatchRun's blocking exec on libuv's thread pool (building and converting it there when it
 * is big); when the client's loop connection was retired and the batch reached the server, opens
 * its replacement there too (connecting blocks). */
class PoolRun : public Work {
 public:
  PoolRun(Napi::Env env, BatchRun *run) : Work(env, run->St()), run_(run) {
    LoopConn *loop = run->Loop();
    if (loop && loop->Retired()) {
      loop->BeginReopen();
      reopen_ = loop;
      client_ = run->ClientOf()->Client();
      slot_ = loop->Slot();
    }
  }

 private:
  void Execute() override {
    run_->BuildOnPool();
    int rc = run_->Exec();
    run_->Finished(rc);
    run_->Collect();
    run_->Prepare();
    /* only when the server answered: against a dead one the next batch will try again, rather
     * than this one waiting for a second connect timeout */
    if (reopen_ && rc >= 0 && xr_loop_conn_open_at(&opened_, client_, slot_) < 0) opened_ = nullptr;
  }
  void Complete(bool js) override {
    if (reopen_) reopen_->EndReopen(opened_);
    run_->Settle(js);
  }

  BatchRun *run_;
  LoopConn *reopen_ = nullptr;
  xr_client *client_ = nullptr;
  int slot_ = -1;
  xr_loop_conn *opened_ = nullptr;
};

/* Reads (when `collect`) and converts the big results of a batch that finished on the loop
 * connection. */
class PrepareRun : public Work {
 public:
  PrepareRun(Napi::Env env, BatchRun *run, bool collect) : Work(env, run->St()), run_(run), collect_(collect) {}

 private:
  void Execute() override {
    if (collect_) run_->Collect();
    run_->Prepare();
  }
  void Complete(bool js) override { run_->Settle(js); }
  BatchRun *run_;
  bool collect_;
};

/* ---- a system's operations as one batch --------------------------------------------------------- */
/* Every system runs its operations the same way: each is a row of its table (chat.def,
 * session.def: xr_<system>_op_at), its arguments read by their kinds and its result converted by
 * its result kind, never per operation. The code is here once (OpsRunBase, bridge.cc); a system
 * instantiates OpsRun with its XR_JS_SYSTEM. */

/* One operation of a batch: its arguments, then its result by kind. */
struct OpCall {
  const xr_op_info *info = nullptr;
  InText texts[XR_OP_ARGS_MAX]; /* TEXT and BYTES arguments */
  int64_t nums[XR_OP_ARGS_MAX] = {0};
  int index = -1;               /* in the batch; -1 when adding it failed */
  Failure failure;
  /* the result, by kind */
  bool present = false;
  long long integer = 0;
  OutText fields[XR_RESULT_FIELDS_MAX]; /* TEXT and BYTES fields (an entry's raw also after a failure) */
  int64_t field_nums[XR_RESULT_FIELDS_MAX] = {0};
  size_t nfields = 0;
  std::vector<OutText> items;   /* LIST */
};

/* The rows of a system's table for the JS layer: [{code, name, wire, result, args: [{name, kind}]}]. */
Napi::Value OpsTable(Napi::Env env, const xr_op_info *(*op_at)(int));

/* What a batch of operations does that depends on no system: reading the operations ([code,
 * ...arguments], a row of op_at), and from the results read (Take), preparing big texts and
 * making the JS values by kind (bridge.h, xr_js_chat_run). */
class OpsRunBase : public BatchRun {
 public:
  OpsRunBase(Napi::Env env, SystemBox *box, Napi::Value ops, const xr_op_info *(*op_at)(int));
  /* VALUE and LIST results as Buffers, not strings (a system of opaque values: xp's slots). */
  void SetBytes() { bytes_ = true; }

 protected:
  /* The xr_arg values of op (its texts converted, big ones here on the pool); false when out of
   * memory (op.failure says so). */
  static bool Args(OpCall &op, xr_arg *args);
  /* Operation op's result (rc and r from the system's batch_result) in its kind's shape, r cleared.
   * Bytes fields are taken over, not copied (xr_result_take_field): a big one is in memory once. */
  void Take(int rc, xr_result &r, OpCall &op);
  /* Whether reading op's result decodes its reply (VALUE, LIST, ENTRY, SESSION, MAP: JSON or a
   * record read and written again), work that grows with the reply. */
  static bool Decodes(const OpCall &op);
  void Finished(int rc) override;
  bool NeedsPrepare() const override;
  void Prepare() override;
  Napi::Value Result(Napi::Env env) override;

  std::vector<OpCall> ops_;

 private:
  static void Read(Napi::Env env, Napi::Array a, OpCall &op, const xr_op_info *(*op_at)(int));
  Failure lost_; /* the connection failed: every operation's failure */
  bool bytes_ = false;
};

/* A batch of one system's operations over its handle (Sys: an XR_JS_SYSTEM). lane: the loop
 * connection to run on (bridge.h, lanes), or -1: the lane of the first operation's key (a call
 * whose operations the JS layer did not sort: one operation, while nothing else runs). */
template <class Sys>
class OpsRun : public OpsRunBase {
 public:
  OpsRun(Napi::Env env, OpsBox<Sys> *box, Napi::Value ops, int lane) : OpsRunBase(env, box, ops, Sys::OpAt), box_(box) {
    SetLane(lane >= 0 ? (size_t)lane : LaneOfFirst());
    big_ = weight_ >= kBig;
    if (big_) Hold(env);
    if (!big_ && box_->Open()) {
      Build();
      built_ = true;
    }
  }
  ~OpsRun() override { box_->GiveBatch(batch_); }

 private:
  /* The lane of the first operation's key (0 when not a Cluster or it has none), as
   * xr_js_chat_lanes finds it. */
  size_t LaneOfFirst() {
    if (ops_.empty() || !box_->Open() || xr_client_topology(box_->Client()->Client()) != XR_TOPOLOGY_CLUSTER) return 0;
    const OpCall &op = ops_[0];
    xr_arg args[XR_OP_ARGS_MAX] = {};
    args[0] = xr_arg{op.texts[0].data(), op.texts[0].size(), op.nums[0]};
    return box_->Client()->LaneOf(Sys::OpSlot(box_->Handle(), op.info->code, args, op.info->nargs));
  }

  /* Makes the batch (JS thread, or the pool for a big one); the texts are freed as they are added. */
  void Build() override {
    int rc = box_->TakeBatch(&batch_);
    if (rc < 0) {
      failure_.take(rc);
      return;
    }
    for (OpCall &op : ops_) {
      xr_arg args[XR_OP_ARGS_MAX];
      if (!Args(op, args)) continue;
      op.index = Sys::BatchAdd(batch_, op.info->code, args, op.info->nargs);
      if (op.index < 0) op.failure.take(op.index);
      for (InText &t : op.texts) t.Clear();
    }
  }

  int StartLoop(xr_loop_conn *lc, int *wait) override { return Sys::BatchStart(batch_, lc, wait); }

  /* Collect on the pool only when the replies it decodes are big (kBig in all): a record or a
   * value of a few hundred bytes is read on the JS thread, without a thread-pool round trip. */
  bool HeavyCollect() const override {
    if (!batch_) return false;
    size_t bytes = 0;
    for (const OpCall &op : ops_)
      if (Decodes(op) && (bytes += Sys::BatchReplySize(batch_, (size_t)op.index)) >= kBig) return true;
    return false;
  }
  int Exec() override {
    if (!batch_) return XR_OK; /* building failed: failure_ says why */
    return Sys::BatchExec(batch_);
  }

  /* Reads every result, then gives the batch (its replies) back: only the copies are kept. */
  void Collect() override {
    if (!batch_ || Sys::BatchCount(batch_) == 0) return;
    for (OpCall &op : ops_) {
      if (op.index < 0) continue;
      xr_result r;
      int rc = Sys::BatchResult(batch_, (size_t)op.index, &r);
      Take(rc, r, op);
    }
    box_->GiveBatch(batch_);
    batch_ = NULL;
  }

  OpsBox<Sys> *box_;
  typename Sys::Batch *batch_ = NULL;
};

/* The big bulk strings of a reply (kBig bytes and more), copied and, unless they are to become
 * Buffers, decoded on the pool (Add: any thread; `decoded` counts their bytes); ReplyValue makes
 * the reply's JS value with them (JS thread; prep may be null). bridge.cc. */
struct Prepared {
  std::unordered_map<const xr_reply *, OutText> texts;
  size_t decoded = 0;
  static bool HasBig(const xr_reply *r);
  void Add(const xr_reply *r, bool buffers);
};
Napi::Value ReplyValue(Napi::Env env, const xr_reply *r, bool buffers, Prepared *prep);

/* A command argument (client.command and the raw wrappers of javascript.i): a string (its UTF-8),
 * a Buffer or Uint8Array (its bytes), a number or bigint (its decimal text); a TypeError naming
 * argument i otherwise. The one conversion of command arguments in the addon. */
inline void ReadCommandArg(Napi::Env env, Napi::Value item, uint32_t i, InText &out) {
  if (item.IsString()) {
    out.Read(env, item, "command argument");
  } else if (item.IsTypedArray() && item.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array u = item.As<Napi::Uint8Array>(); /* a Buffer is one too */
    out.Assign(env, reinterpret_cast<const char *>(u.Data()), u.ByteLength());
  } else if (item.IsNumber() || item.IsBigInt()) {
    out.Read(env, item.ToString(), "command argument");
  } else {
    throw Napi::TypeError::New(env, "command argument " + std::to_string(i) +
                                        ": expected a string, Buffer, Uint8Array, number or bigint");
  }
}

/* An optional string option: unset, or a value. */
struct OptString {
  bool set = false;
  std::string value;
  const char *get() const { return set ? value.c_str() : NULL; }
};

/* What a system's handle is made from (xr_js_chat_new, xr_js_session_new): an open client
 * (ClientClosedError otherwise) and an options object (a TypeError naming `what` otherwise), read
 * by name: a text unset unless a string, a number 0 (the core's default) when absent. JS thread. */
class HandleArgs {
 public:
  HandleArgs(Napi::Env env, Napi::Value client, Napi::Value options, const char *what)
      : env_(env), client_(ClientArg(env, client)) {
    if (!options.IsObject()) throw Napi::TypeError::New(env, std::string(what) + " must be an object");
    if (!client_->Open()) throw xr_js_error_of(env, XR_ECLOSED, "the client is closed");
    o_ = options.As<Napi::Object>();
  }
  ClientBox *Client() const { return client_; }
  OptString Text(const char *name) const {
    OptString out;
    Napi::Value v = o_.Get(name);
    if (v.IsString()) {
      out.value = v.As<Napi::String>().Utf8Value();
      out.set = true;
    }
    return out;
  }
  int64_t Number(const char *name) const {
    Napi::Value v = o_.Get(name);
    return v.IsUndefined() ? 0 : I64(env_, v, name);
  }
  /* A number that need not be an integer (0 when absent). */
  double Real(const char *name) const {
    Napi::Value v = o_.Get(name);
    if (v.IsUndefined()) return 0;
    if (!v.IsNumber()) throw Napi::TypeError::New(env_, std::string(name) + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }
  bool Flag(const char *name) const { return o_.Get(name).ToBoolean().Value(); }

 private:
  Napi::Env env_;
  ClientBox *client_;
  Napi::Object o_;
};

}  // namespace xrjs

#endif
