/* Chat SDK state (SPEC.md 1). Every operation is a build (the command or script run, its argv)
 * and a decode (the reply's meaning); the sequential calls and the batches share both. */
#include <string.h>
#include <time.h>

#include "chat/chat_internal.h"
#include "net/client_internal.h"
#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "crossredis/timestamp.h"
#include "base/decimal.h"
#include "base/internal.h"

/* Scripts: the same effects as the upstream adapters' scripts (SPEC.md 1.2); the text differs
 * only in white space, which upstream also varies. */
static const char release_lua[] =
    "if redis.call(\"get\", KEYS[1]) == ARGV[1] then return redis.call(\"del\", KEYS[1]) else return 0 end";
static const char extend_lua[] =
    "if redis.call(\"get\", KEYS[1]) == ARGV[1] then return redis.call(\"pexpire\", KEYS[1], ARGV[2]) else "
    "return 0 end";
static const char append_lua[] =
    "redis.call(\"rpush\", KEYS[1], ARGV[1])\n"
    "if tonumber(ARGV[2]) > 0 then redis.call(\"ltrim\", KEYS[1], -tonumber(ARGV[2]), -1) end\n"
    "if tonumber(ARGV[3]) > 0 then redis.call(\"pexpire\", KEYS[1], tonumber(ARGV[3])) end\n"
    "return 1";
static const char enqueue_lua[] =
    "redis.call(\"rpush\", KEYS[1], ARGV[1])\n"
    "if tonumber(ARGV[2]) > 0 then redis.call(\"ltrim\", KEYS[1], -tonumber(ARGV[2]), -1) end\n"
    "redis.call(\"pexpire\", KEYS[1], ARGV[3])\n"
    "return redis.call(\"llen\", KEYS[1])";
/* Beyond upstream: release only when the thread's queue is empty (vercel/chat #928). */
static const char release_if_empty_lua[] =
    "if redis.call(\"get\", KEYS[1]) ~= ARGV[1] then return -1 end\n"
    "local n = redis.call(\"llen\", KEYS[2])\n"
    "if n == 0 then redis.call(\"del\", KEYS[1]) end\n"
    "return n";

/* Beyond upstream: a dequeue that keeps the entry in a processing list until it is acknowledged,
 * so an entry whose reply was lost (or whose consumer died) can be recovered. The processing list
 * lives at least as long as the queue would have. */
static const char dequeue_reliable_lua[] =
    "local t = redis.call(\"pttl\", KEYS[1])\n"
    "local v = redis.call(\"lpop\", KEYS[1])\n"
    "if v then\n"
    "  redis.call(\"rpush\", KEYS[2], v)\n"
    "  if t < 60000 then t = 60000 end\n"
    "  if redis.call(\"pttl\", KEYS[2]) < t then redis.call(\"pexpire\", KEYS[2], t) end\n"
    "end\n"
    "return v";
static const char requeue_lua[] =
    "local n = 0\n"
    "while redis.call(\"rpoplpush\", KEYS[2], KEYS[1]) do n = n + 1 end\n"
    "if n > 0 and redis.call(\"pttl\", KEYS[1]) < 60000 then redis.call(\"pexpire\", KEYS[1], 60000) end\n"
    "return n";

/* ---- the adapter ------------------------------------------------------------------------------ */

static int check_token_prefix(const char *p) {
  size_t n = strlen(p);
  if (n == 0 || n > XR_TOKEN_PREFIX_MAX)
    return xr_fail(XR_EINVAL, "chat: token_prefix must have 1 to %d characters", XR_TOKEN_PREFIX_MAX);
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
      return xr_fail(XR_EINVAL, "chat: token_prefix '%s' has '%c': only letters, digits and '-' are allowed", p, c);
  }
  return XR_OK;
}

static int check_key_prefix(const char *p) {
  const char *glob = strpbrk(p, "*?[]\\");
  if (glob)
    return xr_fail(XR_EINVAL,
                   "chat: key_prefix '%s' holds the glob character '%c': SCAN MATCH could not select its keys "
                   "exactly",
                   p, *glob);
  return XR_OK;
}

/* The options with their defaults applied, once checked. */
typedef struct resolved {
  const char *prefix, *token_prefix;
  xr_token_suffix suffix;
  xr_json_dialect json;
  xr_chat_queue_dialect queue;
} resolved;

