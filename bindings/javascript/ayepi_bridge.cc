/* ayepi's stores (ayepi.h) in the Node addon: the store's handle over a client, its operations as
 * one batch (the rows of ayepi.def run by bridge.cc's OpsRun by kind), the retry policy's next
 * step for the JS layer to apply (it waits with its own timers: a batch is never retried by the
 * core), and the sweep of clear and invalidate, one page per job on the thread pool (the sweep is
 * blocking) while the predicate runs on the JS thread between pages. The functions SWIG wraps are
 * declared in bridge.h.
 *
 * No lanes, as session_bridge.cc: one pipeline per store (node/src/ayepi.ts), run on the client's
 * own loop connection or on the pool. */
#include "bridge_internal.h"

extern "C" {
#include "crossredis/ayepi.h"
}

using namespace xrjs;

namespace xrjs {

XR_JS_SYSTEM(AyepiSystem, ayepi, xr_ayepi_store, xr_ayepi_store_free);

const napi_type_tag kAyepiTag = {0x63726f7373726564ULL, 0x6179657069737472ULL};
const napi_type_tag kSweepTag = {0x63726f7373726564ULL, 0x6179657069737765ULL};

using AyepiBox = OpsBox<AyepiSystem>;

AyepiBox *AyepiArg(Napi::Env env, Napi::Value v) {
  return static_cast<AyepiBox *>(TaggedArg<SystemBox>(env, v, kAyepiTag, "ayepi store handle"));
}

/* A sweep over a store (ayepi.h), holding a use of the store's box while it lives: one page job
 * at a time (the JS layer waits for each), freed once closed and no job runs. */
struct Sweep {
  AyepiBox *box = nullptr;
  xr_ayepi_sweep *w = nullptr;
  bool busy = false, closed = false, gone = false, page = false, done = false;

  void Close() {
    closed = true;
    if (busy) return;
    if (w) xr_ayepi_sweep_free(w);
    w = nullptr;
    if (box) box->Unuse(); /* may free the store */
    box = nullptr;
  }
  /* The External is gone or the job ended: delete once both. */
  void Maybe() {
    if (gone && !busy) delete this;
  }
  static void Finalize(Napi::Env, Sweep *s) {
    s->Close();
    s->gone = true;
    s->Maybe();
  }
};

Sweep *SweepArg(Napi::Env env, Napi::Value v) { return TaggedArg<Sweep>(env, v, kSweepTag, "ayepi sweep handle"); }

/* One step of a sweep on the pool: DEL of the keys the JS layer chose on the last page (every key
 * of it for a clear), then the next page (unless the scan ended): its keys and, with entries,
 * each entry or null. */
class SweepStep : public Work {
 public:
  SweepStep(Napi::Env env, Sweep *s, std::vector<size_t> chosen)
      : Work(env, s->box->St()), s_(s), chosen_(std::move(chosen)) {
    s_->busy = true;
  }
  Napi::Value Start(Napi::Env env) {
    Napi::Value p(env, deferred_.Make(env));
    return QueueOrReject(deferred_, p);
  }
  void Abandon() { s_->busy = false; }

 private:
  void Execute() override {
    int rc = XR_OK;
    if (s_->page) {
      for (size_t i : chosen_)
        if ((rc = xr_ayepi_sweep_choose(s_->w, i)) < 0) return failure_.take(rc);
      if ((rc = xr_ayepi_sweep_delete(s_->w, &removed_)) < 0) return failure_.take(rc);
      s_->page = false;
    }
    if (s_->done) return;
    size_t n = 0;
    bool done = false;
    if ((rc = xr_ayepi_sweep_next(s_->w, &n, &done)) < 0) return failure_.take(rc);
    s_->page = true;
    s_->done = done;
    keys_.resize(n);
    entries_.resize(n);
    present_.assign(n, false);
    for (size_t i = 0; i < n; i++) {
      xr_result r;
      if ((rc = xr_ayepi_sweep_key(s_->w, i, &r)) < 0) return failure_.take(rc);
      keys_[i].assign(r.fields[0].data, r.fields[0].len);
      if (xr_ayepi_sweep_entry(s_->w, i, &r) == XR_OK && r.present) {
        present_[i] = true;
        entries_[i].assign(r.fields[0].data, r.fields[0].len);
      }
    }
  }

  void Complete(bool js) override {
    Sweep *s = s_;
    s->busy = false;
    if (js) {
      Napi::Env env(env_);
      Napi::HandleScope scope(env);
      if (failure_.failed()) {
        deferred_.Reject(env, xr_js_error_of(env, failure_.code, failure_.message.c_str()).Value());
      } else {
        Napi::Object o = Napi::Object::New(env);
        Napi::Array keys = Napi::Array::New(env, keys_.size()), entries = Napi::Array::New(env, keys_.size());
        for (size_t i = 0; i < keys_.size(); i++) {
          keys.Set((uint32_t)i, Napi::String::New(env, keys_[i]));
          entries.Set((uint32_t)i, present_[i] ? Napi::Value(Napi::String::New(env, entries_[i])) : env.Null());
        }
        o.Set("removed", Napi::Number::New(env, (double)removed_));
        o.Set("keys", keys);
        o.Set("entries", entries);
        o.Set("done", Napi::Boolean::New(env, s->done && !s->page));
        deferred_.Resolve(env, o);
      }
    }
    if (s->closed) s->Close();
    s->Maybe();
  }

