/* crossredis driver: the C implementation of the interop driver contract (interop/CONTRACT.md).
 * JSON lines on stdin (requests) and stdout (responses), for one system per process (--system):
 * - chat (the default): the core's Chat SDK state adapter with its defaults (the TS node-redis
 *   adapter's wire: JS JSON text, TS queue entries, "redis" tokens with base36 suffixes); the rows
 *   of chat.def as "chat.<name>" through xr_chat_call, plus the composite chat.drain_queue (the TS
 *   core's queue reader). Errors: kind = the core's error class (errors.def).
 * - sessions: toolhive's session stores (session.h), the protocol of the Go drivers: the rows of
 *   session.def as "session.<name>" through xr_session_call (data_* rows on the vMCP data store),
 *   plus the composite session.delete_expired. Errors: SessionNotFound, SessionExists or Error,
 *   with the core's text (Go's).
 * - ayepi: @ayepi/redis 0.4's work Store, response cache and broker (ayepi.h): the rows of ayepi.def
 *   as "ayepi.<name>" through xr_ayepi_call (cache_* rows on the cache, its own prefix), plus the
 *   composites cache_clear, cache_invalidate {path}, publish, envelope, subscribe and received.
 *   Errors: kind = the core's error class.
 * - xp: xml-pipeline's context buffer and thread registry (xp.h): the rows of xp.def as "xp.<name>"
 *   through xr_xp_call, a slot (BYTES) as base64 both ways, plus the composites buffer_list_threads,
 *   buffer_clear, registry_list_all, registry_clear, info, slot_json {fields} and slot_read {slot}
 *   (the JSON slot codec; slot_pickle is Unsupported: a pickle is Python's). Errors: kind = the
 *   core's error class, Unsupported.
 * Arguments are read by kind and results written by result kind, so a new row needs no code here.
 * The driver decides nothing: it reports what the core did, its errors included. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include <poll.h>

#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "crossredis/chat.h"
#include "crossredis/error.h"
#include "crossredis/json.h"
#include "crossredis/session.h"
#include "crossredis/timestamp.h"
#include "crossredis/xp.h"

/* An op's own failure that is the request's fault, not the library's: kind "BadRequest". */
enum { BAD_REQUEST = 1 };

typedef struct driver_system driver_system;

/* What the driver runs: one system's handles. */
typedef struct driver {
  const driver_system *sys;
  xr_chat *chat;              /* chat */
  int layout;                 /* chat: --layout's xr_chat_layout */
  xr_session_storage *store;  /* sessions: RedisStorage (the proxy sessions) */
  xr_session_storage *data;   /* sessions: RedisSessionDataStorage (vMCP, the data_* rows) */
  xr_ayepi_store *store_ayepi, *cache; /* ayepi: the work Store, the response cache (cache_* rows) */
  xr_ayepi_broker *broker;    /* ayepi: made at the first broker request */
  const char *channel;        /* ayepi: the broker's (NULL: "ayepi") */
  json_t *received;           /* ayepi: every message since subscribe, in order */
  xr_xp_store *xp;            /* xp */
} driver;

typedef struct request {
  driver *d;
  json_t *args;
  char why[512]; /* the message of a BAD_REQUEST */
} request;

typedef int (*op_fn)(request *r, json_t **result);

/* A composite operation: never a row's name (cli_driver refuses to start otherwise). */
typedef struct composite_op {
  const char *name;
  op_fn run;
} composite_op;

/* A system as the driver sees it: its table, how a row runs, its composites and error kinds. */
struct driver_system {
  const char *name;  /* "chat": --system's value */
  const char *ops;   /* "chat.": the prefix of its operations' names */
  const xr_op_info *(*op_at)(int op);
  int (*call)(driver *d, const xr_op_info *info, const xr_arg *args, size_t nargs, xr_result *out);
  /* Whether a string given for a JSON argument is its text (sessions, as the Go drivers) rather
   * than a JSON string value (chat: chat.set {"json": "x"} stores the string "x"). */
  bool json_text_strings;
  const composite_op *composites;
  size_t ncomposites;
  const char *(*error_kind)(int code);
  /* A VALUE row's stored text as JSON (NULL: parsed, or the text when it is not JSON). */
  json_t *(*value)(const xr_op_info *info, const char *text, size_t len);
  /* The INT arguments a request may leave out or null (0: none): NULL-terminated; NULL: those
   * after a `json` argument (a stored value's options). */
  const char *const *optional_ints;
  /* A JSON argument the contract names without the table's "_json" ("entry" for entry_json). */
  bool json_short_names;
  /* BYTES arguments and LIST elements are base64 (RFC 4648, padded) in the JSON lines (xp: slots
   * are opaque bytes, a pickle is not text). */
  bool bytes_base64;
};