static int resolve(resolved *r, const xr_chat_options *o) {
  if (!o) return xr_fail(XR_EINVAL, "xr_chat_new: options are required");
  if (o->version != XR_CHAT_OPTIONS_VERSION)
    return xr_fail(XR_EINVAL, "xr_chat_new: options version %u, expected %u (use XR_CHAT_OPTIONS_INIT)", o->version,
                   XR_CHAT_OPTIONS_VERSION);
  r->prefix = o->key_prefix ? o->key_prefix : "chat-sdk";
  if (r->prefix[0] == '\0' && o->empty_prefix == XR_CHAT_EMPTY_PREFIX_DEFAULT) r->prefix = "chat-sdk";
  if (o->empty_prefix != XR_CHAT_EMPTY_PREFIX_DEFAULT && o->empty_prefix != XR_CHAT_EMPTY_PREFIX_KEEP)
    return xr_fail(XR_EINVAL, "xr_chat_new: empty_prefix %d is not a known rule", (int)o->empty_prefix);
  r->token_prefix = o->token_prefix ? o->token_prefix : "redis";
  int rc;
  if ((rc = check_key_prefix(r->prefix)) || (rc = check_token_prefix(r->token_prefix))) return rc;
  r->suffix = o->token_suffix ? o->token_suffix : XR_TOKEN_BASE36;
  if (r->suffix != XR_TOKEN_BASE36 && r->suffix != XR_TOKEN_HEX32)
    return xr_fail(XR_EINVAL, "xr_chat_new: token_suffix %d is not XR_TOKEN_BASE36 or XR_TOKEN_HEX32", (int)r->suffix);
  r->json = o->json ? o->json : XR_JSON_JS;
  if (r->json != XR_JSON_JS && r->json != XR_JSON_PYTHON)
    return xr_fail(XR_EINVAL, "xr_chat_new: json dialect %d: the Chat SDK runtimes are XR_JSON_JS and XR_JSON_PYTHON",
                   (int)r->json);
  r->queue = o->queue ? o->queue : XR_CHAT_QUEUE_TS;
  if (r->queue < XR_CHAT_QUEUE_TS || r->queue > XR_CHAT_QUEUE_BOTH)
    return xr_fail(XR_EINVAL, "xr_chat_new: queue dialect %d is not TS, PYTHON or BOTH", (int)r->queue);
  return XR_OK;
}

int xr_chat_options_check(const xr_chat_options *o) {
  resolved r = {0};
  return resolve(&r, o);
}

int xr_chat_new(xr_chat **out, xr_client *client, const xr_chat_options *o) {
  if (!out || !client || !o) return xr_fail(XR_EINVAL, "xr_chat_new: out, client and options are required");
  *out = NULL;
  resolved r = {0};
  int rc = resolve(&r, o);
  if (rc) return rc;
  const char *prefix = r.prefix, *token_prefix = r.token_prefix;
  xr_token_suffix suffix = r.suffix;
  xr_json_dialect json = r.json;
  xr_chat_queue_dialect queue = r.queue;

  xr_chat *s = xr_calloc(1, sizeof *s);
  if (!s) return xr_fail_nomem();
  s->client = client;
  s->prefix_len = strlen(prefix);
  s->token_prefix_len = strlen(token_prefix);
  memcpy(s->token_prefix, token_prefix, s->token_prefix_len + 1);
  s->suffix = suffix;
  s->json = json;
  s->queue = queue;
  if (!(s->prefix = xr_strndup(prefix, s->prefix_len))) {
    xr_chat_free(s);
    return xr_fail_nomem();
  }
  struct {
    xr_script **slot;
    const char *text;
    size_t len;
  } scripts[] = {{&s->release, release_lua, sizeof release_lua - 1},
                 {&s->extend, extend_lua, sizeof extend_lua - 1},
                 {&s->append, append_lua, sizeof append_lua - 1},
                 {&s->enqueue, enqueue_lua, sizeof enqueue_lua - 1},
                 {&s->release_if_empty, release_if_empty_lua, sizeof release_if_empty_lua - 1},
                 {&s->dequeue_reliable, dequeue_reliable_lua, sizeof dequeue_reliable_lua - 1},
                 {&s->requeue, requeue_lua, sizeof requeue_lua - 1}};
  for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
    if ((rc = xr_script_new(scripts[i].slot, scripts[i].text, scripts[i].len)) != XR_OK) {
      xr_chat_free(s);
      return rc;
    }
  }
  *out = s;
  return XR_OK;
}

void xr_chat_free(xr_chat *s) {
  if (!s) return;
  xr_script_free(s->release);
  xr_script_free(s->extend);
  xr_script_free(s->append);
  xr_script_free(s->enqueue);
  xr_script_free(s->release_if_empty);
  xr_script_free(s->dequeue_reliable);
  xr_script_free(s->requeue);
  xr_free(s->prefix);
  xr_free(s);
}

xr_client *xr_chat_client(const xr_chat *s) { return s->client; }
const char *xr_chat_key_prefix(const xr_chat *s) { return s->prefix; }

