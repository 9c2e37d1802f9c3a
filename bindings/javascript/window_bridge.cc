/* Key families (family.h) and migration windows (window.h) in the Node addon: a family as a JS
 * External (pure, no client: freed when collected), its keys computed on the JS thread (no I/O);
 * a window's handle over a client (a SystemBox: freed once released or its client closed and no
 * call uses it), each of its calls one job on the thread pool (a call is several round trips, on
 * whichever nodes hold the two keys), the reply made into JS values as the client's commands give
 * them (big bulk strings decoded on the pool, as theirs). The functions SWIG wraps are declared in bridge.h. Every check is the core's; here only
 * JS values become bytes (command arguments: ReadCommandArg). */
#include "bridge_internal.h"

extern "C" {
#include "crossredis/family.h"
#include "crossredis/window.h"
}

using namespace xrjs;

namespace xrjs {

const napi_type_tag kFamilyTag = {0x63726f7373726564ULL, 0x66616d696c796821ULL};
const napi_type_tag kWindowTag = {0x63726f7373726564ULL, 0x77696e646f776821ULL};

xr_family *FamilyArg(Napi::Env env, Napi::Value v) { return TaggedArg<xr_family>(env, v, kFamilyTag, "family handle"); }

Napi::Value FamilyExternal(Napi::Env env, xr_family *f) {
  Napi::External<xr_family> ext = Napi::External<xr_family>::New(env, f, [](Napi::Env, xr_family *p) { xr_family_free(p); });
  napi_type_tag_object(env, ext, &kFamilyTag);
  return ext;
}

/* A family made by `rc`'s call: its External, or the core's error thrown (nothing to free). */
Napi::Value FamilyOrThrow(Napi::Env env, int rc, xr_family *f) {
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  return FamilyExternal(env, f);
}

/* Bytes of a string (its UTF-8) or a Buffer / Uint8Array: a TypeError naming `what` otherwise. */
std::string Bytes(Napi::Env env, Napi::Value v, const char *what) {
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array u = v.As<Napi::Uint8Array>();
    return std::string(reinterpret_cast<const char *>(u.Data()), u.ByteLength());
  }
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string(what) + " must be a string or a Buffer");
  return v.As<Napi::String>().Utf8Value();
}

/* Texts of an Array (field values, a command's arguments) as command arguments are read. JS thread;
 * Spans and Argv after Convert (any thread). */
class Texts {
 public:
  void Read(Napi::Env env, Napi::Value v, const char *what) {
    if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an Array");
    Napi::Array a = v.As<Napi::Array>();
    texts_.resize(a.Length());
    for (uint32_t i = 0; i < a.Length(); i++) ReadCommandArg(env, a.Get(i), i, texts_[i]);
  }
  bool Convert() {
    for (InText &t : texts_)
      if (!t.Convert()) return false;
    spans_.resize(texts_.size());
    argv_.resize(texts_.size());
    lens_.resize(texts_.size());
    for (size_t i = 0; i < texts_.size(); i++) {
      spans_[i] = xr_key_span{texts_[i].data(), texts_[i].size()};
      argv_[i] = texts_[i].data();
      lens_[i] = texts_[i].size();
    }
    return true;
  }
  const xr_key_span *Spans() const { return spans_.data(); }
  const char *const *Argv() const { return argv_.data(); }
  const size_t *Lens() const { return lens_.data(); }
  size_t Count() const { return texts_.size(); }

 private:
  std::vector<InText> texts_;
  std::vector<xr_key_span> spans_;
  std::vector<const char *> argv_;
  std::vector<size_t> lens_;
};

/* A window over a client. */
class WindowBox : public SystemBox {
 public:
  WindowBox(ClientBox *client, xr_window *w)
      : SystemBox(client, &EnvState::windows, "the window was released (or its client closed)"), w_(w) {}
  xr_window *Handle() const { return w_; } /* null once freed */

 protected:
  void FreeHandle() override {
    xr_window_free(w_);
    w_ = nullptr;
  }

 private:
  xr_window *w_;
};

WindowBox *WindowArg(Napi::Env env, Napi::Value v) {
  return static_cast<WindowBox *>(TaggedArg<SystemBox>(env, v, kWindowTag, "window handle"));
}

/* What a WindowJob does (xr_js_window_call's `what`). */
enum WindowWhat { kWrite = 0, kRead = 1, kDelete = 2, kClose = 3 };

