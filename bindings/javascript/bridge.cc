/* The async bridge (bridge.h): arguments copied on the JS thread, core calls on libuv's thread
 * pool, results made into JS values back on the JS thread. */
#include "bridge.h"

#include <uv.h>

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

class BatchRun;

/* A loop connection (client.h) watched by libuv on the JS thread for as long as its client is
 * open: readable always (idle, readable means the server closed it), writable while a batch has
 * more to send, a timer for the reply deadline. No thread is involved and no system call is spent
 * on watching per batch. It is referenced (keeps the process alive) only while a batch runs. A
 * connection that failed is retired; the next batch goes through the thread pool and opens a new
 * one there (see PoolRun). */
class LoopConn {
 public:
  LoopConn(Napi::Env env, xr_client *client, xr_loop_conn *lc)
      : env_(env), client_(client), context_(env, "crossredis") {
    Install(lc);
  }

  bool Usable() const { return lc_ && !running_ && !closed_; }
  bool Retired() const { return !lc_ && !closed_ && !reopening_; }
  xr_client *Client() const { return client_; }

  /* Starts run's batch (via start, which calls xr_loop_conn_start or xr_chat_batch_start). */
  template <class StartFn>
  void Start(BatchRun *run, StartFn start);

  void BeginReopen() { reopening_ = true; }
  /* Called on the JS thread with what the pool thread opened (NULL: it could not). */
  void EndReopen(xr_loop_conn *lc) {
    reopening_ = false;
    if (!lc) return;
    if (closed_ || lc_) {
      xr_loop_conn_close(lc);
      return;
    }
    Install(lc);
  }

  /* The client is closing: stop watching, close the connection. The JS layer waits for the
   * batches in flight first; one still running here is settled with ClientClosedError. The object
   * is freed once its handles closed and the JS wrapper is gone. */
  void Close() {
    if (closed_) return;
    closed_ = true;
    if (running_ && lc_) {
      xr_loop_conn_cancel(lc_, XR_ECLOSED);
      Finish(XR_ECLOSED);
    }
    Retire();
  }

  static void Finalize(Napi::Env, LoopConn *self) {
    self->Close();
    self->wrapper_gone_ = true;
    self->MaybeDelete();
  }

 private:
  void Install(xr_loop_conn *lc) {
    if (!lc) return;
    uv_loop_t *loop = nullptr;
    napi_get_uv_event_loop(env_, &loop);
    lc_ = lc;
    uv_poll_init(loop, &poll_, xr_loop_conn_fd(lc));
    uv_timer_init(loop, &timer_);
    poll_.data = this;
    timer_.data = this;
    handles_ += 2;
    timeout_ms_ = xr_client_command_timeout_ms(client_);
    events_ = UV_READABLE;
    uv_poll_start(&poll_, events_, OnPoll);
    uv_unref(reinterpret_cast<uv_handle_t *>(&poll_));
    uv_unref(reinterpret_cast<uv_handle_t *>(&timer_));
  }

  void Watch(int wait) {
    int events = wait == XR_WAIT_WRITE ? UV_READABLE | UV_WRITABLE : UV_READABLE;
    if (events != events_) {
      events_ = events;
      uv_poll_start(&poll_, events_, OnPoll);
    }
    if (timeout_ms_ > 0) uv_timer_start(&timer_, OnTimeout, (uint64_t)timeout_ms_, 0); /* per step, as a reply timeout */
  }

  void Idle() {
    uv_timer_stop(&timer_);
    if (events_ != UV_READABLE) {
      events_ = UV_READABLE;
      uv_poll_start(&poll_, events_, OnPoll);
    }
    uv_unref(reinterpret_cast<uv_handle_t *>(&poll_));
  }

  void Finish(int rc);

  /* Stops watching and closes the connection; a batch still running was cancelled before. */
  void Retire() {
    if (!lc_) return;
    uv_close(reinterpret_cast<uv_handle_t *>(&poll_), OnClose); /* stops watching the fd now */
    uv_close(reinterpret_cast<uv_handle_t *>(&timer_), OnClose);
    xr_loop_conn_close(lc_);
    lc_ = nullptr;
  }

  static void OnPoll(uv_poll_t *h, int status, int);
  static void OnTimeout(uv_timer_t *t);
  static void OnClose(uv_handle_t *h) {
    LoopConn *self = static_cast<LoopConn *>(h->data);
    self->handles_--;
    self->MaybeDelete();
  }
  void MaybeDelete() {
    if (wrapper_gone_ && handles_ == 0 && !lc_ && !reopening_) delete this;
  }

  Napi::Env env_;
  xr_client *client_;
  Napi::AsyncContext context_;
  xr_loop_conn *lc_ = nullptr;
  uv_poll_t poll_;
  uv_timer_t timer_;
  int handles_ = 0;
  int events_ = 0;
  int timeout_ms_ = 0;
  BatchRun *running_ = nullptr;
  bool closed_ = false, reopening_ = false, wrapper_gone_ = false;
};