/* ---- commands: build --------------------------------------------------------------------------- */

void chat_cmd_free(chat_cmd *c) {
  if (c->key.heap) xr_free(c->key.heap);
  if (c->key2.heap) xr_free(c->key2.heap);
  xr_free(c->owned);
  memset(c, 0, sizeof *c);
}

/* <prefix>:<kind>:<id>, or <prefix>:<kind> when id is NULL. */
static int make_key(chat_key *k, const xr_chat *s, const char *kind, const char *id, size_t id_len) {
  size_t kind_len = strlen(kind);
  size_t n = s->prefix_len + 1 + kind_len + (id ? 1 + id_len : 0);
  char *p = k->small;
  if (n >= sizeof k->small) {
    if (!(k->heap = xr_malloc(n + 1))) return xr_fail_nomem();
    p = k->heap;
  }
  char *w = p;
  memcpy(w, s->prefix, s->prefix_len), w += s->prefix_len;
  *w++ = ':';
  memcpy(w, kind, kind_len), w += kind_len;
  if (id) {
    *w++ = ':';
    memcpy(w, id, id_len), w += id_len;
  }
  *w = '\0';
  k->data = p;
  k->len = n;
  return XR_OK;
}

/* TTLs and counts come from callers in every runtime: each is checked here, once, so that C, Python
 * and Node refuse the same values with the same words, and no arithmetic on them can overflow. */
static int check_ttl(const char *op, int64_t ttl_ms, int zero_ok) {
  if (ttl_ms < 0 || (ttl_ms == 0 && !zero_ok))
    return zero_ok ? xr_fail(XR_EINVAL, "%s: ttl_ms must be >= 0 (0: no expiry), got %lld", op, (long long)ttl_ms)
                   : xr_fail(XR_EINVAL, "%s: ttl_ms must be > 0, got %lld", op, (long long)ttl_ms);
  if (ttl_ms > XR_TTL_MAX_MS)
    return xr_fail(XR_EINVAL, "%s: ttl_ms must be at most %lld (2^53-1), got %lld", op, (long long)XR_TTL_MAX_MS,
                   (long long)ttl_ms);
  return XR_OK;
}

static int check_count(const char *op, const char *name, long v) {
  if (v < 0) return xr_fail(XR_EINVAL, "%s: %s must be >= 0 (0: no limit), got %ld", op, name, v);
  return XR_OK;
}

int chat_check_ttl(const char *op, int64_t ttl_ms, int zero_ok) { return check_ttl(op, ttl_ms, zero_ok); }

int chat_check_ms(const char *op, const char *name, int64_t v, const char *what) {
  if (v >= 0 && v <= XR_TTL_MAX_MS) return XR_OK;
  return xr_fail(XR_EINVAL, "%s: %s must be between 0 and %lld (%s), got %lld", op, name, (long long)XR_TTL_MAX_MS, what,
                 (long long)v);
}

/* Redis refuses a bulk string past 512 MiB (proto-max-bulk-len); the bound also keeps the key
 * length sums from overflowing whatever length a caller claims. */
#define CHAT_ID_MAX ((size_t)512 * 1024 * 1024 - 1024)

static int need_id(const char *id, size_t len, const char *what) {
  if (!id || len == 0) return xr_fail(XR_EINVAL, "chat: the %s is empty", what);
  if (len > CHAT_ID_MAX) return xr_fail(XR_EINVAL, "chat: the %s has %zu bytes, more than a Redis key may", what, len);
  return XR_OK;
}

static void arg(chat_cmd *c, const char *p, size_t n) {
  c->argv[c->argc] = p;
  c->lens[c->argc] = n;
  c->argc++;
}

static void arg_str(chat_cmd *c, const char *p) { arg(c, p, strlen(p)); }

/* Decimal text of v in the command's number slot i. */
static void arg_num(chat_cmd *c, int i, long long v) {
  size_t n = xr_dec_i64(c->num[i], v);
  c->num[i][n] = '\0';
  arg(c, c->num[i], n);
}

/* A command on one key made of <kind>:<id>: argv = [name, key]. */
static int build_keyed(chat_cmd *c, const xr_chat *s, const char *name, const char *kind, const char *id,
                       size_t len, const char *what) {
  int rc;
  if ((rc = need_id(id, len, what)) || (rc = make_key(&c->key, s, kind, id, len))) return rc;
  arg_str(c, name);
  arg(c, c->key.data, c->key.len);
  return XR_OK;
}

int chat_build_subscription(chat_cmd *c, const xr_chat *s, const char *name, const char *tid, size_t len) {
  int rc;
  if ((rc = need_id(tid, len, "thread id")) || (rc = make_key(&c->key, s, "subscriptions", NULL, 0))) return rc;
  arg_str(c, name);
  arg(c, c->key.data, c->key.len);
  arg(c, tid, len);
  return XR_OK;
}

