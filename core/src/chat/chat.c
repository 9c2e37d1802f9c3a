/* Chat SDK state (SPEC.md 1). Every operation is a build (the command or script run, its argv)
 * and a decode (the reply's meaning); the sequential calls and the batches share both. */
#include <stddef.h>
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

/* Beyond upstream, the bridge layout (XR_CHAT_LAYOUT_BRIDGE, chat.h): each per-thread operation is
 * one script over the thread's keys in both layouts (KEYS named in bridge_rows below). A lock is
 * both keys with one token, taken only when neither is held: upstream-layout and tagged-layout
 * holders both see it. An entry goes to the queue its thread's holder reads: the upstream one
 * when an upstream-layout holder has the lock alone, else the tagged one. Reads take both
 * queues, the upstream one first. */
static const struct {
  const char *text;
  const char *keys[4]; /* "<kind>" upstream's key, "{<kind>" the tagged one */
} bridge_rows[CHAT_BRIDGE_SCRIPTS] = {
    [CHAT_BRIDGE_ACQUIRE] = {"if redis.call(\"exists\", KEYS[1]) == 1 or redis.call(\"exists\", KEYS[2]) == 1 then "
                             "return false end\n"
                             "redis.call(\"set\", KEYS[1], ARGV[1], \"PX\", ARGV[2])\n"
                             "return redis.call(\"set\", KEYS[2], ARGV[1], \"PX\", ARGV[2])",
                             {"lock", "{lock"}},
    [CHAT_BRIDGE_RELEASE] = {"local n = 0\n"
                             "for i = 1, 2 do\n"
                             "  if redis.call(\"get\", KEYS[i]) == ARGV[1] then n = n + redis.call(\"del\", KEYS[i]) end\n"
                             "end\n"
                             "if n > 0 then return 1 end\n"
                             "return 0",
                             {"lock", "{lock"}},
    [CHAT_BRIDGE_EXTEND] = {"if redis.call(\"get\", KEYS[1]) ~= ARGV[1] or redis.call(\"get\", KEYS[2]) ~= ARGV[1] then "
                            "return 0 end\n"
                            "redis.call(\"pexpire\", KEYS[1], ARGV[2])\n"
                            "return redis.call(\"pexpire\", KEYS[2], ARGV[2])",
                            {"lock", "{lock"}},
    [CHAT_BRIDGE_FORCE_RELEASE] = {"return redis.call(\"del\", KEYS[1], KEYS[2])", {"lock", "{lock"}},
    [CHAT_BRIDGE_ENQUEUE] = {"local q = KEYS[4]\n"
                             "if redis.call(\"exists\", KEYS[2]) == 0 and redis.call(\"exists\", KEYS[1]) == 1 then q = KEYS[3] "
                             "end\n"
                             "redis.call(\"rpush\", q, ARGV[1])\n"
                             "if tonumber(ARGV[2]) > 0 then redis.call(\"ltrim\", q, -tonumber(ARGV[2]), -1) end\n"
                             "redis.call(\"pexpire\", q, ARGV[3])\n"
                             "return redis.call(\"llen\", q)",
                             {"lock", "{lock", "queue", "{queue"}},
    [CHAT_BRIDGE_DEQUEUE] = {"local v = redis.call(\"lpop\", KEYS[1])\n"
                             "if v then return v end\n"
                             "return redis.call(\"lpop\", KEYS[2])",
                             {"queue", "{queue"}},
    [CHAT_BRIDGE_DEPTH] = {"return redis.call(\"llen\", KEYS[1]) + redis.call(\"llen\", KEYS[2])", {"queue", "{queue"}},
    [CHAT_BRIDGE_DEQUEUE_RELIABLE] = {"local q = KEYS[1]\n"
                                      "if redis.call(\"llen\", q) == 0 then q = KEYS[2] end\n"
                                      "local t = redis.call(\"pttl\", q)\n"
                                      "local v = redis.call(\"lpop\", q)\n"
                                      "if v then\n"
                                      "  redis.call(\"rpush\", KEYS[3], v)\n"
                                      "  if t < 60000 then t = 60000 end\n"
                                      "  if redis.call(\"pttl\", KEYS[3]) < t then redis.call(\"pexpire\", KEYS[3], t) end\n"
                                      "end\n"
                                      "return v",
                                      {"queue", "{queue", "{queue-processing"}},
    [CHAT_BRIDGE_ACK] = {"local n = redis.call(\"lrem\", KEYS[1], 1, ARGV[1])\n"
                         "if n == 0 then n = redis.call(\"lrem\", KEYS[2], 1, ARGV[1]) end\n"
                         "return n",
                         {"{queue-processing", "queue-processing"}},
    [CHAT_BRIDGE_REQUEUE] = {"local n = 0\n"
                             "for i = 1, 2 do\n"
                             "  local q, p, m = KEYS[i], KEYS[5 - i], 0\n"
                             "  while redis.call(\"rpoplpush\", p, q) do m = m + 1 end\n"
                             "  if m > 0 and redis.call(\"pttl\", q) < 60000 then redis.call(\"pexpire\", q, 60000) end\n"
                             "  n = n + m\n"
                             "end\n"
                             "return n",
                             {"queue", "{queue", "{queue-processing", "queue-processing"}},
    [CHAT_BRIDGE_RELEASE_IF_EMPTY] = {"if redis.call(\"get\", KEYS[1]) ~= ARGV[1] or redis.call(\"get\", KEYS[2]) ~= ARGV[1] "
                                      "then return -1 end\n"
                                      "local n = redis.call(\"llen\", KEYS[3]) + redis.call(\"llen\", KEYS[4])\n"
                                      "if n == 0 then redis.call(\"del\", KEYS[1], KEYS[2]) end\n"
                                      "return n",
                                      {"lock", "{lock", "queue", "{queue"}},
};

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
  int min_replicas, min_replicas_timeout_ms;
  xr_chat_layout layout;
} resolved;