/* One call of a window on the pool, holding a use of its box until it settled. */
class WindowJob : public Work {
 public:
  WindowJob(Napi::Env env, WindowBox *box, int what, bool buffers)
      : Work(env, box->St()), box_(box), what_(what), buffers_(buffers) {
    box_->Use();
  }
  ~WindowJob() override {
    xr_reply_free(reply_);
    box_->Unuse(); /* JS thread (Complete's): may free the window */
  }

  Texts values, args;

  Napi::Value Start(Napi::Env env) {
    Napi::Value p(env, deferred_.Make(env));
    return QueueOrReject(deferred_, p);
  }

 private:
  void Execute() override {
    xr_window *w = box_->Handle();
    if (!w) return failure_.set(XR_ECLOSED, box_->ClosedMessage());
    if (!values.Convert() || !args.Convert()) return failure_.set(XR_ENOMEM, "out of memory converting a string");
    int rc = XR_OK;
    switch (what_) {
      case kWrite:
      case kRead:
        rc = (what_ == kWrite ? xr_window_write : xr_window_read)(w, &reply_, values.Spans(), values.Count(),
                                                                  (int)args.Count(), args.Argv(), args.Lens());
        break;
      case kDelete:
        rc = xr_window_delete(w, &deleted_, values.Spans(), values.Count());
        break;
      default:
        rc = xr_window_close(w, &remaining_);
        break;
    }
    if (rc < 0) return failure_.take(rc);
    if (Prepared::HasBig(reply_)) prep_.Add(reply_, buffers_); /* big texts decoded here, not on the JS thread */
  }

  void Complete(bool js) override {
    if (!js) return;
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    if (failure_.failed()) return deferred_.Reject(env, xr_js_error_of(env, failure_.code, failure_.message.c_str()).Value());
    Napi::Value v = what_ == kDelete  ? Napi::Value(Napi::Number::New(env, deleted_))
                    : what_ == kClose ? Napi::Value(Napi::Number::New(env, (double)remaining_))
                                      : ReplyValue(env, reply_, buffers_, prep_.texts.empty() ? nullptr : &prep_);
    st_->decoded_pool += (double)prep_.decoded;
    deferred_.Resolve(env, v);
  }

  WindowBox *box_;
  int what_;
  bool buffers_;
  Deferred deferred_;
  Failure failure_;
  xr_reply *reply_ = NULL;
  Prepared prep_;
  int deleted_ = 0;
  size_t remaining_ = 0;
};

}  // namespace xrjs

Napi::Value xr_js_family_new(Napi::Value name, Napi::Value old_pattern, Napi::Value new_pattern) {
  Napi::Env env = name.Env();
  std::string n = Utf8(env, name, "name"), o = Bytes(env, old_pattern, "old"), w = Bytes(env, new_pattern, "new");
  xr_family *f = NULL;
  int rc = xr_family_new(&f, n.c_str(), o.data(), o.size(), w.data(), w.size());
  return FamilyOrThrow(env, rc, f);
}

Napi::Value xr_js_family_load(Napi::Value text, Napi::Value name) {
  Napi::Env env = text.Env();
  std::string t = Bytes(env, text, "text");
  bool named = !name.IsNull() && !name.IsUndefined();
  std::string n = named ? Utf8(env, name, "name") : std::string();
  xr_family *f = NULL;
  int rc = xr_family_load_json_named(&f, t.data(), t.size(), named ? n.c_str() : NULL);
  return FamilyOrThrow(env, rc, f);
}

Napi::Value xr_js_family_load_all(Napi::Value text) {
  Napi::Env env = text.Env();
  std::string t = Bytes(env, text, "text");
  xr_family **list = NULL;
  size_t n = 0;
  int rc = xr_family_load_json(&list, &n, t.data(), t.size());
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  /* each family the JS side's own copy (collected one by one), the list freed here */
  std::vector<xr_family *> copies(n, nullptr);
  for (size_t i = 0; i < n && rc == XR_OK; i++) rc = xr_family_copy(&copies[i], list[i]);
  xr_family_list_free(list, n);
  if (rc < 0) {
    std::string m = xr_error_last()->message;
    for (xr_family *f : copies) xr_family_free(f);
    throw xr_js_error_of(env, rc, m.c_str());
  }
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) a.Set((uint32_t)i, FamilyExternal(env, copies[i]));
  return a;
}

