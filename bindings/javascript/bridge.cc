/* The async bridge (bridge.h): arguments copied on the JS thread, core calls on libuv's thread
 * pool, results made into JS values back on the JS thread. */
#include "bridge.h"

#include <stdint.h>
#include <string.h>

#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "binding.h"
#include "crossredis/alloc.h"
#include "crossredis/error.h"
}

namespace {

/* The last failure of this (worker) thread, copied before the next core call can replace it. */
struct Failure {
  int code = 0;
  std::string message;

  void take(int rc) {
    code = rc;
    const char *m = xr_error_last()->message;
    message = (m && m[0]) ? m : xr_strerror(rc);
  }
  bool failed() const { return code < 0; }
};

/* A Promise settled by a job run on the thread pool. Subclasses copy their inputs in the
 * constructor (JS thread), call the core in Execute (pool) and make the result in Result (JS). */
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, Napi::Value keep)
      : Napi::AsyncWorker(env, "crossredis"), deferred_(Napi::Promise::Deferred::New(env)) {
    if (keep.IsObject()) keep_ = Napi::Persistent(keep.As<Napi::Object>());
  }

  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  virtual Napi::Value Result(Napi::Env env) = 0;

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (failure_.failed()) {
      deferred_.Reject(xr_js_error_of(env, failure_.code, failure_.message.c_str()).Value());
      return;
    }
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error &e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

  Failure failure_;

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_;
};

std::string utf8_arg(Napi::Env env, Napi::Value v, const char *what) {
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

int64_t int_arg(Napi::Env env, Napi::Value v, const char *what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0) || d != (double)(int64_t)d) {
    throw Napi::RangeError::New(env, std::string(what) + " must be an integer");
  }
  return (int64_t)d;
}

Napi::Value lock_value(Napi::Env env, const std::string &token, int64_t expires_at) {
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set((uint32_t)0, Napi::String::New(env, token));
  a.Set((uint32_t)1, Napi::Number::New(env, (double)expires_at));
  return a;
}

/* ---- Chat SDK operations as one batch -------------------------------------------------------- */

struct ChatOp {
  int kind = 0;
  std::string a, b;          /* thread id or key; token or JSON text */
  int64_t n1 = 0, n2 = 0, n3 = 0;
  int index = -1;            /* in the batch; -1 when adding it failed */
  Failure failure;
  /* results */
  bool flag = false;
  bool present = false;      /* acquired / found / value not nil */
  long long integer = 0;
  std::string text;          /* token, value or message JSON */
  std::string raw;           /* a dequeued entry's bytes */
  int64_t t1 = 0, t2 = 0;    /* expiresAt; enqueuedAt and expiresAt */
  std::vector<std::string> items;
};

