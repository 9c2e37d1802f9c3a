/* The async bridge (bridge.h): arguments copied on the JS thread, core calls on libuv's thread
 * pool or on a loop connection driven by libuv, results made into JS values back on the JS thread;
 * the lifetimes of clients, adapters and the calls over them; the end of an environment. */
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

namespace {

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
  bool stopping = false;      /* the environment is ending: no JS, no new work */
  int refs = 1;               /* the environment's own, and one per box, loop connection, job */
  std::unordered_set<ClientBox *> clients;
  int chats = 0, loops = 0, waits = 0, jobs = 0; /* for xr_js_stats */
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
  void Unref() {
    if (--refs > 0) return;
    Forget();
    delete this;
  }
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
bool JsUsable(napi_env env, EnvState *st) {
  if (st && st->stopping) return false;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
  napi_value o, u;
  bool ok = napi_create_object(env, &o) == napi_ok && napi_get_undefined(env, &u) == napi_ok &&
            napi_set_named_property(env, o, "x", u) == napi_ok; /* refused when JS cannot run */
  napi_close_handle_scope(env, scope);
  return ok;
}

}  // namespace

Napi::Error xr_js_error_of(Napi::Env env, int code, const char *msg) {
  if (!msg || !msg[0]) msg = xr_strerror(code);
  Napi::Error err = Napi::Error::New(env, msg);
  EnvState *st = EnvState::Of(env);
  napi_value classes = nullptr;
  if (st->classes && napi_get_reference_value(env, st->classes, &classes) == napi_ok && classes) {
    try {
      Napi::Value cls = Napi::Object(env, classes).Get(std::to_string(code));
      if (cls.IsFunction()) err = Napi::Error(env, cls.As<Napi::Function>().New({Napi::String::New(env, msg)}));
    } catch (const Napi::Error &) {
      /* a class that cannot be made: the plain Error */
    }
  }
  err.Value().Set("code", Napi::Number::New(env, code));
  err.Value().Set("codeName", Napi::String::New(env, xr_error_name(code)));
  return err;
}

void xr_js_set_error_classes(Napi::Value classes) {
  napi_env env = classes.Env();
  EnvState *st = EnvState::Of(env);
  if (st->classes) napi_delete_reference(env, st->classes);
  st->classes = nullptr;
  if (classes.IsObject()) napi_create_reference(env, classes, 1, &st->classes);
}