static void driver_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis driver --impl c [--url URL] [--prefix PREFIX] [--layout upstream|tagged]\n"
          "       crossredis driver --system sessions --impl c [--url URL] [--prefix P] [--data-prefix P]\n"
          "                         [--ttl-ms N] [--data-ttl-ms N] [--go 1.26|1.27]\n"
          "       crossredis driver --system ayepi --impl c [--url URL] [--prefix P] [--cache-prefix P]\n"
          "                         [--channel C]\n"
          "       crossredis driver --system xp --impl c [--url URL] [--prefix P] [--ttl SECONDS]\n"
          "\n"
          "The C driver of the interop suite (interop/CONTRACT.md), started by interop/run.py:\n"
          "connects, prints {\"ready\": true, ...}, then answers one JSON request per stdin line\n"
          "with one JSON response line on stdout until stdin closes. The operations are the\n"
          "core's Chat table as chat.<name> (chat.acquire_lock, chat.get, ...) with its argument\n"
          "names (thread_id, ttl_ms, ...), and chat.drain_queue; they go through the crossredis\n"
          "core's Chat SDK state adapter with its defaults: redis_<ms>_<base36> tokens, JS JSON\n"
          "text, TS queue entries. Errors come back as {\"kind\": the core's error class\n"
          "(DataError, ResponseError, ...), \"message\"}; a request that is not JSON or lacks an\n"
          "argument as kind BadRequest; an unknown op as kind UnknownOp.\n"
          "\n"
          "With --system sessions the operations are toolhive's session stores (session.def as\n"
          "session.<name>: session.store {session_json}, session.load {id}, ..., the data_* rows on\n"
          "the vMCP data store) and session.delete_expired {before}, with the Go drivers' protocol:\n"
          "a session is {\"id\", \"type\", \"created_at\", \"updated_at\", \"data\"?, \"metadata\"},\n"
          "errors are SessionNotFound, SessionExists or Error with Go's text.\n"
          "\n"
          "With --system ayepi the operations are @ayepi/redis 0.4's work Store, response cache and\n"
          "broker (ayepi.def as ayepi.<name>: ayepi.get {key}, ayepi.cache_set {key, entry, now_ms?},\n"
          "...; ayepi.cache_clear, ayepi.cache_invalidate {path}, ayepi.publish {message},\n"
          "ayepi.envelope {ch, params?, data}, ayepi.subscribe, ayepi.received {count, timeout_ms?}).\n"
          "\n"
          "With --system xp the operations are xml-pipeline's RedisBackend (xp.def as xp.<name>:\n"
          "xp.buffer_append {thread_id, slot}, xp.registry_set {chain, uuid}, ...; xp.buffer_list_threads,\n"
          "xp.buffer_clear, xp.registry_list_all, xp.registry_clear, xp.info, xp.slot_json {fields},\n"
          "xp.slot_read {slot}), a slot as base64 both ways.\n"
          "\n"
          "  --impl c          the implementation (this program has only c)\n"
          "  --system S        chat (default), sessions, ayepi or xp\n"
          "  --url URL         the server (default $REDIS_URL, else redis://127.0.0.1:6379)\n"
          "  --prefix P        the key prefix (chat: default chat-sdk; sessions: RedisStorage's,\n"
          "                    default " XR_SESSION_PROXY_PREFIX ")\n"
          "  --layout L        chat: where a thread's keys live, upstream (default: <prefix>:lock:<id>)\n"
          "                    or tagged (<prefix>:lock:{<id>}, one Cluster slot per thread)\n"
          "  --data-prefix P   sessions: RedisSessionDataStorage's (default " XR_SESSION_VMCP_PREFIX ")\n"
          "  --ttl-ms N        sessions: RedisStorage's TTL (default 2 h)\n"
          "  --data-ttl-ms N   sessions: RedisSessionDataStorage's TTL (default 30 min)\n"
          "  --go V            sessions: whose encoding/json bytes are written (default 1.27)\n"
          "  --cache-prefix P  ayepi: the response cache's prefix (default " XR_AYEPI_CACHE_PREFIX ")\n"
          "  --channel C       ayepi: the broker's channel (default " XR_AYEPI_CHANNEL ")\n"
          "  --ttl SECONDS     xp: on every key written (default 86400; 0: none)\n");
}

static int bad(request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(request *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->why, sizeof r->why, fmt, ap);
  va_end(ap);
  return BAD_REQUEST;
}

/* ---- arguments ---------------------------------------------------------------------------------- */

static int arg_string(request *r, const char *name, const char **s, size_t *len) {
  json_t *v = json_object_get(r->args, name);
  if (!json_is_string(v)) return bad(r, "args.%s must be a string", name);
  *s = json_string_value(v);
  *len = json_string_length(v);
  return 0;
}

/* An integer argument; `missing` is used when the argument is absent (or null), unless it is
 * required (required = true). A real with an integral value counts (JS writes 1e21 for big ones). */
static int arg_int(request *r, const char *name, bool required, long long missing, long long *out) {
  json_t *v = json_object_get(r->args, name);
  if (!v || json_is_null(v)) {
    if (required) return bad(r, "args.%s is required (an integer)", name);
    *out = missing;
    return 0;
  }
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return 0;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d == (double)(long long)d && d >= -9.2e18 && d <= 9.2e18) {
      *out = (long long)d;
      return 0;
    }
  }
  return bad(r, "args.%s must be an integer", name);
}

/* An argument of any JSON, as compact JSON text (jansson allocates it through the library's
 * allocator: xr_free). Where the system reads a string as the text itself (sessions), a copy of
 * the string. */
static int arg_json(request *r, const char *name, char **text) {
  char short_name[64];
  size_t n = strlen(name);
  if (r->d->sys->json_short_names && n > 5 && n < sizeof short_name && !strcmp(name + n - 5, "_json")) {
    snprintf(short_name, sizeof short_name, "%.*s", (int)(n - 5), name);
    name = short_name;
  }
  json_t *v = json_object_get(r->args, name);
  if (!v) return bad(r, "args.%s is required (any JSON value)", name);
  if (r->d->sys->json_text_strings && json_is_string(v)) {
    size_t len = json_string_length(v);
    if ((*text = xr_malloc(len + 1)) == NULL) return xr_error_set(XR_ENOMEM, "args.%s: out of memory", name);
    memcpy(*text, json_string_value(v), len + 1);
    return 0;
  }
  *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!*text) return bad(r, "args.%s cannot be written as JSON text", name);
  return 0;
}

/* Whether a table argument is JSON text (`json`, `message_json`): the contract gives it as any
 * JSON value, which the driver writes as JSON text for the core (which re-writes it in its
 * dialect). */
static bool json_argument(const char *name) {
  size_t n = strlen(name);
  return strcmp(name, "json") == 0 || (n > 5 && strcmp(name + n - 5, "_json") == 0);
}

/* ---- what the core returned, as JSON ------------------------------------------------------------- */

/* A stored value read back: parsed, or (as upstream get does when JSON.parse fails) the text. */
static json_t *value_or_text(const char *text, size_t len) {
  json_t *v = NULL;
  if (xr_json_parse(&v, text, len) == 0) return v;
  xr_error_clear();
  return cli_json_string(text, len);
}

/* "chat.get_list key=bad": the operation and its text arguments, for a message. */
static void describe(char *out, size_t size, const driver_system *sys, const xr_op_info *info, const xr_arg *args) {
  size_t o = (size_t)snprintf(out, size, "%s%s", sys->ops, info->name);
  for (size_t k = 0; k < info->nargs && o < size; k++) {
    if (info->arg_kinds[k] != XR_ARG_TEXT || json_argument(info->arg_names[k])) continue;
    char *shown = cli_text_escape(args[k].data ? args[k].data : "", args[k].len);
    o += (size_t)snprintf(out + o, size - o, " %s=%.100s", info->arg_names[k], shown);
    free(shown);
  }
}

/* A field that is JSON text, parsed; on failure the error names the field. */
static int field_json(const driver_system *sys, const xr_op_info *info, const xr_arg *args, const xr_arg *f,
                      const char *field, json_t **out) {
  int rc = xr_json_parse(out, f->data ? f->data : "", f->len);
  if (rc != 0) {
    char what[300];
    describe(what, sizeof what, sys, info, args);
    rc = xr_error_set(rc, "%s: the result's %s is not JSON: %s", what, field, xr_error_last()->message);
  }
  return rc;
}