class ChatRun : public Job {
 public:
  ChatRun(Napi::Env env, xr_chat *chat, Napi::Value keep, Napi::Value ops) : Job(env, keep), chat_(chat) {
    if (!ops.IsArray()) throw Napi::TypeError::New(env, "operations must be an Array");
    Napi::Array arr = ops.As<Napi::Array>();
    uint32_t n = arr.Length();
    ops_.resize(n);
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value item = arr.Get(i);
      if (!item.IsArray()) throw Napi::TypeError::New(env, "an operation must be an Array");
      Read(env, item.As<Napi::Array>(), ops_[i]);
    }
  }

 private:
  static void Read(Napi::Env env, Napi::Array a, ChatOp &op) {
    op.kind = (int)int_arg(env, a.Get((uint32_t)0), "operation code");
    switch (op.kind) {
      case XR_JS_SUBSCRIBE:
      case XR_JS_UNSUBSCRIBE:
      case XR_JS_IS_SUBSCRIBED:
      case XR_JS_FORCE_RELEASE:
      case XR_JS_DEQUEUE:
      case XR_JS_QUEUE_DEPTH:
        op.a = utf8_arg(env, a.Get(1), "threadId");
        break;
      case XR_JS_GET:
      case XR_JS_DELETE:
      case XR_JS_GET_LIST:
        op.a = utf8_arg(env, a.Get(1), "key");
        break;
      case XR_JS_ACQUIRE:
        op.a = utf8_arg(env, a.Get(1), "threadId");
        op.n1 = int_arg(env, a.Get(2), "ttlMs");
        break;
      case XR_JS_RELEASE:
        op.a = utf8_arg(env, a.Get(1), "threadId");
        op.b = utf8_arg(env, a.Get(2), "token");
        break;
      case XR_JS_EXTEND:
        op.a = utf8_arg(env, a.Get(1), "threadId");
        op.b = utf8_arg(env, a.Get(2), "token");
        op.n1 = int_arg(env, a.Get(3), "ttlMs");
        break;
      case XR_JS_SET:
      case XR_JS_SET_IF_NOT_EXISTS:
        op.a = utf8_arg(env, a.Get(1), "key");
        op.b = utf8_arg(env, a.Get(2), "value");
        op.n1 = int_arg(env, a.Get(3), "ttlMs");
        break;
      case XR_JS_APPEND:
        op.a = utf8_arg(env, a.Get(1), "key");
        op.b = utf8_arg(env, a.Get(2), "value");
        op.n1 = int_arg(env, a.Get(3), "maxLength");
        op.n2 = int_arg(env, a.Get(4), "ttlMs");
        break;
      case XR_JS_ENQUEUE:
        op.a = utf8_arg(env, a.Get(1), "threadId");
        op.b = utf8_arg(env, a.Get(2), "message");
        op.n1 = int_arg(env, a.Get(3), "enqueuedAt");
        op.n2 = int_arg(env, a.Get(4), "expiresAt");
        op.n3 = int_arg(env, a.Get(5), "maxSize");
        break;
      default:
        throw Napi::RangeError::New(env, "unknown operation code " + std::to_string(op.kind));
    }
  }

  static int Add(xr_chat_batch *b, const ChatOp &op) {
    const char *a = op.a.data(), *t = op.b.data();
    size_t al = op.a.size(), tl = op.b.size();
    switch (op.kind) {
      case XR_JS_SUBSCRIBE: return xr_chat_batch_subscribe(b, a, al);
      case XR_JS_UNSUBSCRIBE: return xr_chat_batch_unsubscribe(b, a, al);
      case XR_JS_IS_SUBSCRIBED: return xr_chat_batch_is_subscribed(b, a, al);
      case XR_JS_ACQUIRE: return xr_chat_batch_acquire_lock(b, a, al, op.n1);
      case XR_JS_RELEASE: return xr_chat_batch_release_lock(b, a, al, t, tl);
      case XR_JS_EXTEND: return xr_chat_batch_extend_lock(b, a, al, t, tl, op.n1);
      case XR_JS_FORCE_RELEASE: return xr_chat_batch_force_release_lock(b, a, al);
      case XR_JS_GET: return xr_chat_batch_get(b, a, al);
      case XR_JS_SET: return xr_chat_batch_set(b, a, al, t, tl, op.n1);
      case XR_JS_SET_IF_NOT_EXISTS: return xr_chat_batch_set_if_not_exists(b, a, al, t, tl, op.n1);
      case XR_JS_DELETE: return xr_chat_batch_delete(b, a, al);
      case XR_JS_APPEND: return xr_chat_batch_append_to_list(b, a, al, t, tl, (long)op.n1, op.n2);
      case XR_JS_GET_LIST: return xr_chat_batch_get_list(b, a, al);
      case XR_JS_ENQUEUE: return xr_chat_batch_enqueue(b, a, al, t, tl, op.n1, op.n2, (long)op.n3);
      case XR_JS_DEQUEUE: return xr_chat_batch_dequeue(b, a, al);
      case XR_JS_QUEUE_DEPTH: return xr_chat_batch_queue_depth(b, a, al);
      default: return xr_error_set(XR_EINVAL, "unknown operation");
    }
  }

  static void Collect(const xr_chat_batch *b, ChatOp &op) {
    size_t i = (size_t)op.index;
    int rc = 0;
    switch (op.kind) {
      case XR_JS_IS_SUBSCRIBED:
      case XR_JS_RELEASE:
      case XR_JS_EXTEND:
      case XR_JS_SET_IF_NOT_EXISTS:
        rc = xr_chat_batch_bool(b, i, &op.flag);
        break;
      case XR_JS_ACQUIRE: {
        xr_chat_lock lock;
        memset(&lock, 0, sizeof lock);
        rc = xr_chat_batch_lock(b, i, &op.present, &lock);
        if (rc == 0 && op.present) {
          op.text.assign(lock.token, lock.token_len);
          op.t1 = lock.expires_at_ms;
        }
        break;
      }
      case XR_JS_ENQUEUE:
      case XR_JS_QUEUE_DEPTH:
        rc = xr_chat_batch_integer(b, i, &op.integer);
        break;
      case XR_JS_GET: {
        char *v = NULL;
        size_t n = 0;
        rc = xr_chat_batch_value(b, i, &v, &n);
        if (rc == 0 && v) {
          op.present = true;
          op.text.assign(v, n);
        }
        xr_free(v);
        break;
      }
      case XR_JS_GET_LIST: {
        const xr_reply *items = NULL;
        rc = xr_chat_batch_list(b, i, &items);
        if (rc == 0 && items) {
          size_t count = xr_reply_count(items);
          op.items.reserve(count);
          for (size_t k = 0; k < count; k++) {
            size_t n = 0;
            const char *s = xr_reply_str(xr_reply_at(items, k), &n);
            op.items.emplace_back(s ? s : "", n);
          }
        }
        break;
      }
      case XR_JS_DEQUEUE: {
        xr_chat_queue_entry e;
        memset(&e, 0, sizeof e);
        rc = xr_chat_batch_entry(b, i, &op.present, &e);
        if (rc < 0) op.failure.take(rc); /* before clear: keep the core's message */
        if (e.raw) op.raw.assign(e.raw, e.raw_len);
        if (rc == 0 && op.present) {
          op.text.assign(e.message ? e.message : "", e.message_len);
          op.t1 = e.enqueued_at_ms;
          op.t2 = e.expires_at_ms;
        }
        xr_chat_queue_entry_clear(&e);
        return;
      }
      default:
        rc = xr_chat_batch_status(b, i);
        break;
    }
    if (rc < 0) op.failure.take(rc);
  }

  void Execute() override {
    xr_chat_batch *b = NULL;
    int rc = xr_chat_batch_new(&b, chat_);
    if (rc < 0) {
      failure_.take(rc);
      return;
    }
    for (ChatOp &op : ops_) {
      op.index = Add(b, op);
      if (op.index < 0) op.failure.take(op.index);
    }
    if (xr_chat_batch_count(b) > 0) {
      rc = xr_chat_batch_exec(b);
      Failure lost;
      if (rc < 0) lost.take(rc);
      for (ChatOp &op : ops_) {
        if (op.index < 0) continue;
        if (rc < 0) {
          op.failure = lost;
        } else {
          Collect(b, op);
        }
      }
    }
    xr_chat_batch_free(b);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, ops_.size());
    for (size_t i = 0; i < ops_.size(); i++) {
      out.Set((uint32_t)i, Value(env, ops_[i]));
    }
    return out;
  }

  static Napi::Value Value(Napi::Env env, const ChatOp &op) {
    if (op.failure.failed()) {
      Napi::Error err = xr_js_error_of(env, op.failure.code, op.failure.message.c_str());
      if (op.kind == XR_JS_DEQUEUE && !op.raw.empty()) {
        err.Value().Set("raw", Napi::Buffer<char>::Copy(env, op.raw.data(), op.raw.size()));
      }
      return err.Value();
    }
    switch (op.kind) {
      case XR_JS_IS_SUBSCRIBED:
      case XR_JS_RELEASE:
      case XR_JS_EXTEND:
      case XR_JS_SET_IF_NOT_EXISTS:
        return Napi::Boolean::New(env, op.flag);
      case XR_JS_ACQUIRE:
        return op.present ? lock_value(env, op.text, op.t1) : env.Null();
      case XR_JS_ENQUEUE:
      case XR_JS_QUEUE_DEPTH:
        return Napi::Number::New(env, (double)op.integer);
      case XR_JS_GET:
        return op.present ? Napi::String::New(env, op.text) : env.Null();
      case XR_JS_GET_LIST: {
        Napi::Array a = Napi::Array::New(env, op.items.size());
        for (size_t k = 0; k < op.items.size(); k++) a.Set((uint32_t)k, Napi::String::New(env, op.items[k]));
        return a;
      }
      case XR_JS_DEQUEUE: {
        if (!op.present) return env.Null();
        Napi::Array a = Napi::Array::New(env, 3);
        a.Set((uint32_t)0, Napi::String::New(env, op.text));
        a.Set((uint32_t)1, op.t1 < 0 ? env.Undefined() : Napi::Number::New(env, (double)op.t1));
        a.Set((uint32_t)2, Napi::Number::New(env, (double)op.t2));
        return a;
      }
      default:
        return env.Undefined();
    }
  }

  xr_chat *chat_;
  std::vector<ChatOp> ops_;
};

