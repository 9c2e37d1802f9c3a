/* The private Node addon crossredis_native: typemaps for JavaScript (SWIG -javascript -napi, C++;
 * $input is a Napi::Value, `env` the Napi::Env), then the shared interface. Built with
 * C++ exceptions on (NAPI_CPP_EXCEPTIONS: SWIG -napi's own fragments do
 * not compile in the Maybe mode); a core error is thrown with ThrowAsJavaScriptException after the
 * freearg typemaps ran (see xr_js_failed). These wrappers run on the JS thread (SWIG -napi has no
 * async); the Promise-returning calls are the bridge's (bridge.h, declared at the end of this file).
 *
 * Shapes, as in python/python.i:
 *   int result        a negative one throws an Error with the core's message and `.code` (XR_E*);
 *                     otherwise a Number, and the outputs are appended: [rc, out1, ...]
 *   bytes in          string (UTF-8), Buffer or Uint8Array
 *   bytes out         Buffer, or null
 *   handle out        an opaque SWIG pointer object
 *   lock out          [token string, expires_at_ms]
 *   queue entry out   [message Buffer|null, enqueued_at_ms, expires_at_ms, raw Buffer|null]
 *   reply out         bulk strings as Buffer, status as string, integers as Number (BigInt beyond
 *                     2^53), doubles as Number, arrays as Array, nil as null
 *   command args      an Array of string, Buffer, Uint8Array, number or bigint */
%module crossredis_native

%{
#include <stdlib.h>
#include <string.h>
#include <string>
#include <vector>
#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "crossredis/client.h"
#include "crossredis/error.h"
/* binding.h has no extern "C" of its own (its guard keeps crossredis.i's include from undoing this). */
extern "C" {
#include "binding.h"
}
#include "bridge.h"
#include "bridge_internal.h"

/* The code of the failure the current wrapper threw in its `out` typemap: its argout typemaps
 * skip their work (no N-API call with an exception pending), its freearg typemaps free what the
 * call made, and its `ret` typemap leaves through SWIG_fail. SWIG -napi runs no freearg on the
 * fail path, hence this. One JS thread per env; thread_local for worker threads. */
static thread_local int xr_js_failed = 0;

/* The Error for the current thread's last failure. */
static Napi::Error xr_js_error(Napi::Env env, int code) {
  return xr_js_error_of(env, code, xr_error_last()->message);
}

static void xr_js_throw(Napi::Env env, int code) {
  xr_js_failed = code;
  if (!env.IsExceptionPending()) xr_js_error(env, code).ThrowAsJavaScriptException();
}

static Napi::Value xr_js_bytes(Napi::Env env, const char *p, size_t n) {
  return Napi::Buffer<char>::Copy(env, p ? p : "", n);
}

/* A reply as JS values (bulk strings as Buffers, or as strings when !buffers). xr_js_error_of
 * (the Error of a code, of this environment's classes) is the bridge's. */
Napi::Value xr_js_reply_value(Napi::Env env, const xr_reply *r, bool buffers) {
  size_t n = 0;
  const char *s;
  if (!r) return env.Null();
  switch (xr_reply_kind(r)) {
    case XR_REPLY_STRING:
      s = xr_reply_str(r, &n);
      return buffers ? xr_js_bytes(env, s, n) : Napi::String::New(env, s ? s : "", n);
    case XR_REPLY_STATUS:
    case XR_REPLY_ERROR:
      s = xr_reply_str(r, &n);
      return Napi::String::New(env, s ? s : "", n);
    case XR_REPLY_INTEGER:
    case XR_REPLY_BOOL: {
      long long v = xr_reply_integer(r);
      if (v > 9007199254740991LL || v < -9007199254740991LL) return Napi::BigInt::New(env, (int64_t)v);
      return Napi::Number::New(env, (double)v);
    }
    case XR_REPLY_DOUBLE: {
      s = xr_reply_str(r, &n);
      std::string t(s ? s : "", n);
      return Napi::Number::New(env, strtod(t.c_str(), nullptr));
    }
    case XR_REPLY_ARRAY:
    case XR_REPLY_SET:
    case XR_REPLY_MAP: {
      size_t count = xr_reply_count(r);
      Napi::Array a = Napi::Array::New(env, count);
      for (size_t i = 0; i < count; i++) {
        a.Set((uint32_t)i, xr_js_reply_value(env, xr_reply_at(r, i), buffers));
      }
      return a;
    }
    default:
      return env.Null();
  }
}

/* Bytes from a string (UTF-8, copied into `keep`), a Buffer or a Uint8Array (borrowed). */
static bool xr_js_bytes_in(Napi::Value v, std::string &keep, const char **p, size_t *n) {
  if (v.IsString()) {
    keep = v.As<Napi::String>().Utf8Value();
    *p = keep.data();
    *n = keep.size();
    return true;
  }
  if (v.IsBuffer()) {
    Napi::Buffer<char> b = v.As<Napi::Buffer<char>>();
    *p = b.Data();
    *n = b.Length();
    return true;
  }
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array u = v.As<Napi::Uint8Array>();
    *p = reinterpret_cast<const char *>(u.Data());
    *n = u.ByteLength();
    return true;
  }
  return false;
}

