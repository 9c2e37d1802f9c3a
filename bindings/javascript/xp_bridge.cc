/* xml-pipeline's buffer and registry (xp.h) in the Node addon: the store's handle over a client,
 * its rows as one batch (xp.def run by bridge.cc's OpsRun by kind, values and lists as Buffers:
 * slots are opaque bytes, the JS layer decodes the ids), one row alone through xr_xp_call on the
 * thread pool (the Cluster's several-step registry rows, which a batch refuses there), the
 * listings, clears, info and ping on the pool (they scan every master, blocking), and the neutral
 * JSON slot codec (no I/O: on the JS thread; every check is the core's). The functions SWIG wraps
 * are declared in bridge.h.
 *
 * No lanes, as session_bridge.cc: one pipeline per store (node/src/xp.ts). */
#include "bridge_internal.h"

extern "C" {
#include "crossredis/xp.h"
}

using namespace xrjs;

namespace xrjs {

XR_JS_SYSTEM(XpSystem, xp, xr_xp_store, xr_xp_store_free);

const napi_type_tag kXpTag = {0x63726f7373726564ULL, 0x787073746f726521ULL};

using XpBox = OpsBox<XpSystem>;

XpBox *XpArg(Napi::Env env, Napi::Value v) {
  return static_cast<XpBox *>(TaggedArg<SystemBox>(env, v, kXpTag, "xp store handle"));
}

/* What an XpJob does on the pool (xr_js_xp_job's `what`; CALL is xr_js_xp_call). */
enum XpWhat { kListThreads = 0, kBufferClear = 1, kListAll = 2, kRegistryClear = 3, kInfo = 4, kPing = 5, kCall = 6 };

/* One blocking call of the store on the pool, holding a use of its box until it settled: a row
 * alone (its result by kind, as OpsRun gives it with SetBytes) or a scan. */
class XpJob : public Work {
 public:
  XpJob(Napi::Env env, XpBox *box, int what) : Work(env, box->St()), box_(box), what_(what) { box_->Use(); }
  ~XpJob() override { box_->Unuse(); } /* JS thread (Complete's): may free the store */

  /* Row `op` with its texts and numbers (xp.def's kinds). */
  void SetCall(const xr_op_info *info, std::vector<std::string> texts, std::vector<int64_t> nums) {
    info_ = info;
    texts_ = std::move(texts);
    nums_ = std::move(nums);
  }

  Napi::Value Start(Napi::Env env) {
    Napi::Value p(env, deferred_.Make(env));
    return QueueOrReject(deferred_, p);
  }

 private:
  void Execute() override {
    xr_xp_store *h = box_->Handle();
    if (!h || box_->Cancelled()) return failure_.set(XR_ECLOSED, box_->ClosedMessage());
    int rc = XR_OK;
    switch (what_) {
      case kListThreads:
      case kListAll: {
        xr_xp_list *l = NULL;
        rc = what_ == kListThreads ? xr_xp_buffer_list_threads(h, &l) : xr_xp_registry_list_all(h, &l);
        if (rc < 0) return failure_.take(rc);
        size_t n = xr_xp_list_count(l);
        ids_.resize(n);
        values_.resize(n);
        for (size_t i = 0; i < n; i++) {
          xr_result r;
          if (xr_xp_list_id(l, i, &r) == XR_OK) ids_[i].assign(r.fields[0].data ? r.fields[0].data : "", r.fields[0].len);
          if (what_ == kListAll && xr_xp_list_value(l, i, &r) == XR_OK)
            values_[i].assign(r.fields[0].data ? r.fields[0].data : "", r.fields[0].len);
        }
        xr_xp_list_free(l);
        return;
      }
      case kBufferClear:
      case kRegistryClear: {
        size_t removed = 0;
        rc = what_ == kBufferClear ? xr_xp_buffer_clear(h, &removed) : xr_xp_registry_clear(h, &removed);
        if (rc < 0) return failure_.take(rc);
        integer_ = (double)removed;
        return;
      }
      case kInfo: {
        if ((rc = xr_xp_info_read(h, &info_out_)) < 0) return failure_.take(rc);
        return;
      }
      case kPing:
        if ((rc = xr_xp_ping(h)) < 0) return failure_.take(rc);
        return;
      default: {
        xr_arg args[XR_OP_ARGS_MAX] = {};
        for (size_t k = 0; k < info_->nargs; k++) args[k] = xr_arg{texts_[k].data(), texts_[k].size(), nums_[k]};
        xr_result r;
        rc = xr_xp_call(h, info_->code, args, info_->nargs, &r);
        if (rc < 0) return failure_.take(rc);
        present_ = r.present;
        integer_ = (double)r.integer;
        if (r.kind == XR_RESULT_VALUE && r.present && r.nfields > 0 && r.fields[0].data)
          value_.assign(r.fields[0].data, r.fields[0].len);
        if (r.list) {
          size_t n = xr_reply_count(r.list);
          ids_.resize(n);
          for (size_t k = 0; k < n; k++) {
            size_t len = 0;
            const char *item = xr_reply_str(xr_reply_at(r.list, k), &len);
            ids_[k].assign(item ? item : "", len);
          }
        }
        xr_result_clear(&r);
        return;
      }
    }
  }