/* A session as the Go drivers report it: {"id", "type", "created_at", "updated_at" (Go's RFC 3339
 * text), "data" (only when the session holds data, a JSON null included), "metadata" (always an
 * object)}. */
static int session_json(const driver_system *sys, const xr_op_info *info, const xr_arg *args, const xr_result *res,
                        json_t **out) {
  const xr_arg *f = res->fields;
  json_t *data = NULL, *meta = NULL;
  int rc = f[4].data ? field_json(sys, info, args, &f[4], "data", &data) : 0;
  if (rc == 0) rc = field_json(sys, info, args, &f[5], "metadata", &meta);
  if (rc != 0) {
    json_decref(data);
    return rc;
  }
  if (json_is_null(meta)) {
    json_decref(meta);
    meta = json_object();
  }
  *out = json_pack("{s:o,s:o,s:o,s:o,s:o}", "id", cli_json_string(f[0].data, f[0].len), "type",
                   cli_json_string(f[1].data, f[1].len), "created_at", cli_json_string(f[2].data, f[2].len),
                   "updated_at", cli_json_string(f[3].data, f[3].len), "metadata", meta);
  if (*out && data) json_object_set_new(*out, "data", data);
  return 0;
}

/* A result as JSON by its kind (interop/CONTRACT.md): STATUS null, BOOL true/false, INTEGER a
 * number, VALUE the parsed value (the text when it is not JSON) or null, LIST an array of parsed
 * values (an element that is not JSON fails the read, as JSON.parse throws in the TS adapters'
 * getList), LOCK {"token", "expires_at"} or null, ENTRY {"message", "enqueued_at" (null when the
 * entry has none), "expires_at", "raw" (the entry as stored)} or null, SESSION as session_json,
 * MAP the object (null for Go's nil map). */
static int result_json(const driver_system *sys, const xr_op_info *info, const xr_arg *args, const xr_result *res,
                       json_t **out) {
  const xr_arg *f = res->fields;
  char what[300];
  json_t *v = NULL;
  int rc = 0;
  switch (info->result) {
    case XR_RESULT_STATUS:
      *out = json_null();
      return 0;
    case XR_RESULT_BOOL:
      *out = json_boolean(res->present);
      return 0;
    case XR_RESULT_INTEGER:
      *out = json_integer(res->integer);
      return 0;
    case XR_RESULT_VALUE:
      *out = !res->present ? json_null() : sys->value ? sys->value(info, f[0].data, f[0].len) : value_or_text(f[0].data, f[0].len);
      return 0;
    case XR_RESULT_LIST:
      *out = json_array();
      for (size_t i = 0; rc == 0 && i < xr_reply_count(res->list); i++) {
        size_t len = 0;
        const char *text = xr_reply_str(xr_reply_at(res->list, i), &len);
        if (text && sys->bytes_base64) {
          json_array_append_new(*out, cli_json_base64(text, len));
          continue;
        }
        if (text && (rc = xr_json_parse(&v, text, len)) == 0) {
          json_array_append_new(*out, v);
          continue;
        }
        describe(what, sizeof what, sys, info, args);
        rc = text ? xr_error_set(rc, "%s: element %zu is not JSON: %s", what, i, xr_error_last()->message)
                  : xr_error_set(XR_EPROTOCOL, "%s: element %zu is not a string", what, i);
      }
      break;
    case XR_RESULT_LOCK:
      *out = res->present ? json_pack("{s:o,s:I}", "token", cli_json_string(f[0].data, f[0].len), "expires_at",
                                      (json_int_t)f[1].num)
                          : json_null();
      return 0;
    case XR_RESULT_SESSION:
      rc = session_json(sys, info, args, res, out);
      break;
    case XR_RESULT_MAP:
      rc = field_json(sys, info, args, &f[0], "map", out);
      break;
    case XR_RESULT_ENTRY:
      if (!res->present) {
        *out = json_null();
        return 0;
      }
      if ((rc = xr_json_parse(&v, f[0].data, f[0].len)) != 0) {
        describe(what, sizeof what, sys, info, args);
        return xr_error_set(rc, "%s: the entry's message is not JSON: %s", what, xr_error_last()->message);
      }
      *out = json_pack("{s:o,s:o,s:I,s:o}", "message", v, "enqueued_at",
                       f[1].num < 0 ? json_null() : json_integer((json_int_t)f[1].num), "expires_at",
                       (json_int_t)f[2].num, "raw", cli_json_string(f[3].data, f[3].len));
      return 0;
  }
  if (rc) {
    json_decref(*out);
    *out = NULL;
  } else if (!*out) {
    rc = xr_error_set(XR_ENOMEM, "%s%s: its result (kind %d) has no JSON", sys->ops, info->name, (int)info->result);
  }
  return rc;
}

/* ---- operations ----------------------------------------------------------------------------------- */

/* Whether INT argument `name` may be absent (0: none). */
static bool optional_int(const driver_system *sys, const char *name, bool after_json) {
  if (!sys->optional_ints) return after_json;
  for (const char *const *o = sys->optional_ints; *o; o++)
    if (strcmp(*o, name) == 0) return true;
  return false;
}

/* Any row of the system's table, as "<system>.<name>": the arguments by the row's names and kinds
 * (a JSON argument as any JSON value, or its text where the system says so; TEXT and BYTES as a
 * string, its UTF-8 bytes; INT as an integer), one call of the system's, the result by the row's
 * result kind. The INT arguments after a `json` argument (a stored value's ttl_ms and max_length)
 * may be absent or null: 0, none, as in upstream's signatures (or those the system names: ayepi's
 * ttl_ms and now_ms); every other argument is required.
 * A new row needs nothing here. */
static int table_op(request *r, const xr_op_info *info, json_t **result) {
  xr_arg args[XR_OP_ARGS_MAX] = {{0}};
  char *texts[XR_OP_ARGS_MAX] = {0}, *bytes[XR_OP_ARGS_MAX] = {0};
  bool value_options = false;
  int rc = 0;
  for (size_t k = 0; rc == 0 && k < info->nargs; k++) {
    const char *name = info->arg_names[k];
    if (json_argument(name)) {
      rc = arg_json(r, name, &texts[k]);
      if (rc == 0) args[k] = XR_ARG_OF_TEXT(texts[k], strlen(texts[k]));
      value_options = strcmp(name, "json") == 0;
    } else if (info->arg_kinds[k] == XR_ARG_INT) {
      long long v = 0;
      rc = arg_int(r, name, !optional_int(r->d->sys, name, value_options), 0, &v);
      args[k] = XR_ARG_OF_INT(v);
    } else {
      const char *s = NULL;
      size_t len = 0;
      rc = arg_string(r, name, &s, &len);
      if (rc == 0 && info->arg_kinds[k] == XR_ARG_BYTES && r->d->sys->bytes_base64) {
        if (!cli_base64_decode(s, len, &bytes[k], &len)) rc = bad(r, "args.%s must be base64 (RFC 4648, padded)", name);
        s = bytes[k];
      }
      args[k] = XR_ARG_OF_TEXT(s, len);
    }
  }
  xr_result res;
  memset(&res, 0, sizeof res);
  if (rc == 0) rc = r->d->sys->call(r->d, info, args, info->nargs, &res);
  if (rc == 0) rc = result_json(r->d->sys, info, args, &res, result);
  xr_result_clear(&res);
  for (size_t k = 0; k < info->nargs; k++) {
    xr_free(texts[k]);
    free(bytes[k]);
  }
  return rc;
}