/* A command's arguments, each read by the addon's one conversion (bridge_internal.h); their bytes
 * live in `keep` until the call returns. */
struct xr_js_argv {
  std::vector<xrjs::InText> keep;
  std::vector<const char *> argv;
  std::vector<size_t> lens;
};

static bool xr_js_argv_fill(Napi::Env env, xr_js_argv &a, Napi::Value v) {
  if (!v.IsArray()) {
    throw Napi::TypeError::New(env, "command arguments must be an Array");
  }
  Napi::Array arr = v.As<Napi::Array>();
  uint32_t n = arr.Length();
  if (n < 1 || n > 1000000) {
    throw Napi::RangeError::New(env, "a command needs 1 to 1000000 arguments");
  }
  a.keep.resize(n);
  a.argv.resize(n);
  a.lens.resize(n);
  for (uint32_t i = 0; i < n; i++) {
    xrjs::ReadCommandArg(env, arr.Get(i), i, a.keep[i]);
    if (!a.keep[i].Convert()) throw Napi::Error::New(env, "out of memory converting a string");
    a.argv[i] = a.keep[i].data();
    a.lens[i] = a.keep[i].size();
  }
  return true;
}
%}


/* Every int result: a negative one is an error code, thrown. */
%typemap(out) int {
  xr_js_failed = 0;
  if ($1 < 0) {
    xr_js_throw(env, $1);
  } else {
    $result = Napi::Number::New(env, $1);
  }
}
%typemap(ret) int {
  if (xr_js_failed) {
    xr_js_failed = 0;
    SWIG_fail;
  }
}

/* ...but the error table's `code` member is a value, not a result. */
%typemap(out) int code "$result = Napi::Number::New(env, $1);"
%typemap(ret) int code ""

%typemap(in) (const char *BYTES, size_t LEN) (std::string keep_) {
  const char *p_ = nullptr;
  size_t n_ = 0;
  if (!xr_js_bytes_in($input, keep_, &p_, &n_)) {
    SWIG_exception_fail(SWIG_TypeError, "in method '$symname', expected a string, Buffer or Uint8Array");
  }
  $1 = ($1_ltype)p_;
  $2 = n_;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) (const char *BYTES, size_t LEN) {
  $1 = $input.IsString() || $input.IsBuffer() || $input.IsTypedArray();
}

%typemap(in, numinputs=0) (char **OUT_BYTES, size_t *OUT_LEN) (char *v_ = NULL, size_t n_ = 0) {
  $1 = &v_;
  $2 = &n_;
}
%typemap(argout) (char **OUT_BYTES, size_t *OUT_LEN) {
  if (!xr_js_failed)
  $result = SWIG_AppendOutput($result, *$1 ? xr_js_bytes(env, *$1, *$2) : env.Null());
}
%typemap(freearg) (char **OUT_BYTES, size_t *OUT_LEN) {
  xr_free(*$1);
}

