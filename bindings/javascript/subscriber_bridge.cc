/* A client's pub/sub in the Node addon: a subscriber (subscriber.h) over the client, its pollable
 * watched by libuv on the JS thread (UvWatch, no thread of its own), each message handed to a JS
 * function as (channel, message) strings from the event loop, its bytes there on demand. SUBSCRIBE and UNSUBSCRIBE may
 * connect (blocking), so they run on the thread pool while the watch pauses (a subscriber belongs
 * to one thread at a time). The handle is a SystemBox: closed with its client, or by
 * xr_js_subscriber_close; the process is kept alive while it has channels. */
#include "bridge_internal.h"

#include <set>

extern "C" {
#include "crossredis/subscriber.h"
}

using namespace xrjs;

namespace xrjs {

const napi_type_tag kSubscriberTag = {0x63726f7373726564ULL, 0x7375627363726962ULL};

/* The watch lives apart from the box: libuv may still hold its handles after the box is gone. */
struct SubWatch {
  UvWatch watch;
  EnvState *st;
  int open = 2;
  static void Closed(uv_handle_t *h) {
    SubWatch *w = static_cast<SubWatch *>(h->data);
    w->st->HandleClosed();
    if (--w->open == 0) {
      EnvState *st = w->st;
      delete w;
      st->Unref();
    }
  }
};

class SubscriberBox : public SystemBox {
 public:
  SubscriberBox(Napi::Env env, ClientBox *client, xr_subscriber *s, Napi::Function on_message, Napi::Function on_error)
      : SystemBox(client, &EnvState::subscribers, "the subscriber was closed"), env_(env), s_(s) {
    on_message_ = Napi::Persistent(on_message);
    on_error_ = Napi::Persistent(on_error);
    napi_value resource, name;
    napi_create_object(env, &resource);
    napi_create_string_utf8(env, "crossredis.subscriber", NAPI_AUTO_LENGTH, &name);
    if (napi_async_init(env, resource, name, &context_) != napi_ok) context_ = nullptr;
    else if (napi_create_reference(env, resource, 1, &resource_) != napi_ok) resource_ = nullptr;
    uv_loop_t *loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    w_ = new SubWatch();
    w_->st = St();
    St()->Ref();
    w_->watch.Init(loop, xr_subscriber_pollable(s), this, OnOutcome);
    w_->watch.Arm(false);
  }

  xr_subscriber *Handle() const { return s_; }
  bool Busy() const { return busy_; }

  /* A pool job starts using the subscriber: the watch pauses. */
  void BeginJob() {
    busy_ = true;
    Use();
    if (w_) w_->watch.Pause();
  }
  /* The job ended (JS thread): channels now `channels`; watch again, hand over what waits. */
  void EndJob(bool js) {
    busy_ = false;
    if (s_ && w_) {
      w_->watch.Arm(!channels_.empty());
      if (js) Drain();
    }
    Unuse(); /* may free the subscriber */
  }
  std::set<std::string> &Channels() { return channels_; }

  /* The message being handed to on_message as [channel, message] Buffers (copies), or null
   * outside that call. */
  Napi::Value Bytes(Napi::Env env) const {
    if (!delivering_) return env.Null();
    Napi::Array out = Napi::Array::New(env, 2);
    out.Set((uint32_t)0, Napi::Buffer<char>::Copy(env, ch_, ch_len_));
    out.Set((uint32_t)1, Napi::Buffer<char>::Copy(env, msg_, msg_len_));
    return out;
  }

 protected:
  void FreeHandle() override {
    if (w_) {
      St()->HandleClosing();
      St()->HandleClosing();
      w_->watch.Close(SubWatch::Closed, w_);
      w_ = nullptr;
    }
    xr_subscriber_free(s_);
    s_ = nullptr;
    on_message_.Reset();
    on_error_.Reset();
    if (context_) napi_async_destroy(env_, context_);
    context_ = nullptr;
    if (resource_) napi_delete_reference(env_, resource_);
    resource_ = nullptr;
  }

 private:
  static void OnOutcome(void *owner, int rc) {
    SubscriberBox *self = static_cast<SubscriberBox *>(owner);
    if (!self->s_) return;
    if (rc < 0) { /* the subscriber stopped (out of memory): tell JS, watch no more */
      self->Call(self->on_error_, rc);
      return;
    }
    self->w_->watch.Arm(!self->channels_.empty());
    self->Drain();
  }

  /* Hands every waiting message to JS as strings, each in the subscriber's async context; its
   * bytes stay readable (Bytes) while the callback runs. */
  void Drain() {
    if (!JsUsable(env_, St())) return;
    Use(); /* a callback may close the subscriber: its handle, and the message, live until Unuse */
    while (s_ && xr_subscriber_next(s_, &ch_, &ch_len_, &msg_, &msg_len_) == 1) {
      Napi::HandleScope scope(env_);
      napi_value ch = nullptr, msg = nullptr;
      if (napi_create_string_utf8(env_, ch_, ch_len_, &ch) != napi_ok ||
          napi_create_string_utf8(env_, msg_, msg_len_, &msg) != napi_ok)
        continue; /* longer than a JS string can be: Buffer.toString would throw as well */
      Napi::Value args[2] = {Napi::Value(env_, ch), Napi::Value(env_, msg)};
      delivering_ = true;
      Invoke(on_message_, args, 2);
      delivering_ = false;
    }
    Unuse();
  }