#define TRY(call)                 \
  do {                            \
    int rc_ = (call);             \
    if (rc_ != 0) return rc_;     \
  } while (0)

/* The TS core's expiry rule for a dequeued entry (chat 4.41): it hands the message to a handler
 * when now <= expiresAt and drops it as expired when now > expiresAt. */
static bool queue_entry_expired(int64_t now_ms, int64_t expires_at_ms) { return now_ms > expires_at_ms; }

/* chat.drain_queue, a composite operation (no row: each runtime's Chat core reads its queue its
 * own way): the reader the TS core runs on a thread's queue: dequeue until empty, drop the expired
 * entries, deliver the others in order. A dequeue that fails (an entry of no dialect) fails the
 * read, as the TS core's JSON.parse throws there; the entries popped before it are gone, as there. */
static int op_drain_queue(request *r, json_t **result) {
  const char *thread;
  size_t tl;
  long long now;
  TRY(arg_string(r, "thread_id", &thread, &tl));
  TRY(arg_int(r, "now_ms", false, xr_time_now_ms(), &now));
  json_t *delivered = json_array();
  long long expired = 0;
  int rc = 0;
  for (;;) {
    bool found = false;
    xr_chat_queue_entry e = {0};
    rc = xr_chat_dequeue(r->d->chat, &found, &e, thread, tl);
    if (rc == 0 && found) {
      if (queue_entry_expired(now, e.expires_at_ms)) {
        expired++;
      } else {
        json_t *m = NULL;
        rc = xr_json_parse(&m, e.message, e.message_len);
        if (rc == 0) json_array_append_new(delivered, m);
      }
    }
    xr_chat_queue_entry_clear(&e);
    if (rc != 0 || !found) break;
  }
  if (rc) {
    json_decref(delivered);
    return rc;
  }
  *result = json_pack("{s:o,s:I}", "delivered", delivered, "expired", (json_int_t)expired);
  return 0;
}

/* session.delete_expired {before}, a composite (toolhive's DeleteExpired has no row: it sends
 * nothing): `before` is RFC 3339 text. */
static int op_delete_expired(request *r, json_t **result) {
  const char *text;
  size_t len;
  xr_time before;
  TRY(arg_string(r, "before", &text, &len));
  if (xr_time_parse_rfc3339(&before, text, len) != 0)
    return bad(r, "args.before is not an RFC 3339 time: %s", xr_error_last()->message);
  TRY(xr_session_delete_expired(r->d->store, &before));
  *result = json_null();
  return 0;
}

/* ---- ayepi's composites: the sweeps and the broker ----------------------------------------------- */

/* ayepi.cache_clear {}: null. */
static int op_cache_clear(request *r, json_t **result) {
  TRY(xr_ayepi_cache_clear(r->d->cache, NULL));
  *result = json_null();
  return 0;
}

/* invalidate's predicate: entry.path === path (an entry that is not JSON, or has no path, is not
 * chosen, as upstream's predicate sees undefined). */
static int path_is(void *ctx, const char *key, size_t key_len, const char *entry, size_t entry_len) {
  (void)key, (void)key_len;
  const char *path = ctx;
  json_t *e = NULL;
  if (xr_json_parse(&e, entry, entry_len) != 0) {
    xr_error_clear();
    return 0;
  }
  json_t *p = json_object_get(e, "path");
  int yes = json_is_string(p) && json_string_length(p) == strlen(path) && strcmp(json_string_value(p), path) == 0;
  json_decref(e);
  return yes;
}

/* ayepi.cache_invalidate {path}: how many entries went. */
static int op_cache_invalidate(request *r, json_t **result) {
  const char *path;
  size_t len;
  TRY(arg_string(r, "path", &path, &len));
  size_t removed = 0;
  TRY(xr_ayepi_cache_invalidate(r->d->cache, &removed, path_is, (void *)path));
  *result = json_integer((json_int_t)removed);
  return 0;
}

/* The broker, made at the first broker request (as upstream's redisBroker is). */
static int broker_of(driver *d, xr_ayepi_broker **out) {
  if (!d->broker) {
    xr_ayepi_broker_options o = XR_AYEPI_BROKER_OPTIONS_INIT;
    o.channel = d->channel;
    TRY(xr_ayepi_broker_new(&d->broker, xr_ayepi_store_client(d->store_ayepi), &o));
  }
  *out = d->broker;
  return 0;
}

/* ayepi.publish {message}: null; never an error (upstream's publish reports to its onError: here
 * stderr). */
static int op_publish(request *r, json_t **result) {
  const char *m;
  size_t len;
  xr_ayepi_broker *b;
  TRY(arg_string(r, "message", &m, &len));
  TRY(broker_of(r->d, &b));
  if (xr_ayepi_broker_publish(b, m, len, NULL) != 0) {
    char *safe = cli_redact(xr_error_last()->message);
    fprintf(stderr, "crossredis: driver: publish: %s\n", safe);
    free(safe);
  }
  *result = json_null();
  return 0;
}

/* ayepi.envelope {ch, params?, data}: the text (no command). */
static int op_envelope(request *r, json_t **result) {
  const char *ch;
  size_t ch_len;
  TRY(arg_string(r, "ch", &ch, &ch_len));
  json_t *params = json_object_get(r->args, "params");
  char *p = params && !json_is_null(params) ? json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY) : NULL, *data = NULL;
  int rc = arg_json(r, "data", &data);
  char *out = NULL;
  size_t out_len = 0;
  if (!rc) rc = xr_ayepi_envelope_write(&out, &out_len, ch, ch_len, p, p ? strlen(p) : 0, data, strlen(data));
  if (!rc) *result = cli_json_string(out, out_len);
  xr_free(out);
  xr_free(data);
  xr_free(p);
  return rc;
}

/* Drives the broker's subscriber for up to wait_ms, keeping what arrives; stops early when
 * done(d) holds. */