/* Handles made by the C API come back as opaque objects (not owned: the layer above closes them). */
%define XR_JS_OUT_HANDLE(TYPE)
%typemap(in, numinputs=0) TYPE **out (TYPE *h_ = NULL) {
  $1 = &h_;
}
%typemap(argout) TYPE **out {
  if (!xr_js_failed)
  $result = SWIG_AppendOutput($result, SWIG_NewPointerObj(*$1, $*1_descriptor, 0));
}
%enddef
XR_JS_OUT_HANDLE(xr_client)
XR_JS_OUT_HANDLE(xr_client_config)
XR_JS_OUT_HANDLE(xr_chat)
XR_JS_OUT_HANDLE(xr_chat_batch)
XR_JS_OUT_HANDLE(xr_chat_watchdog)
XR_JS_OUT_HANDLE(xr_session_storage)
XR_JS_OUT_HANDLE(xr_session_batch)
XR_JS_OUT_HANDLE(xr_script)

/* A lock out: [token, expires_at_ms]. */
%typemap(in, numinputs=0) xr_chat_lock *lock (xr_chat_lock l_) {
  memset(&l_, 0, sizeof l_);
  $1 = &l_;
}
%typemap(argout) xr_chat_lock *lock {
  if (!xr_js_failed) {
  Napi::Array lk_ = Napi::Array::New(env, 2);
  lk_.Set((uint32_t)0, Napi::String::New(env, $1->token, $1->token_len));
  lk_.Set((uint32_t)1, Napi::Number::New(env, (double)$1->expires_at_ms));
  $result = SWIG_AppendOutput($result, lk_);
  }
}

/* A dequeued entry that is no queue entry was popped all the same: the error carries its bytes
 * as `raw`, so nothing is lost. */
%{
static void xr_js_throw_entry(Napi::Env env, int code, const xr_chat_queue_entry *e) {
  xr_js_failed = code;
  if (env.IsExceptionPending()) return;
  Napi::Error err = xr_js_error(env, code);
  if (e->raw) err.Value().Set("raw", xr_js_bytes(env, e->raw, e->raw_len));
  err.ThrowAsJavaScriptException();
}
%}
%typemap(out) int xr_chat_dequeue {
  xr_js_failed = 0;
  if ($1 < 0) {
    xr_js_throw_entry(env, $1, arg3);
  } else {
    $result = Napi::Number::New(env, $1);
  }
}
%typemap(out) int xr_chat_batch_entry {
  xr_js_failed = 0;
  if ($1 < 0) {
    xr_js_throw_entry(env, $1, arg4);
  } else {
    $result = Napi::Number::New(env, $1);
  }
}

/* A queue entry out: [message Buffer|null, enqueued_at_ms, expires_at_ms, raw Buffer|null]. */
%typemap(in, numinputs=0) xr_chat_queue_entry *e (xr_chat_queue_entry e_) {
  memset(&e_, 0, sizeof e_);
  $1 = &e_;
}
%typemap(argout) xr_chat_queue_entry *e {
  if (!xr_js_failed) {
  Napi::Array qe_ = Napi::Array::New(env, 4);
  qe_.Set((uint32_t)0, $1->message ? xr_js_bytes(env, $1->message, $1->message_len) : env.Null());
  qe_.Set((uint32_t)1, Napi::Number::New(env, (double)$1->enqueued_at_ms));
  qe_.Set((uint32_t)2, Napi::Number::New(env, (double)$1->expires_at_ms));
  qe_.Set((uint32_t)3, $1->raw ? xr_js_bytes(env, $1->raw, $1->raw_len) : env.Null());
  $result = SWIG_AppendOutput($result, qe_);
  }
}
%typemap(freearg) xr_chat_queue_entry *e {
  xr_chat_queue_entry_clear($1);
}

/* List items out: an Array of Buffers. */
%typemap(in, numinputs=0) xr_reply **items (xr_reply *r_ = NULL) {
  $1 = &r_;
}
%typemap(argout) xr_reply **items {
  if (!xr_js_failed) {
  Napi::Value it_ = *$1 ? xr_js_reply_value(env, *$1, true) : Napi::Array::New(env);
  $result = SWIG_AppendOutput($result, it_);
  }
}
%typemap(freearg) xr_reply **items {
  xr_reply_free(*$1);
}
%typemap(in, numinputs=0) const xr_reply **items (const xr_reply *r_ = NULL) {
  $1 = ($1_ltype)&r_;
}
%typemap(argout) const xr_reply **items {
  if (!xr_js_failed) {
  Napi::Value it_ = *$1 ? xr_js_reply_value(env, *$1, true) : Napi::Array::New(env);
  $result = SWIG_AppendOutput($result, it_);
  }
}
/* Borrowed from the batch: SWIG would otherwise pick the freearg of `xr_reply **items` (it drops
 * qualifiers when it looks typemaps up) and free the batch's reply. */