namespace {

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
size_t Utf8ToUtf16(const unsigned char *s, size_t n, char16_t *out) {
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

bool IsAscii(const char *p, size_t n) {
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
int64_t I64(Napi::Env env, Napi::Value v, const char *what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double)(int64_t)d) {
    throw Napi::RangeError::New(env, std::string(what) + " must be an integer within the 64-bit range");
  }
  return (int64_t)d;
}

std::string Utf8(Napi::Env env, Napi::Value v, const char *what) {
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
class ChatBox;
class Wait;

/* ---- clients ----------------------------------------------------------------------------------- */

const napi_type_tag kClientTag = {0x63726f7373726564ULL, 0x636c69656e74626fULL};
const napi_type_tag kChatTag = {0x63726f7373726564ULL, 0x6368617462786f78ULL};

/* An open xr_client with its loop connection and the adapters over it. */
class ClientBox {
 public:
  ClientBox(EnvState *st, xr_client *client) : st_(st), client_(client) {
    st_->Ref();
    st_->clients.insert(this);
  }

  EnvState *St() const { return st_; }
  xr_client *Client() const { return client_; }
  LoopConn *Loop() const { return loop_; }
  void SetLoop(LoopConn *l) { loop_ = l; }
  bool Open() const { return client_ && !closing_; }
  void Use() { users_++; }
  void Unuse() {
    users_--;
    Maybe();
  }
  void AddChat(ChatBox *c) {
    chats_.insert(c);
    Use();
  }
  void RemoveChat(ChatBox *c) {
    chats_.erase(c);
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
  LoopConn *loop_ = nullptr;
  std::unordered_set<ChatBox *> chats_;
  int users_ = 0;
  bool closing_ = false, js_gone_ = false;
};

/* An xr_chat over a ClientBox (holding a use of it). */
class ChatBox {
 public:
  ChatBox(ClientBox *client, xr_chat *chat) : st_(client->St()), client_(client), chat_(chat) {
    st_->Ref();
    client_->AddChat(this);
    st_->chats++;
  }

  EnvState *St() const { return st_; }
  ClientBox *Client() const { return client_; } /* null once freed */
  xr_chat *Chat() const { return chat_; }
  bool Open() const { return chat_ && !closing_ && client_ && client_->Open(); }
  bool Cancelled() const { return cancelled_.load(); }
  void Use() { users_++; }
  void Unuse() {
    users_--;
    Maybe();
  }
  void AddWait(Wait *w) { waits_.insert(w); }
  void RemoveWait(Wait *w) { waits_.erase(w); }

  void Cancel();
  void Close() {
    if (closing_) return;
    closing_ = true;
    Maybe();
  }
  static void Finalize(Napi::Env, ChatBox *b) {
    b->Close();
    b->js_gone_ = true;
    b->Maybe();
  }

 private:
  void Maybe() {
    if (closing_ && users_ == 0 && chat_) {
      xr_chat_free(chat_);
      chat_ = nullptr;
      st_->chats--;
      ClientBox *c = client_;
      client_ = nullptr;
      c->RemoveChat(this); /* may free the client */
    }
    if (!chat_ && js_gone_) {
      EnvState *st = st_;
      delete this;
      st->Unref();
    }
  }

  EnvState *st_;
  ClientBox *client_;
  xr_chat *chat_;
  std::unordered_set<Wait *> waits_;
  std::atomic<bool> cancelled_{false};
  int users_ = 0;
  bool closing_ = false, js_gone_ = false;
  friend class ClientBox;
};

ClientBox *ClientArg(Napi::Env env, Napi::Value v) {
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(env, v, &kClientTag, &tagged);
  if (!tagged) throw Napi::TypeError::New(env, "expected a crossredis client handle");
  return v.As<Napi::External<ClientBox>>().Data();
}

ChatBox *ChatArg(Napi::Env env, Napi::Value v) {
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(env, v, &kChatTag, &tagged);
  if (!tagged) throw Napi::TypeError::New(env, "expected a crossredis adapter handle");
  return v.As<Napi::External<ChatBox>>().Data();
}

/* ---- batches ------------------------------------------------------------------------------------ */

/* A batch run: built on the JS thread (a big one on the pool), then run on the client's loop
 * connection when it is free (driven by libuv on the JS thread), else on the thread pool by a
 * PoolRun. Holds a use of its client and adapter until settled. Subclasses say how to build,
 * start and run it blocking, read its results (Collect: on the thread that finished it, right
 * away, while the core's messages are current), convert big texts (Prepare: on the pool) and make
 * the JS result (Result, on the JS thread). Deletes itself once settled. */
class BatchRun {
 public:
  BatchRun(Napi::Env env, ClientBox *client, ChatBox *chat) : env_(env), client_(client), chat_(chat) {}
  virtual ~BatchRun() {
    if (used_) {
      if (chat_) chat_->Unuse();
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
  void LoopFinished(int rc, napi_async_context context);

  /* Settles (when js) and deletes this. */
  void Settle(bool js);

  EnvState *St() const { return chat_ ? chat_->St() : client_->St(); }

  /* Tells V8 about the native copy a big batch holds until it settles (memory held for JS): its
   * collector then runs soon, while the pool works, and frees what JSON.stringify left in the JS
   * heap (the text and the pieces it was built from, twice the value) before the core's peak. */
  void Hold(Napi::Env env) {
    int64_t unused;
    if (napi_adjust_external_memory(env, (int64_t)weight_, &unused) == napi_ok) held_ = (int64_t)weight_;
  }
  LoopConn *Loop() const { return client_->Loop(); }
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
  ChatBox *chat_;
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
    Install(lc);
  }

  bool Usable() const { return lc_ && !running_ && !closed_; }
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
    run->LoopFinished(rc, context_); /* last: settling runs JS, which may start the next batch */
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
  xr_loop_conn *lc_ = nullptr;
  UvWatch watch_;
  int handles_ = 0;
  BatchRun *running_ = nullptr;
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
    if (reopen_ && rc >= 0 && xr_loop_conn_open(&opened_, client_) < 0) opened_ = nullptr;
  }
  void Complete(bool js) override {
    if (reopen_) reopen_->EndReopen(opened_);
    run_->Settle(js);
  }

  BatchRun *run_;
  LoopConn *reopen_ = nullptr;
  xr_client *client_ = nullptr;
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

Napi::Value BatchRun::Go() {
  Napi::Value p(env_, deferred_.Make(env_));
  if (!failure_.failed() && (!client_ || !client_->Open() || (chat_ && !chat_->Open()))) {
    failure_.set(XR_ECLOSED, chat_ ? "the state adapter was disconnected" : "the client is closed");
  }
  if (failure_.failed()) { /* nothing to run */
    Settle(true);
    return p;
  }
  client_->Use();
  if (chat_) chat_->Use();
  used_ = true;
  LoopConn *loop = client_->Loop();
  if (!big_ && loop && loop->Usable()) {
    loop->Start(this, [this](xr_loop_conn *lc, int *wait) { return StartLoop(lc, wait); });
  } else {
    PoolRun *job = new PoolRun(env_, this);
    try {
      job->Queue();
    } catch (const Napi::Error &e) {
      delete job;
      failure_.set(XR_ENOMEM, e.Message());
      Settle(true);
    }
  }
  return p;
}

void BatchRun::LoopFinished(int rc, napi_async_context context) {
  Finished(rc);
  if (!JsUsable(env_, St())) {
    Settle(false);
    return;
  }
  Napi::HandleScope scope(env_);
  bool heavy = HeavyCollect();
  if (!heavy) Collect();
  if (heavy || NeedsPrepare()) {
    PrepareRun *job = new PrepareRun(env_, this, heavy);
    try {
      job->Queue();
      return;
    } catch (...) {
      delete job; /* read and converted on the JS thread then */
      if (heavy) Collect();
    }
  }
  if (context) {
    Napi::CallbackScope callback(env_, context);
    Settle(true);
  } else {
    Settle(true);
  }
}

void BatchRun::Settle(bool js) {
  EnvState *st = St();
  if (big_ && !built_pool_) st->built_js += (double)weight_;
  st->built_pool += (double)built_pool_;
  if (js) {
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    try {
      if (failure_.failed()) {
        deferred_.Reject(env, xr_js_error_of(env, failure_.code, failure_.message.c_str()).Value());
      } else {
        deferred_.Resolve(env, Result(env));
      }
    } catch (const Napi::Error &e) {
      deferred_.Reject(env, e.Value());
    }
  }
  st->decoded_pool += (double)decoded_pool_;
  st->decoded_js += (double)decoded_js_;
  if (held_) {
    int64_t unused;
    napi_adjust_external_memory(env_, -held_, &unused);
  }
  delete this;
}

Napi::Value LockValue(Napi::Env env, const char *token, size_t len, int64_t expires_at) {
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set((uint32_t)0, Napi::String::New(env, token, len));
  a.Set((uint32_t)1, Napi::Number::New(env, (double)expires_at));
  return a;
}

/* ---- Chat SDK operations as one batch -------------------------------------------------------- */
/* Every operation is a row of chat.def (xr_chat_op_at): its arguments are read by their kinds and
 * its result converted by its result kind, never per operation. */

struct ChatOp {
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

class ChatRun : public BatchRun {
 public:
  ChatRun(Napi::Env env, ChatBox *chat, Napi::Value ops) : BatchRun(env, chat->Client(), chat), box_(chat) {
    if (!ops.IsArray()) throw Napi::TypeError::New(env, "operations must be an Array");
    Napi::Array arr = ops.As<Napi::Array>();
    uint32_t n = arr.Length();
    ops_.resize(n);
    size_t weight = 0;
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value item = arr.Get(i);
      if (!item.IsArray()) throw Napi::TypeError::New(env, "an operation must be an Array");
      Read(env, item.As<Napi::Array>(), ops_[i]);
      for (const InText &t : ops_[i].texts) weight += t.Weight();
    }
    weight_ = weight;
    big_ = weight >= kBig;
    if (big_) Hold(env);
    if (!big_ && box_->Open()) {
      Build();
      built_ = true;
    }
  }
  ~ChatRun() override { xr_chat_batch_free(batch_); }

 private:
  /* [code, ...arguments]: a string for TEXT, a Buffer or Uint8Array for BYTES, a number for INT. */
  static void Read(Napi::Env env, Napi::Array a, ChatOp &op) {
    int64_t code = I64(env, a.Get((uint32_t)0), "operation code");
    op.info = xr_chat_op_at(code < 0 || code > INT_MAX ? -1 : (int)code);
    if (!op.info) throw Napi::RangeError::New(env, "unknown operation code " + std::to_string(code));
    if (a.Length() != op.info->nargs + 1)
      throw Napi::TypeError::New(env, std::string(op.info->wire_name) + ": " + std::to_string(op.info->nargs) +
                                          " arguments expected, got " + std::to_string(a.Length() - 1));
    for (uint32_t k = 0; k < op.info->nargs; k++) {
      Napi::Value v = a.Get(k + 1);
      const char *name = op.info->arg_names[k];
      switch (op.info->arg_kinds[k]) {
        case XR_ARG_INT:
          op.nums[k] = I64(env, v, name);
          break;
        case XR_ARG_BYTES: {
          if (!v.IsTypedArray()) throw Napi::TypeError::New(env, std::string(name) + " must be a Buffer");
          Napi::Uint8Array b = v.As<Napi::Uint8Array>();
          op.texts[k].Assign(env, reinterpret_cast<const char *>(b.Data()), b.ByteLength());
          break;
        }
        default:
          op.texts[k].Read(env, v, name);
          break;
      }
    }
  }

  /* Makes the batch (JS thread, or the pool for a big one); the texts are freed as they are added. */
  void Build() override {
    int rc = xr_chat_batch_new(&batch_, box_->Chat());
    if (rc < 0) {
      failure_.take(rc);
      return;
    }
    for (ChatOp &op : ops_) {
      xr_arg args[XR_OP_ARGS_MAX];
      bool converted = true;
      for (size_t k = 0; k < op.info->nargs; k++) {
        if (!op.texts[k].Convert()) converted = false;
        args[k] = xr_arg{op.texts[k].data(), op.texts[k].size(), op.nums[k]};
      }
      if (!converted) {
        op.failure.set(XR_ENOMEM, "out of memory converting a string");
        continue;
      }
      op.index = xr_chat_batch_add(batch_, op.info->code, args, op.info->nargs);
      if (op.index < 0) op.failure.take(op.index);
      for (InText &t : op.texts) t.Clear();
    }
  }

  /* Reads operation op's result in its kind's shape. Bytes fields are taken over, not copied
   * (xr_result_take_field): a big entry is in memory once. */
  static void Collect(const xr_chat_batch *b, ChatOp &op) {
    xr_result r;
    int rc = xr_chat_batch_result(b, (size_t)op.index, &r);
    if (rc < 0) op.failure.take(rc); /* first: keep the core's message */
    if (rc == 0 || r.kind == XR_RESULT_ENTRY) { /* a failed entry still carries its raw bytes */
      op.present = r.present;
      op.integer = r.integer;
      op.nfields = r.nfields;
      const xr_result_shape *shape = xr_result_shape_of(r.kind);
      for (size_t k = 0; k < r.nfields; k++) {
        op.field_nums[k] = r.fields[k].num;
        if (shape->field_kinds[k] == XR_ARG_INT || !r.fields[k].data) continue;
        size_t n = r.fields[k].len;
        char *p = xr_result_take_field(&r, k);
        if (!p) {
          op.failure.set(XR_ENOMEM, "out of memory reading a result");
          break;
        }
        op.fields[k].Take(p, n);
      }
      if (rc == 0 && r.list) {
        size_t count = xr_reply_count(r.list);
        op.items.resize(count);
        for (size_t k = 0; k < count; k++) {
          size_t n = 0;
          const char *s = xr_reply_str(xr_reply_at(r.list, k), &n);
          if (!op.items[k].Copy(s ? s : "", n)) {
            op.failure.set(XR_ENOMEM, "out of memory reading a list");
            break;
          }
        }
      }
    }
    xr_result_clear(&r);
  }

  int StartLoop(xr_loop_conn *lc, int *wait) override { return xr_chat_batch_start(batch_, lc, wait); }
  int Exec() override {
    if (!batch_) return XR_OK; /* building failed: failure_ says why */
    return xr_chat_batch_exec(batch_);
  }

  void Finished(int rc) override {
    if (rc < 0) lost_.take(rc);
  }

  /* Values, lists and entries are copied (entries decoded) as they are read: on the pool. */
  bool HeavyCollect() const override {
    for (const ChatOp &op : ops_) {
      if (op.index < 0) continue;
      xr_result_kind k = op.info->result;
      if (k == XR_RESULT_VALUE || k == XR_RESULT_LIST || k == XR_RESULT_ENTRY) return true;
    }
    return false;
  }

  /* Reads every result, then frees the batch (its replies): only the copies are kept. After a
   * connection failure each operation without a reply has the failure, in the core's words for
   * that operation (a dequeue says its entry may be lost). */
  void Collect() override {
    if (!batch_ || xr_chat_batch_count(batch_) == 0) return;
    for (ChatOp &op : ops_) {
      if (op.index < 0) continue;
      Collect(batch_, op);
      if (lost_.failed() && op.failure.failed() && op.failure.code == XR_EINVAL) op.failure = lost_; /* it never ran */
    }
    xr_chat_batch_free(batch_);
    batch_ = NULL;
  }

  /* TEXT fields (not BYTES: they become Buffers as they are) and list items. */
  static bool IsText(const ChatOp &op, size_t k) {
    const xr_result_shape *shape = xr_result_shape_of(op.info->result);
    return k < shape->nfields && shape->field_kinds[k] == XR_ARG_TEXT;
  }

  bool NeedsPrepare() const override {
    for (const ChatOp &op : ops_) {
      for (size_t k = 0; k < XR_RESULT_FIELDS_MAX; k++)
        if (IsText(op, k) && op.fields[k].Big()) return true;
      for (const OutText &t : op.items)
        if (t.Big()) return true;
    }
    return false;
  }

  void Prepare() override {
    for (ChatOp &op : ops_) {
      for (size_t k = 0; k < XR_RESULT_FIELDS_MAX; k++) {
        if (!IsText(op, k)) continue;
        if (op.fields[k].Big()) decoded_pool_ += op.fields[k].size();
        op.fields[k].Prepare();
      }
      for (OutText &t : op.items) {
        if (t.Big()) decoded_pool_ += t.size();
        t.Prepare();
      }
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, ops_.size());
    for (size_t i = 0; i < ops_.size(); i++) {
      ChatOp &op = ops_[i];
      for (size_t k = 0; k < XR_RESULT_FIELDS_MAX; k++)
        if (IsText(op, k) && op.fields[k].Big()) decoded_js_ += op.fields[k].size(); /* not prepared: decoded here */
      for (const OutText &t : op.items)
        if (t.Big()) decoded_js_ += t.size();
      out.Set((uint32_t)i, Value(env, op));
      for (OutText &t : op.fields) t.Clear();
      op.items.clear();
    }
    return out;
  }

  /* A field by its kind: TEXT a string, BYTES a Buffer, INT a number (undefined when negative:
   * an entry without enqueuedAt). */
  static Napi::Value Field(Napi::Env env, ChatOp &op, const xr_result_shape *shape, size_t k) {
    switch (shape->field_kinds[k]) {
      case XR_ARG_INT:
        return op.field_nums[k] < 0 ? env.Undefined() : Napi::Number::New(env, (double)op.field_nums[k]);
      case XR_ARG_BYTES:
        return op.fields[k].present() ? op.fields[k].Buffer(env) : env.Undefined();
      default:
        return op.fields[k].present() ? op.fields[k].String(env) : Napi::String::New(env, "");
    }
  }

  /* The result by kind: STATUS undefined, BOOL a boolean, INTEGER a number, VALUE a string or
   * null, LIST an Array of strings, LOCK and ENTRY an Array of their fields or null. A failure is
   * its Error (with `raw`, a Buffer, when a popped entry did not decode). */
  static Napi::Value Value(Napi::Env env, ChatOp &op) {
    xr_result_kind kind = op.info->result;
    const xr_result_shape *shape = xr_result_shape_of(kind);
    if (op.failure.failed()) {
      Napi::Error err = xr_js_error_of(env, op.failure.code, op.failure.message.c_str());
      if (kind == XR_RESULT_ENTRY && op.nfields == 4 && op.fields[3].present()) err.Value().Set("raw", op.fields[3].Buffer(env));
      return err.Value();
    }
    switch (kind) {
      case XR_RESULT_STATUS:
        return env.Undefined();
      case XR_RESULT_BOOL:
        return Napi::Boolean::New(env, op.present);
      case XR_RESULT_INTEGER:
        return Napi::Number::New(env, (double)op.integer);
      case XR_RESULT_LIST: {
        Napi::Array a = Napi::Array::New(env, op.items.size());
        for (size_t k = 0; k < op.items.size(); k++) {
          a.Set((uint32_t)k, op.items[k].String(env));
          op.items[k].Clear();
        }
        return a;
      }
      case XR_RESULT_VALUE:
        return op.present ? Field(env, op, shape, 0) : env.Null();
      default: {
        if (!op.present) return env.Null();
        Napi::Array a = Napi::Array::New(env, op.nfields);
        for (size_t k = 0; k < op.nfields; k++) a.Set((uint32_t)k, Field(env, op, shape, k));
        return a;
      }
    }
  }

  ChatBox *box_;
  xr_chat_batch *batch_ = NULL;
  std::vector<ChatOp> ops_;
  Failure lost_; /* the connection failed: every operation's failure */
};


/* ---- one-call jobs over an adapter ------------------------------------------------------------ */

/* A job over an adapter: holds a use of it until settled; rejects with ClientClosedError when the
 * adapter or its client is closed already. */
class ChatJob : public Work {
 public:
  ChatJob(Napi::Env env, ChatBox *chat) : Work(env, chat->St()), chat_(chat) {}
  ~ChatJob() override {
    if (used_) chat_->Unuse();
  }

  Napi::Value Start() {
    Napi::Env env(env_);
    Napi::Value p(env, deferred_.Make(env_));
    if (!chat_->Open()) {
      deferred_.Reject(env_, xr_js_error_of(env, XR_ECLOSED, "the state adapter was disconnected").Value());
      delete this;
      return p;
    }
    chat_->Use();
    used_ = true;
    try {
      Queue();
    } catch (const Napi::Error &e) {
      deferred_.Reject(env_, e.Value());
      delete this;
    }
    return p;
  }

 protected:
  virtual Napi::Value Result(Napi::Env env) = 0;

  void Complete(bool js) override {
    if (!js) return;
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    try {
      if (failure_.failed()) {
        deferred_.Reject(env_, xr_js_error_of(env, failure_.code, failure_.message.c_str()).Value());
      } else {
        deferred_.Resolve(env_, Result(env));
      }
    } catch (const Napi::Error &e) {
      deferred_.Reject(env_, e.Value());
    }
  }

  ChatBox *chat_;
  Failure failure_;

 private:
  Deferred deferred_;
  bool used_ = false;
};

class ReleaseIfQueueEmpty : public ChatJob {
 public:
  ReleaseIfQueueEmpty(Napi::Env env, ChatBox *chat, Napi::Value thread_id, Napi::Value token)
      : ChatJob(env, chat), id_(Utf8(env, thread_id, "threadId")), token_(Utf8(env, token, "token")) {}

 private:
  void Execute() override {
    int rc = xr_chat_release_lock_if_queue_empty(chat_->Chat(), &released_, &depth_, id_.data(), id_.size(),
                                                 token_.data(), token_.size());
    if (rc < 0) failure_.take(rc);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array a = Napi::Array::New(env, 2);
    a.Set((uint32_t)0, Napi::Boolean::New(env, released_));
    a.Set((uint32_t)1, Napi::Number::New(env, (double)depth_));
    return a;
  }

  std::string id_, token_;
  bool released_ = false;
  long long depth_ = 0;
};

/* ---- acquireLockWait -------------------------------------------------------------------------- */

/* Tries to acquire until it succeeds or wait_ms passed: each try is a job on the pool, the pauses
 * between them (in [delay/2, delay], the delay doubling from 10 ms to 250 ms, as the core's
 * xr_chat_acquire_lock_wait) are a libuv timer, referenced while it runs as a pending call keeps
 * the process alive. Cancel (close, disconnect, the environment ending) settles it with
 * ClientClosedError at once when it pauses, or when the try in flight returns (a lock that try
 * took is released again there). Holds a use of the adapter until it is over. */
class Wait {
 public:
  Wait(Napi::Env env, ChatBox *chat, Napi::Value thread_id, Napi::Value ttl_ms, Napi::Value wait_ms)
      : env_(env), st_(chat->St()), chat_(chat), id_(Utf8(env, thread_id, "threadId")),
        ttl_(I64(env, ttl_ms, "ttlMs")), wait_(I64(env, wait_ms, "waitMs")) {}

  Napi::Value Start() {
    Napi::Value p(env_, deferred_.Make(env_));
    if (!chat_->Open()) {
      deferred_.Reject(env_, xr_js_error_of(env_, XR_ECLOSED, "the state adapter was disconnected").Value());
      delete this;
      return p;
    }
    st_->Ref();
    st_->waits++;
    chat_->Use();
    chat_->AddWait(this);
    uint64_t now = uv_hrtime() / 1000000;
    deadline_ = wait_ > 0 && (uint64_t)wait_ < UINT64_MAX - now ? now + (uint64_t)wait_ : (wait_ > 0 ? UINT64_MAX : now);
    Try(true);
    return p;
  }

  /* JS thread. */
  void Cancel() {
    if (done_) return;
    cancelled_.store(true);
    if (trying_) return; /* the try's completion settles */
    End(XR_ECLOSED);
  }

  bool CancelRequested() const { return cancelled_.load() || chat_->Cancelled(); }
  xr_chat *Chat() const { return chat_->Chat(); }
  const std::string &Id() const { return id_; }
  int64_t Ttl() const { return ttl_; }
  int64_t FirstWait() const { return wait_; }

  /* A try finished (JS thread). */
  void Tried(bool js, int rc, const Failure &f, bool acquired, const xr_chat_lock &lock) {
    trying_ = false;
    if (!js) {
      Finish();
      return;
    }
    if (CancelRequested()) {
      End(XR_ECLOSED);
    } else if (rc < 0) {
      Reject(f.code, f.message.c_str());
    } else if (acquired) {
      Napi::HandleScope scope(env_);
      try {
        deferred_.Resolve(env_, LockValue(env_, lock.token, lock.token_len, lock.expires_at_ms));
      } catch (const Napi::Error &e) {
        deferred_.Reject(env_, e.Value());
      }
      Finish();
    } else {
      uint64_t now = uv_hrtime() / 1000000;
      if (now >= deadline_) {
        deferred_.Resolve(env_, env_.Null());
        Finish();
        return;
      }
      uint32_t r = 0;
      xr_random_bytes(&r, sizeof r);
      uint64_t pause = delay_ / 2 + r % (delay_ / 2 + 1);
      if (pause > deadline_ - now) pause = deadline_ - now;
      if (delay_ < 250) delay_ = delay_ * 2 > 250 ? 250 : delay_ * 2;
      Sleep(pause);
    }
  }

 private:
  void Try(bool first);

  void Sleep(uint64_t ms) {
    if (!timer_init_) {
      uv_loop_t *loop = nullptr;
      napi_get_uv_event_loop(env_, &loop);
      uv_timer_init(loop, &timer_);
      timer_.data = this;
      timer_init_ = true;
    }
    uv_timer_start(&timer_, OnTimer, ms, 0);
  }

  static void OnTimer(uv_timer_t *t) {
    Wait *w = static_cast<Wait *>(t->data);
    if (w->done_) return;
    if (!JsUsable(w->env_, w->st_)) {
      w->Finish();
      return;
    }
    Napi::HandleScope scope(w->env_);
    w->Try(false);
  }

  void Reject(int code, const char *message) {
    Napi::HandleScope scope(env_);
    try {
      deferred_.Reject(env_, xr_js_error_of(env_, code, message).Value());
    } catch (const Napi::Error &e) {
      deferred_.Reject(env_, e.Value());
    }
    Finish();
  }

  void End(int code) {
    if (JsUsable(env_, st_)) {
      Reject(code, code == XR_ECLOSED ? "acquireLockWait: the state adapter was disconnected (or its client closed) "
                                        "while waiting for the lock"
                                      : xr_strerror(code));
    } else {
      Finish();
    }
  }

  /* Over: releases the adapter, closes the timer (deletes this once closed). */
  void Finish() {
    if (done_) return;
    done_ = true;
    chat_->RemoveWait(this);
    chat_->Unuse();
    chat_ = nullptr;
    st_->waits--;
    if (timer_init_) {
      uv_timer_stop(&timer_);
      st_->HandleClosing();
      uv_close(reinterpret_cast<uv_handle_t *>(&timer_), [](uv_handle_t *h) {
        Wait *w = static_cast<Wait *>(h->data);
        EnvState *st = w->st_;
        delete w;
        st->HandleClosed();
        st->Unref();
      });
    } else {
      EnvState *st = st_;
      delete this;
      st->Unref();
    }
  }

  Napi::Env env_;
  EnvState *st_;
  ChatBox *chat_;
  Deferred deferred_;
  std::string id_;
  int64_t ttl_, wait_;
  uint64_t deadline_ = 0;
  uint64_t delay_ = 10;
  uv_timer_t timer_;
  bool timer_init_ = false, trying_ = false, done_ = false;
  std::atomic<bool> cancelled_{false};
};

class WaitTry : public Work {
 public:
  WaitTry(Napi::Env env, EnvState *st, Wait *w, bool first)
      : Work(env, st), w_(w), chat_(w->Chat()), id_(w->Id()), ttl_(w->Ttl()), wait_(first && w->FirstWait() < 0 ? w->FirstWait() : 0) {
    memset(&lock_, 0, sizeof lock_);
  }

 private:
  void Execute() override {
    /* one try (wait 0); a negative wait_ms goes to the core once, which refuses it */
    rc_ = xr_chat_acquire_lock_wait(chat_, &acquired_, &lock_, id_.data(), id_.size(), ttl_, wait_);
    if (rc_ < 0) {
      failure_.take(rc_);
    } else if (acquired_ && w_->CancelRequested()) { /* nobody will take it: give it back */
      bool released = false;
      xr_chat_release_lock(chat_, &released, id_.data(), id_.size(), lock_.token, lock_.token_len);
      acquired_ = false;
    }
  }
  void Complete(bool js) override { w_->Tried(js, rc_, failure_, acquired_, lock_); }

  Wait *w_;
  xr_chat *chat_;
  std::string id_;
  int64_t ttl_, wait_;
  int rc_ = 0;
  bool acquired_ = false;
  xr_chat_lock lock_;
  Failure failure_;
};

void Wait::Try(bool first) {
  trying_ = true;
  WaitTry *job = new WaitTry(env_, st_, this, first);
  try {
    job->Queue();
  } catch (const Napi::Error &e) {
    delete job;
    trying_ = false;
    deferred_.Reject(env_, e.Value());
    Finish();
  }
}

void ChatBox::Cancel() {
  cancelled_.store(true);
  std::vector<Wait *> ws(waits_.begin(), waits_.end());
  for (Wait *w : ws) w->Cancel();
}

void ClientBox::Cancel() {
  std::vector<ChatBox *> cs(chats_.begin(), chats_.end());
  for (ChatBox *c : cs) c->Cancel();
}

void ClientBox::Close() {
  if (closing_) return;
  closing_ = true;
  std::vector<ChatBox *> cs(chats_.begin(), chats_.end());
  for (ChatBox *c : cs) c->Close();
  Maybe();
}

/* The environment ends: cancel, stop the loop connection (a running batch is dropped), close. */
void ClientBox::Shutdown() {
  Cancel();
  if (client_) xr_client_shutdown(client_); /* anything still waiting inside it returns at once */
  LoopConn *loop = loop_;
  loop_ = nullptr;
  if (loop) loop->Close(); /* its running batch, if any, releases its uses now */
  Close();
}

void ClientBox::Maybe() {
  if (closing_ && users_ == 0 && client_) {
    LoopConn *loop = loop_;
    loop_ = nullptr;
    if (loop) loop->Close(); /* before its client; it frees itself once libuv closed its handles */
    xr_client_close(client_);
    client_ = nullptr;
    st_->clients.erase(this);
  }
  if (!client_ && js_gone_) {
    EnvState *st = st_;
    delete this;
    st->Unref();
  }
}

void EnvState::Teardown(napi_async_cleanup_hook_handle, void *arg) {
  EnvState *st = static_cast<EnvState *>(arg);
  st->hook_started = true;
  st->stopping = true;
  if (st->classes) napi_delete_reference(st->env, st->classes);
  st->classes = nullptr;
  st->Ref();
  std::vector<ClientBox *> all(st->clients.begin(), st->clients.end());
  for (ClientBox *c : all) c->Shutdown();
  st->MaybeDone();
  st->Unref();
}

/* ---- clients ----------------------------------------------------------------------------------- */

/* An optional string option: present when a string, absent when undefined or null. */
struct OptString {
  bool set = false;
  std::string value;
  const char *get() const { return set ? value.c_str() : NULL; }
};

/* A client configuration (config.h) behind a JS External. An open shares it while it runs on the
 * pool, so the External may be collected meanwhile. */
const napi_type_tag kConfigTag = {0x63726f7373726564ULL, 0x636f6e666967626fULL};

struct ConfigBox {
  std::shared_ptr<xr_client_config> config;
  static void Finalize(Napi::Env, ConfigBox *b) { delete b; }
};

ConfigBox *ConfigArg(Napi::Env env, Napi::Value v) {
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(env, v, &kConfigTag, &tagged);
  if (!tagged) throw Napi::TypeError::New(env, "expected a crossredis client configuration (xr_js_client_config_new)");
  return v.As<Napi::External<ConfigBox>>().Data();
}

/* What a TypeError says a value is: typeof's word, "null", "an Array" (as node/src/check.ts). */
std::string JsKind(Napi::Value v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "boolean";
    case napi_number: return "number";
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_function: return "function";
    case napi_bigint: return "bigint";
    default: return v.IsArray() ? "an Array" : "object";
  }
}

/* A JS string as WTF-8: UTF-8 with each lone surrogate as its own 3-byte sequence, for the core to
 * refuse by name and index (Utf8Value would turn it into U+FFFD silently). */
std::string Wtf8(Napi::Value v) {
  std::u16string u = v.As<Napi::String>().Utf16Value();
  std::string out;
  out.reserve(u.size());
  for (size_t i = 0; i < u.size(); i++) {
    uint32_t c = u[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < u.size() && u[i + 1] >= 0xDC00 && u[i + 1] <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (uint32_t)(u[++i] - 0xDC00);
    }
    if (c < 0x80) {
      out += (char)c;
    } else if (c < 0x800) {
      out += (char)(0xC0 | (c >> 6));
      out += (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += (char)(0xE0 | (c >> 12));
      out += (char)(0x80 | ((c >> 6) & 0x3F));
      out += (char)(0x80 | (c & 0x3F));
    } else {
      out += (char)(0xF0 | (c >> 18));
      out += (char)(0x80 | ((c >> 12) & 0x3F));
      out += (char)(0x80 | ((c >> 6) & 0x3F));
      out += (char)(0x80 | (c & 0x3F));
    }
  }
  return out;
}

/* Sets the option Node spells `name` (client_options.def's node_name: "poolSize", "tls.caFile").
 * Here only what JS values cannot say in C: the value's type for the option's kind (TypeError, in
 * the words python/crossredis/client.py uses, naming the option as the core does) and a number
 * that is no 64-bit integer. What the value may be is the core's to say: its message, as
 * InvalidArgumentError, or as a RangeError (JS's class for a value out of its range, with the
 * core's .code) when it is out of the option's range. */
void SetOption(Napi::Env env, xr_client_config *config, const std::string &name, Napi::Value v) {
  const xr_client_option_info *row = NULL;
  for (size_t i = 0; (row = xr_client_option_info_at(i)) != NULL; i++) {
    if (name == row->node_name) break;
  }
  if (!row) throw Napi::TypeError::New(env, "unknown option " + name);
  std::string cname = row->name;
  int rc;
  switch (row->kind) {
    case XR_OPTION_TEXT:
    case XR_OPTION_SECRET: {
      if (!v.IsString()) throw Napi::TypeError::New(env, cname + " must be a string, not " + JsKind(v));
      std::string text = Wtf8(v);
      rc = xr_client_config_set_text(config, row->name, text.data(), text.size());
      break;
    }
    case XR_OPTION_INTEGER: {
      if (!v.IsNumber()) throw Napi::TypeError::New(env, cname + " must be an integer, not " + JsKind(v));
      double d = v.As<Napi::Number>().DoubleValue();
      bool in64 = d >= -9223372036854775808.0 && d < 9223372036854775808.0;
      if (d - d != 0 || (in64 && (double)(int64_t)d != d)) { /* NaN, an infinity, a fraction */
        throw Napi::TypeError::New(env, cname + " must be an integer, not " + v.ToString().Utf8Value());
      }
      if (!in64) { /* every double this large is a whole number: written exactly */
        char digits[400];
        snprintf(digits, sizeof digits, "%.0f", d);
        throw xr_js_error_of(env, XR_EINVAL, (cname + ": " + digits + " is out of range for a 64-bit integer").c_str());
      }
      rc = xr_client_config_set_integer(config, row->name, (int64_t)d);
      break;
    }
    default:
      if (!v.IsBoolean()) throw Napi::TypeError::New(env, cname + " must be a boolean, not " + JsKind(v));
      rc = xr_client_config_set_boolean(config, row->name, v.As<Napi::Boolean>().Value());
      break;
  }
  if (rc == XR_ERANGE) {
    Napi::Error e = Napi::RangeError::New(env, xr_error_last()->message);
    e.Value().Set("code", Napi::Number::New(env, rc));
    e.Value().Set("codeName", Napi::String::New(env, xr_error_name(rc)));
    throw e;
  }
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
}

/* Opens a client as a configuration says, with its loop connection, on the thread pool. */
class ClientOpen : public Work {
 public:
  ClientOpen(Napi::Env env, Napi::Value config) : Work(env, EnvState::Of(env)), config_(ConfigArg(env, config)->config) {}

  Napi::Value Start() {
    Napi::Value p(Napi::Env(env_), deferred_.Make(env_));
    try {
      Queue();
    } catch (const Napi::Error &e) {
      deferred_.Reject(env_, e.Value());
      delete this;
    }
    return p;
  }

 private:
  void Execute() override {
    int rc = xr_tls_client_open_config(&client_, config_.get());
    if (rc < 0) {
      failure_.take(rc);
      return;
    }
    /* the event loop's connection; without one (it failed to open) the batches run on threads */
    if (xr_loop_conn_open(&loop_, client_) < 0) loop_ = NULL;
  }

  void Complete(bool js) override {
    if (!js) { /* the environment is ending: nobody will use it */
      if (loop_) xr_loop_conn_close(loop_);
      xr_client_close(client_);
      return;
    }
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    if (failure_.failed()) {
      deferred_.Reject(env_, xr_js_error_of(env, failure_.code, failure_.message.c_str()).Value());
      return;
    }
    ClientBox *box = new ClientBox(st_, client_);
    if (loop_) box->SetLoop(new LoopConn(env_, st_, client_, loop_));
    Napi::External<ClientBox> ext = Napi::External<ClientBox>::New(env, box, ClientBox::Finalize);
    napi_type_tag_object(env_, ext, &kClientTag);
    deferred_.Resolve(env_, ext);
  }

  Deferred deferred_;
  Failure failure_;
  std::shared_ptr<xr_client_config> config_;
  xr_client *client_ = NULL;
  xr_loop_conn *loop_ = NULL;
};

/* One bulk string of a reply as a JS value: prepared ones by their OutText. */
struct Prepared {
  std::unordered_map<const xr_reply *, OutText> texts;
};

Napi::Value ReplyValue(Napi::Env env, const xr_reply *r, bool buffers, Prepared *prep) {
  if (prep && r && xr_reply_kind(r) == XR_REPLY_STRING) {
    auto it = prep->texts.find(r);
    if (it != prep->texts.end()) return buffers ? it->second.Buffer(env) : it->second.String(env);
  }
  if (r && (xr_reply_kind(r) == XR_REPLY_ARRAY || xr_reply_kind(r) == XR_REPLY_SET || xr_reply_kind(r) == XR_REPLY_MAP)) {
    size_t count = xr_reply_count(r);
    Napi::Array a = Napi::Array::New(env, count);
    for (size_t i = 0; i < count; i++) a.Set((uint32_t)i, ReplyValue(env, xr_reply_at(r, i), buffers, prep));
    return a;
  }
  return xr_js_reply_value(env, r, buffers);
}

class ClientRun : public BatchRun {
 public:
  ClientRun(Napi::Env env, ClientBox *client, Napi::Value commands, bool buffers)
      : BatchRun(env, client, nullptr), buffers_(buffers) {
    if (!commands.IsArray()) throw Napi::TypeError::New(env, "commands must be an Array");
    Napi::Array arr = commands.As<Napi::Array>();
    uint32_t n = arr.Length();
    cmds_.resize(n);
    size_t weight = 0;
    for (uint32_t i = 0; i < n; i++) weight += Read(env, arr.Get(i), cmds_[i]);
    weight_ = weight;
    big_ = weight >= kBig;
    if (big_) Hold(env);
    if (!big_) {
      Build();
      built_ = true;
    }
  }
  ~ClientRun() override { xr_batch_free(batch_); }

 private:
  struct Command {
    std::vector<InText> args;
    int index = -1;
    Failure failure;
  };

  static size_t Read(Napi::Env env, Napi::Value v, Command &c) {
    if (!v.IsArray()) throw Napi::TypeError::New(env, "a command must be an Array of arguments");
    Napi::Array a = v.As<Napi::Array>();
    uint32_t n = a.Length();
    if (n < 1) throw Napi::RangeError::New(env, "a command needs at least its name");
    c.args.resize(n);
    size_t weight = 0;
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value item = a.Get(i);
      if (item.IsString()) {
        c.args[i].Read(env, item, "command argument");
      } else if (item.IsBuffer()) {
        Napi::Buffer<char> b = item.As<Napi::Buffer<char>>();
        c.args[i].Assign(env, b.Data(), b.Length());
      } else if (item.IsTypedArray() && item.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
        Napi::Uint8Array u = item.As<Napi::Uint8Array>();
        c.args[i].Assign(env, reinterpret_cast<const char *>(u.Data()), u.ByteLength());
      } else if (item.IsNumber() || item.IsBigInt()) {
        c.args[i].Read(env, item.ToString(), "command argument");
      } else {
        throw Napi::TypeError::New(env, "command argument " + std::to_string(i) +
                                            ": expected a string, Buffer, Uint8Array, number or bigint");
      }
      weight += c.args[i].Weight();
    }
    return weight;
  }

  void Build() override {
    int rc = xr_batch_new(&batch_);
    if (rc < 0) {
      failure_.take(rc);
      return;
    }
    std::vector<const char *> argv;
    std::vector<size_t> lens;
    for (Command &c : cmds_) {
      argv.clear();
      lens.clear();
      bool ok = true;
      for (InText &a : c.args) {
        if (!a.Convert()) ok = false;
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      if (!ok) {
        c.failure.set(XR_ENOMEM, "out of memory converting a string");
      } else {
        c.index = xr_batch_add(batch_, (int)argv.size(), argv.data(), lens.data());
        if (c.index < 0) c.failure.take(c.index);
      }
      c.args.clear();
    }
  }

  int StartLoop(xr_loop_conn *lc, int *wait) override { return xr_loop_conn_start(lc, batch_, wait); }
  int Exec() override {
    if (!batch_) return XR_OK;
    return xr_client_exec(ClientOf()->Client(), batch_);
  }

  /* A lost connection marks every unanswered command with its code and message. */
  void Collect() override {
    if (!batch_) return;
    for (Command &c : cmds_) {
      if (c.index < 0) continue;
      const xr_reply *reply = NULL;
      const char *message = NULL;
      int orc = xr_batch_result(batch_, (size_t)c.index, &reply, &message);
      if (orc < 0) {
        c.failure.code = orc;
        c.failure.message = (message && message[0]) ? message : xr_strerror(orc);
      }
    }
  }

  static bool HasBig(const xr_reply *r) {
    if (!r) return false;
    int k = xr_reply_kind(r);
    if (k == XR_REPLY_STRING) {
      size_t n = 0;
      xr_reply_str(r, &n);
      return n >= kBig;
    }
    if (k == XR_REPLY_ARRAY || k == XR_REPLY_SET || k == XR_REPLY_MAP) {
      for (size_t i = 0; i < xr_reply_count(r); i++)
        if (HasBig(xr_reply_at(r, i))) return true;
    }
    return false;
  }

  void PrepareReply(const xr_reply *r) {
    if (!r) return;
    int k = xr_reply_kind(r);
    if (k == XR_REPLY_STRING) {
      size_t n = 0;
      const char *s = xr_reply_str(r, &n);
      if (n < kBig) return;
      OutText t;
      if (!t.Copy(s, n)) return;
      if (!buffers_) t.Prepare();
      decoded_pool_ += n;
      prep_.texts.emplace(r, std::move(t));
    } else if (k == XR_REPLY_ARRAY || k == XR_REPLY_SET || k == XR_REPLY_MAP) {
      for (size_t i = 0; i < xr_reply_count(r); i++) PrepareReply(xr_reply_at(r, i));
    }
  }

  const xr_reply *ReplyOf(const Command &c) const {
    const xr_reply *reply = NULL;
    if (c.index >= 0 && !c.failure.failed()) xr_batch_result(batch_, (size_t)c.index, &reply, NULL);
    return reply;
  }

  bool NeedsPrepare() const override {
    if (!batch_) return false;
    for (const Command &c : cmds_)
      if (HasBig(ReplyOf(c))) return true;
    return false;
  }

  void Prepare() override {
    if (!batch_) return;
    for (const Command &c : cmds_) {
      const xr_reply *r = ReplyOf(c);
      if (HasBig(r)) PrepareReply(r);
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, cmds_.size());
    for (size_t i = 0; i < cmds_.size(); i++) {
      const Command &c = cmds_[i];
      if (c.failure.failed()) {
        out.Set((uint32_t)i, xr_js_error_of(env, c.failure.code, c.failure.message.c_str()).Value());
        continue;
      }
      out.Set((uint32_t)i, ReplyValue(env, ReplyOf(c), buffers_, prep_.texts.empty() ? nullptr : &prep_));
    }
    return out;
  }

  bool buffers_;
  std::vector<Command> cmds_;
  xr_batch *batch_ = NULL;
  Prepared prep_;
};

}  // namespace

/* ---- the functions SWIG wraps ------------------------------------------------------------------- */

Napi::Value xr_js_client_config_new(Napi::Value unused) {
  Napi::Env env = unused.Env();
  xr_client_config *config = NULL;
  int rc = xr_client_config_new(&config);
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  ConfigBox *box = new ConfigBox{std::shared_ptr<xr_client_config>(config, xr_client_config_free)};
  Napi::External<ConfigBox> ext = Napi::External<ConfigBox>::New(env, box, ConfigBox::Finalize);
  napi_type_tag_object(env, ext, &kConfigTag);
  return ext;
}

void xr_js_client_config_set(Napi::Value config, Napi::Value name, Napi::Value value) {
  Napi::Env env = config.Env();
  ConfigBox *box = ConfigArg(env, config);
  SetOption(env, box->config.get(), Utf8(env, name, "the option's name"), value);
}

Napi::Value xr_js_client_open(Napi::Value config) {
  return (new ClientOpen(config.Env(), config))->Start();
}

Napi::Value xr_js_client_run(Napi::Value client, Napi::Value commands, Napi::Value buffers) {
  Napi::Env env = client.Env();
  return (new ClientRun(env, ClientArg(env, client), commands, buffers.ToBoolean().Value()))->Go();
}

Napi::Value xr_js_client_address(Napi::Value client) {
  Napi::Env env = client.Env();
  ClientBox *b = ClientArg(env, client);
  if (!b->Client()) return env.Null();
  return Napi::String::New(env, xr_client_address(b->Client()));
}

void xr_js_client_cancel(Napi::Value client) { ClientArg(client.Env(), client)->Cancel(); }

void xr_js_client_close(Napi::Value client) {
  ClientBox *b = ClientArg(client.Env(), client);
  b->Cancel();
  b->Close();
}

Napi::Value xr_js_chat_new(Napi::Value client, Napi::Value options) {
  Napi::Env env = client.Env();
  ClientBox *c = ClientArg(env, client);
  if (!options.IsObject()) throw Napi::TypeError::New(env, "adapter options must be an object");
  if (!c->Open()) throw xr_js_error_of(env, XR_ECLOSED, "the client is closed");
  Napi::Object o = options.As<Napi::Object>();
  OptString prefix, token_prefix;
  if (o.Get("keyPrefix").IsString()) {
    prefix.value = o.Get("keyPrefix").As<Napi::String>().Utf8Value();
    prefix.set = true;
  }
  if (o.Get("tokenPrefix").IsString()) {
    token_prefix.value = o.Get("tokenPrefix").As<Napi::String>().Utf8Value();
    token_prefix.set = true;
  }
  /* the enums' values as the JS layer read them from this addon (the headers'); absent: 0, the default */
  auto value = [&](const char *name) -> int {
    Napi::Value v = o.Get(name);
    return v.IsUndefined() ? 0 : (int)I64(env, v, name);
  };
  xr_chat_options co = xr_binding_chat_options(prefix.get(), value("emptyPrefix"), token_prefix.get(),
                                               value("tokenSuffix"), value("json"), value("queue"));
  xr_chat *chat = NULL;
  int rc = xr_chat_new(&chat, c->Client(), &co);
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  ChatBox *box = new ChatBox(c, chat);
  Napi::External<ChatBox> ext = Napi::External<ChatBox>::New(env, box, ChatBox::Finalize);
  napi_type_tag_object(env, ext, &kChatTag);
  return ext;
}

Napi::Value xr_js_chat_key_prefix(Napi::Value chat) {
  Napi::Env env = chat.Env();
  ChatBox *b = ChatArg(env, chat);
  if (!b->Chat()) return env.Null();
  return Napi::String::New(env, xr_chat_key_prefix(b->Chat()));
}

/* The rows of chat.def for the JS layer: [{code, name, wire, result, args: [{name, kind}]}]. */
Napi::Value xr_js_chat_ops(Napi::Value unused) {
  Napi::Env env = unused.Env();
  Napi::Array out = Napi::Array::New(env);
  for (int code = 0; const xr_op_info *info = xr_chat_op_at(code); code++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", info->code);
    o.Set("name", info->name);
    o.Set("wire", info->wire_name);
    o.Set("result", (int)info->result);
    Napi::Array args = Napi::Array::New(env, info->nargs);
    for (size_t k = 0; k < info->nargs; k++) {
      Napi::Object arg = Napi::Object::New(env);
      arg.Set("name", info->arg_names[k]);
      arg.Set("kind", (int)info->arg_kinds[k]);
      args.Set((uint32_t)k, arg);
    }
    o.Set("args", args);
    out.Set((uint32_t)code, o);
  }
  return out;
}

Napi::Value xr_js_chat_run(Napi::Value chat, Napi::Value ops) {
  Napi::Env env = chat.Env();
  return (new ChatRun(env, ChatArg(env, chat), ops))->Go();
}

Napi::Value xr_js_chat_acquire_wait(Napi::Value chat, Napi::Value thread_id, Napi::Value ttl_ms,
                                    Napi::Value wait_ms) {
  Napi::Env env = chat.Env();
  return (new Wait(env, ChatArg(env, chat), thread_id, ttl_ms, wait_ms))->Start();
}

Napi::Value xr_js_chat_release_if_queue_empty(Napi::Value chat, Napi::Value thread_id, Napi::Value token) {
  Napi::Env env = chat.Env();
  return (new ReleaseIfQueueEmpty(env, ChatArg(env, chat), thread_id, token))->Start();
}

void xr_js_chat_cancel(Napi::Value chat) { ChatArg(chat.Env(), chat)->Cancel(); }

void xr_js_chat_close(Napi::Value chat) {
  ChatBox *b = ChatArg(chat.Env(), chat);
  b->Cancel();
  b->Close();
}

Napi::Value xr_js_stats(Napi::Value unused) {
  Napi::Env env = unused.Env();
  EnvState *st = EnvState::Of(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("clients", Napi::Number::New(env, (double)st->clients.size()));
  o.Set("chats", Napi::Number::New(env, st->chats));
  o.Set("loops", Napi::Number::New(env, st->loops));
  o.Set("waits", Napi::Number::New(env, st->waits));
  o.Set("jobs", Napi::Number::New(env, st->jobs));
  o.Set("bigBuiltOnJsThread", Napi::Number::New(env, st->built_js));
  o.Set("bigBuiltOnPool", Napi::Number::New(env, st->built_pool));
  o.Set("bigDecodedOnJsThread", Napi::Number::New(env, st->decoded_js));
  o.Set("bigDecodedOnPool", Napi::Number::New(env, st->decoded_pool));
  return o;
}