static int resolve(resolved *r, const xr_chat_options *in) {
  if (!in) return xr_fail(XR_EINVAL, "xr_chat_new: options are required");
  /* an older caller's struct ends before the members its version lacks: those keep their defaults */
  xr_chat_options v = XR_CHAT_OPTIONS_INIT;
  if (in->version == 1) memcpy(&v, in, offsetof(xr_chat_options, min_replicas));
  else if (in->version == 2) memcpy(&v, in, offsetof(xr_chat_options, layout));
  else if (in->version == XR_CHAT_OPTIONS_VERSION) v = *in;
  else
    return xr_fail(XR_EINVAL, "xr_chat_new: options version %u, expected 1..%u (use XR_CHAT_OPTIONS_INIT)", in->version,
                   XR_CHAT_OPTIONS_VERSION);
  const xr_chat_options *o = &v;
  if (o->min_replicas < 0 || o->min_replicas > 100)
    return xr_fail(XR_EINVAL, "xr_chat_new: min_replicas must be 0 (off) to 100, got %d", o->min_replicas);
  if (o->min_replicas_timeout_ms < 0)
    return xr_fail(XR_EINVAL, "xr_chat_new: min_replicas_timeout_ms must be >= 0 (0: 1000), got %d",
                   o->min_replicas_timeout_ms);
  r->min_replicas = o->min_replicas;
  r->min_replicas_timeout_ms = o->min_replicas_timeout_ms ? o->min_replicas_timeout_ms : 1000;
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
  r->layout = o->layout;
  if (r->layout != XR_CHAT_LAYOUT_UPSTREAM && r->layout != XR_CHAT_LAYOUT_TAGGED && r->layout != XR_CHAT_LAYOUT_BRIDGE)
    return xr_fail(XR_EINVAL, "xr_chat_new: layout %d is not UPSTREAM (0), TAGGED (1) or BRIDGE (2)", (int)r->layout);
  /* The thread's tag must be the key's first: a brace in the prefix would make the hash tag start
   * there, and one thread's keys could land on different slots. */
  const char *brace = strpbrk(r->prefix, "{}");
  if (r->layout != XR_CHAT_LAYOUT_UPSTREAM && brace)
    return xr_fail(XR_EINVAL,
                   "xr_chat_new: key_prefix '%s' holds '%c': the %s layout puts the thread id in the key's "
                   "hash tag, which must be its first braces",
                   r->prefix, *brace, r->layout == XR_CHAT_LAYOUT_TAGGED ? "tagged" : "bridge");
  return XR_OK;
}

