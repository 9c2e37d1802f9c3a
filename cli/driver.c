/* crossredis driver: the C implementation of the interop driver contract (interop/CONTRACT.md).
 * JSON lines on stdin (requests) and stdout (responses); every operation goes through the core's
 * Chat SDK state adapter with its defaults (the TS node-redis adapter's wire: JS JSON text, TS
 * queue entries, "redis" tokens with base36 suffixes). The driver decides nothing: it reports what
 * the core did, its errors included (kind = the core's error class from errors.def). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "crossredis/error.h"
#include "crossredis/json.h"
#include "crossredis/timestamp.h"

/* An op's own failure that is the request's fault, not the library's: kind "BadRequest". */
enum { BAD_REQUEST = 1 };

typedef struct request {
  xr_chat *chat;
  json_t *args;
  char why[512]; /* the message of a BAD_REQUEST */
} request;

typedef int (*op_fn)(request *r, json_t **result);

static void driver_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis driver --impl c [--url URL] [--prefix PREFIX]\n"
          "\n"
          "The C driver of the interop suite (interop/CONTRACT.md), started by interop/run.py:\n"
          "connects, prints {\"ready\": true, ...}, then answers one JSON request per stdin line\n"
          "with one JSON response line on stdout until stdin closes. Operations go through the\n"
          "crossredis core's Chat SDK state adapter with its defaults: redis_<ms>_<base36> tokens,\n"
          "JS JSON text, TS queue entries. Errors come back as {\"kind\": the core's error class\n"
          "(DataError, ResponseError, ...), \"message\"}; a request that is not JSON or lacks an\n"
          "argument as kind BadRequest; an unknown op as kind UnknownOp.\n"
          "\n"
          "  --impl c       the implementation (this program has only c)\n"
          "  --url URL      the server (default $REDIS_URL, else redis://127.0.0.1:6379)\n"
          "  --prefix P     the Chat SDK key prefix (default chat-sdk)\n");
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
 * allocator: xr_free). */
static int arg_json(request *r, const char *name, char **text) {
  json_t *v = json_object_get(r->args, name);
  if (!v) return bad(r, "args.%s is required (any JSON value)", name);
  *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!*text) return bad(r, "args.%s cannot be written as JSON text", name);
  return 0;
}

/* ---- what the core returned, as JSON ------------------------------------------------------------- */

/* A stored value read back: parsed, or (as upstream get does when JSON.parse fails) the text. */
static json_t *value_or_text(const char *text, size_t len) {
  json_t *v = NULL;
  if (xr_json_parse(&v, text, len) == 0) return v;
  xr_error_clear();
  return cli_json_string(text, len);
}

/* ---- operations ----------------------------------------------------------------------------------- */

#define TRY(call)                 \
  do {                            \
    int rc_ = (call);             \
    if (rc_ != 0) return rc_;     \
  } while (0)

static int op_lock_acquire(request *r, json_t **result) {
  const char *thread;
  size_t tl;
  long long ttl;
  TRY(arg_string(r, "thread", &thread, &tl));
  TRY(arg_int(r, "ttl_ms", true, 0, &ttl));
  bool acquired = false;
  xr_chat_lock lock;
  TRY(xr_chat_acquire_lock(r->chat, &acquired, &lock, thread, tl, ttl));
  if (!acquired) {
    *result = json_null();
    return 0;
  }
  *result = json_pack("{s:s%,s:s%,s:I}", "thread", thread, tl, "token", lock.token, lock.token_len, "expires_at",
                      (json_int_t)lock.expires_at_ms);
  return 0;
}

static int op_lock_release(request *r, json_t **result) {
  const char *thread, *token;
  size_t tl, kl;
  TRY(arg_string(r, "thread", &thread, &tl));
  TRY(arg_string(r, "token", &token, &kl));
  TRY(xr_chat_release_lock(r->chat, NULL, thread, tl, token, kl));
  *result = json_null();
  return 0;
}

static int op_lock_extend(request *r, json_t **result) {
  const char *thread, *token;
  size_t tl, kl;
  long long ttl;
  TRY(arg_string(r, "thread", &thread, &tl));
  TRY(arg_string(r, "token", &token, &kl));
  TRY(arg_int(r, "ttl_ms", true, 0, &ttl));
  bool extended = false;
  TRY(xr_chat_extend_lock(r->chat, &extended, thread, tl, token, kl, ttl));
  *result = json_boolean(extended);
  return 0;
}

/* The operations that take a thread id and return nothing. */
static int thread_op(request *r, json_t **result, int (*fn)(xr_chat *, const char *, size_t)) {
  const char *thread;
  size_t tl;
  TRY(arg_string(r, "thread", &thread, &tl));
  TRY(fn(r->chat, thread, tl));
  *result = json_null();
  return 0;
}

static int op_lock_force_release(request *r, json_t **result) { return thread_op(r, result, xr_chat_force_release_lock); }