static int pump(driver *d, long long wait_ms, bool (*done)(const driver *d, long long n), long long n) {
  xr_pollable *p = xr_ayepi_broker_pollable(d->broker);
  int64_t end = xr_monotonic_ms() + wait_ms;
  for (;;) {
    const char *m;
    size_t len;
    while (xr_ayepi_broker_next(d->broker, &m, &len) == 1) json_array_append_new(d->received, cli_json_string(m, len));
    int64_t now = xr_monotonic_ms();
    if (done(d, n) || now >= end) return 0;
    struct pollfd pfd = {xr_pollable_fd(p), POLLIN, 0};
    int64_t deadline = xr_pollable_deadline(p), wait = end - now;
    if (deadline >= 0 && deadline - now < wait) wait = deadline > now ? deadline - now : 0;
    int ready = pfd.fd >= 0 ? poll(&pfd, 1, (int)(wait > 50 ? 50 : wait)) : 0;
    int rc = xr_pollable_process(p, ready > 0 ? XR_WAIT_READ : 0, xr_monotonic_ms());
    if (rc < 0) return rc;
  }
}

static bool confirmed(const driver *d, long long n) { return (long long)xr_ayepi_broker_listening(d->broker) >= n; }
static bool have(const driver *d, long long n) { return (long long)json_array_size(d->received) >= n; }

/* ayepi.subscribe {}: null once the SUBSCRIBE was answered; again: nothing more. */
static int op_subscribe(request *r, json_t **result) {
  xr_ayepi_broker *b;
  TRY(broker_of(r->d, &b));
  TRY(xr_ayepi_broker_listen(b));
  if (!r->d->received) r->d->received = json_array();
  TRY(pump(r->d, 10000, confirmed, 1));
  if (!confirmed(r->d, 1)) return xr_error_set(XR_ETIMEOUT, "SUBSCRIBE was not answered within 10 s");
  *result = json_null();
  return 0;
}

/* ayepi.received {count, timeout_ms?}: every message since subscribe, after waiting up to
 * timeout_ms for count of them. */
static int op_received(request *r, json_t **result) {
  long long count, timeout;
  TRY(arg_int(r, "count", true, 0, &count));
  TRY(arg_int(r, "timeout_ms", false, 0, &timeout));
  if (!r->d->received) return bad(r, "ayepi.received before ayepi.subscribe");
  TRY(pump(r->d, timeout, have, count));
  *result = json_deep_copy(r->d->received);
  return 0;
}

/* ---- xp's composites: the listings, clears, info and the JSON slot codec ---------------------- */

/* A listing's ids (and values) as JSON: an array of ids, or an object id -> value. */
static int xp_listing(request *r, int (*list)(xr_xp_store *, xr_xp_list **), bool pairs, json_t **result) {
  xr_xp_list *l = NULL;
  TRY(list(r->d->xp, &l));
  json_t *out = pairs ? json_object() : json_array();
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < xr_xp_list_count(l); i++) {
    xr_result id, value;
    if ((rc = xr_xp_list_id(l, i, &id)) == 0 && pairs) rc = xr_xp_list_value(l, i, &value);
    if (rc) break;
    json_t *idj = cli_json_string(id.fields[0].data, id.fields[0].len);
    if (pairs) {
      json_object_setn_new(out, json_string_value(idj), json_string_length(idj),
                           cli_json_string(value.fields[0].data, value.fields[0].len));
      json_decref(idj);
    } else {
      json_array_append_new(out, idj);
    }
  }
  xr_xp_list_free(l);
  if (rc) json_decref(out);
  else *result = out;
  return rc;
}

/* xp.buffer_list_threads {}: the thread ids, sorted (the core sorts by bytes). */
static int op_xp_list_threads(request *r, json_t **result) {
  return xp_listing(r, xr_xp_buffer_list_threads, false, result);
}

/* xp.registry_list_all {}: {uuid: chain} of the pairs that map both ways. */
static int op_xp_list_all(request *r, json_t **result) { return xp_listing(r, xr_xp_registry_list_all, true, result); }

static int op_xp_buffer_clear(request *r, json_t **result) {
  TRY(xr_xp_buffer_clear(r->d->xp, NULL));
  *result = json_null();
  return 0;
}

static int op_xp_registry_clear(request *r, json_t **result) {
  TRY(xr_xp_registry_clear(r->d->xp, NULL));
  *result = json_null();
  return 0;
}

/* xp.info {}: {"buffer_threads", "registry_entries", "ttl_seconds"} (ttl 0: none). */
static int op_xp_info(request *r, json_t **result) {
  xr_xp_info i;
  TRY(xr_xp_info_read(r->d->xp, &i));
  *result = json_pack("{s:I,s:I,s:I}", "buffer_threads", (json_int_t)i.buffer_threads, "registry_entries",
                      (json_int_t)i.registry_entries, "ttl_seconds", (json_int_t)i.ttl_seconds);
  return 0;
}

/* A string member of fields into a span; absent: `dflt` (NULL: required; "" allowed). */
static int slot_text(request *r, json_t *f, const char *name, const char *dflt, const char **s, size_t *len) {
  json_t *v = json_object_get(f, name);
  if (!v && dflt) {
    *s = dflt;
    *len = strlen(dflt);
    return 0;
  }
  if (!json_is_string(v)) return bad(r, "args.fields.%s must be a string", name);
  *s = json_string_value(v);
  *len = json_string_length(v);
  return 0;
}