int xr_chat_layout_parse(const char *name) {
  if (!name || strcmp(name, "upstream") == 0) return XR_CHAT_LAYOUT_UPSTREAM;
  if (strcmp(name, "tagged") == 0) return XR_CHAT_LAYOUT_TAGGED;
  if (strcmp(name, "bridge") == 0) return XR_CHAT_LAYOUT_BRIDGE;
  return xr_fail(XR_EINVAL, "chat: layout must be \"upstream\", \"tagged\" or \"bridge\", got \"%.64s\"", name);
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
  int command_timeout = xr_client_command_timeout_ms(client);
  if (r.min_replicas && command_timeout > 0 && r.min_replicas_timeout_ms >= command_timeout)
    return xr_fail(XR_EINVAL,
                   "xr_chat_new: min_replicas_timeout_ms (%d) must be below the client's command timeout (%d ms): "
                   "WAIT holds the reply that long",
                   r.min_replicas_timeout_ms, command_timeout);

  xr_chat *s = xr_calloc(1, sizeof *s);
  if (!s) return xr_fail_nomem();
  s->client = client;
  s->prefix_len = strlen(prefix);
  s->token_prefix_len = strlen(token_prefix);
  memcpy(s->token_prefix, token_prefix, s->token_prefix_len + 1);
  s->suffix = suffix;
  s->json = json;
  s->queue = queue;
  s->min_replicas = r.min_replicas;
  s->min_replicas_timeout_ms = r.min_replicas_timeout_ms;
  s->layout = r.layout;
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
  for (size_t i = 0; s->layout == XR_CHAT_LAYOUT_BRIDGE && i < CHAT_BRIDGE_SCRIPTS; i++) {
    if ((rc = xr_script_new(&s->bridge[i], bridge_rows[i].text, strlen(bridge_rows[i].text))) != XR_OK) {
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
  for (size_t i = 0; i < CHAT_BRIDGE_SCRIPTS; i++) xr_script_free(s->bridge[i]);
  xr_free(s->prefix);
  xr_free(s);
}

xr_client *xr_chat_client(const xr_chat *s) { return s->client; }
const char *xr_chat_key_prefix(const xr_chat *s) { return s->prefix; }

/* ---- commands: build --------------------------------------------------------------------------- */

/* <prefix>:<kind>:<id>, or <prefix>:<kind> when id is NULL. */
static int make_key(xr_cmd_key *k, const xr_chat *s, const char *kind, const char *id, size_t id_len) {
  return xr_cmd_key_make(k, s->prefix, s->prefix_len, kind, id, id_len);
}

#define arg xr_cmd_arg
#define arg_str xr_cmd_arg_str
#define arg_num xr_cmd_arg_num

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

static int check_count(const char *op, const char *name, int64_t v) {
  if (v < 0) return xr_fail(XR_EINVAL, "%s: %s must be >= 0 (0: no limit), got %lld", op, name, (long long)v);
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

/* A thread's key: <prefix>:<kind>:<thread id>, or in the tagged layout (and the bridge layout's
 * tagged keys) <prefix>:<kind>:{<thread id>} (the prefix has no braces, so the tag is the id up to
 * its first '}': every kind of one thread shares it). */
static int thread_key(xr_cmd_key *k, const xr_chat *s, const char *kind, const char *id, size_t id_len,
                      const char *what) {
  int rc = need_id(id, id_len, what);
  if (rc || s->layout == XR_CHAT_LAYOUT_UPSTREAM) return rc ? rc : make_key(k, s, kind, id, id_len);
  if (id[0] == '}')
    return xr_fail(XR_EINVAL,
                   "chat: in the %s layout a thread id may not start with '}': the key's hash tag {%.*s} would "
                   "be empty, and the thread's keys would not share a Cluster slot",
                   s->layout == XR_CHAT_LAYOUT_TAGGED ? "tagged" : "bridge", (int)(id_len > 40 ? 40 : id_len), id);
  return xr_cmd_key_make_tag(k, s->prefix, s->prefix_len, kind, id, id_len);
}

/* In the bridge layout: the script of `op` with its keys (KEYS, in argv) for thread id; the
 * caller appends ARGV. c->key is the first key (upstream's shape), which names the command. */
static int bridge_cmd(xr_cmd *c, const xr_chat *s, chat_bridge_op op, const char *id, size_t id_len) {
  xr_cmd_key *slots[4] = {&c->key, &c->key2, &c->key3, &c->key4};
  int rc0 = need_id(id, id_len, "thread id");
  if (rc0) return rc0;
  c->script = s->bridge[op];
  c->numkeys = 0;
  for (size_t i = 0; i < 4 && bridge_rows[op].keys[i]; i++) {
    const char *kind = bridge_rows[op].keys[i];
    int rc = kind[0] == '{' ? thread_key(slots[i], s, kind + 1, id, id_len, "thread id")
                            : make_key(slots[i], s, kind, id, id_len);
    if (rc) return rc;
    arg(c, slots[i]->data, slots[i]->len);
    c->numkeys++;
  }
  return XR_OK;
}

/* Each row's key: <prefix>:<kind>, then :<first argument> when by_id (the first of the two keys of
 * the reliable queue's rows; THREAD_KEY: a thread's key, thread_key). The builders make their key
 * here, and xr_chat_op_slot routes by it. */
enum { THREAD_KEY = 2 };
static const struct {
  const char *kind;
  int by_id;
} row_keys[XR_CHAT_OP_COUNT] = {
    [XR_CHAT_OP_SUBSCRIBE] = {"subscriptions", 0},       [XR_CHAT_OP_UNSUBSCRIBE] = {"subscriptions", 0},
    [XR_CHAT_OP_IS_SUBSCRIBED] = {"subscriptions", 0},   [XR_CHAT_OP_ACQUIRE_LOCK] = {"lock", THREAD_KEY},
    [XR_CHAT_OP_RELEASE_LOCK] = {"lock", THREAD_KEY},    [XR_CHAT_OP_EXTEND_LOCK] = {"lock", THREAD_KEY},
    [XR_CHAT_OP_FORCE_RELEASE_LOCK] = {"lock", THREAD_KEY}, [XR_CHAT_OP_GET] = {"cache", 1},
    [XR_CHAT_OP_SET] = {"cache", 1},                     [XR_CHAT_OP_SET_IF_NOT_EXISTS] = {"cache", 1},
    [XR_CHAT_OP_DELETE] = {"cache", 1},                  [XR_CHAT_OP_APPEND_TO_LIST] = {"list", 1},
    [XR_CHAT_OP_GET_LIST] = {"list", 1},                 [XR_CHAT_OP_ENQUEUE] = {"queue", THREAD_KEY},
    [XR_CHAT_OP_DEQUEUE] = {"queue", THREAD_KEY},        [XR_CHAT_OP_QUEUE_DEPTH] = {"queue", THREAD_KEY},
    [XR_CHAT_OP_DEQUEUE_RELIABLE] = {"queue", THREAD_KEY}, [XR_CHAT_OP_ACK] = {"queue-processing", THREAD_KEY},
    [XR_CHAT_OP_REQUEUE_PROCESSING] = {"queue", THREAD_KEY},
};

/* Row op's key (its id argument checked first when it has one: `what` names it). */
static int row_key(xr_cmd_key *k, const void *self, int op, const xr_arg *a, const char *what) {
  const xr_chat *s = self;
  if (!row_keys[op].by_id) return make_key(k, s, row_keys[op].kind, NULL, 0);
  if (row_keys[op].by_id == THREAD_KEY) return thread_key(k, s, row_keys[op].kind, a[0].data, a[0].len, what);
  int rc = need_id(a[0].data, a[0].len, what);
  return rc ? rc : make_key(k, s, row_keys[op].kind, a[0].data, a[0].len);
}

static int chat_row_key(xr_cmd_key *k, const void *self, int op, const xr_arg *a) {
  return row_key(k, self, op, a, "id");
}

/* A command on row op's one key: argv = [name, key]. */
static int build_keyed(xr_cmd *c, const xr_chat *s, int op, const char *name, const xr_arg *a, const char *what) {
  int rc = row_key(&c->key, s, op, a, what);
  if (rc) return rc;
  arg_str(c, name);
  arg(c, c->key.data, c->key.len);
  return XR_OK;
}

/* The builders of chat.def's rows: a[] holds the row's arguments in its order. */

static int build_subscription(xr_cmd *c, const xr_chat *s, int op, const char *name, const xr_arg *a) {
  int rc;
  if ((rc = need_id(a[0].data, a[0].len, "thread id")) || (rc = row_key(&c->key, s, op, a, "thread id"))) return rc;
  arg_str(c, name);
  arg(c, c->key.data, c->key.len);
  arg(c, a[0].data, a[0].len);
  return XR_OK;
}

static int build_subscribe(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  return build_subscription(c, s, XR_CHAT_OP_SUBSCRIBE, "SADD", a);
}

static int build_unsubscribe(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  return build_subscription(c, s, XR_CHAT_OP_UNSUBSCRIBE, "SREM", a);
}

static int build_is_subscribed(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  return build_subscription(c, s, XR_CHAT_OP_IS_SUBSCRIBED, "SISMEMBER", a);
}

static int build_acquire_lock(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  int64_t ttl_ms = a[1].num;
  int rc;
  int bridged = s->layout == XR_CHAT_LAYOUT_BRIDGE;
  if ((rc = check_ttl("chat.acquire_lock", ttl_ms, 0)) ||
      (rc = bridged ? bridge_cmd(c, s, CHAT_BRIDGE_ACQUIRE, a[0].data, a[0].len)
                    : build_keyed(c, s, XR_CHAT_OP_ACQUIRE_LOCK, "SET", a, "thread id")))
    return rc;
  int64_t now = xr_time_now_ms();
  int n = xr_token_make(c->made, sizeof c->made, s->token_prefix, s->token_prefix_len, now, s->suffix);
  if (n < 0) return n;
  c->made_len = (size_t)n;
  c->made_num = now + ttl_ms; /* the lock's expiry, computed on the client (SPEC.md 1.2) */
  arg(c, c->made, c->made_len);
  if (!bridged) arg_str(c, "PX");
  arg_num(c, 0, ttl_ms);
  if (!bridged) arg_str(c, "NX");
  c->wait_replicas = s->min_replicas;
  c->wait_ms = s->min_replicas_timeout_ms;
  return XR_OK;
}

static int need_token(const char *token, size_t len) {
  if (!token || len == 0) return xr_fail(XR_EINVAL, "chat: the lock token is empty");
  return XR_OK;
}

static int build_release_lock(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  int rc;
  if (s->layout == XR_CHAT_LAYOUT_BRIDGE) {
    if ((rc = bridge_cmd(c, s, CHAT_BRIDGE_RELEASE, a[0].data, a[0].len)) || (rc = need_token(a[1].data, a[1].len)))
      return rc;
  } else {
    if ((rc = row_key(&c->key, s, XR_CHAT_OP_RELEASE_LOCK, a, "thread id")) || (rc = need_token(a[1].data, a[1].len)))
      return rc;
    c->script = s->release;
    c->numkeys = 1;
    arg(c, c->key.data, c->key.len);
  }
  arg(c, a[1].data, a[1].len);
  return XR_OK;
}

static int build_extend_lock(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  int rc;
  if ((rc = check_ttl("chat.extend_lock", a[2].num, 0)) || (rc = build_release_lock(c, s, a))) return rc;
  c->script = s->layout == XR_CHAT_LAYOUT_BRIDGE ? s->bridge[CHAT_BRIDGE_EXTEND] : s->extend;
  arg_num(c, 0, a[2].num);
  c->wait_replicas = s->min_replicas;
  c->wait_ms = s->min_replicas_timeout_ms;
  return XR_OK;
}

static int chat_build_release_if_empty(xr_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *token,
                                size_t token_len) {
  int rc;
  if ((rc = need_id(tid, len, "thread id")) || (rc = need_token(token, token_len))) return rc;
  if (s->layout == XR_CHAT_LAYOUT_BRIDGE) {
    if ((rc = bridge_cmd(c, s, CHAT_BRIDGE_RELEASE_IF_EMPTY, tid, len))) return rc;
  } else {
    if ((rc = thread_key(&c->key, s, "lock", tid, len, "thread id")) ||
        (rc = thread_key(&c->key2, s, "queue", tid, len, "thread id")))
      return rc;
    c->script = s->release_if_empty;
    c->numkeys = 2;
    arg(c, c->key.data, c->key.len);
    arg(c, c->key2.data, c->key2.len);
  }
  arg(c, token, token_len);
  return XR_OK;
}

static int build_force_release_lock(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  if (s->layout == XR_CHAT_LAYOUT_BRIDGE) return bridge_cmd(c, s, CHAT_BRIDGE_FORCE_RELEASE, a[0].data, a[0].len);
  return build_keyed(c, s, XR_CHAT_OP_FORCE_RELEASE_LOCK, "DEL", a, "thread id");
}

static int build_get(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  return build_keyed(c, s, XR_CHAT_OP_GET, "GET", a, "key");
}

static int build_delete(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  return build_keyed(c, s, XR_CHAT_OP_DELETE, "DEL", a, "key");
}

/* The value as the adapter's dialect writes it, owned by the command. */
static int value_text(xr_cmd *c, const xr_chat *s, const char *json, size_t json_len, const char **out,
                      size_t *out_len) {
  if (!json) return xr_fail(XR_EINVAL, "chat: the value is NULL");
  int rc = xr_json_transcode(&c->owned, out_len, json, json_len, s->json, 0);
  if (rc) return xr_fail(rc, "chat: the value is not JSON: %s", xr_error_last()->message);
  *out = c->owned;
  return XR_OK;
}

/* a = key, json, ttl_ms */
static int build_store(xr_cmd *c, const xr_chat *s, const xr_arg *a, int nx) {
  const char *v = NULL;
  size_t vlen = 0;
  int64_t ttl_ms = a[2].num;
  int rc;
  if ((rc = check_ttl(nx ? "chat.set_if_not_exists" : "chat.set", ttl_ms, 1)) ||
      (rc = build_keyed(c, s, XR_CHAT_OP_SET, "SET", a, "key")) ||
      (rc = value_text(c, s, a[1].data, a[1].len, &v, &vlen)))
    return rc;
  arg(c, v, vlen);
  if (ttl_ms > 0) {
    arg_str(c, "PX");
    arg_num(c, 0, ttl_ms);
  }
  if (nx) arg_str(c, "NX");
  return XR_OK;
}

static int build_set(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self; return build_store(c, s, a, 0); }

static int build_set_if_not_exists(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  return build_store(c, s, a, 1);
}

static int build_append_to_list(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  const char *v = NULL;
  size_t vlen = 0;
  int64_t max_length = a[2].num, ttl_ms = a[3].num;
  int rc;
  if ((rc = check_ttl("chat.append_to_list", ttl_ms, 1)) ||
      (rc = check_count("chat.append_to_list", "max_length", max_length)) ||
      (rc = row_key(&c->key, s, XR_CHAT_OP_APPEND_TO_LIST, a, "key")) ||
      (rc = value_text(c, s, a[1].data, a[1].len, &v, &vlen)))
    return rc;
  c->script = s->append;
  c->numkeys = 1;
  arg(c, c->key.data, c->key.len);
  arg(c, v, vlen);
  arg_num(c, 0, max_length);
  arg_num(c, 1, ttl_ms);
  return XR_OK;
}

static int build_get_list(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  int rc = build_keyed(c, s, XR_CHAT_OP_GET_LIST, "LRANGE", a, "key");
  if (rc) return rc;
  arg_str(c, "0");
  arg_str(c, "-1");
  return XR_OK;
}

/* a = thread_id, message_json, enqueued_at_ms, expires_at_ms, max_size */
static int build_enqueue(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  int64_t expires_at_ms = a[3].num, max_size = a[4].num;
  int rc;
  int bridged = s->layout == XR_CHAT_LAYOUT_BRIDGE;
  if ((rc = check_count("chat.enqueue", "max_size", max_size)) ||
      (rc = bridged ? bridge_cmd(c, s, CHAT_BRIDGE_ENQUEUE, a[0].data, a[0].len)
                    : row_key(&c->key, s, XR_CHAT_OP_ENQUEUE, a, "thread id")))
    return rc;
  size_t elen;
  if ((rc = xr_chat_encode_queue_entry(&c->owned, &elen, a[1].data, a[1].len, a[2].num, expires_at_ms, s->queue,
                                       s->json)))
    return rc;
  /* The queue key lives at least a minute past the newest entry's expiry (SPEC.md 1.2). */
  int64_t ttl = expires_at_ms - xr_time_now_ms();
  if (ttl < 60000) ttl = 60000;
  if (!bridged) {
    c->script = s->enqueue;
    c->numkeys = 1;
    arg(c, c->key.data, c->key.len);
  }
  arg(c, c->owned, elen);
  arg_num(c, 0, max_size);
  arg_num(c, 1, ttl);
  return XR_OK;
}

static int build_dequeue(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  if (s->layout == XR_CHAT_LAYOUT_BRIDGE) return bridge_cmd(c, s, CHAT_BRIDGE_DEQUEUE, a[0].data, a[0].len);
  return build_keyed(c, s, XR_CHAT_OP_DEQUEUE, "LPOP", a, "thread id");
}

/* The queue and its processing list: KEYS[1], KEYS[2] of the reliable dequeue's scripts. */
static int build_queue_pair(xr_cmd *c, const xr_chat *s, const xr_script *script, const xr_arg *a) {
  int rc;
  if ((rc = row_key(&c->key, s, XR_CHAT_OP_DEQUEUE_RELIABLE, a, "thread id")) ||
      (rc = thread_key(&c->key2, s, "queue-processing", a[0].data, a[0].len, "thread id")))
    return rc;
  c->script = script;
  c->numkeys = 2;
  arg(c, c->key.data, c->key.len);
  arg(c, c->key2.data, c->key2.len);
  return XR_OK;
}

static int build_dequeue_reliable(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  if (s->layout == XR_CHAT_LAYOUT_BRIDGE) return bridge_cmd(c, s, CHAT_BRIDGE_DEQUEUE_RELIABLE, a[0].data, a[0].len);
  return build_queue_pair(c, s, s->dequeue_reliable, a);
}

static int build_requeue_processing(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  if (s->layout == XR_CHAT_LAYOUT_BRIDGE) return bridge_cmd(c, s, CHAT_BRIDGE_REQUEUE, a[0].data, a[0].len);
  return build_queue_pair(c, s, s->requeue, a);
}

static int build_ack(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  int rc;
  if (!a[1].data || a[1].len == 0) return xr_fail(XR_EINVAL, "chat.ack: the entry's raw bytes are empty");
  if (s->layout == XR_CHAT_LAYOUT_BRIDGE) {
    if ((rc = bridge_cmd(c, s, CHAT_BRIDGE_ACK, a[0].data, a[0].len))) return rc;
  } else {
    if ((rc = build_keyed(c, s, XR_CHAT_OP_ACK, "LREM", a, "thread id"))) return rc;
    arg_str(c, "1");
  }
  arg(c, a[1].data, a[1].len);
  return XR_OK;
}

static int build_queue_depth(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_chat *s = self;
  if (s->layout == XR_CHAT_LAYOUT_BRIDGE) return bridge_cmd(c, s, CHAT_BRIDGE_DEPTH, a[0].data, a[0].len);
  return build_keyed(c, s, XR_CHAT_OP_QUEUE_DEPTH, "LLEN", a, "thread id");
}

/* ---- the system: chat.def's rows with their builders ------------------------------------------ */

/* A queue entry (XR_RESULT_ENTRY): an entry that does not decode still hands its raw bytes over
 * (it was popped), with the failure. */
static int decode_entry(const xr_cmd *c, const void *self, xr_result_kind kind, const xr_reply *r, xr_result *out) {
  const xr_chat *s = self;
  if (kind != XR_RESULT_ENTRY) return xr_fail(XR_EINVAL, "chat: unknown result kind %d", (int)kind);
  xr_reply_type t = xr_reply_kind(r);
  if (t == XR_REPLY_NIL) return out->present = false, XR_OK;
  if (t != XR_REPLY_STRING)
    return xr_fail(XR_EPROTOCOL, "%.*s: unexpected reply (type %d) to %s", (int)c->key.len, c->key.data, (int)t,
                   c->script ? "a script" : c->argv[0]);
  size_t n;
  const char *p = xr_reply_str(r, &n);
  xr_chat_queue_entry e;
  int rc = xr_chat_decode_queue_entry(&e, p, n, s->json);
  out->nfields = 4;
  out->fields[0] = XR_ARG_OF_TEXT(e.message, e.message_len);
  out->fields[1] = XR_ARG_OF_INT(e.enqueued_at_ms);
  out->fields[2] = XR_ARG_OF_INT(e.expires_at_ms);
  out->fields[3] = XR_ARG_OF_TEXT(e.raw, e.raw_len);
  out->owned_[0] = e.message;
  out->owned_[1] = e.raw;
  if (rc == XR_EPARSE) {
    char why[512];
    snprintf(why, sizeof why, "%s", xr_error_last()->message);
    return xr_fail(rc, "%.*s: a dequeued entry is not a queue entry (%s); its bytes are in the entry's raw field",
                   (int)c->key.len, c->key.data, why);
  }
  return rc;
}

/* A plain dequeue (LPOP) whose reply never came may have popped the entry: say so, and how to
 * avoid it. */
static const char *lost_reply_hint(const xr_cmd *c) {
  if (c->script || !c->argv[0] || strcmp(c->argv[0], "LPOP") != 0) return NULL;
  return "the dequeue may have popped an entry, which is then lost (dequeue_reliable keeps entries in "
         "<prefix>:queue-processing:<id> until acknowledged)";
}

static const xr_op_info chat_ops[XR_CHAT_OP_COUNT] = {
#define XR_CHAT_OP(ID, name, wire, result, args) XR_OPS_ROW(CHAT, ID, name, wire, result, args)
#include "crossredis/chat.def"
#undef XR_CHAT_OP
};

static const xr_op_builder chat_builders[XR_CHAT_OP_COUNT] = {
#define XR_CHAT_OP(ID, name, wire, result, args) XR_OPS_BUILDER(CHAT, ID, name)
#include "crossredis/chat.def"
#undef XR_CHAT_OP
};

/* A lock the master took or extended that fewer than min_replicas replicas acknowledged does not
 * count: a failover now could hand it to another holder. A sequential acquire gives it back at
 * once (token-checked, so never someone else's); a batch cannot send more, so the caller is told
 * to release it. */
static int unacked(const xr_cmd *c, const void *self, xr_client *client, int op, int sequential) {
  const xr_chat *s = self;
  char why[160];
  snprintf(why, sizeof why, "only %lld of %d replicas acknowledged it within %d ms", c->acked, c->wait_replicas,
           c->wait_ms);
  if (op != XR_CHAT_OP_ACQUIRE_LOCK)
    return xr_fail(XR_ENOREPLICAS, "chat.extend_lock: extended on the master, but %s: a failover now could lose it", why);
  if (!sequential)
    return xr_fail(XR_ENOREPLICAS,
                   "chat.acquire_lock: granted by the master, but %s: not held; release it (token %.*s) or let it "
                   "expire",
                   why, (int)c->made_len, c->made);
  /* its keys (one, or the bridge layout's two) then the token */
  int bridged = s->layout == XR_CHAT_LAYOUT_BRIDGE;
  const char *argv[3] = {c->key.data, bridged ? c->key2.data : c->made, c->made};
  size_t lens[3] = {c->key.len, bridged ? c->key2.len : c->made_len, c->made_len};
  int rc = xr_client_eval(client, NULL, bridged ? s->bridge[CHAT_BRIDGE_RELEASE] : s->release, bridged ? 2 : 1,
                          bridged ? 3 : 2, argv, lens);
  return xr_fail(XR_ENOREPLICAS, "chat.acquire_lock: granted by the master, but %s: %s", why,
                 rc ? "not held, and releasing it failed (it expires with its TTL)" : "released, not held");
}

const xr_system chat_system = {"chat", chat_ops, XR_CHAT_OP_COUNT, chat_builders, decode_entry, lost_reply_hint,
                               unacked, chat_row_key};

const xr_op_info *xr_chat_op_at(int op) { return xr_ops_row(&chat_system, op); }

int xr_chat_op_slot(const xr_chat *s, int op, const xr_arg *args, size_t nargs) {
  return s ? xr_ops_slot(&chat_system, s, op, args, nargs) : -1;
}

/* ---- the sequential operations ----------------------------------------------------------------- */

static int need_chat(const xr_chat *s, const char *fn) {
  return s ? XR_OK : xr_fail(XR_EINVAL, "%s: the state adapter is NULL", fn);
}

int xr_chat_call(xr_chat *s, int op, const xr_arg *args, size_t nargs, xr_result *out) {
  if (!out) return xr_fail(XR_EINVAL, "xr_chat_call: out is required");
  memset(out, 0, sizeof *out);
  int rc = need_chat(s, __func__);
  return rc ? rc : xr_ops_call(&chat_system, s, s->client, op, args, nargs, out);
}

/* The typed outputs of the VALUE and ENTRY kinds, shared with the batches' typed accessors. */
int chat_copy_value(const xr_result *res, char **value, size_t *value_len) {
  *value = NULL;
  if (value_len) *value_len = 0;
  if (!res->present) return XR_OK;
  if (!(*value = xr_strndup(res->fields[0].data, res->fields[0].len))) return xr_fail_nomem();
  if (value_len) *value_len = res->fields[0].len;
  return XR_OK;
}

void chat_take_entry(xr_result *res, bool *found, xr_chat_queue_entry *e) {
  memset(e, 0, sizeof *e);
  if (found) *found = res->present;
  if (!res->present || res->nfields < 4) return;
  e->message = res->owned_[0];
  e->message_len = e->message ? res->fields[0].len : 0;
  e->enqueued_at_ms = res->fields[1].num;
  e->expires_at_ms = res->fields[2].num;
  e->raw = res->owned_[1];
  e->raw_len = e->raw ? res->fields[3].len : 0;
  res->owned_[0] = res->owned_[1] = NULL;
}

void chat_lock_of(xr_chat_lock *lock, const xr_result *res) {
  memset(lock, 0, sizeof *lock);
  size_t n = res->fields[0].len < XR_TOKEN_MAX ? res->fields[0].len : XR_TOKEN_MAX - 1;
  memcpy(lock->token, res->fields[0].data, n);
  lock->token_len = n;
  lock->expires_at_ms = res->fields[1].num;
}

/* dequeue and dequeue_reliable: an entry that does not decode still reaches the caller (its raw
 * bytes), with the failure. */
static int call_entry(xr_chat *s, int op, bool *found, xr_chat_queue_entry *e, const char *thread_id, size_t len) {
  int rc = need_chat(s, op == XR_CHAT_OP_DEQUEUE ? "xr_chat_dequeue" : "xr_chat_dequeue_reliable");
  if (rc) return rc;
  const xr_arg a[] = {XR_ARG_OF_TEXT(thread_id, len)};
  xr_cmd c;
  xr_reply *r;
  xr_result res;
  rc = xr_ops_call_keep(&chat_system, s, s->client, op, a, &c, &r, &res);
  if (rc == XR_OK || rc == XR_EPARSE) chat_take_entry(&res, found, e);
  xr_ops_call_end(&c, r, &res);
  return rc;
}

/* Each sequential operation is one call of its row with the arguments in the row's order; the
 * macro keeps each to its line of meaning: CALL(op, outputs from res, arguments...). */
#define CALL(ID, take, ...)                                                                   \
  do {                                                                                        \
    int rc0_ = need_chat(s, __func__);                                                        \
    if (rc0_) return rc0_;                                                                    \
    const xr_arg a_[] = {__VA_ARGS__};                                                        \
    xr_cmd c_;                                                                                \
    xr_reply *r_;                                                                             \
    xr_result res;                                                                            \
    int rc = xr_ops_call_keep(&chat_system, s, s->client, XR_CHAT_OP_##ID, a_, &c_, &r_, &res); \
    if (rc == XR_OK) take;                                                                    \
    xr_ops_call_end(&c_, r_, &res);                                                           \
    return rc;                                                                                \
  } while (0)
#define TEXT(p, n) XR_ARG_OF_TEXT(p, n)
#define INT(v) XR_ARG_OF_INT(v)

int xr_chat_subscribe(xr_chat *s, const char *thread_id, size_t len) {
  CALL(SUBSCRIBE, (void)0, TEXT(thread_id, len));
}

int xr_chat_unsubscribe(xr_chat *s, const char *thread_id, size_t len) {
  CALL(UNSUBSCRIBE, (void)0, TEXT(thread_id, len));
}

int xr_chat_is_subscribed(xr_chat *s, bool *subscribed, const char *thread_id, size_t len) {
  CALL(IS_SUBSCRIBED, if (subscribed) *subscribed = res.present, TEXT(thread_id, len));
}

int xr_chat_acquire_lock(xr_chat *s, bool *acquired, xr_chat_lock *lock, const char *thread_id, size_t len,
                         int64_t ttl_ms) {
  if (!acquired || !lock) return xr_fail(XR_EINVAL, "xr_chat_acquire_lock: acquired and lock are required");
  *acquired = false;
  CALL(ACQUIRE_LOCK, if ((*acquired = res.present)) chat_lock_of(lock, &res), TEXT(thread_id, len), INT(ttl_ms));
}

int xr_chat_release_lock(xr_chat *s, bool *released, const char *thread_id, size_t len, const char *token,
                         size_t token_len) {
  CALL(RELEASE_LOCK, if (released) *released = res.present, TEXT(thread_id, len), TEXT(token, token_len));
}

int xr_chat_extend_lock(xr_chat *s, bool *extended, const char *thread_id, size_t len, const char *token,
                        size_t token_len, int64_t ttl_ms) {
  CALL(EXTEND_LOCK, if (extended) *extended = res.present, TEXT(thread_id, len), TEXT(token, token_len),
       INT(ttl_ms));
}

int xr_chat_force_release_lock(xr_chat *s, const char *thread_id, size_t len) {
  CALL(FORCE_RELEASE_LOCK, (void)0, TEXT(thread_id, len));
}

int xr_chat_release_lock_if_queue_empty(xr_chat *s, bool *released, long long *depth, const char *thread_id,
                                        size_t len, const char *token, size_t token_len) {
  int rc = need_chat(s, __func__);
  if (rc) return rc;
  if (released) *released = false;
  xr_cmd c;
  memset(&c, 0, sizeof c);
  xr_reply *r = NULL;
  xr_result res;
  memset(&res, 0, sizeof res);
  rc = chat_build_release_if_empty(&c, s, thread_id, len, token, token_len);
  if (rc == XR_OK) rc = xr_ops_run(&chat_system, s->client, &c, &r);
  if (rc == XR_OK) rc = xr_ops_decode(&chat_system, s, &c, XR_RESULT_INTEGER, r, &res);
  if (rc == XR_OK) {
    if (released) *released = res.integer == 0;
    if (depth) *depth = res.integer;
  }
  xr_ops_call_end(&c, r, &res);
  return rc;
}

int xr_chat_get(xr_chat *s, char **value, size_t *value_len, const char *key, size_t key_len) {
  if (!value) return xr_fail(XR_EINVAL, "xr_chat_get: value is required");
  *value = NULL;
  if (value_len) *value_len = 0;
  CALL(GET, rc = chat_copy_value(&res, value, value_len), TEXT(key, key_len));
}

int xr_chat_set(xr_chat *s, const char *key, size_t key_len, const char *json, size_t json_len, int64_t ttl_ms) {
  CALL(SET, (void)0, TEXT(key, key_len), TEXT(json, json_len), INT(ttl_ms));
}

int xr_chat_set_if_not_exists(xr_chat *s, bool *stored, const char *key, size_t key_len, const char *json,
                              size_t json_len, int64_t ttl_ms) {
  CALL(SET_IF_NOT_EXISTS, if (stored) *stored = res.present, TEXT(key, key_len), TEXT(json, json_len),
       INT(ttl_ms));
}

int xr_chat_delete(xr_chat *s, const char *key, size_t key_len) {
  CALL(DELETE, (void)0, TEXT(key, key_len));
}

int xr_chat_append_to_list(xr_chat *s, const char *key, size_t key_len, const char *json, size_t json_len,
                           long max_length, int64_t ttl_ms) {
  CALL(APPEND_TO_LIST, (void)0, TEXT(key, key_len), TEXT(json, json_len), INT(max_length), INT(ttl_ms));
}

int xr_chat_get_list(xr_chat *s, xr_reply **items, const char *key, size_t key_len) {
  if (!items) return xr_fail(XR_EINVAL, "xr_chat_get_list: items is required");
  *items = NULL;
  /* the caller gets the array reply itself */
  CALL(GET_LIST, (*items = r_, r_ = NULL), TEXT(key, key_len));
}

int xr_chat_enqueue(xr_chat *s, long long *depth, const char *thread_id, size_t len, const char *message_json,
                    size_t message_len, int64_t enqueued_at_ms, int64_t expires_at_ms, long max_size) {
  CALL(ENQUEUE, if (depth) *depth = res.integer, TEXT(thread_id, len), TEXT(message_json, message_len),
       INT(enqueued_at_ms), INT(expires_at_ms), INT(max_size));
}

int xr_chat_dequeue(xr_chat *s, bool *found, xr_chat_queue_entry *e, const char *thread_id, size_t len) {
  if (!e) return xr_fail(XR_EINVAL, "xr_chat_dequeue: the entry is required");
  memset(e, 0, sizeof *e);
  if (found) *found = false;
  return call_entry(s, XR_CHAT_OP_DEQUEUE, found, e, thread_id, len);
}

int xr_chat_dequeue_reliable(xr_chat *s, bool *found, xr_chat_queue_entry *e, const char *thread_id, size_t len) {
  if (!e) return xr_fail(XR_EINVAL, "xr_chat_dequeue_reliable: the entry is required");
  memset(e, 0, sizeof *e);
  if (found) *found = false;
  return call_entry(s, XR_CHAT_OP_DEQUEUE_RELIABLE, found, e, thread_id, len);
}

int xr_chat_ack(xr_chat *s, bool *acked, const char *thread_id, size_t len, const char *raw, size_t raw_len) {
  CALL(ACK, if (acked) *acked = res.present, TEXT(thread_id, len), TEXT(raw, raw_len));
}

int xr_chat_requeue_processing(xr_chat *s, long long *moved, const char *thread_id, size_t len) {
  CALL(REQUEUE_PROCESSING, if (moved) *moved = res.integer, TEXT(thread_id, len));
}

int xr_chat_queue_depth(xr_chat *s, long long *depth, const char *thread_id, size_t len) {
  CALL(QUEUE_DEPTH, if (depth) *depth = res.integer, TEXT(thread_id, len));
}

/* ---- blocking acquire ---------------------------------------------------------------------------- */

int xr_chat_acquire_lock_wait(xr_chat *s, bool *acquired, xr_chat_lock *lock, const char *thread_id, size_t len,
                              int64_t ttl_ms, int64_t wait_ms) {
  int rc0 = need_chat(s, __func__);
  if (rc0) return rc0;
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