int chat_build_acquire(chat_cmd *c, const xr_chat *s, xr_chat_lock *lock, const char *tid, size_t len,
                       int64_t ttl_ms) {
  int rc;
  if ((rc = check_ttl("chat.acquire_lock", ttl_ms, 0)) || (rc = build_keyed(c, s, "SET", "lock", tid, len, "thread id")))
    return rc;
  int64_t now = xr_time_now_ms();
  int n = xr_token_make(lock->token, sizeof lock->token, s->token_prefix, s->token_prefix_len, now, s->suffix);
  if (n < 0) return n;
  lock->token_len = (size_t)n;
  lock->expires_at_ms = now + ttl_ms;
  arg(c, lock->token, lock->token_len);
  arg_str(c, "PX");
  arg_num(c, 0, ttl_ms);
  arg_str(c, "NX");
  return XR_OK;
}

static int need_token(const char *token, size_t len) {
  if (!token || len == 0) return xr_fail(XR_EINVAL, "chat: the lock token is empty");
  return XR_OK;
}

int chat_build_release(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *token,
                       size_t token_len) {
  int rc;
  if ((rc = need_id(tid, len, "thread id")) || (rc = need_token(token, token_len)) ||
      (rc = make_key(&c->key, s, "lock", tid, len)))
    return rc;
  c->script = s->release;
  c->numkeys = 1;
  arg(c, c->key.data, c->key.len);
  arg(c, token, token_len);
  return XR_OK;
}

int chat_build_extend(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *token,
                      size_t token_len, int64_t ttl_ms) {
  int rc;
  if ((rc = check_ttl("chat.extend_lock", ttl_ms, 0)) || (rc = chat_build_release(c, s, tid, len, token, token_len)))
    return rc;
  c->script = s->extend;
  arg_num(c, 0, ttl_ms);
  return XR_OK;
}

int chat_build_release_if_empty(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *token,
                                size_t token_len) {
  int rc;
  if ((rc = need_id(tid, len, "thread id")) || (rc = need_token(token, token_len)) ||
      (rc = make_key(&c->key, s, "lock", tid, len)) || (rc = make_key(&c->key2, s, "queue", tid, len)))
    return rc;
  c->script = s->release_if_empty;
  c->numkeys = 2;
  arg(c, c->key.data, c->key.len);
  arg(c, c->key2.data, c->key2.len);
  arg(c, token, token_len);
  return XR_OK;
}

int chat_build_force_release(chat_cmd *c, const xr_chat *s, const char *tid, size_t len) {
  return build_keyed(c, s, "DEL", "lock", tid, len, "thread id");
}

int chat_build_get(chat_cmd *c, const xr_chat *s, const char *key, size_t key_len) {
  return build_keyed(c, s, "GET", "cache", key, key_len, "key");
}

int chat_build_delete(chat_cmd *c, const xr_chat *s, const char *key, size_t key_len) {
  return build_keyed(c, s, "DEL", "cache", key, key_len, "key");
}

/* The value as the adapter's dialect writes it, owned by the command. */
static int value_text(chat_cmd *c, const xr_chat *s, const char *json, size_t json_len, const char **out,
                      size_t *out_len) {
  if (!json) return xr_fail(XR_EINVAL, "chat: the value is NULL");
  int rc = xr_json_transcode(&c->owned, out_len, json, json_len, s->json, 0);
  if (rc) return xr_fail(rc, "chat: the value is not JSON: %s", xr_error_last()->message);
  *out = c->owned;
  return XR_OK;
}

int chat_build_set(chat_cmd *c, const xr_chat *s, const char *key, size_t key_len, const char *json,
                   size_t json_len, int64_t ttl_ms, int nx) {
  const char *v = NULL;
  size_t vlen = 0;
  int rc;
  if ((rc = check_ttl(nx ? "chat.set_if_not_exists" : "chat.set", ttl_ms, 1)) ||
      (rc = build_keyed(c, s, "SET", "cache", key, key_len, "key")) || (rc = value_text(c, s, json, json_len, &v, &vlen)))
    return rc;
  arg(c, v, vlen);
  if (ttl_ms > 0) {
    arg_str(c, "PX");
    arg_num(c, 0, ttl_ms);
  }
  if (nx) arg_str(c, "NX");
  return XR_OK;
}