/* xp.slot_json {fields}: the JSON slot (xp.h) of the fields, base64. */
static int op_xp_slot_json(request *r, json_t **result) {
  static const char *const known[] = {"thread_id", "from_id",  "to_id",        "slot_index",         "timestamp",
                                      "payload_type", "own_name", "is_self_call", "usage_instructions", "payload"};
  json_t *f = json_object_get(r->args, "fields"), *v;
  if (!json_is_object(f)) return bad(r, "args.fields must be an object with the slot's fields and payload");
  const char *key;
  json_object_foreach(f, key, v) {
    size_t k = 0;
    while (k < sizeof known / sizeof known[0] && strcmp(known[k], key) != 0) k++;
    if (k == sizeof known / sizeof known[0]) return bad(r, "args.fields.%.100s is not a slot field", key);
  }
  xr_xp_slot slot;
  memset(&slot, 0, sizeof slot);
  TRY(slot_text(r, f, "thread_id", NULL, &slot.thread_id, &slot.thread_id_len));
  TRY(slot_text(r, f, "from_id", NULL, &slot.from_id, &slot.from_id_len));
  TRY(slot_text(r, f, "to_id", NULL, &slot.to_id, &slot.to_id_len));
  TRY(slot_text(r, f, "timestamp", NULL, &slot.timestamp, &slot.timestamp_len));
  TRY(slot_text(r, f, "payload_type", NULL, &slot.payload_type, &slot.payload_type_len));
  TRY(slot_text(r, f, "usage_instructions", "", &slot.usage_instructions, &slot.usage_instructions_len));
  if (json_is_null(v = json_object_get(f, "own_name")) || !v) slot.own_name = NULL;
  else TRY(slot_text(r, f, "own_name", NULL, &slot.own_name, &slot.own_name_len));
  v = json_object_get(f, "is_self_call");
  if (v && !json_is_boolean(v)) return bad(r, "args.fields.is_self_call must be a boolean");
  slot.is_self_call = v && json_is_true(v);
  if (!json_is_integer(v = json_object_get(f, "slot_index"))) return bad(r, "args.fields.slot_index must be an integer");
  slot.slot_index = json_integer_value(v);
  if (!(v = json_object_get(f, "payload"))) return bad(r, "args.fields.payload is required (any JSON value)");
  char *payload = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), *out = NULL;
  if (!payload) return bad(r, "args.fields.payload cannot be written as JSON text");
  slot.payload_json = payload;
  slot.payload_json_len = strlen(payload);
  size_t out_len = 0;
  int rc = xr_xp_slot_write(&out, &out_len, &slot);
  if (rc == 0) *result = cli_json_base64(out, out_len);
  xr_free(out);
  xr_free(payload);
  return rc;
}

/* xp.slot_read {slot}: a JSON slot's fields (a pickle is refused: XR_EINVAL, as the core refuses
 * anything but a JSON slot). */
static int op_xp_slot_read(request *r, json_t **result) {
  const char *b64;
  size_t len;
  char *data = NULL;
  TRY(arg_string(r, "slot", &b64, &len));
  if (!cli_base64_decode(b64, len, &data, &len)) return bad(r, "args.slot must be base64 (RFC 4648, padded)");
  xr_xp_slot s;
  json_t *payload = NULL;
  int rc = xr_xp_slot_read(&s, data, len);
  if (rc == 0) rc = xr_json_parse(&payload, s.payload_json, s.payload_json_len);
  if (rc == 0)
    *result = json_pack("{s:o,s:o,s:o,s:I,s:o,s:o,s:o,s:b,s:o,s:o}", "thread_id",
                        cli_json_string(s.thread_id, s.thread_id_len), "from_id",
                        cli_json_string(s.from_id, s.from_id_len), "to_id", cli_json_string(s.to_id, s.to_id_len),
                        "slot_index", (json_int_t)s.slot_index, "timestamp",
                        cli_json_string(s.timestamp, s.timestamp_len), "payload_type",
                        cli_json_string(s.payload_type, s.payload_type_len), "own_name",
                        s.own_name ? cli_json_string(s.own_name, s.own_name_len) : json_null(), "is_self_call",
                        (int)s.is_self_call, "usage_instructions",
                        cli_json_string(s.usage_instructions, s.usage_instructions_len), "payload", payload);
  xr_xp_slot_clear(&s);
  free(data);
  return rc;
}

/* xp.slot_pickle {fields}: a pickle is Python's (the contract's Python drivers only). */
static int op_xp_slot_pickle(request *r, json_t **result) {
  (void)r, (void)result;
  return xr_error_set(XR_EUNSUPPORTED, "xp.slot_pickle: a pickled BufferSlot is Python's; C reads and writes JSON slots");
}

/* ---- the systems ------------------------------------------------------------------------------------- */

/* The core's exception class for a code, from errors.def ("DataError"). */
static const char *error_class(int code) {
  const xr_error_info *e;
  for (size_t i = 0; (e = xr_error_info_at(i)) != NULL; i++)
    if (e->code == code) return e->class_name;
  return "Error";
}

/* The Go drivers' kinds: toolhive's two sentinel errors, else Error. */
static const char *session_error_kind(int code) {
  return code == XR_ENOTFOUND ? "SessionNotFound" : code == XR_EEXISTS ? "SessionExists" : "Error";
}

/* ayepi's get is the stored string as it is; cache_get the entry object. */
static json_t *ayepi_value(const xr_op_info *info, const char *text, size_t len) {
  return strncmp(info->name, "cache_", 6) == 0 ? value_or_text(text, len) : cli_json_string(text, len);
}

/* xp: xr_xp_call; Unsupported is the contract's kind for what this runtime cannot do. */
static int xp_call(driver *d, const xr_op_info *info, const xr_arg *args, size_t nargs, xr_result *out) {
  return xr_xp_call(d->xp, info->code, args, nargs, out);
}

static const char *xp_error_kind(int code) { return code == XR_EUNSUPPORTED ? "Unsupported" : error_class(code); }

/* A slot (buffer_get_slot) is bytes: base64; a registry value is the text. */
static json_t *xp_value(const xr_op_info *info, const char *text, size_t len) {
  return strcmp(info->name, "buffer_get_slot") == 0 ? cli_json_base64(text, len) : cli_json_string(text, len);
}

/* The cache_* rows are the response cache's (its own prefix). */
static int ayepi_call(driver *d, const xr_op_info *info, const xr_arg *args, size_t nargs, xr_result *out) {
  return xr_ayepi_call(strncmp(info->name, "cache_", 6) == 0 ? d->cache : d->store_ayepi, info->code, args, nargs, out);
}

static int chat_call(driver *d, const xr_op_info *info, const xr_arg *args, size_t nargs, xr_result *out) {
  return xr_chat_call(d->chat, info->code, args, nargs, out);
}

/* The data_* rows are RedisSessionDataStorage's (the vMCP store, its own prefix and TTL). */
static int session_call(driver *d, const xr_op_info *info, const xr_arg *args, size_t nargs, xr_result *out) {
  xr_session_storage *s = strncmp(info->name, "data_", 5) == 0 ? d->data : d->store;
  return xr_session_call(s, info->code, args, nargs, out);
}

static const composite_op chat_composites[] = {{"chat.drain_queue", op_drain_queue}};
static const composite_op session_composites[] = {{"session.delete_expired", op_delete_expired}};
static const composite_op ayepi_composites[] = {
    {"ayepi.cache_clear", op_cache_clear}, {"ayepi.cache_invalidate", op_cache_invalidate},
    {"ayepi.publish", op_publish},         {"ayepi.envelope", op_envelope},
    {"ayepi.subscribe", op_subscribe},     {"ayepi.received", op_received}};