  Sweep *s_;
  std::vector<size_t> chosen_;
  Deferred deferred_;
  Failure failure_;
  size_t removed_ = 0;
  std::vector<std::string> keys_, entries_;
  std::vector<bool> present_;
};

}  // namespace xrjs

Napi::Value xr_js_ayepi_new(Napi::Value client, Napi::Value options) {
  Napi::Env env = client.Env();
  HandleArgs o(env, client, options, "ayepi store options");
  int64_t attempts = o.Number("attempts");
  if (attempts < INT_MIN || attempts > INT_MAX) throw Napi::RangeError::New(env, "attempts must be a 32-bit integer");
  OptString prefix = o.Text("keyPrefix");
  xr_ayepi_store *s = NULL;
  int rc = xr_binding_ayepi_store_new(&s, o.Client()->Client(), prefix.get(), o.Flag("cache") ? 1 : 0, (int)attempts,
                                      o.Number("base"), o.Real("factor"), o.Number("max"), o.Real("jitter"));
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  return SystemBox::External(env, new AyepiBox(o.Client(), s, &EnvState::ayepi, "the ayepi store was closed"),
                             kAyepiTag);
}

Napi::Value xr_js_ayepi_ops(Napi::Value unused) { return OpsTable(unused.Env(), xr_ayepi_op_at); }

Napi::Value xr_js_ayepi_run(Napi::Value store, Napi::Value ops) {
  Napi::Env env = store.Env();
  return (new OpsRun<AyepiSystem>(env, AyepiArg(env, store), ops, 0))->Go();
}

Napi::Value xr_js_ayepi_retry_next(Napi::Value store, Napi::Value op, Napi::Value rc, Napi::Value attempt) {
  Napi::Env env = store.Env();
  AyepiBox *box = AyepiArg(env, store);
  if (!box->Open()) throw xr_js_error_of(env, XR_ECLOSED, box->ClosedMessage());
  int64_t delay = 0;
  int next = xr_ayepi_retry_next(box->Handle(), (int)I64(env, op, "op"), (int)I64(env, rc, "rc"),
                                 (int)I64(env, attempt, "attempt"), &delay);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set((uint32_t)0, Napi::Number::New(env, next));
  out.Set((uint32_t)1, Napi::Number::New(env, (double)delay));
  return out;
}

Napi::Value xr_js_ayepi_sweep_new(Napi::Value store, Napi::Value entries) {
  Napi::Env env = store.Env();
  AyepiBox *box = AyepiArg(env, store);
  if (!box->Open()) throw xr_js_error_of(env, XR_ECLOSED, box->ClosedMessage());
  Sweep *s = new Sweep();
  int rc = xr_ayepi_sweep_new(&s->w, box->Handle(), entries.ToBoolean().Value());
  if (rc < 0) {
    delete s;
    throw xr_js_error_of(env, rc, xr_error_last()->message);
  }
  s->box = box;
  box->Use();
  Napi::External<Sweep> ext = Napi::External<Sweep>::New(env, s, Sweep::Finalize);
  napi_type_tag_object(env, ext, &kSweepTag);
  return ext;
}

Napi::Value xr_js_ayepi_sweep_step(Napi::Value sweep, Napi::Value chosen) {
  Napi::Env env = sweep.Env();
  Sweep *s = SweepArg(env, sweep);
  if (s->closed || !s->box || !s->box->Open()) throw xr_js_error_of(env, XR_ECLOSED, "the ayepi store was closed");
  if (s->busy) throw Napi::Error::New(env, "a sweep runs one step at a time");
  if (!chosen.IsArray()) throw Napi::TypeError::New(env, "chosen must be an Array of key indexes");
  Napi::Array a = chosen.As<Napi::Array>();
  std::vector<size_t> idx;
  for (uint32_t i = 0; i < a.Length(); i++) {
    int64_t k = I64(env, a.Get(i), "key index");
    if (k < 0) throw Napi::RangeError::New(env, "key index must be >= 0");
    idx.push_back((size_t)k);
  }
  SweepStep *job = new SweepStep(env, s, std::move(idx));
  return job->Start(env);
}

void xr_js_ayepi_sweep_close(Napi::Value sweep) { SweepArg(sweep.Env(), sweep)->Close(); }

void xr_js_ayepi_close(Napi::Value store) { AyepiArg(store.Env(), store)->Close(); }