  void Call(Napi::FunctionReference &fn, int rc) {
    if (!JsUsable(env_, St())) return;
    Napi::HandleScope scope(env_);
    Napi::Value args[1] = {xr_js_error_of(env_, rc, xr_error_last()->message).Value()};
    Invoke(fn, args, 1);
  }

  void Invoke(Napi::FunctionReference &fn, Napi::Value *args, size_t n) {
    if (fn.IsEmpty()) return;
    napi_value res = nullptr;
    napi_callback_scope cb = nullptr;
    if (context_ && resource_ && napi_get_reference_value(env_, resource_, &res) == napi_ok && res &&
        napi_open_callback_scope(env_, res, context_, &cb) != napi_ok)
      cb = nullptr;
    std::vector<napi_value> argv(args, args + n);
    try {
      fn.Call(argv);
    } catch (const Napi::Error &) {
      /* the JS layer's callbacks catch everything; nothing to do with it here */
    }
    if (cb) napi_close_callback_scope(env_, cb); /* runs the microtasks the callback queued */
  }

  napi_env env_;
  xr_subscriber *s_;
  SubWatch *w_ = nullptr;
  Napi::FunctionReference on_message_, on_error_;
  napi_async_context context_ = nullptr;
  napi_ref resource_ = nullptr;
  std::set<std::string> channels_;
  bool busy_ = false;
  /* the message being delivered (borrowed from the subscriber until its next xr_subscriber_next) */
  const char *ch_ = nullptr, *msg_ = nullptr;
  size_t ch_len_ = 0, msg_len_ = 0;
  bool delivering_ = false;
};

SubscriberBox *SubscriberArg(Napi::Env env, Napi::Value v) {
  return static_cast<SubscriberBox *>(TaggedArg<SystemBox>(env, v, kSubscriberTag, "subscriber handle"));
}

/* SUBSCRIBE or UNSUBSCRIBE of channels on the pool: a Promise of the channels subscribed after it. */
class SubscribeJob : public Work {
 public:
  SubscribeJob(Napi::Env env, SubscriberBox *box, std::vector<std::string> channels, bool subscribe)
      : Work(env, box->St()), box_(box), channels_(std::move(channels)), subscribe_(subscribe) {
    box_->BeginJob();
  }
  Napi::Value Start(Napi::Env env) {
    Napi::Value p(env, deferred_.Make(env));
    return QueueOrReject(deferred_, p);
  }

 private:
  void Execute() override {
    for (const std::string &c : channels_) {
      int rc = subscribe_ ? xr_subscriber_subscribe(box_->Handle(), c.data(), c.size())
                          : xr_subscriber_unsubscribe(box_->Handle(), c.data(), c.size());
      if (rc < 0) {
        failure_.take(rc);
        return;
      }
      done_.push_back(c);
    }
  }
  void Complete(bool js) override {
    std::set<std::string> &now = box_->Channels();
    for (const std::string &c : done_) {
      if (subscribe_) now.insert(c);
      else now.erase(c);
    }
    size_t count = now.size();
    box_->EndJob(js);
    if (!js) return;
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    if (failure_.failed()) deferred_.Reject(env, xr_js_error_of(env, failure_.code, failure_.message.c_str()).Value());
    else deferred_.Resolve(env, Napi::Number::New(env, (double)count));
  }

  SubscriberBox *box_;
  std::vector<std::string> channels_, done_;
  bool subscribe_;
  Deferred deferred_;
  Failure failure_;
};

Napi::Value Change(Napi::Value sub, Napi::Value channels, bool subscribe) {
  Napi::Env env = sub.Env();
  SubscriberBox *box = SubscriberArg(env, sub);
  if (!box->Open()) throw xr_js_error_of(env, XR_ECLOSED, box->ClosedMessage());
  if (box->Busy()) throw Napi::Error::New(env, "a subscriber changes its channels one call at a time");
  if (!channels.IsArray()) throw Napi::TypeError::New(env, "channels must be an Array");
  Napi::Array a = channels.As<Napi::Array>();
  std::vector<std::string> list;
  for (uint32_t i = 0; i < a.Length(); i++) {
    InText t;
    ReadCommandArg(env, a.Get(i), i, t);
    list.emplace_back(t.data(), t.size());
  }
  return (new SubscribeJob(env, box, std::move(list), subscribe))->Start(env);
}

}  // namespace xrjs

Napi::Value xr_js_subscriber_new(Napi::Value client, Napi::Value on_message, Napi::Value on_error) {
  Napi::Env env = client.Env();
  ClientBox *c = ClientArg(env, client);
  if (!c->Open()) throw xr_js_error_of(env, XR_ECLOSED, "the client is closed");
  if (!on_message.IsFunction() || !on_error.IsFunction())
    throw Napi::TypeError::New(env, "the subscriber's callbacks must be functions");
  xr_subscriber *s = NULL;
  int rc = xr_subscriber_new(&s, c->Client(), NULL);
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  return SystemBox::External(
      env, new SubscriberBox(env, c, s, on_message.As<Napi::Function>(), on_error.As<Napi::Function>()), kSubscriberTag);
}

Napi::Value xr_js_subscriber_subscribe(Napi::Value sub, Napi::Value channels) { return Change(sub, channels, true); }

Napi::Value xr_js_subscriber_unsubscribe(Napi::Value sub, Napi::Value channels) { return Change(sub, channels, false); }

Napi::Value xr_js_subscriber_message_bytes(Napi::Value sub) {
  Napi::Env env = sub.Env();
  return SubscriberArg(env, sub)->Bytes(env);
}

void xr_js_subscriber_close(Napi::Value sub) { SubscriberArg(sub.Env(), sub)->Close(); }