/* A batch run: built on the JS thread, then run on the client's loop connection when it is free
 * (driven by libuv on the JS thread), else on the thread pool by a PoolRun. Subclasses say how to
 * start the batch on a loop connection and how to run it blocking, read its results (Collect: on
 * the thread that finished it, right away, while the core's messages are current) and make the
 * JS result (Result, on the JS thread). Deletes itself once settled. */
class BatchRun {
 public:
  BatchRun(Napi::Env env, Napi::Value keep, LoopConn *loop)
      : env_(env), deferred_(Napi::Promise::Deferred::New(env)), loop_(loop) {
    if (keep.IsObject()) keep_ = Napi::Persistent(keep.As<Napi::Object>());
  }
  virtual ~BatchRun() = default;

  Napi::Promise Go();

  virtual int StartLoop(xr_loop_conn *lc, int *wait) = 0;
  virtual int Exec() = 0;                /* blocking, on a pool thread */
  virtual void Collect(int exec_rc) = 0; /* the results, where the run finished */
  virtual Napi::Value Result(Napi::Env env) = 0;

  /* The loop connection finished (or gave up on) the batch: read the results, settle inside a
   * callback scope of the connection's async context (the Promise's reactions run when it closes). */
  void LoopFinished(int rc, const Napi::AsyncContext &context) {
    Collect(rc);
    Napi::HandleScope scope(env_);
    Napi::CallbackScope callback(env_, context);
    Settle();
  }

 protected:
  Failure failure_; /* the whole call failed before it ran */

 private:
  friend class PoolRun;
  void Settle();

  Napi::Env env_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_;
  LoopConn *loop_;
};

template <class StartFn>
void LoopConn::Start(BatchRun *run, StartFn start) {
  running_ = run;
  uv_ref(reinterpret_cast<uv_handle_t *>(&poll_));
  int wait = 0;
  int rc = start(lc_, &wait);
  if (wait) {
    Watch(wait);
  } else {
    Finish(rc);
  }
}

void LoopConn::Finish(int rc) {
  BatchRun *run = running_;
  running_ = nullptr;
  Idle();
  if (xr_loop_conn_broken(lc_)) Retire();
  run->LoopFinished(rc, context_); /* last: settling runs JS, which may start the next batch */
}

void LoopConn::OnPoll(uv_poll_t *h, int status, int) {
  LoopConn *self = static_cast<LoopConn *>(h->data);
  if (!self->lc_) return;
  int wait = 0;
  int rc;
  if (status < 0) {
    if (!self->running_) { /* idle and the poll failed: give the connection up */
      self->Retire();
      return;
    }
    xr_loop_conn_cancel(self->lc_, XR_EIO);
    rc = XR_EIO;
  } else {
    rc = xr_loop_conn_continue(self->lc_, &wait);
  }
  if (!self->running_) { /* idle: the server closed the connection, or nothing */
    if (xr_loop_conn_broken(self->lc_)) self->Retire();
    return;
  }
  if (wait) {
    self->Watch(wait);
  } else {
    self->Finish(rc);
  }
}

void LoopConn::OnTimeout(uv_timer_t *t) {
  LoopConn *self = static_cast<LoopConn *>(t->data);
  if (!self->running_ || !self->lc_) return;
  xr_loop_conn_cancel(self->lc_, XR_ETIMEOUT);
  self->Finish(XR_ETIMEOUT);
}

/* Runs a BatchRun's blocking exec on libuv's thread pool; when the client's loop connection was
 * retired and the batch reached the server, opens its replacement there too (connecting blocks). */
class PoolRun : public Napi::AsyncWorker {
 public:
  PoolRun(Napi::Env env, BatchRun *run) : Napi::AsyncWorker(env, "crossredis"), run_(run) {
    LoopConn *loop = run->loop_;
    if (loop && loop->Retired()) {
      loop->BeginReopen();
      reopen_ = loop;
    }
  }

 private:
  void Execute() override {
    int rc = run_->Exec();
    run_->Collect(rc);
    /* only when the server answered: against a dead one the next batch will try again, rather
     * than this one waiting for a second connect timeout */
    if (reopen_ && rc >= 0 && xr_loop_conn_open(&opened_, reopen_->Client()) < 0) opened_ = nullptr;
  }
  void OnOK() override {
    if (reopen_) reopen_->EndReopen(opened_);
    run_->Settle();
  }
  void OnError(const Napi::Error &) override { OnOK(); }

  BatchRun *run_;
  LoopConn *reopen_ = nullptr;
  xr_loop_conn *opened_ = nullptr;
};

Napi::Promise BatchRun::Go() {
  Napi::Promise p = deferred_.Promise();
  if (failure_.failed()) { /* nothing to run */
    Settle();
  } else if (loop_ && loop_->Usable()) {
    loop_->Start(this, [this](xr_loop_conn *lc, int *wait) { return StartLoop(lc, wait); });
  } else {
    (new PoolRun(env_, this))->Queue();
  }
  return p;
}

void BatchRun::Settle() {
  Napi::Env env = env_;
  Napi::HandleScope scope(env);
  if (failure_.failed()) {
    deferred_.Reject(xr_js_error_of(env, failure_.code, failure_.message.c_str()).Value());
  } else {
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error &e) {
      deferred_.Reject(e.Value());
    }
  }
  delete this;
}