Napi::Value xr_js_family_info(Napi::Value family) {
  Napi::Env env = family.Env();
  xr_family *f = FamilyArg(env, family);
  Napi::Object o = Napi::Object::New(env);
  size_t len = 0;
  const char *p = xr_key_pattern_text(xr_family_old_pattern(f), &len);
  o.Set("name", Napi::String::New(env, xr_family_name(f)));
  o.Set("notes", Napi::String::New(env, xr_family_notes(f)));
  o.Set("old", Napi::String::New(env, p, len));
  p = xr_key_pattern_text(xr_family_new_pattern(f), &len);
  o.Set("new", Napi::String::New(env, p, len));
  Napi::Array fields = Napi::Array::New(env, xr_family_field_count(f));
  for (size_t i = 0; i < xr_family_field_count(f); i++) fields.Set((uint32_t)i, Napi::String::New(env, xr_family_field_name(f, i)));
  o.Set("fields", fields);
  return o;
}

Napi::Value xr_js_family_keys(Napi::Value family, Napi::Value values) {
  Napi::Env env = family.Env();
  xr_family *f = FamilyArg(env, family);
  Texts v;
  v.Read(env, values, "field values");
  if (!v.Convert()) throw Napi::Error::New(env, "out of memory converting a string");
  char *old_key = NULL, *new_key = NULL;
  size_t old_len = 0, new_len = 0;
  int rc = xr_family_keys(f, &old_key, &old_len, &new_key, &new_len, v.Spans(), v.Count());
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  XrBytes o(old_key), n(new_key);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set((uint32_t)0, Napi::String::New(env, o.get(), old_len));
  a.Set((uint32_t)1, Napi::String::New(env, n.get(), new_len));
  return a;
}

Napi::Value xr_js_family_new_key_of(Napi::Value family, Napi::Value old_key) {
  Napi::Env env = family.Env();
  xr_family *f = FamilyArg(env, family);
  std::string k = Bytes(env, old_key, "old key");
  char *out = NULL;
  size_t len = 0;
  int rc = xr_family_new_key_of(f, &out, &len, k.data(), k.size());
  if (rc == XR_ENOTFOUND) return env.Null();
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  XrBytes o(out);
  return Napi::String::New(env, o.get(), len);
}

Napi::Value xr_js_window_new(Napi::Value client, Napi::Value family, Napi::Value options) {
  Napi::Env env = client.Env();
  HandleArgs o(env, client, options, "window options");
  xr_family *f = FamilyArg(env, family);
  int64_t old_writes = o.Number("oldWrites");
  if (old_writes < INT_MIN || old_writes > INT_MAX) throw Napi::RangeError::New(env, "oldWrites must be a 32-bit integer");
  xr_window *w = NULL;
  int rc = xr_binding_window_new(&w, o.Client()->Client(), f, o.Flag("copyForward") ? 1 : 0, o.Number("closeAfterMs"),
                                 (int)old_writes, o.Number("deleteGuardMs"));
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  return SystemBox::External(env, new WindowBox(o.Client(), w), kWindowTag);
}

Napi::Value xr_js_window_call(Napi::Value window, Napi::Value what, Napi::Value values, Napi::Value args,
                              Napi::Value buffers) {
  Napi::Env env = window.Env();
  WindowBox *box = WindowArg(env, window);
  if (!box->Open()) throw xr_js_error_of(env, XR_ECLOSED, box->ClosedMessage());
  int64_t w = I64(env, what, "what");
  if (w < kWrite || w > kClose) throw Napi::RangeError::New(env, "unknown window call " + std::to_string(w));
  std::unique_ptr<WindowJob> job(new WindowJob(env, box, (int)w, buffers.ToBoolean().Value()));
  if (w != kClose) job->values.Read(env, values, "field values");
  if (w <= kRead) job->args.Read(env, args, "command");
  return job.release()->Start(env);
}

Napi::Value xr_js_window_is_closed(Napi::Value window) {
  Napi::Env env = window.Env();
  WindowBox *box = WindowArg(env, window);
  if (!box->Open()) throw xr_js_error_of(env, XR_ECLOSED, box->ClosedMessage());
  return Napi::Boolean::New(env, xr_window_is_closed(box->Handle()));
}

void xr_js_window_release(Napi::Value window) { WindowArg(window.Env(), window)->Close(); }
