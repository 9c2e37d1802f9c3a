/* toolhive's session stores (session.h) in the Node addon: the store's handle over a client and
 * its operations as one batch, the rows of session.def run by bridge.cc's OpsRun by kind (SESSION
 * and MAP results as objects of their fields), and the functions SWIG wraps for it (bridge.h).
 *
 * No lanes: a store keeps one pipeline (node/src/sessions.ts), one batch in flight, run on the
 * client's own loop connection (lane 0) or on the thread pool; on a Cluster the core splits each
 * batch per node, so a batch waits for its slowest node. Per-node pipelines as the Chat adapters
 * keep (bridge.h, lanes) could come through xr_session_op_slot, were that ever needed. */
#include "bridge_internal.h"

extern "C" {
#include "crossredis/session.h"
}

using namespace xrjs;

namespace xrjs {

XR_JS_SYSTEM(SessionSystem, session, xr_session_storage, xr_session_storage_free);

const napi_type_tag kSessionTag = {0x63726f7373726564ULL, 0x73657373696f6e73ULL};

using SessionBox = OpsBox<SessionSystem>;

SessionBox *SessionArg(Napi::Env env, Napi::Value v) {
  return static_cast<SessionBox *>(TaggedArg<SystemBox>(env, v, kSessionTag, "session storage handle"));
}

}  // namespace xrjs

Napi::Value xr_js_session_new(Napi::Value client, Napi::Value options) {
  Napi::Env env = client.Env();
  HandleArgs o(env, client, options, "session storage options");
  int64_t go = o.Number("go");
  if (go < INT_MIN || go > INT_MAX) throw Napi::RangeError::New(env, "go must be a 32-bit integer");
  OptString prefix = o.Text("keyPrefix");
  xr_session_storage *s = NULL;
  int rc = xr_binding_session_storage_new(&s, o.Client()->Client(), prefix.get(), o.Number("ttlMs"), (int)go);
  if (rc < 0) throw xr_js_error_of(env, rc, xr_error_last()->message);
  return SystemBox::External(env, new SessionBox(o.Client(), s, &EnvState::sessions, "the session storage was closed"),
                             kSessionTag);
}

Napi::Value xr_js_session_ops(Napi::Value unused) { return OpsTable(unused.Env(), xr_session_op_at); }

Napi::Value xr_js_session_run(Napi::Value storage, Napi::Value ops) {
  Napi::Env env = storage.Env();
  return (new OpsRun<SessionSystem>(env, SessionArg(env, storage), ops, 0))->Go();
}

void xr_js_session_close(Napi::Value storage) { SessionArg(storage.Env(), storage)->Close(); }