/* The LoopConn behind a JS value: an External made by xr_js_client_open, or null/undefined. */
const napi_type_tag kLoopTag = {0x63726f7373726564ULL, 0x6c6f6f70636f6e6eULL};

LoopConn *loop_arg(Napi::Env env, Napi::Value v) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(env, v, &kLoopTag, &tagged);
  if (!tagged) throw Napi::TypeError::New(env, "expected a loop connection handle");
  return v.As<Napi::External<LoopConn>>().Data();
}

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

class ChatRun : public BatchRun {
 public:
  ChatRun(Napi::Env env, xr_chat *chat, Napi::Value keep, Napi::Value ops, LoopConn *loop)
      : BatchRun(env, keep, loop), chat_(chat) {
    if (!ops.IsArray()) throw Napi::TypeError::New(env, "operations must be an Array");
    Napi::Array arr = ops.As<Napi::Array>();
    uint32_t n = arr.Length();
    ops_.resize(n);
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value item = arr.Get(i);
      if (!item.IsArray()) throw Napi::TypeError::New(env, "an operation must be an Array");
      Read(env, item.As<Napi::Array>(), ops_[i]);
    }
    int rc = xr_chat_batch_new(&batch_, chat_);
    if (rc < 0) {
      failure_.take(rc);
      return;
    }
    for (ChatOp &op : ops_) {
      op.index = Add(batch_, op);
      if (op.index < 0) op.failure.take(op.index);
    }
  }
  ~ChatRun() override { xr_chat_batch_free(batch_); }

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

  int StartLoop(xr_loop_conn *lc, int *wait) override { return xr_chat_batch_start(batch_, lc, wait); }
  int Exec() override { return xr_chat_batch_exec(batch_); }

  void Collect(int rc) override {
    if (xr_chat_batch_count(batch_) == 0) return;
    Failure lost;
    if (rc < 0) lost.take(rc);
    for (ChatOp &op : ops_) {
      if (op.index < 0) continue;
      if (rc < 0) {
        op.failure = lost;
      } else {
        Collect(batch_, op);
      }
    }
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
  xr_chat_batch *batch_ = NULL;
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
    if (rc < 0) {
      failure_.take(rc);
      return;
    }
    /* the event loop's connection; without one (it failed to open) the batches run on threads */
    if (xr_loop_conn_open(&loop_, client_) < 0) loop_ = NULL;
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set((uint32_t)0, xr_js_client_handle(env, client_));
    if (loop_) {
      Napi::External<LoopConn> ext =
          Napi::External<LoopConn>::New(env, new LoopConn(env, client_, loop_), LoopConn::Finalize);
      napi_type_tag_object(env, ext, &kLoopTag);
      out.Set((uint32_t)1, ext);
    } else {
      out.Set((uint32_t)1, env.Null());
    }
    return out;
  }

  OptString url_, username_, password_, client_name_, ca_file_, ca_pem_, cert_file_, key_file_, cert_pem_, key_pem_,
      server_name_;
  int connect_timeout_ = -1, command_timeout_ = -1, pool_size_ = -1, db_ = -1, insecure_ = -1;
  xr_client *client_ = NULL;
  xr_loop_conn *loop_ = NULL;
};

class ClientRun : public BatchRun {
 public:
  ClientRun(Napi::Env env, xr_client *client, Napi::Value keep, Napi::Value commands, bool buffers, LoopConn *loop)
      : BatchRun(env, keep, loop), client_(client), buffers_(buffers) {
    if (!commands.IsArray()) throw Napi::TypeError::New(env, "commands must be an Array");
    Napi::Array arr = commands.As<Napi::Array>();
    uint32_t n = arr.Length();
    cmds_.resize(n);
    for (uint32_t i = 0; i < n; i++) Read(env, arr.Get(i), cmds_[i]);
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
      for (const std::string &a : c.args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      c.index = xr_batch_add(batch_, (int)argv.size(), argv.data(), lens.data());
      if (c.index < 0) c.failure.take(c.index);
    }
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

  int StartLoop(xr_loop_conn *lc, int *wait) override { return xr_loop_conn_start(lc, batch_, wait); }
  int Exec() override { return xr_client_exec(client_, batch_); }

  /* A lost connection marks every unanswered command with its code and message. */
  void Collect(int) override {
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

Napi::Value xr_js_chat_run(xr_chat *chat, Napi::Value keep, Napi::Value ops, Napi::Value loop) {
  return (new ChatRun(keep.Env(), chat, keep, ops, loop_arg(keep.Env(), loop)))->Go();
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

Napi::Value xr_js_client_run(xr_client *client, Napi::Value keep, Napi::Value commands, bool buffers,
                             Napi::Value loop) {
  return (new ClientRun(keep.Env(), client, keep, commands, buffers, loop_arg(keep.Env(), loop)))->Go();
}

void xr_js_loop_close(Napi::Value loop) {
  LoopConn *lc = loop_arg(loop.Env(), loop);
  if (lc) lc->Close();
}