  static Napi::Value Bytes(Napi::Env env, const std::string &s) { return Napi::Buffer<char>::Copy(env, s.data(), s.size()); }

  Napi::Value Value(Napi::Env env) {
    switch (what_) {
      case kListThreads:
      case kListAll: {
        Napi::Array a = Napi::Array::New(env, ids_.size());
        for (size_t i = 0; i < ids_.size(); i++) {
          if (what_ == kListThreads) {
            a.Set((uint32_t)i, Bytes(env, ids_[i]));
          } else {
            Napi::Array pair = Napi::Array::New(env, 2);
            pair.Set((uint32_t)0, Bytes(env, ids_[i]));
            pair.Set((uint32_t)1, Bytes(env, values_[i]));
            a.Set((uint32_t)i, pair);
          }
        }
        return a;
      }
      case kBufferClear:
      case kRegistryClear:
        return Napi::Number::New(env, integer_);
      case kInfo: {
        Napi::Array a = Napi::Array::New(env, 3);
        a.Set((uint32_t)0, Napi::Number::New(env, (double)info_out_.buffer_threads));
        a.Set((uint32_t)1, Napi::Number::New(env, (double)info_out_.registry_entries));
        a.Set((uint32_t)2, Napi::Number::New(env, (double)info_out_.ttl_seconds));
        return a;
      }
      case kPing:
        return env.Undefined();
      default:
        switch (info_->result) {
          case XR_RESULT_BOOL:
            return Napi::Boolean::New(env, present_);
          case XR_RESULT_INTEGER:
            return Napi::Number::New(env, integer_);
          case XR_RESULT_VALUE:
            return present_ ? Bytes(env, value_) : env.Null();
          case XR_RESULT_LIST: {
            Napi::Array a = Napi::Array::New(env, ids_.size());
            for (size_t i = 0; i < ids_.size(); i++) a.Set((uint32_t)i, Bytes(env, ids_[i]));
            return a;
          }
          default:
            return env.Undefined();
        }
    }
  }

  void Complete(bool js) override {
    if (!js) return;
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    if (failure_.failed()) deferred_.Reject(env, xr_js_error_of(env, failure_.code, failure_.message.c_str()).Value());
    else deferred_.Resolve(env, Value(env));
  }

  XpBox *box_;
  int what_;
  const xr_op_info *info_ = nullptr;
  std::vector<std::string> texts_;
  std::vector<int64_t> nums_;
  Deferred deferred_;
  Failure failure_;
  bool present_ = false;
  double integer_ = 0;
  std::string value_;
  std::vector<std::string> ids_, values_;
  xr_xp_info info_out_ = {0, 0, 0};
};

}  // namespace xrjs

Napi::Value xr_js_xp_new(Napi::Value client, Napi::Value options) {
  Napi::Env env = client.Env();
  HandleArgs o(env, client, options, "xp backend options");
  OptString prefix = o.Text("keyPrefix");
  xr_xp_store *s = NULL;
  int rc = xr_binding_xp_store_new(&s, o.Client()->Client(), prefix.get(), o.Number("ttl"));
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  return SystemBox::External(env, new XpBox(o.Client(), s, &EnvState::xp, "the xp backend was closed"), kXpTag);
}

Napi::Value xr_js_xp_ops(Napi::Value unused) { return OpsTable(unused.Env(), xr_xp_op_at); }

Napi::Value xr_js_xp_run(Napi::Value store, Napi::Value ops) {
  Napi::Env env = store.Env();
  OpsRun<XpSystem> *run = new OpsRun<XpSystem>(env, XpArg(env, store), ops, 0);
  run->SetBytes(); /* slots are opaque: values and lists as Buffers */
  return run->Go();
}

Napi::Value xr_js_xp_call(Napi::Value store, Napi::Value op) {
  Napi::Env env = store.Env();
  XpBox *box = XpArg(env, store);
  if (!box->Open()) throw xr_js_error_of(env, XR_ECLOSED, box->ClosedMessage());
  if (!op.IsArray()) throw Napi::TypeError::New(env, "operation must be an Array");
  Napi::Array a = op.As<Napi::Array>();
  int64_t code = I64(env, a.Get((uint32_t)0), "operation code");
  const xr_op_info *info = xr_xp_op_at(code < 0 || code > INT_MAX ? -1 : (int)code);
  if (!info) throw Napi::RangeError::New(env, "unknown operation code " + std::to_string(code));
  if (a.Length() != info->nargs + 1)
    throw Napi::TypeError::New(env, std::string(info->wire_name) + ": " + std::to_string(info->nargs) +
                                        " arguments expected, got " + std::to_string(a.Length() - 1));
  std::vector<std::string> texts(info->nargs);
  std::vector<int64_t> nums(info->nargs, 0);
  for (uint32_t k = 0; k < info->nargs; k++) {
    Napi::Value v = a.Get(k + 1);
    if (info->arg_kinds[k] == XR_ARG_INT) {
      nums[k] = I64(env, v, info->arg_names[k]);
    } else if (info->arg_kinds[k] == XR_ARG_BYTES) {
      if (!v.IsTypedArray()) throw Napi::TypeError::New(env, std::string(info->arg_names[k]) + " must be a Buffer");
      Napi::Uint8Array b = v.As<Napi::Uint8Array>();
      texts[k].assign(reinterpret_cast<const char *>(b.Data()), b.ByteLength());
    } else {
      texts[k] = Utf8(env, v, info->arg_names[k]);
    }
  }
  XpJob *job = new XpJob(env, box, kCall);
  job->SetCall(info, std::move(texts), std::move(nums));
  return job->Start(env);
}