static const char *const ayepi_optional_ints[] = {"ttl_ms", "now_ms", NULL};
static const composite_op xp_composites[] = {
    {"xp.buffer_list_threads", op_xp_list_threads}, {"xp.buffer_clear", op_xp_buffer_clear},
    {"xp.registry_list_all", op_xp_list_all},       {"xp.registry_clear", op_xp_registry_clear},
    {"xp.info", op_xp_info},                         {"xp.slot_json", op_xp_slot_json},
    {"xp.slot_read", op_xp_slot_read},               {"xp.slot_pickle", op_xp_slot_pickle}};
static const char *const xp_optional_ints[] = {NULL};

static const driver_system systems[] = {
    {"chat", "chat.", xr_chat_op_at, chat_call, false, chat_composites, 1, error_class, NULL, NULL, false},
    {"sessions", "session.", xr_session_op_at, session_call, true, session_composites, 1, session_error_kind, NULL,
     NULL, false},
    {"ayepi", "ayepi.", xr_ayepi_op_at, ayepi_call, false, ayepi_composites,
     sizeof ayepi_composites / sizeof ayepi_composites[0], error_class, ayepi_value, ayepi_optional_ints, true},
    {"xp", "xp.", xr_xp_op_at, xp_call, false, xp_composites, sizeof xp_composites / sizeof xp_composites[0],
     xp_error_kind, xp_value, xp_optional_ints, false, true},
};

/* The row of the system's table named by op ("chat.<name>"); NULL when none is. */
static const xr_op_info *table_row(const driver_system *sys, const char *op) {
  size_t n = strlen(sys->ops);
  if (strncmp(op, sys->ops, n) != 0) return NULL;
  const xr_op_info *info;
  for (int i = 0; (info = sys->op_at(i)) != NULL; i++)
    if (strcmp(info->name, op + n) == 0) return info;
  return NULL;
}

/* ---- the protocol ------------------------------------------------------------------------------------ */

static void send_line(json_t *msg) {
  char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  if (!text) {
    fprintf(stderr, "crossredis: driver: cannot write a response as JSON (out of memory?)\n");
    puts("{\"id\":null,\"ok\":false,\"error\":{\"kind\":\"OutOfMemoryError\",\"message\":\"response not writable\"}}");
  } else {
    fputs(text, stdout);
    fputc('\n', stdout);
    xr_free(text);
  }
  fflush(stdout);
}

static void send_error(json_t *id, const char *kind, const char *message) {
  char *safe = cli_redact(message); /* no password in what the runner prints */
  json_t *resp = json_pack("{s:O,s:b,s:{s:s,s:o}}", "id", id ? id : json_null(), "ok", 0, "error", "kind", kind,
                           "message", cli_json_string(safe, strlen(safe)));
  free(safe);
  send_line(resp);
  json_decref(resp);
}

static void handle_line(driver *d, const char *line, size_t len, size_t lineno) {
  json_error_t jerr;
  json_t *req = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
  char why[700];
  if (!req) {
    snprintf(why, sizeof why, "request line %zu is not JSON: %s (column %d)", lineno, jerr.text, jerr.column);
    send_error(NULL, "BadRequest", why);
    return;
  }
  json_t *id = json_object_get(req, "id"), *op = json_object_get(req, "op"), *args = json_object_get(req, "args");
  if (!json_is_object(req)) {
    send_error(NULL, "BadRequest", "a request is a JSON object {\"id\", \"op\", \"args\"}");
  } else if (!json_is_string(op)) {
    send_error(id, "BadRequest", "the request has no \"op\" string");
  } else if (args && !json_is_object(args) && !json_is_null(args)) {
    send_error(id, "BadRequest", "\"args\" must be an object");
  } else {
    const char *name = json_string_value(op);
    bool whole = strlen(name) == json_string_length(op); /* no NUL inside */
    const driver_system *sys = d->sys;
    const xr_op_info *row = whole ? table_row(sys, name) : NULL;
    size_t k = whole ? 0 : sys->ncomposites;
    while (!row && k < sys->ncomposites && strcmp(sys->composites[k].name, name) != 0) k++;
    if (!row && k == sys->ncomposites) {
      char *shown = cli_text_escape(name, json_string_length(op));
      snprintf(why, sizeof why, "unknown op \"%.200s\"", shown);
      free(shown);
      send_error(id, "UnknownOp", why);
    } else {
      json_t *empty = json_object();
      request r = {d, json_is_object(args) ? args : empty, {0}};
      json_t *result = NULL;
      xr_error_clear();
      int rc = row ? table_op(&r, row, &result) : sys->composites[k].run(&r, &result);
      if (rc == BAD_REQUEST) {
        send_error(id, "BadRequest", r.why);
      } else if (rc != 0) {
        send_error(id, sys->error_kind(rc), xr_error_last()->message);
      } else {
        json_t *resp = json_pack("{s:O,s:b,s:o}", "id", id ? id : json_null(), "ok", 1, "result", result);
        send_line(resp);
        json_decref(resp);
      }
      json_decref(empty);
    }
  }
  json_decref(req);
}

static void send_ready(bool ready, const char *error) {
  char *safe = cli_redact(ready ? "" : error);
  json_t *msg = ready ? json_pack("{s:b,s:s,s:s,s:s}", "ready", 1, "impl", "c", "runtime", "C", "library",
                                  "crossredis@" CROSSREDIS_VERSION)
                      : json_pack("{s:b,s:o}", "ready", 0, "error", cli_json_string(safe, strlen(safe)));
  free(safe);
  send_line(msg);
  json_decref(msg);
}

/* The handles of d->sys over c, from the command line's options; 0 or the core's code. */
static int driver_open(driver *d, xr_client *c, const char *prefix, const char *data_prefix, long ttl_ms,
                       long data_ttl_ms, xr_go_version go) {
  if (strcmp(d->sys->name, "xp") == 0) { /* ttl_ms is --ttl's seconds here: -1 absent, 0 none */
    xr_xp_options o = XR_XP_OPTIONS_INIT;
    o.key_prefix = prefix;
    o.ttl_s = ttl_ms < 0 ? 0 : ttl_ms == 0 ? XR_XP_TTL_NONE : ttl_ms;
    return xr_xp_store_new(&d->xp, c, &o);
  }
  if (strcmp(d->sys->name, "ayepi") == 0) { /* --data-prefix is the cache's prefix here */
    xr_ayepi_options so = XR_AYEPI_OPTIONS_INIT, co = XR_AYEPI_CACHE_OPTIONS_INIT;
    so.key_prefix = prefix;
    if (data_prefix) co.key_prefix = data_prefix;
    int rc = xr_ayepi_store_new(&d->store_ayepi, c, &so);
    return rc ? rc : xr_ayepi_store_new(&d->cache, c, &co);
  }
  if (strcmp(d->sys->name, "chat") == 0) {
    xr_chat_options o = XR_CHAT_OPTIONS_INIT;
    o.key_prefix = prefix;
    o.layout = (xr_chat_layout)d->layout;
    return xr_chat_new(&d->chat, c, &o);
  }
  xr_session_options so = XR_SESSION_OPTIONS_INIT, dso = XR_SESSION_DATA_OPTIONS_INIT;
  so.key_prefix = prefix;
  so.ttl_ms = ttl_ms;
  so.go = go;
  if (data_prefix) dso.key_prefix = data_prefix;
  if (data_ttl_ms) dso.ttl_ms = data_ttl_ms;
  dso.go = go;
  int rc = xr_session_storage_new(&d->store, c, &so);
  return rc ? rc : xr_session_storage_new(&d->data, c, &dso);
}