%typemap(freearg) const xr_reply **items ""

/* A command's reply out, as JS values. */
%typemap(in, numinputs=0) xr_reply **out (xr_reply *r_ = NULL) {
  $1 = &r_;
}
%typemap(argout) xr_reply **out {
  if (!xr_js_failed) {
  Napi::Value v_ = xr_js_reply_value(env, *$1, true);
  $result = SWIG_AppendOutput($result, v_);
  }
}
%typemap(freearg) xr_reply **out {
  xr_reply_free(*$1);
}

/* A command's arguments from one JS Array. */
%typemap(in) (int argc, const char *const *argv, const size_t *argvlen) (xr_js_argv a_) {
  if (!xr_js_argv_fill(env, a_, $input)) SWIG_fail;
  $1 = (int)a_.argv.size();
  $2 = ($2_ltype)a_.argv.data();
  $3 = ($3_ltype)a_.lens.data();
}
%typemap(typecheck) (int argc, const char *const *argv, const size_t *argvlen) {
  $1 = $input.IsArray();
}

/* Optional strings (URL, user, CA file, ...): a string, or null/undefined for NULL. */
%typemap(in) const char * (std::string s_) {
  if ($input.IsNull() || $input.IsUndefined()) {
    $1 = NULL;
  } else if ($input.IsString()) {
    s_ = $input.As<Napi::String>().Utf8Value();
    $1 = ($1_ltype)s_.c_str();
  } else {
    SWIG_exception_fail(SWIG_TypeError, "in method '$symname', argument $argnum: expected a string, null or undefined");
  }
}
%typemap(freearg) const char * ""
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) const char * {
  $1 = $input.IsString() || $input.IsNull() || $input.IsUndefined();
}

/* typemaps.i's OUTPUT outs, skipped after a failure like the others (crossredis.i includes
 * typemaps.i again: SWIG includes a file once, so these stay). */
%include "typemaps.i"
%typemap(argout) bool *OUTPUT {
  if (!xr_js_failed) $result = SWIG_AppendOutput($result, Napi::Boolean::New(env, *$1));
}
%typemap(argout) int *OUTPUT {
  if (!xr_js_failed) $result = SWIG_AppendOutput($result, Napi::Number::New(env, *$1));
}
%typemap(argout) long long *OUTPUT {
  if (!xr_js_failed) {
    long long v_ = *$1;
    $result = SWIG_AppendOutput($result, (v_ > 9007199254740991LL || v_ < -9007199254740991LL)
                                             ? Napi::Value(Napi::BigInt::New(env, (int64_t)v_))
                                             : Napi::Value(Napi::Number::New(env, (double)v_)));
  }
}

/* The async bridge (bridge.h, bridge.cc): clients and adapters as Externals, Promise-returning
 * calls on the thread pool or the loop connection, the error classes of each environment. */
%typemap(in) Napi::Value "$1 = $input;"
%typemap(out) Napi::Value "$result = $1;"
void xr_js_set_error_classes(Napi::Value classes);
Napi::Value xr_js_client_config_new(Napi::Value unused);
void xr_js_client_config_set(Napi::Value config, Napi::Value name, Napi::Value value);
Napi::Value xr_js_client_open(Napi::Value config);
Napi::Value xr_js_client_run(Napi::Value client, Napi::Value commands, Napi::Value buffers);
Napi::Value xr_js_client_address(Napi::Value client);
void xr_js_client_cancel(Napi::Value client);
void xr_js_client_close(Napi::Value client);
Napi::Value xr_js_chat_new(Napi::Value client, Napi::Value options);
Napi::Value xr_js_chat_key_prefix(Napi::Value chat);
Napi::Value xr_js_chat_ops(Napi::Value unused);
Napi::Value xr_js_chat_run(Napi::Value chat, Napi::Value ops, Napi::Value lane);
Napi::Value xr_js_chat_lanes(Napi::Value chat, Napi::Value ops, Napi::Value lanes);
%constant int XR_JS_LANES = XR_JS_LANES; /* bridge.h: a lane number is below it */
/* session.h's default TTLs: INT64_C macros, which SWIG does not make constants of by itself */
%constant double XR_SESSION_PROXY_TTL_MS = (double)XR_SESSION_PROXY_TTL_MS;
%constant double XR_SESSION_VMCP_TTL_MS = (double)XR_SESSION_VMCP_TTL_MS;
Napi::Value xr_js_chat_acquire_wait(Napi::Value chat, Napi::Value thread_id, Napi::Value ttl_ms,
                                    Napi::Value wait_ms);