/* ---- blocking acquire, release-if-queue-empty ------------------------------------------------ */

class AcquireWait : public Job {
 public:
  AcquireWait(Napi::Env env, xr_chat *chat, Napi::Value keep, Napi::Value thread_id, double ttl_ms, double wait_ms)
      : Job(env, keep), chat_(chat), id_(utf8_arg(env, thread_id, "threadId")),
        ttl_(int_arg(env, Napi::Number::New(env, ttl_ms), "ttlMs")),
        wait_(int_arg(env, Napi::Number::New(env, wait_ms), "waitMs")) {
    memset(&lock_, 0, sizeof lock_);
  }

 private:
  void Execute() override {
    int rc = xr_chat_acquire_lock_wait(chat_, &acquired_, &lock_, id_.data(), id_.size(), ttl_, wait_);
    if (rc < 0) failure_.take(rc);
  }
  Napi::Value Result(Napi::Env env) override {
    return acquired_ ? lock_value(env, std::string(lock_.token, lock_.token_len), lock_.expires_at_ms) : env.Null();
  }

  xr_chat *chat_;
  std::string id_;
  int64_t ttl_, wait_;
  bool acquired_ = false;
  xr_chat_lock lock_;
};

class ReleaseIfQueueEmpty : public Job {
 public:
  ReleaseIfQueueEmpty(Napi::Env env, xr_chat *chat, Napi::Value keep, Napi::Value thread_id, Napi::Value token)
      : Job(env, keep), chat_(chat), id_(utf8_arg(env, thread_id, "threadId")), token_(utf8_arg(env, token, "token")) {}