static void driver_close(driver *d) {
  xr_chat_free(d->chat);
  xr_session_storage_free(d->store);
  xr_session_storage_free(d->data);
  xr_ayepi_broker_free(d->broker);
  xr_ayepi_store_free(d->store_ayepi);
  xr_ayepi_store_free(d->cache);
  xr_xp_store_free(d->xp);
  json_decref(d->received);
}

int cli_driver(int argc, char **argv) {
  const char *url_flag = NULL, *url = NULL, *prefix = NULL, *impl = "c", *system = "chat", *data_prefix = NULL;
  const char *ttl_text = NULL, *data_ttl_text = NULL, *go_text = NULL, *cache_prefix = NULL, *channel = NULL;
  const char *ttl_s_text = NULL, *layout = NULL;
  for (int i = 1; i < argc; i++) {
    int m;
    if (cli_is_help(argv[i])) {
      driver_usage(stdout);
      return CLI_OK;
    } else if ((m = cli_flag_value(argc, argv, &i, "--url", &url_flag, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--prefix", &prefix, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--impl", &impl, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--system", &system, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--data-prefix", &data_prefix, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--ttl-ms", &ttl_text, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--data-ttl-ms", &data_ttl_text, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--go", &go_text, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--cache-prefix", &cache_prefix, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--channel", &channel, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--ttl", &ttl_s_text, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--layout", &layout, "driver"))) {
      if (m < 0) return CLI_USAGE;
    } else {
      return cli_usage_error("driver", driver_usage, "unexpected argument '%s'", argv[i]);
    }
  }
  if (strcmp(impl, "c") != 0)
    return cli_usage_error("driver", driver_usage, "--impl %s: this program is the driver of impl c only", impl);
  driver d = {0};
  for (size_t k = 0; k < sizeof systems / sizeof systems[0]; k++)
    if (strcmp(systems[k].name, system) == 0) d.sys = &systems[k];
  if (!d.sys) return cli_usage_error("driver", driver_usage, "--system %s: chat, sessions, ayepi or xp", system);
  bool sessions = strcmp(d.sys->name, "sessions") == 0, ayepi = strcmp(d.sys->name, "ayepi") == 0;
  bool xp = strcmp(d.sys->name, "xp") == 0;
  if (!xp && ttl_s_text) return cli_usage_error("driver", driver_usage, "--ttl is for --system xp");
  if (layout && strcmp(d.sys->name, "chat") != 0)
    return cli_usage_error("driver", driver_usage, "--layout is for --system chat");
  if (layout && (d.layout = xr_chat_layout_parse(layout)) < 0)
    return cli_usage_error("driver", driver_usage, "--layout: %s", xr_error_last()->message);
  if (!sessions && (data_prefix || ttl_text || data_ttl_text || go_text))
    return cli_usage_error("driver", driver_usage, "--data-prefix, --ttl-ms, --data-ttl-ms and --go are for --system sessions");
  if (!ayepi && (cache_prefix || channel))
    return cli_usage_error("driver", driver_usage, "--cache-prefix and --channel are for --system ayepi");
  if (ayepi) data_prefix = cache_prefix;
  d.channel = channel;
  long ttl_ms = 0, data_ttl_ms = 0;
  if (ttl_text && !cli_parse_long(ttl_text, 1, XR_TTL_MAX_MS, &ttl_ms))
    return cli_usage_error("driver", driver_usage, "--ttl-ms %s: a positive number of milliseconds", ttl_text);
  if (data_ttl_text && !cli_parse_long(data_ttl_text, 1, XR_TTL_MAX_MS, &data_ttl_ms))
    return cli_usage_error("driver", driver_usage, "--data-ttl-ms %s: a positive number of milliseconds", data_ttl_text);
  if (xp) {
    ttl_ms = -1; /* driver_open: --ttl's seconds, -1 when absent */
    if (ttl_s_text && !cli_parse_long(ttl_s_text, 0, XR_TTL_MAX_MS / 1000, &ttl_ms))
      return cli_usage_error("driver", driver_usage, "--ttl %s: seconds (0: none)", ttl_s_text);
  }
  xr_go_version go = XR_GO_DEFAULT;
  if (go_text && strcmp(go_text, "1.26") == 0) go = XR_GO_1_26;
  else if (go_text && strcmp(go_text, "1.27") == 0) go = XR_GO_1_27;
  else if (go_text) return cli_usage_error("driver", driver_usage, "--go %s: 1.26 or 1.27", go_text);
  if (cli_server_url("driver", url_flag, driver_usage, &url) != CLI_OK) {
    char *why = cli_url_problem(url);
    send_ready(false, why ? why : "the server URL is not usable");
    free(why);
    return CLI_USAGE;
  }

  for (size_t k = 0; k < d.sys->ncomposites; k++) {
    if (table_row(d.sys, d.sys->composites[k].name)) { /* a row would be shadowed: a build that must not ship */
      fprintf(stderr, "crossredis: driver: %s is both a row of the %s table and a composite op\n",
              d.sys->composites[k].name, d.sys->name);
      send_ready(false, "the driver's composite op names a row of the system's table");
      return CLI_FAILED;
    }
  }
  xr_client *c = NULL;
  if ((c = cli_connect("driver", url)) == NULL ||
      driver_open(&d, c, prefix, data_prefix, ttl_ms, data_ttl_ms, go) != 0) {
    if (c) cli_fail("driver");
    send_ready(false, xr_error_last()->message);
    driver_close(&d);
    xr_client_close(c);
    return CLI_FAILED;
  }
  send_ready(true, NULL);
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    if (strspn(line, " \t") >= (size_t)len) continue; /* a blank line is no request */
    handle_line(&d, line, (size_t)len, lineno);
  }
  free(line);
  driver_close(&d);
  xr_client_close(c);
  return CLI_OK;
}