Napi::Value xr_js_chat_release_if_queue_empty(Napi::Value chat, Napi::Value thread_id, Napi::Value token);
void xr_js_chat_cancel(Napi::Value chat);
void xr_js_chat_close(Napi::Value chat);
Napi::Value xr_js_session_new(Napi::Value client, Napi::Value options);
Napi::Value xr_js_session_ops(Napi::Value unused);
Napi::Value xr_js_session_run(Napi::Value storage, Napi::Value ops);
void xr_js_session_close(Napi::Value storage);
Napi::Value xr_js_ayepi_new(Napi::Value client, Napi::Value options);
Napi::Value xr_js_ayepi_ops(Napi::Value unused);
Napi::Value xr_js_ayepi_run(Napi::Value store, Napi::Value ops);
Napi::Value xr_js_ayepi_retry_next(Napi::Value store, Napi::Value op, Napi::Value rc, Napi::Value attempt);
Napi::Value xr_js_ayepi_sweep_new(Napi::Value store, Napi::Value entries);
Napi::Value xr_js_ayepi_sweep_step(Napi::Value sweep, Napi::Value chosen);
void xr_js_ayepi_sweep_close(Napi::Value sweep);
void xr_js_ayepi_close(Napi::Value store);
Napi::Value xr_js_xp_new(Napi::Value client, Napi::Value options);
Napi::Value xr_js_xp_ops(Napi::Value unused);
Napi::Value xr_js_xp_run(Napi::Value store, Napi::Value ops);
Napi::Value xr_js_xp_call(Napi::Value store, Napi::Value op);
Napi::Value xr_js_xp_job(Napi::Value store, Napi::Value what);
Napi::Value xr_js_xp_slot_write(Napi::Value fields);
Napi::Value xr_js_xp_slot_read(Napi::Value data);
Napi::Value xr_js_xp_cluster(Napi::Value store);
void xr_js_xp_close(Napi::Value store);
/* xp.h's defaults (INT64_C and string macros, which SWIG does not make constants of by itself) */
%constant double XR_XP_TTL_S = (double)XR_XP_TTL_S;
%constant const char *XR_XP_PREFIX = XR_XP_PREFIX;
Napi::Value xr_js_family_new(Napi::Value name, Napi::Value old_pattern, Napi::Value new_pattern);
Napi::Value xr_js_family_load(Napi::Value text, Napi::Value name);
Napi::Value xr_js_family_load_all(Napi::Value text);
Napi::Value xr_js_family_info(Napi::Value family);
Napi::Value xr_js_family_keys(Napi::Value family, Napi::Value values);
Napi::Value xr_js_family_new_key_of(Napi::Value family, Napi::Value old_key);
Napi::Value xr_js_window_new(Napi::Value client, Napi::Value family, Napi::Value options);
Napi::Value xr_js_window_call(Napi::Value window, Napi::Value what, Napi::Value values, Napi::Value args,
                              Napi::Value buffers);
Napi::Value xr_js_window_is_closed(Napi::Value window);
void xr_js_window_release(Napi::Value window);
/* window.h's old_writes names (its header is not wrapped for Node: the bridge is) */
int xr_window_old_writes_parse(const char *name);
Napi::Value xr_js_subscriber_new(Napi::Value client, Napi::Value on_message, Napi::Value on_error);
Napi::Value xr_js_subscriber_message_bytes(Napi::Value sub);
Napi::Value xr_js_subscriber_subscribe(Napi::Value sub, Napi::Value channels);
Napi::Value xr_js_subscriber_unsubscribe(Napi::Value sub, Napi::Value channels);
void xr_js_subscriber_close(Napi::Value sub);
Napi::Value xr_js_stats(Napi::Value unused);

%include "../crossredis.i"