 private:
  void Execute() override {
    int rc = xr_chat_release_lock_if_queue_empty(chat_, &released_, &depth_, id_.data(), id_.size(), token_.data(),
                                                 token_.size());
    if (rc < 0) failure_.take(rc);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array a = Napi::Array::New(env, 2);
    a.Set((uint32_t)0, Napi::Boolean::New(env, released_));
    a.Set((uint32_t)1, Napi::Number::New(env, (double)depth_));
    return a;
  }

  xr_chat *chat_;
  std::string id_, token_;
  bool released_ = false;
  long long depth_ = 0;
};

/* ---- clients ---------------------------------------------------------------------------------- */

/* An optional string option: present when a string, absent when undefined or null. */
struct OptString {
  bool set = false;
  std::string value;
  const char *get() const { return set ? value.c_str() : NULL; }
};

class ClientOpen : public Job {
 public:
  ClientOpen(Napi::Env env, Napi::Value options) : Job(env, env.Undefined()) {
    if (!options.IsObject()) throw Napi::TypeError::New(env, "client options must be an object");
    Napi::Object o = options.As<Napi::Object>();
    Str(env, o, "url", url_);
    Str(env, o, "username", username_);
    Str(env, o, "password", password_);
    Str(env, o, "clientName", client_name_);
    Str(env, o, "caFile", ca_file_);
    Str(env, o, "caPem", ca_pem_);
    Str(env, o, "certFile", cert_file_);
    Str(env, o, "keyFile", key_file_);
    Str(env, o, "certPem", cert_pem_);
    Str(env, o, "keyPem", key_pem_);
    Str(env, o, "serverName", server_name_);
    connect_timeout_ = Int(env, o, "connectTimeoutMs");
    command_timeout_ = Int(env, o, "commandTimeoutMs");
    pool_size_ = Int(env, o, "poolSize");
    db_ = Int(env, o, "db");
    Napi::Value insecure = o.Get("insecure");
    if (insecure.IsBoolean()) {
      insecure_ = insecure.As<Napi::Boolean>().Value() ? 1 : 0;
    } else if (!insecure.IsUndefined() && !insecure.IsNull()) {
      throw Napi::TypeError::New(env, "insecure must be a boolean");
    }
  }

 private:
  static void Str(Napi::Env env, Napi::Object o, const char *name, OptString &out) {
    Napi::Value v = o.Get(name);
    if (v.IsUndefined() || v.IsNull()) return;
    out.value = utf8_arg(env, v, name);
    out.set = true;
  }
  static int Int(Napi::Env env, Napi::Object o, const char *name) {
    Napi::Value v = o.Get(name);
    if (v.IsUndefined() || v.IsNull()) return -1;
    int64_t n = int_arg(env, v, name);
    if (n < 0 || n > INT32_MAX) throw Napi::RangeError::New(env, std::string(name) + " must be from 0 to 2147483647");
    return (int)n;
  }

  void Execute() override {
    int rc = xr_binding_client_open(&client_, url_.get(), connect_timeout_, command_timeout_, pool_size_,
                                    username_.get(), password_.get(), db_, client_name_.get(), ca_file_.get(),
                                    ca_pem_.get(), cert_file_.get(), key_file_.get(), cert_pem_.get(), key_pem_.get(),
                                    server_name_.get(), insecure_);
    if (rc < 0) failure_.take(rc);
  }
  Napi::Value Result(Napi::Env env) override { return xr_js_client_handle(env, client_); }