int chat_build_append(chat_cmd *c, const xr_chat *s, const char *key, size_t key_len, const char *json,
                      size_t json_len, long max_length, int64_t ttl_ms) {
  const char *v = NULL;
  size_t vlen = 0;
  int rc;
  if ((rc = check_ttl("chat.append_to_list", ttl_ms, 1)) || (rc = check_count("chat.append_to_list", "max_length", max_length)) ||
      (rc = need_id(key, key_len, "key")) || (rc = make_key(&c->key, s, "list", key, key_len)) ||
      (rc = value_text(c, s, json, json_len, &v, &vlen)))
    return rc;
  c->script = s->append;
  c->numkeys = 1;
  arg(c, c->key.data, c->key.len);
  arg(c, v, vlen);
  arg_num(c, 0, max_length);
  arg_num(c, 1, ttl_ms);
  return XR_OK;
}

int chat_build_get_list(chat_cmd *c, const xr_chat *s, const char *key, size_t key_len) {
  int rc = build_keyed(c, s, "LRANGE", "list", key, key_len, "key");
  if (rc) return rc;
  arg_str(c, "0");
  arg_str(c, "-1");
  return XR_OK;
}

int chat_build_enqueue(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *message_json,
                       size_t message_len, int64_t enqueued_at_ms, int64_t expires_at_ms, long max_size) {
  int rc;
  if ((rc = check_count("chat.enqueue", "max_size", max_size)) || (rc = need_id(tid, len, "thread id")) ||
      (rc = make_key(&c->key, s, "queue", tid, len)))
    return rc;
  size_t elen;
  if ((rc = xr_chat_encode_queue_entry(&c->owned, &elen, message_json, message_len, enqueued_at_ms, expires_at_ms,
                                       s->queue, s->json)))
    return rc;
  /* The queue key lives at least a minute past the newest entry's expiry (SPEC.md 1.2). */
  int64_t ttl = expires_at_ms - xr_time_now_ms();
  if (ttl < 60000) ttl = 60000;
  c->script = s->enqueue;
  c->numkeys = 1;
  arg(c, c->key.data, c->key.len);
  arg(c, c->owned, elen);
  arg_num(c, 0, max_size);
  arg_num(c, 1, ttl);
  return XR_OK;
}

int chat_build_dequeue(chat_cmd *c, const xr_chat *s, const char *tid, size_t len) {
  return build_keyed(c, s, "LPOP", "queue", tid, len, "thread id");
}

/* The queue and its processing list: KEYS[1], KEYS[2] of the reliable dequeue's scripts. */
static int build_queue_pair(chat_cmd *c, const xr_chat *s, const xr_script *script, const char *tid, size_t len) {
  int rc;
  if ((rc = need_id(tid, len, "thread id")) || (rc = make_key(&c->key, s, "queue", tid, len)) ||
      (rc = make_key(&c->key2, s, "queue-processing", tid, len)))
    return rc;
  c->script = script;
  c->numkeys = 2;
  arg(c, c->key.data, c->key.len);
  arg(c, c->key2.data, c->key2.len);
  return XR_OK;
}

int chat_build_dequeue_reliable(chat_cmd *c, const xr_chat *s, const char *tid, size_t len) {
  return build_queue_pair(c, s, s->dequeue_reliable, tid, len);
}

int chat_build_requeue(chat_cmd *c, const xr_chat *s, const char *tid, size_t len) {
  return build_queue_pair(c, s, s->requeue, tid, len);
}

int chat_build_ack(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *raw, size_t raw_len) {
  int rc;
  if (!raw || raw_len == 0) return xr_fail(XR_EINVAL, "chat.ack: the entry's raw bytes are empty");
  if ((rc = build_keyed(c, s, "LREM", "queue-processing", tid, len, "thread id"))) return rc;
  arg_str(c, "1");
  arg(c, raw, raw_len);
  return XR_OK;
}

int chat_build_queue_depth(chat_cmd *c, const xr_chat *s, const char *tid, size_t len) {
  return build_keyed(c, s, "LLEN", "queue", tid, len, "thread id");
}

/* ---- replies: decode --------------------------------------------------------------------------- */

static int unexpected(const chat_cmd *c, const xr_reply *r) {
  return xr_fail(XR_EPROTOCOL, "%.*s: unexpected reply (type %d) to %s", (int)c->key.len, c->key.data,
                 (int)xr_reply_kind(r), c->script ? "a script" : c->argv[0]);
}

int chat_decode_status(const chat_cmd *c, const xr_reply *r) {
  XR_UNUSED(c);
  XR_UNUSED(r);
  return XR_OK;
}

/* An integer reply read as a yes/no: 1 is yes (SISMEMBER, DEL and PEXPIRE in the scripts). */
int chat_decode_int1(const chat_cmd *c, const xr_reply *r, bool *out) {
  if (xr_reply_kind(r) != XR_REPLY_INTEGER) return unexpected(c, r);
  if (out) *out = xr_reply_integer(r) == 1;
  return XR_OK;
}