static int op_cache_set(request *r, json_t **result) {
  const char *key;
  size_t kl;
  long long ttl;
  char *value = NULL;
  TRY(arg_string(r, "key", &key, &kl));
  TRY(arg_int(r, "ttl_ms", false, 0, &ttl));
  TRY(arg_json(r, "value", &value));
  int rc = xr_chat_set(r->chat, key, kl, value, strlen(value), ttl);
  xr_free(value);
  if (rc == 0) *result = json_null();
  return rc;
}

static int op_cache_get(request *r, json_t **result) {
  const char *key;
  size_t kl;
  TRY(arg_string(r, "key", &key, &kl));
  char *value = NULL;
  size_t len = 0;
  TRY(xr_chat_get(r->chat, &value, &len, key, kl));
  *result = value ? value_or_text(value, len) : json_null();
  xr_free(value);
  return 0;
}

static int op_cache_set_if_not_exists(request *r, json_t **result) {
  const char *key;
  size_t kl;
  long long ttl;
  char *value = NULL;
  TRY(arg_string(r, "key", &key, &kl));
  TRY(arg_int(r, "ttl_ms", false, 0, &ttl));
  TRY(arg_json(r, "value", &value));
  bool stored = false;
  int rc = xr_chat_set_if_not_exists(r->chat, &stored, key, kl, value, strlen(value), ttl);
  xr_free(value);
  if (rc == 0) *result = json_boolean(stored);
  return rc;
}

static int op_cache_delete(request *r, json_t **result) {
  const char *key;
  size_t kl;
  TRY(arg_string(r, "key", &key, &kl));
  TRY(xr_chat_delete(r->chat, key, kl));
  *result = json_null();
  return 0;
}

static int op_list_append(request *r, json_t **result) {
  const char *key;
  size_t kl;
  long long max_length, ttl;
  char *value = NULL;
  TRY(arg_string(r, "key", &key, &kl));
  TRY(arg_int(r, "max_length", false, 0, &max_length));
  TRY(arg_int(r, "ttl_ms", false, 0, &ttl));
  if (max_length < 0 || max_length > 0x7fffffffL) return bad(r, "args.max_length must be 0 or more, not %lld", max_length);
  TRY(arg_json(r, "value", &value));
  int rc = xr_chat_append_to_list(r->chat, key, kl, value, strlen(value), (long)max_length, ttl);
  xr_free(value);
  if (rc == 0) *result = json_null();
  return rc;
}

/* Each element JSON-parsed, as the TS adapters' getList does; an element that is not JSON fails
 * the whole read (JSON.parse throws there). */
static int op_list_get(request *r, json_t **result) {
  const char *key;
  size_t kl;
  TRY(arg_string(r, "key", &key, &kl));
  xr_reply *items = NULL;
  TRY(xr_chat_get_list(r->chat, &items, key, kl));
  json_t *out = json_array();
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < xr_reply_count(items); i++) {
    size_t len = 0;
    const char *text = xr_reply_str(xr_reply_at(items, i), &len);
    json_t *v = NULL;
    if (!text) {
      rc = xr_error_set(XR_EPROTOCOL, "%s:list:%.*s: element %zu is not a string", xr_chat_key_prefix(r->chat), (int)kl,
                        key, i);
    } else if ((rc = xr_json_parse(&v, text, len)) != 0) {
      rc = xr_error_set(rc, "%s:list:%.*s: element %zu is not JSON: %s", xr_chat_key_prefix(r->chat), (int)kl, key, i,
                        xr_error_last()->message);
    } else {
      json_array_append_new(out, v);
    }
  }
  xr_reply_free(items);
  if (rc) {
    json_decref(out);
    return rc;
  }
  *result = out;
  return 0;
}

static int op_sub_subscribe(request *r, json_t **result) { return thread_op(r, result, xr_chat_subscribe); }

static int op_sub_unsubscribe(request *r, json_t **result) { return thread_op(r, result, xr_chat_unsubscribe); }

static int op_sub_is_subscribed(request *r, json_t **result) {
  const char *thread;
  size_t tl;
  TRY(arg_string(r, "thread", &thread, &tl));
  bool subscribed = false;
  TRY(xr_chat_is_subscribed(r->chat, &subscribed, thread, tl));
  *result = json_boolean(subscribed);
  return 0;
}

static int op_queue_enqueue(request *r, json_t **result) {
  const char *thread;
  size_t tl;
  long long enqueued_at, expires_at, max_size, depth = 0;
  char *message = NULL;
  TRY(arg_string(r, "thread", &thread, &tl));
  TRY(arg_int(r, "enqueued_at", true, 0, &enqueued_at));
  TRY(arg_int(r, "expires_at", true, 0, &expires_at));
  TRY(arg_int(r, "max_size", false, 0, &max_size));
  if (max_size < 0 || max_size > 0x7fffffffL) return bad(r, "args.max_size must be 0 or more, not %lld", max_size);
  TRY(arg_json(r, "message", &message));
  int rc = xr_chat_enqueue(r->chat, &depth, thread, tl, message, strlen(message), enqueued_at, expires_at, (long)max_size);
  xr_free(message);
  if (rc == 0) *result = json_integer(depth);
  return rc;
}