  OptString url_, username_, password_, client_name_, ca_file_, ca_pem_, cert_file_, key_file_, cert_pem_, key_pem_,
      server_name_;
  int connect_timeout_ = -1, command_timeout_ = -1, pool_size_ = -1, db_ = -1, insecure_ = -1;
  xr_client *client_ = NULL;
};

class ClientRun : public Job {
 public:
  ClientRun(Napi::Env env, xr_client *client, Napi::Value keep, Napi::Value commands, bool buffers)
      : Job(env, keep), client_(client), buffers_(buffers) {
    if (!commands.IsArray()) throw Napi::TypeError::New(env, "commands must be an Array");
    Napi::Array arr = commands.As<Napi::Array>();
    uint32_t n = arr.Length();
    cmds_.resize(n);
    for (uint32_t i = 0; i < n; i++) Read(env, arr.Get(i), cmds_[i]);
  }
  ~ClientRun() override { xr_batch_free(batch_); }

 private:
  struct Command {
    std::vector<std::string> args;
    int index = -1;
    Failure failure;
  };

  static void Read(Napi::Env env, Napi::Value v, Command &c) {
    if (!v.IsArray()) throw Napi::TypeError::New(env, "a command must be an Array of arguments");
    Napi::Array a = v.As<Napi::Array>();
    uint32_t n = a.Length();
    if (n < 1) throw Napi::RangeError::New(env, "a command needs at least its name");
    c.args.reserve(n);
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value item = a.Get(i);
      if (item.IsString()) {
        c.args.push_back(item.As<Napi::String>().Utf8Value());
      } else if (item.IsBuffer()) {
        Napi::Buffer<char> b = item.As<Napi::Buffer<char>>();
        c.args.emplace_back(b.Data(), b.Length());
      } else if (item.IsTypedArray() && item.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
        Napi::Uint8Array u = item.As<Napi::Uint8Array>();
        c.args.emplace_back(reinterpret_cast<const char *>(u.Data()), u.ByteLength());
      } else if (item.IsNumber() || item.IsBigInt()) {
        c.args.push_back(item.ToString().Utf8Value());
      } else {
        throw Napi::TypeError::New(env, "command argument " + std::to_string(i) +
                                            ": expected a string, Buffer, Uint8Array, number or bigint");
      }
    }
  }

  void Execute() override {
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
      for (const std::string &s : c.args) {
        argv.push_back(s.data());
        lens.push_back(s.size());
      }
      c.index = xr_batch_add(batch_, (int)argv.size(), argv.data(), lens.data());
      if (c.index < 0) c.failure.take(c.index);
    }
    if (xr_batch_count(batch_) == 0) return;
    rc = xr_client_exec(client_, batch_);
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
    (void)rc; /* a lost connection marks every unanswered command with its code */
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, cmds_.size());
    for (size_t i = 0; i < cmds_.size(); i++) {
      const Command &c = cmds_[i];
      if (c.failure.failed()) {
        out.Set((uint32_t)i, xr_js_error_of(env, c.failure.code, c.failure.message.c_str()).Value());
        continue;
      }
      const xr_reply *reply = NULL;
      xr_batch_result(batch_, (size_t)c.index, &reply, NULL);
      out.Set((uint32_t)i, xr_js_reply_value(env, reply, buffers_));
    }
    return out;
  }

  xr_client *client_;
  bool buffers_;
  std::vector<Command> cmds_;
  xr_batch *batch_ = NULL;
};

}  // namespace

Napi::Value xr_js_chat_run(xr_chat *chat, Napi::Value keep, Napi::Value ops) {
  return (new ChatRun(keep.Env(), chat, keep, ops))->Start();
}

Napi::Value xr_js_chat_acquire_wait(xr_chat *chat, Napi::Value keep, Napi::Value thread_id, double ttl_ms,
                                    double wait_ms) {
  return (new AcquireWait(keep.Env(), chat, keep, thread_id, ttl_ms, wait_ms))->Start();
}

Napi::Value xr_js_chat_release_if_queue_empty(xr_chat *chat, Napi::Value keep, Napi::Value thread_id,
                                              Napi::Value token) {
  return (new ReleaseIfQueueEmpty(keep.Env(), chat, keep, thread_id, token))->Start();
}

Napi::Value xr_js_client_open(Napi::Value options) {
  return (new ClientOpen(options.Env(), options))->Start();
}

Napi::Value xr_js_client_run(xr_client *client, Napi::Value keep, Napi::Value commands, bool buffers) {
  return (new ClientRun(keep.Env(), client, keep, commands, buffers))->Start();
}