Napi::Value xr_js_xp_job(Napi::Value store, Napi::Value what) {
  Napi::Env env = store.Env();
  XpBox *box = XpArg(env, store);
  if (!box->Open()) throw xr_js_error_of(env, XR_ECLOSED, box->ClosedMessage());
  int64_t w = I64(env, what, "what");
  if (w < kListThreads || w > kPing) throw Napi::RangeError::New(env, "unknown xp job " + std::to_string(w));
  return (new XpJob(env, box, (int)w))->Start(env);
}

Napi::Value xr_js_xp_slot_write(Napi::Value fields) {
  Napi::Env env = fields.Env();
  if (!fields.IsArray()) throw Napi::TypeError::New(env, "slot fields must be an Array");
  Napi::Array a = fields.As<Napi::Array>();
  std::string thread_id = Utf8(env, a.Get((uint32_t)0), "thread_id"), from_id = Utf8(env, a.Get((uint32_t)1), "from_id"),
              to_id = Utf8(env, a.Get((uint32_t)2), "to_id"), timestamp = Utf8(env, a.Get((uint32_t)4), "timestamp"),
              payload_type = Utf8(env, a.Get((uint32_t)5), "payload_type"),
              usage = Utf8(env, a.Get((uint32_t)8), "usage_instructions"), payload = Utf8(env, a.Get((uint32_t)9), "payload");
  int64_t index = I64(env, a.Get((uint32_t)3), "slot_index");
  Napi::Value own = a.Get((uint32_t)6);
  bool has_own = !own.IsNull() && !own.IsUndefined();
  std::string own_name = has_own ? Utf8(env, own, "own_name") : std::string();
  char *out = NULL;
  size_t out_len = 0;
  int rc = xr_binding_xp_slot_write(&out, &out_len, thread_id.data(), thread_id.size(), from_id.data(), from_id.size(),
                                    to_id.data(), to_id.size(), index, timestamp.data(), timestamp.size(),
                                    payload_type.data(), payload_type.size(), has_own ? own_name.data() : NULL,
                                    own_name.size(), a.Get((uint32_t)7).ToBoolean().Value() ? 1 : 0, usage.data(),
                                    usage.size(), payload.data(), payload.size());
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  Napi::Value buf = Napi::Buffer<char>::Copy(env, out, out_len);
  xr_free(out);
  return buf;
}

Napi::Value xr_js_xp_slot_read(Napi::Value data) {
  Napi::Env env = data.Env();
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "data must be a Buffer");
  Napi::Uint8Array b = data.As<Napi::Uint8Array>();
  xr_xp_slot s;
  int rc = xr_xp_slot_read(&s, reinterpret_cast<const char *>(b.Data()), b.ByteLength());
  if (rc < 0) {
    std::string m = xr_error_last()->message;
    xr_xp_slot_clear(&s);
    throw xr_js_error_of(env, rc, m.c_str());
  }
  auto str = [&](const char *p, size_t n) { return Napi::String::New(env, p ? p : "", n); };
  Napi::Array a = Napi::Array::New(env, 10);
  a.Set((uint32_t)0, str(s.thread_id, s.thread_id_len));
  a.Set((uint32_t)1, str(s.from_id, s.from_id_len));
  a.Set((uint32_t)2, str(s.to_id, s.to_id_len));
  a.Set((uint32_t)3, Napi::Number::New(env, (double)s.slot_index));
  a.Set((uint32_t)4, str(s.timestamp, s.timestamp_len));
  a.Set((uint32_t)5, str(s.payload_type, s.payload_type_len));
  a.Set((uint32_t)6, s.own_name ? Napi::Value(str(s.own_name, s.own_name_len)) : env.Null());
  a.Set((uint32_t)7, Napi::Boolean::New(env, s.is_self_call));
  a.Set((uint32_t)8, str(s.usage_instructions, s.usage_instructions_len));
  a.Set((uint32_t)9, str(s.payload_json, s.payload_json_len));
  xr_xp_slot_clear(&s);
  return a;
}

Napi::Value xr_js_xp_cluster(Napi::Value store) {
  Napi::Env env = store.Env();
  XpBox *box = XpArg(env, store);
  if (!box->Open()) throw xr_js_error_of(env, XR_ECLOSED, box->ClosedMessage());
  return Napi::Boolean::New(env, xr_client_topology(box->Client()->Client()) == XR_TOPOLOGY_CLUSTER);
}

void xr_js_xp_close(Napi::Value store) { XpArg(store.Env(), store)->Close(); }