/* SET … NX: OK when written, nil when not. */
int chat_decode_set_nx(const chat_cmd *c, const xr_reply *r, bool *out) {
  xr_reply_type t = xr_reply_kind(r);
  if (t != XR_REPLY_STATUS && t != XR_REPLY_NIL) return unexpected(c, r);
  if (out) *out = t == XR_REPLY_STATUS;
  return XR_OK;
}

int chat_decode_integer(const chat_cmd *c, const xr_reply *r, long long *out) {
  if (xr_reply_kind(r) != XR_REPLY_INTEGER) return unexpected(c, r);
  if (out) *out = xr_reply_integer(r);
  return XR_OK;
}

int chat_decode_value(const chat_cmd *c, const xr_reply *r, char **value, size_t *value_len) {
  *value = NULL;
  if (value_len) *value_len = 0;
  if (xr_reply_kind(r) == XR_REPLY_NIL) return XR_OK;
  if (xr_reply_kind(r) != XR_REPLY_STRING) return unexpected(c, r);
  size_t n;
  const char *p = xr_reply_str(r, &n);
  if (!(*value = xr_strndup(p, n))) return xr_fail_nomem();
  if (value_len) *value_len = n;
  return XR_OK;
}

int chat_decode_entry(const chat_cmd *c, const xr_chat *s, const xr_reply *r, bool *found, xr_chat_queue_entry *e) {
  memset(e, 0, sizeof *e);
  if (found) *found = false;
  if (xr_reply_kind(r) == XR_REPLY_NIL) return XR_OK;
  if (xr_reply_kind(r) != XR_REPLY_STRING) return unexpected(c, r);
  if (found) *found = true;
  size_t n;
  const char *p = xr_reply_str(r, &n);
  int rc = xr_chat_decode_queue_entry(e, p, n, s->json);
  if (rc == XR_EPARSE) {
    char why[512];
    snprintf(why, sizeof why, "%s", xr_error_last()->message);
    return xr_fail(rc, "%.*s: a dequeued entry is not a queue entry (%s); its bytes are in the entry's raw field",
                   (int)c->key.len, c->key.data, why);
  }
  return rc;
}

/* ---- running one command ----------------------------------------------------------------------- */

/* Puts the key in front of the failure's message: "chat-sdk:cache:x: WRONGTYPE …". */
int chat_name_key(const chat_cmd *c, int rc) {
  char msg[768];
  snprintf(msg, sizeof msg, "%s", xr_error_last()->message);
  /* A plain dequeue (LPOP) whose reply never came may have popped the entry: say so, and how to
   * avoid it. */
  int popped = (rc == XR_EIO || rc == XR_ETIMEOUT) && !c->script && c->argv[0] && !strcmp(c->argv[0], "LPOP");
  return xr_fail(rc, "%.*s: %s%s", (int)(c->key.len > 200 ? 200 : c->key.len), c->key.data, msg,
                 popped ? "; the dequeue may have popped an entry, which is then lost (dequeue_reliable keeps "
                          "entries in <prefix>:queue-processing:<id> until acknowledged)"
                        : "");
}

int chat_run(xr_chat *s, chat_cmd *c, xr_reply **r) {
  int rc = c->script ? xr_client_eval(s->client, r, c->script, c->numkeys, c->argc, c->argv, c->lens)
                     : xr_client_command(s->client, r, c->argc, c->argv, c->lens);
  return rc ? chat_name_key(c, rc) : XR_OK;
}

/* ---- the sequential operations ----------------------------------------------------------------- */

/* Each runs build, then the command, then decode, and frees what the command owned. The macro
 * keeps the sixteen operations to their one line of meaning each. */
#define RUN(build_call, decode_call)         \
  chat_cmd c_;                               \
  memset(&c_, 0, sizeof c_);                 \
  chat_cmd *c = &c_;                         \
  xr_reply *r = NULL;                        \
  int rc = (build_call);                     \
  if (rc == XR_OK) rc = chat_run(s, c, &r);  \
  if (rc == XR_OK) rc = (decode_call);       \
  xr_reply_free(r);                          \
  chat_cmd_free(c);                          \
  return rc

static int need_chat(const xr_chat *s, const char *fn) {
  return s ? XR_OK : xr_fail(XR_EINVAL, "%s: the state adapter is NULL", fn);
}
#define CHECK(fn)                        \
  do {                                   \
    int rc0_ = need_chat(s, fn);         \
    if (rc0_) return rc0_;               \
  } while (0)

int xr_chat_subscribe(xr_chat *s, const char *thread_id, size_t len) {
  CHECK("xr_chat_subscribe");
  RUN(chat_build_subscription(c, s, "SADD", thread_id, len), chat_decode_status(c, r));
}

