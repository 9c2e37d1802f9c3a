/* The async bridge (bridge.h): arguments copied on the JS thread, core calls on libuv's thread
 * pool or on a loop connection driven by libuv, results made into JS values back on the JS thread;
 * the lifetimes of clients, adapters and the calls over them; the end of an environment. */
#include "bridge_internal.h"

using namespace xrjs;


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

namespace xrjs {

void EnvState::Unref() {
  if (--refs > 0) return;
  Forget();
  delete this;
}

Napi::Value BatchRun::Go() {
  Napi::Value p(env_, deferred_.Make(env_));
  if (!failure_.failed() && (!client_ || !client_->Open() || (box_ && !box_->Open()))) {
    failure_.set(XR_ECLOSED, box_ ? box_->ClosedMessage() : "the client is closed");
  }
  if (failure_.failed()) { /* nothing to run */
    Settle(true);
    return p;
  }
  client_->Use();
  if (box_) box_->Use();
  used_ = true;
  LoopConn *loop = client_->LaneLoop(env_, lane_);
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

void BatchRun::LoopFinished(int rc, napi_async_context context, napi_ref resource) {
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
  /* in the connection's async context, with its resource (Napi::CallbackScope would make a new
   * resource object per call) */
  napi_env env = env_; /* Settle deletes this */
  napi_value res = nullptr;
  napi_callback_scope cb = nullptr;
  if (context && resource && napi_get_reference_value(env, resource, &res) == napi_ok && res &&
      napi_open_callback_scope(env, res, context, &cb) != napi_ok)
    cb = nullptr;
  Settle(true);
  if (cb) napi_close_callback_scope(env, cb); /* runs the microtasks the settling queued */
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

void ClientBox::Cancel() {
  std::vector<SystemBox *> bs(boxes_.begin(), boxes_.end());
  for (SystemBox *b : bs) b->Cancel();
}

void ClientBox::Close() {
  if (closing_) return;
  closing_ = true;
  std::vector<SystemBox *> bs(boxes_.begin(), boxes_.end());
  for (SystemBox *b : bs) b->Close();
  Maybe();
}

/* The environment ends: cancel, stop the loop connection (a running batch is dropped), close. */
void ClientBox::Shutdown() {
  Cancel();
  if (client_) xr_client_shutdown(client_); /* anything still waiting inside it returns at once */
  CloseLoops(); /* their running batches, if any, release their uses now */
  Close();
}

void ClientBox::CloseLoops() {
  std::vector<LoopConn *> loops;
  loops.swap(loops_);
  for (LoopConn *loop : loops)
    if (loop) loop->Close();
}

LoopConn *ClientBox::LaneLoop(napi_env env, size_t lane) {
  if (lane == 0 || !client_ || closing_) return Loop(lane);
  if (lane >= loops_.size()) loops_.resize(lane + 1, nullptr);
  if (!loops_[lane]) {
    loops_[lane] = new LoopConn(env, st_, client_, nullptr);
    loops_[lane]->SetSlot(LaneSlot(lane));
  }
  return loops_[lane];
}

void ClientBox::Maybe() {
  if (closing_ && users_ == 0 && client_) {
    CloseLoops(); /* before their client; each frees itself once libuv closed its handles */
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

void SystemBox::Maybe() {
  if (closing_ && users_ == 0 && live_) {
    FreeHandle();
    live_ = false;
    st_->*count_ -= 1;
    ClientBox *c = client_;
    client_ = nullptr;
    c->RemoveBox(this); /* may free the client */
  }
  if (!live_ && js_gone_) {
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
  if (st->probe) napi_delete_reference(st->env, st->probe);
  st->probe = nullptr;
  st->Ref();
  std::vector<ClientBox *> all(st->clients.begin(), st->clients.end());
  for (ClientBox *c : all) c->Shutdown();
  st->MaybeDone();
  st->Unref();
}

/* ---- clients ----------------------------------------------------------------------------------- */

/* An optional string option: present when a string, absent when undefined or null. */

/* A client configuration (config.h) behind a JS External. An open shares it while it runs on the
 * pool, so the External may be collected meanwhile. */
const napi_type_tag kConfigTag = {0x63726f7373726564ULL, 0x636f6e666967626fULL};

struct ConfigBox {
  std::shared_ptr<xr_client_config> config;
  static void Finalize(Napi::Env, ConfigBox *b) { delete b; }
};

ConfigBox *ConfigArg(Napi::Env env, Napi::Value v) {
  return TaggedArg<ConfigBox>(env, v, kConfigTag, "client configuration (xr_js_client_config_new)");
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
    return QueueOrReject(deferred_, p);
  }

 private:
  void Execute() override {
    int rc = xr_tls_client_open_config(&client_, config_.get());
    if (rc < 0) {
      failure_.take(rc);
      return;
    }
    /* the event loop's connection; without one (it failed to open) the batches run on threads. On
     * a Cluster it is lane 0's (bridge.h): opened at node 0, the node whose calls it will carry. */
    int slot = -1;
    if (xr_client_topology(client_) == XR_TOPOLOGY_CLUSTER)
      for (int s = 0; s < 16384 && slot < 0; s++)
        if (xr_client_node_of_slot(client_, s) == 0) slot = s;
    if (xr_loop_conn_open_at(&loop_, client_, slot) < 0) loop_ = NULL;
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

bool Prepared::HasBig(const xr_reply *r) {
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

void Prepared::Add(const xr_reply *r, bool buffers) {
  if (!r) return;
  int k = xr_reply_kind(r);
  if (k == XR_REPLY_STRING) {
    size_t n = 0;
    const char *s = xr_reply_str(r, &n);
    if (n < kBig) return;
    OutText t;
    if (!t.Copy(s, n)) return;
    if (!buffers) t.Prepare();
    decoded += n;
    texts.emplace(r, std::move(t));
  } else if (k == XR_REPLY_ARRAY || k == XR_REPLY_SET || k == XR_REPLY_MAP) {
    for (size_t i = 0; i < xr_reply_count(r); i++) Add(xr_reply_at(r, i), buffers);
  }
}

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
      ReadCommandArg(env, a.Get(i), i, c.args[i]);
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

  const xr_reply *ReplyOf(const Command &c) const {
    const xr_reply *reply = NULL;
    if (c.index >= 0 && !c.failure.failed()) xr_batch_result(batch_, (size_t)c.index, &reply, NULL);
    return reply;
  }

  bool NeedsPrepare() const override {
    if (!batch_) return false;
    for (const Command &c : cmds_)
      if (Prepared::HasBig(ReplyOf(c))) return true;
    return false;
  }

  void Prepare() override {
    if (!batch_) return;
    for (const Command &c : cmds_) {
      const xr_reply *r = ReplyOf(c);
      if (Prepared::HasBig(r)) prep_.Add(r, buffers_);
    }
    decoded_pool_ += prep_.decoded;
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

/* ---- a system's operations as one batch (bridge_internal.h: OpsRun) --------------------------- */

Napi::Value OpsTable(Napi::Env env, const xr_op_info *(*op_at)(int)) {
  Napi::Array out = Napi::Array::New(env);
  for (int code = 0; const xr_op_info *info = op_at(code); code++) {
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

OpsRunBase::OpsRunBase(Napi::Env env, SystemBox *box, Napi::Value ops, const xr_op_info *(*op_at)(int))
    : BatchRun(env, box->Client(), box) {
  if (!ops.IsArray()) throw Napi::TypeError::New(env, "operations must be an Array");
  Napi::Array arr = ops.As<Napi::Array>();
  uint32_t n = arr.Length();
  ops_.resize(n);
  size_t weight = 0;
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value item = arr.Get(i);
    if (!item.IsArray()) throw Napi::TypeError::New(env, "an operation must be an Array");
    Read(env, item.As<Napi::Array>(), ops_[i], op_at);
    for (const InText &t : ops_[i].texts) weight += t.Weight();
  }
  weight_ = weight;
}

/* [code, ...arguments]: a string for TEXT, a Buffer or Uint8Array for BYTES, a number for INT. */
void OpsRunBase::Read(Napi::Env env, Napi::Array a, OpCall &op, const xr_op_info *(*op_at)(int)) {
  int64_t code = I64(env, a.Get((uint32_t)0), "operation code");
  op.info = op_at(code < 0 || code > INT_MAX ? -1 : (int)code);
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

bool OpsRunBase::Args(OpCall &op, xr_arg *args) {
  bool converted = true;
  for (size_t k = 0; k < op.info->nargs; k++) {
    if (!op.texts[k].Convert()) converted = false;
    args[k] = xr_arg{op.texts[k].data(), op.texts[k].size(), op.nums[k]};
  }
  if (!converted) op.failure.set(XR_ENOMEM, "out of memory converting a string");
  return converted;
}

void OpsRunBase::Take(int rc, xr_result &r, OpCall &op) {
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
  /* after a connection failure each operation without a reply has the failure, in the core's
   * words for that operation (a dequeue says its entry may be lost) */
  if (lost_.failed() && op.failure.failed() && op.failure.code == XR_EINVAL) op.failure = lost_; /* it never ran */
}

void OpsRunBase::Finished(int rc) {
  if (rc < 0) lost_.take(rc);
}

/* Values, lists, entries and sessions are copied (entries and records decoded) as they are read:
 * on the pool. */
bool OpsRunBase::Decodes(const OpCall &op) {
  xr_result_kind k = op.info->result;
  return op.index >= 0 && (k == XR_RESULT_VALUE || k == XR_RESULT_LIST || k == XR_RESULT_ENTRY ||
                           k == XR_RESULT_SESSION || k == XR_RESULT_MAP);
}

/* TEXT fields (not BYTES: they become Buffers as they are). */
static bool IsText(const OpCall &op, size_t k) {
  const xr_result_shape *shape = xr_result_shape_of(op.info->result);
  return k < shape->nfields && shape->field_kinds[k] == XR_ARG_TEXT;
}

bool OpsRunBase::NeedsPrepare() const {
  if (bytes_) return false; /* Buffers: nothing to decode */
  for (const OpCall &op : ops_) {
    for (size_t k = 0; k < XR_RESULT_FIELDS_MAX; k++)
      if (IsText(op, k) && op.fields[k].Big()) return true;
    for (const OutText &t : op.items)
      if (t.Big()) return true;
  }
  return false;
}

void OpsRunBase::Prepare() {
  if (bytes_) return;
  for (OpCall &op : ops_) {
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

/* A field by its kind: TEXT a string (when the result has none: null if `nullable`, else ""),
 * BYTES a Buffer (undefined when none), INT a number (undefined when negative: an entry without
 * enqueuedAt). */
static Napi::Value Field(Napi::Env env, OpCall &op, const xr_result_shape *shape, size_t k, bool nullable) {
  switch (shape->field_kinds[k]) {
    case XR_ARG_INT:
      return op.field_nums[k] < 0 ? env.Undefined() : Napi::Number::New(env, (double)op.field_nums[k]);
    case XR_ARG_BYTES:
      return op.fields[k].present() ? op.fields[k].Buffer(env) : env.Undefined();
    default:
      if (op.fields[k].present()) return op.fields[k].String(env);
      return nullable ? env.Null() : Napi::String::New(env, "");
  }
}

/* A field's name in JS: the shape's, in camelCase (created_at: createdAt). */
static std::string CamelCase(const char *name) {
  std::string out;
  for (bool up = false; *name; name++) {
    if (*name == '_') {
      up = true;
    } else {
      out += up ? (char)toupper((unsigned char)*name) : *name;
      up = false;
    }
  }
  return out;
}

/* The result by kind: STATUS undefined, BOOL a boolean, INTEGER a number, VALUE a string or null,
 * LIST an Array of strings, LOCK and ENTRY an Array of their fields or null, SESSION and MAP an
 * object of their fields named as the shape names them, in camelCase ({id, type, createdAt, ...,
 * raw}; a text field the result has none of: null). A failure is its Error (with `raw`, a Buffer,
 * when a popped entry did not decode). */
static Napi::Value Value(Napi::Env env, OpCall &op, bool bytes) {
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
        a.Set((uint32_t)k, bytes ? op.items[k].Buffer(env) : op.items[k].String(env));
        op.items[k].Clear();
      }
      return a;
    }
    case XR_RESULT_VALUE:
      if (!op.present) return env.Null();
      return bytes ? op.fields[0].Buffer(env) : Field(env, op, shape, 0, false);
    case XR_RESULT_SESSION:
    case XR_RESULT_MAP: {
      Napi::Object o = Napi::Object::New(env);
      for (size_t k = 0; k < op.nfields; k++)
        o.Set(CamelCase(shape->field_names[k]), Field(env, op, shape, k, true));
      return o;
    }
    default: {
      if (!op.present) return env.Null();
      Napi::Array a = Napi::Array::New(env, op.nfields);
      for (size_t k = 0; k < op.nfields; k++) a.Set((uint32_t)k, Field(env, op, shape, k, false));
      return a;
    }
  }
}

Napi::Value OpsRunBase::Result(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env, ops_.size());
  for (size_t i = 0; i < ops_.size(); i++) {
    OpCall &op = ops_[i];
    for (size_t k = 0; k < XR_RESULT_FIELDS_MAX; k++)
      if (IsText(op, k) && op.fields[k].Big()) decoded_js_ += op.fields[k].size(); /* not prepared: decoded here */
    for (const OutText &t : op.items)
      if (t.Big()) decoded_js_ += t.size();
    out.Set((uint32_t)i, Value(env, op, bytes_));
    for (OutText &t : op.fields) t.Clear();
    op.items.clear();
  }
  return out;
}

}  // namespace xrjs


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

Napi::Value xr_js_stats(Napi::Value unused) {
  Napi::Env env = unused.Env();
  EnvState *st = EnvState::Of(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("clients", Napi::Number::New(env, (double)st->clients.size()));
  o.Set("chats", Napi::Number::New(env, st->chats));
  o.Set("sessions", Napi::Number::New(env, st->sessions));
  o.Set("ayepi", Napi::Number::New(env, st->ayepi));
  o.Set("xp", Napi::Number::New(env, st->xp));
  o.Set("windows", Napi::Number::New(env, st->windows));
  o.Set("subscribers", Napi::Number::New(env, st->subscribers));
  o.Set("loops", Napi::Number::New(env, st->loops));
  o.Set("waits", Napi::Number::New(env, st->waits));
  o.Set("jobs", Napi::Number::New(env, st->jobs));
  o.Set("bigBuiltOnJsThread", Napi::Number::New(env, st->built_js));
  o.Set("bigBuiltOnPool", Napi::Number::New(env, st->built_pool));
  o.Set("bigDecodedOnJsThread", Napi::Number::New(env, st->decoded_js));
  o.Set("bigDecodedOnPool", Napi::Number::New(env, st->decoded_pool));
  return o;
}
