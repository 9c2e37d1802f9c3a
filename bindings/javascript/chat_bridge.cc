/* The Chat SDK adapter in the Node addon: its handle, its operations as one batch (the rows of
 * chat.def, run by bridge.cc's OpsRun by kind) on the lanes of bridge.h, its one-call jobs,
 * acquireLockWait's waits, and the functions SWIG wraps for it (bridge.h). The machinery it runs
 * on is bridge.cc's. */
#include "bridge_internal.h"

using namespace xrjs;

namespace xrjs {

Napi::Value LockValue(Napi::Env env, const char *token, size_t len, int64_t expires_at) {
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set((uint32_t)0, Napi::String::New(env, token, len));
  a.Set((uint32_t)1, Napi::Number::New(env, (double)expires_at));
  return a;
}

/* ---- the adapter ------------------------------------------------------------------------------ */

XR_JS_SYSTEM(ChatSystem, chat, xr_chat, xr_chat_free);

const napi_type_tag kChatTag = {0x63726f7373726564ULL, 0x6368617462786f78ULL};

class Wait;

/* An xr_chat over a ClientBox, with its acquireLockWait waits (cancelled with it). Its
 * operations run as one batch by kind (OpsRun, bridge_internal.h), on the lanes of bridge.h. */
class ChatBox : public OpsBox<ChatSystem> {
 public:
  ChatBox(ClientBox *client, xr_chat *chat) : OpsBox(client, chat, &EnvState::chats, "the state adapter was disconnected") {}

  xr_chat *Chat() const { return Handle(); } /* null once freed */
  void AddWait(Wait *w) { waits_.insert(w); }
  void RemoveWait(Wait *w) { waits_.erase(w); }
  void Cancel() override;

 private:
  std::unordered_set<Wait *> waits_;
};

ChatBox *ChatArg(Napi::Env env, Napi::Value v) {
  return static_cast<ChatBox *>(TaggedArg<SystemBox>(env, v, kChatTag, "adapter handle"));
}

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
    return QueueOrReject(deferred_, p);
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
  SystemBox::Cancel();
  std::vector<Wait *> ws(waits_.begin(), waits_.end());
  for (Wait *w : ws) w->Cancel();
}

}  // namespace xrjs

Napi::Value xr_js_chat_new(Napi::Value client, Napi::Value options) {
  Napi::Env env = client.Env();
  HandleArgs o(env, client, options, "adapter options");
  OptString prefix = o.Text("keyPrefix"), token_prefix = o.Text("tokenPrefix");
  /* the enums' values as the JS layer read them from this addon (the headers'); absent: 0, the default */
  auto value = [&](const char *name) -> int { return (int)o.Number(name); };
  xr_chat_options co = xr_binding_chat_options(prefix.get(), value("emptyPrefix"), token_prefix.get(),
                                               value("tokenSuffix"), value("json"), value("queue"),
                                               value("minReplicas"), value("minReplicasTimeoutMs"), value("layout"));
  xr_chat *chat = NULL;
  int rc = xr_chat_new(&chat, o.Client()->Client(), &co);
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  return SystemBox::External(env, new ChatBox(o.Client(), chat), kChatTag);
}

Napi::Value xr_js_chat_key_prefix(Napi::Value chat) {
  Napi::Env env = chat.Env();
  ChatBox *b = ChatArg(env, chat);
  if (!b->Chat()) return env.Null();
  return Napi::String::New(env, xr_chat_key_prefix(b->Chat()));
}

/* The rows of chat.def for the JS layer. */
Napi::Value xr_js_chat_ops(Napi::Value unused) { return OpsTable(unused.Env(), xr_chat_op_at); }

Napi::Value xr_js_chat_run(Napi::Value chat, Napi::Value ops, Napi::Value lane) {
  Napi::Env env = chat.Env();
  int64_t l = lane.IsUndefined() ? 0 : I64(env, lane, "lane");
  if (l < -1 || l >= XR_JS_LANES) throw Napi::RangeError::New(env, "lane must be -1.." + std::to_string(XR_JS_LANES - 1));
  return (new OpsRun<ChatSystem>(env, ChatArg(env, chat), ops, (int)l))->Go();
}

Napi::Value xr_js_chat_lanes(Napi::Value chat, Napi::Value ops, Napi::Value out) {
  Napi::Env env = chat.Env();
  ChatBox *box = ChatArg(env, chat);
  if (!box->Open() || xr_client_topology(box->Client()->Client()) != XR_TOPOLOGY_CLUSTER) return Napi::Number::New(env, -1);
  if (!ops.IsArray()) throw Napi::TypeError::New(env, "operations must be an Array");
  if (!out.IsTypedArray() || out.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "lanes must be a Uint8Array");
  Napi::Array arr = ops.As<Napi::Array>();
  Napi::Uint8Array lanes = out.As<Napi::Uint8Array>();
  uint32_t n = arr.Length();
  if (lanes.ElementLength() < n) throw Napi::RangeError::New(env, "lanes has room for fewer operations than given");
  uint8_t *w = lanes.Data();
  int shared = -1; /* the one lane of every operation so far; XR_JS_LANES once they differ */
  for (uint32_t i = 0; i < n; i++) {
    uint8_t lane = 0;
    Napi::Value item = arr.Get(i);
    Napi::Value code = item.IsArray() ? item.As<Napi::Array>().Get((uint32_t)0) : env.Undefined();
    Napi::Value id = item.IsArray() ? item.As<Napi::Array>().Get((uint32_t)1) : env.Undefined();
    const xr_op_info *info = code.IsNumber() ? xr_chat_op_at(code.As<Napi::Number>().Int32Value()) : nullptr;
    if (info && id.IsString()) { /* anything else: lane 0, and running it says what is wrong */
      char small[256];
      size_t len = 0;
      std::string big;
      const char *p = small;
      napi_get_value_string_utf8(env, id, small, sizeof small, &len);
      if (len >= sizeof small - 1) { /* it may not have fit */
        big = id.As<Napi::String>().Utf8Value();
        p = big.data();
        len = big.size();
      }
      xr_arg args[XR_OP_ARGS_MAX] = {};
      args[0] = xr_arg{p, len, 0};
      lane = (uint8_t)box->Client()->LaneOf(xr_chat_op_slot(box->Chat(), info->code, args, info->nargs));
    }
    w[i] = lane;
    shared = shared < 0 || shared == lane ? lane : XR_JS_LANES;
  }
  return Napi::Number::New(env, shared < 0 ? 0 : shared);
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