int xr_chat_unsubscribe(xr_chat *s, const char *thread_id, size_t len) {
  CHECK("xr_chat_unsubscribe");
  RUN(chat_build_subscription(c, s, "SREM", thread_id, len), chat_decode_status(c, r));
}

int xr_chat_is_subscribed(xr_chat *s, bool *subscribed, const char *thread_id, size_t len) {
  CHECK("xr_chat_is_subscribed");
  RUN(chat_build_subscription(c, s, "SISMEMBER", thread_id, len), chat_decode_int1(c, r, subscribed));
}

int xr_chat_acquire_lock(xr_chat *s, bool *acquired, xr_chat_lock *lock, const char *thread_id, size_t len,
                         int64_t ttl_ms) {
  CHECK("xr_chat_acquire_lock");
  if (!acquired || !lock) return xr_fail(XR_EINVAL, "xr_chat_acquire_lock: acquired and lock are required");
  *acquired = false;
  xr_chat_lock fresh;
  chat_cmd c_;
  memset(&c_, 0, sizeof c_);
  xr_reply *r = NULL;
  int rc = chat_build_acquire(&c_, s, &fresh, thread_id, len, ttl_ms);
  if (rc == XR_OK) rc = chat_run(s, &c_, &r);
  if (rc == XR_OK) rc = chat_decode_set_nx(&c_, r, acquired);
  if (rc == XR_OK && *acquired) *lock = fresh;
  xr_reply_free(r);
  chat_cmd_free(&c_);
  return rc;
}

int xr_chat_release_lock(xr_chat *s, bool *released, const char *thread_id, size_t len, const char *token,
                         size_t token_len) {
  CHECK("xr_chat_release_lock");
  RUN(chat_build_release(c, s, thread_id, len, token, token_len), chat_decode_int1(c, r, released));
}

int xr_chat_extend_lock(xr_chat *s, bool *extended, const char *thread_id, size_t len, const char *token,
                        size_t token_len, int64_t ttl_ms) {
  CHECK("xr_chat_extend_lock");
  RUN(chat_build_extend(c, s, thread_id, len, token, token_len, ttl_ms), chat_decode_int1(c, r, extended));
}

int xr_chat_force_release_lock(xr_chat *s, const char *thread_id, size_t len) {
  CHECK("xr_chat_force_release_lock");
  RUN(chat_build_force_release(c, s, thread_id, len), chat_decode_status(c, r));
}

int xr_chat_release_lock_if_queue_empty(xr_chat *s, bool *released, long long *depth, const char *thread_id,
                                        size_t len, const char *token, size_t token_len) {
  CHECK("xr_chat_release_lock_if_queue_empty");
  long long n = -1;
  if (released) *released = false;
  chat_cmd c_;
  memset(&c_, 0, sizeof c_);
  xr_reply *r = NULL;
  int rc = chat_build_release_if_empty(&c_, s, thread_id, len, token, token_len);
  if (rc == XR_OK) rc = chat_run(s, &c_, &r);
  if (rc == XR_OK) rc = chat_decode_integer(&c_, r, &n);
  if (rc == XR_OK) {
    if (released) *released = n == 0;
    if (depth) *depth = n;
  }
  xr_reply_free(r);
  chat_cmd_free(&c_);
  return rc;
}

int xr_chat_get(xr_chat *s, char **value, size_t *value_len, const char *key, size_t key_len) {
  CHECK("xr_chat_get");
  if (!value) return xr_fail(XR_EINVAL, "xr_chat_get: value is required");
  *value = NULL;
  RUN(chat_build_get(c, s, key, key_len), chat_decode_value(c, r, value, value_len));
}

int xr_chat_set(xr_chat *s, const char *key, size_t key_len, const char *json, size_t json_len, int64_t ttl_ms) {
  CHECK("xr_chat_set");
  RUN(chat_build_set(c, s, key, key_len, json, json_len, ttl_ms, 0), chat_decode_status(c, r));
}

int xr_chat_set_if_not_exists(xr_chat *s, bool *stored, const char *key, size_t key_len, const char *json,
                              size_t json_len, int64_t ttl_ms) {
  CHECK("xr_chat_set_if_not_exists");
  RUN(chat_build_set(c, s, key, key_len, json, json_len, ttl_ms, 1), chat_decode_set_nx(c, r, stored));
}

int xr_chat_delete(xr_chat *s, const char *key, size_t key_len) {
  CHECK("xr_chat_delete");
  RUN(chat_build_delete(c, s, key, key_len), chat_decode_status(c, r));
}