/* The TS core's expiry rule for a dequeued entry (chat 4.41): it hands the message to a handler
 * when now <= expiresAt and drops it as expired when now > expiresAt. */
static bool queue_entry_expired(int64_t now_ms, int64_t expires_at_ms) { return now_ms > expires_at_ms; }

/* The reader the TS core runs on a thread's queue: dequeue until empty, drop the expired entries,
 * deliver the others in order. A dequeue that fails (an entry of no dialect) fails the read, as
 * the TS core's JSON.parse throws there; the entries popped before it are gone, as there. */
static int op_queue_read(request *r, json_t **result) {
  const char *thread;
  size_t tl;
  long long now;
  TRY(arg_string(r, "thread", &thread, &tl));
  TRY(arg_int(r, "now", false, xr_time_now_ms(), &now));
  json_t *delivered = json_array();
  long long expired = 0;
  int rc = 0;
  for (;;) {
    bool found = false;
    xr_chat_queue_entry e = {0};
    rc = xr_chat_dequeue(r->chat, &found, &e, thread, tl);
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

static int op_queue_depth(request *r, json_t **result) {
  const char *thread;
  size_t tl;
  TRY(arg_string(r, "thread", &thread, &tl));
  long long depth = 0;
  TRY(xr_chat_queue_depth(r->chat, &depth, thread, tl));
  *result = json_integer(depth);
  return 0;
}

static const struct {
  const char *name;
  op_fn run;
} ops[] = {
    {"lock.acquire", op_lock_acquire},
    {"lock.release", op_lock_release},
    {"lock.extend", op_lock_extend},
    {"lock.force_release", op_lock_force_release},
    {"cache.set", op_cache_set},
    {"cache.get", op_cache_get},
    {"cache.set_if_not_exists", op_cache_set_if_not_exists},
    {"cache.delete", op_cache_delete},
    {"list.append", op_list_append},
    {"list.get", op_list_get},
    {"sub.subscribe", op_sub_subscribe},
    {"sub.unsubscribe", op_sub_unsubscribe},
    {"sub.is_subscribed", op_sub_is_subscribed},
    {"queue.enqueue", op_queue_enqueue},
    {"queue.read", op_queue_read},
    {"queue.depth", op_queue_depth},
};

/* ---- the protocol ------------------------------------------------------------------------------------ */

/* The core's exception class for a code, from errors.def ("DataError"). */
static const char *error_class(int code) {
  const xr_error_info *e;
  for (size_t i = 0; (e = xr_error_info_at(i)) != NULL; i++)
    if (e->code == code) return e->class_name;
  return "Error";
}

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

static void handle_line(xr_chat *chat, const char *line, size_t len, size_t lineno) {
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
    size_t k = 0, n = sizeof ops / sizeof ops[0];
    while (k < n && strcmp(ops[k].name, json_string_value(op)) != 0) k++;
    if (k == n) {
      char *shown = cli_text_escape(json_string_value(op), json_string_length(op));
      snprintf(why, sizeof why, "unknown op \"%.200s\"", shown);
      free(shown);
      send_error(id, "UnknownOp", why);
    } else {
      json_t *empty = json_object();
      request r = {chat, json_is_object(args) ? args : empty, {0}};
      json_t *result = NULL;
      xr_error_clear();
      int rc = ops[k].run(&r, &result);
      if (rc == BAD_REQUEST) {
        send_error(id, "BadRequest", r.why);
      } else if (rc != 0) {
        send_error(id, error_class(rc), xr_error_last()->message);
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

int cli_driver(int argc, char **argv) {
  const char *url_flag = NULL, *url = NULL, *prefix = NULL, *impl = "c";
  for (int i = 1; i < argc; i++) {
    int m;
    if (cli_is_help(argv[i])) {
      driver_usage(stdout);
      return CLI_OK;
    } else if ((m = cli_flag_value(argc, argv, &i, "--url", &url_flag, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--prefix", &prefix, "driver")) ||
               (m = cli_flag_value(argc, argv, &i, "--impl", &impl, "driver"))) {
      if (m < 0) return CLI_USAGE;
    } else {
      return cli_usage_error("driver", driver_usage, "unexpected argument '%s'", argv[i]);
    }
  }
  if (strcmp(impl, "c") != 0)
    return cli_usage_error("driver", driver_usage, "--impl %s: this program is the driver of impl c only", impl);
  if (cli_server_url("driver", url_flag, driver_usage, &url) != CLI_OK) {
    char *why = cli_url_problem(url);
    send_ready(false, why ? why : "the server URL is not usable");
    free(why);
    return CLI_USAGE;
  }

  xr_client *c = NULL;
  xr_chat *chat = NULL;
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = prefix;
  if ((c = cli_connect("driver", url)) == NULL || xr_chat_new(&chat, c, &o) != 0) {
    if (c) cli_fail("driver");
    send_ready(false, xr_error_last()->message);
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
    handle_line(chat, line, (size_t)len, lineno);
  }
  free(line);
  xr_chat_free(chat);
  xr_client_close(c);
  return CLI_OK;
}