int xr_chat_append_to_list(xr_chat *s, const char *key, size_t key_len, const char *json, size_t json_len,
                           long max_length, int64_t ttl_ms) {
  CHECK("xr_chat_append_to_list");
  RUN(chat_build_append(c, s, key, key_len, json, json_len, max_length, ttl_ms), chat_decode_status(c, r));
}

int xr_chat_get_list(xr_chat *s, xr_reply **items, const char *key, size_t key_len) {
  CHECK("xr_chat_get_list");
  if (!items) return xr_fail(XR_EINVAL, "xr_chat_get_list: items is required");
  *items = NULL;
  chat_cmd c_;
  memset(&c_, 0, sizeof c_);
  xr_reply *r = NULL;
  int rc = chat_build_get_list(&c_, s, key, key_len);
  if (rc == XR_OK) rc = chat_run(s, &c_, &r);
  if (rc == XR_OK && xr_reply_kind(r) != XR_REPLY_ARRAY) rc = unexpected(&c_, r);
  if (rc == XR_OK) *items = r;
  else xr_reply_free(r);
  chat_cmd_free(&c_);
  return rc;
}

int xr_chat_enqueue(xr_chat *s, long long *depth, const char *thread_id, size_t len, const char *message_json,
                    size_t message_len, int64_t enqueued_at_ms, int64_t expires_at_ms, long max_size) {
  CHECK("xr_chat_enqueue");
  RUN(chat_build_enqueue(c, s, thread_id, len, message_json, message_len, enqueued_at_ms, expires_at_ms, max_size),
      chat_decode_integer(c, r, depth));
}

int xr_chat_dequeue(xr_chat *s, bool *found, xr_chat_queue_entry *e, const char *thread_id, size_t len) {
  CHECK("xr_chat_dequeue");
  if (!e) return xr_fail(XR_EINVAL, "xr_chat_dequeue: the entry is required");
  memset(e, 0, sizeof *e);
  RUN(chat_build_dequeue(c, s, thread_id, len), chat_decode_entry(c, s, r, found, e));
}

int xr_chat_dequeue_reliable(xr_chat *s, bool *found, xr_chat_queue_entry *e, const char *thread_id, size_t len) {
  CHECK("xr_chat_dequeue_reliable");
  if (!e) return xr_fail(XR_EINVAL, "xr_chat_dequeue_reliable: the entry is required");
  memset(e, 0, sizeof *e);
  RUN(chat_build_dequeue_reliable(c, s, thread_id, len), chat_decode_entry(c, s, r, found, e));
}

int xr_chat_ack(xr_chat *s, bool *acked, const char *thread_id, size_t len, const char *raw, size_t raw_len) {
  CHECK("xr_chat_ack");
  RUN(chat_build_ack(c, s, thread_id, len, raw, raw_len), chat_decode_int1(c, r, acked));
}

int xr_chat_requeue_processing(xr_chat *s, long long *moved, const char *thread_id, size_t len) {
  CHECK("xr_chat_requeue_processing");
  RUN(chat_build_requeue(c, s, thread_id, len), chat_decode_integer(c, r, moved));
}

int xr_chat_queue_depth(xr_chat *s, long long *depth, const char *thread_id, size_t len) {
  CHECK("xr_chat_queue_depth");
  RUN(chat_build_queue_depth(c, s, thread_id, len), chat_decode_integer(c, r, depth));
}

/* ---- blocking acquire ---------------------------------------------------------------------------- */

int xr_chat_acquire_lock_wait(xr_chat *s, bool *acquired, xr_chat_lock *lock, const char *thread_id, size_t len,
                              int64_t ttl_ms, int64_t wait_ms) {
  CHECK("xr_chat_acquire_lock_wait");
  int rc0;
  if ((rc0 = chat_check_ms("chat.acquire_lock_wait", "wait_ms", wait_ms, "milliseconds")) ||
      (rc0 = check_ttl("chat.acquire_lock_wait", ttl_ms, 0)))
    return rc0;
  int64_t deadline = xr_time_now_ms() + wait_ms;
  int64_t delay = 10;
  for (;;) {
    int rc = xr_chat_acquire_lock(s, acquired, lock, thread_id, len, ttl_ms);
    if (rc || *acquired) return rc;
    int64_t left = deadline - xr_time_now_ms();
    if (left <= 0) return XR_OK;
    /* Jitter spreads waiters apart so they do not retry in step: a sleep in [delay/2, delay]. */
    uint32_t r = 0;
    if ((rc = xr_random_bytes(&r, sizeof r))) return rc;
    int64_t pause = delay / 2 + (int64_t)(r % (uint32_t)(delay / 2 + 1));
    if ((rc = xr_client_sleep(s->client, pause < left ? pause : left))) return rc;
    if (delay < 250) delay = delay * 2 > 250 ? 250 : delay * 2;
  }
}
