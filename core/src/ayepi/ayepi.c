/* ayepi's work Store and response cache (SPEC.md 3, ayepi.h): ayepi.def's rows as builders over the
 * shared machinery (net/ops.h) and the typed calls. */
#include <stdio.h>
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "crossredis/timestamp.h"
#include "crossredis/token.h"
#include "net/client_internal.h"
#include "net/ops.h"
#include "ayepi/ayepi_internal.h"

/* increment with a TTL, one step: the counter never lives without its expiry, and a retry of the
 * whole cannot count twice a step that ran (upstream sends the two commands apart). */
static const char increment_lua[] =
    "local n = redis.call('incrby', KEYS[1], ARGV[1])\n"
    "redis.call('pexpire', KEYS[1], ARGV[2])\n"
    "return n";

struct xr_ayepi_store {
  xr_client *client;
  char *prefix;
  size_t prefix_len;
  xr_script *increment;
  xr_ayepi_retry retry; /* resolved: no zero means a default any more */
};

extern const xr_system ayepi_system;

int xr_ayepi_store_new(xr_ayepi_store **out, xr_client *client, const xr_ayepi_options *o) {
  if (!out || !client) return xr_fail(XR_EINVAL, "xr_ayepi_store_new: out and client are required");
  *out = NULL;
  if (!o) return xr_fail(XR_EINVAL, "xr_ayepi_store_new: options are required");
  if (o->version != XR_AYEPI_OPTIONS_VERSION)
    return xr_fail(XR_EINVAL, "xr_ayepi_store_new: options version %u, expected %u (use XR_AYEPI_OPTIONS_INIT)",
                   o->version, XR_AYEPI_OPTIONS_VERSION);
  const char *prefix = o->key_prefix ? o->key_prefix : XR_AYEPI_STORE_PREFIX;
  xr_ayepi_retry r = o->retry;
  if (r.attempts < 0 || r.base_ms < 0 || r.max_ms < 0 || r.factor < 0 || r.jitter > 1)
    return xr_fail(XR_EINVAL, "xr_ayepi_store_new: retry: attempts, base_ms, max_ms and factor must be >= 0, jitter <= 1");
  if (!r.attempts) r.attempts = 3;
  if (!r.base_ms) r.base_ms = 1000;
  if (r.factor == 0) r.factor = 2;
  if (!r.max_ms) r.max_ms = 30000;
  r.jitter = r.jitter == 0 ? 0.5 : r.jitter < 0 ? 0 : r.jitter;
  xr_ayepi_store *s = xr_calloc(1, sizeof *s);
  if (!s) return xr_fail_nomem();
  s->client = client;
  s->retry = r;
  s->prefix_len = strlen(prefix);
  int rc = (s->prefix = xr_strndup(prefix, s->prefix_len)) ? XR_OK : xr_fail_nomem();
  if (!rc) rc = xr_script_new(&s->increment, increment_lua, sizeof increment_lua - 1);
  if (rc) {
    xr_ayepi_store_free(s);
    return rc;
  }
  *out = s;
  return XR_OK;
}

void xr_ayepi_store_free(xr_ayepi_store *s) {
  if (!s) return;
  xr_script_free(s->increment);
  xr_free(s->prefix);
  xr_free(s);
}

xr_client *xr_ayepi_store_client(const xr_ayepi_store *s) { return s ? s->client : NULL; }
const char *xr_ayepi_store_prefix(const xr_ayepi_store *s) { return s ? s->prefix : NULL; }

/* ---- builders ----------------------------------------------------------------------------------- */

static const char *op_name(int op) { return ayepi_system.ops[op].name; }

static int keyed(xr_cmd *c, const xr_ayepi_store *s, int op, const xr_arg *key) {
  if (key->len == 0) return xr_fail(XR_EINVAL, "ayepi.%s: the key is empty", op_name(op));
  return xr_cmd_key_concat(&c->key, s->prefix, s->prefix_len, key->data, key->len);
}

/* A TTL argument: 0 (none) or 1..XR_TTL_MAX_MS. */
static int check_ttl(int op, int64_t ttl_ms) {
  if (ttl_ms < 0 || ttl_ms > XR_TTL_MAX_MS)
    return xr_fail(XR_EINVAL, "ayepi.%s: ttl_ms must be 0 (none) to %lld, got %lld", op_name(op),
                   (long long)XR_TTL_MAX_MS, (long long)ttl_ms);
  return XR_OK;
}

/* <cmd> <key> */
static int build_key_only(xr_cmd *c, const void *self, int op, const char *cmd, const xr_arg *a) {
  int rc = keyed(c, self, op, &a[0]);
  if (rc) return rc;
  xr_cmd_arg_str(c, cmd);
  xr_cmd_arg(c, c->key.data, c->key.len);
  return XR_OK;
}

/* set <key> <value> [PX <ttl>] [NX] */
static int build_set_value(xr_cmd *c, const void *self, int op, const xr_arg *a, int nx) {
  int rc = keyed(c, self, op, &a[0]);
  if (!rc) rc = check_ttl(op, a[2].num);
  if (rc) return rc;
  xr_cmd_arg_str(c, "set");
  xr_cmd_arg(c, c->key.data, c->key.len);
  xr_cmd_arg(c, a[1].data, a[1].len);
  if (a[2].num > 0) {
    xr_cmd_arg_str(c, "PX");
    xr_cmd_arg_num(c, 0, a[2].num);
  }
  if (nx) xr_cmd_arg_str(c, "NX");
  return XR_OK;
}

static int build_get(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_key_only(c, self, XR_AYEPI_OP_GET, "get", a);
}

static int build_set(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_set_value(c, self, XR_AYEPI_OP_SET, a, 0);
}

static int build_delete(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_key_only(c, self, XR_AYEPI_OP_DELETE, "del", a);
}

static int build_set_if_not_exists(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_set_value(c, self, XR_AYEPI_OP_SET_IF_NOT_EXISTS, a, 1);
}

/* incrby <key> <by>, or the script with the TTL */
static int build_increment(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_ayepi_store *s = self;
  int rc = keyed(c, s, XR_AYEPI_OP_INCREMENT, &a[0]);
  if (!rc) rc = check_ttl(XR_AYEPI_OP_INCREMENT, a[2].num);
  if (rc) return rc;
  if (a[2].num == 0) {
    xr_cmd_arg_str(c, "incrby");
    xr_cmd_arg(c, c->key.data, c->key.len);
    xr_cmd_arg_num(c, 0, a[1].num);
    return XR_OK;
  }
  c->script = s->increment;
  c->numkeys = 1;
  xr_cmd_arg(c, c->key.data, c->key.len);
  xr_cmd_arg_num(c, 0, a[1].num);
  xr_cmd_arg_num(c, 1, a[2].num);
  return XR_OK;
}

static int build_cache_get(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_key_only(c, self, XR_AYEPI_OP_CACHE_GET, "get", a);
}

/* set <key> <entry> PX max(1, staleUntil - now) */
static int build_cache_set(xr_cmd *c, const void *self, const xr_arg *a) {
  int rc = keyed(c, self, XR_AYEPI_OP_CACHE_SET, &a[0]);
  if (rc) return rc;
  if (a[2].num < 0 || a[2].num > XR_TTL_MAX_MS)
    return xr_fail(XR_EINVAL, "ayepi.cache_set: now_ms must be 0 (this machine's clock) to %lld, got %lld",
                   (long long)XR_TTL_MAX_MS, (long long)a[2].num);
  int64_t stale = 0;
  size_t n = 0;
  if ((rc = xr_ayepi_cache_entry_write(&c->owned, &n, &stale, a[1].data, a[1].len)))
    return xr_fail(rc, "ayepi.cache_set: %s", xr_error_last()->message);
  int64_t now = a[2].num ? a[2].num : xr_time_now_ms();
  int64_t px = stale - now > 1 ? stale - now : 1;
  xr_cmd_arg_str(c, "set");
  xr_cmd_arg(c, c->key.data, c->key.len);
  xr_cmd_arg(c, c->owned, n);
  xr_cmd_arg_str(c, "PX");
  xr_cmd_arg_num(c, 0, px);
  return XR_OK;
}

static int build_cache_delete(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_key_only(c, self, XR_AYEPI_OP_CACHE_DELETE, "del", a);
}

/* publish <channel> <message>: the channel names the command in failures and routes it by its slot
 * (command_keys.c), never prefixed. */
static int build_publish_to(xr_cmd *c, const void *self, const xr_arg *a) {
  (void)self;
  if (a[0].len == 0) return xr_fail(XR_EINVAL, "ayepi.publish_to: the channel is empty");
  int rc = xr_cmd_key_concat(&c->key, NULL, 0, a[0].data, a[0].len);
  if (rc) return rc;
  xr_cmd_arg_str(c, "publish");
  xr_cmd_arg(c, c->key.data, c->key.len);
  xr_cmd_arg(c, a[1].data, a[1].len);
  return XR_OK;
}

/* The key of a row, for routing before building (the Node lanes); publish_to's is its channel. */
static int row_key(xr_cmd_key *k, const void *self, int op, const xr_arg *a) {
  const xr_ayepi_store *s = self;
  if (a[0].len == 0)
    return xr_fail(XR_EINVAL, "ayepi.%s: the %s is empty", op_name(op), op == XR_AYEPI_OP_PUBLISH_TO ? "channel" : "key");
  if (op == XR_AYEPI_OP_PUBLISH_TO) return xr_cmd_key_concat(k, NULL, 0, a[0].data, a[0].len);
  return xr_cmd_key_concat(k, s->prefix, s->prefix_len, a[0].data, a[0].len);
}

static const xr_op_info ayepi_ops[XR_AYEPI_OP_COUNT] = {
#define XR_AYEPI_OP(ID, name, wire, result, args) XR_OPS_ROW(AYEPI, ID, name, wire, result, args)
#include "crossredis/ayepi.def"
#undef XR_AYEPI_OP
};

static const xr_op_builder ayepi_builders[XR_AYEPI_OP_COUNT] = {
#define XR_AYEPI_OP(ID, name, wire, result, args) XR_OPS_BUILDER(AYEPI, ID, name)
#include "crossredis/ayepi.def"
#undef XR_AYEPI_OP
};

const xr_system ayepi_system = {"ayepi", ayepi_ops, XR_AYEPI_OP_COUNT, ayepi_builders, NULL, NULL, NULL, row_key};

const xr_op_info *xr_ayepi_op_at(int op) { return xr_ops_row(&ayepi_system, op); }

int xr_ayepi_op_slot(const xr_ayepi_store *s, int op, const xr_arg *args, size_t nargs) {
  return s ? xr_ops_slot(&ayepi_system, s, op, args, nargs) : -1;
}

/* ---- the calls ---------------------------------------------------------------------------------- */

/* Row op once, no policy: what a batch of one would do. */
static int call_once(xr_ayepi_store *s, int op, const xr_arg *args, size_t nargs, xr_result *out) {
  return xr_ops_call(&ayepi_system, s, s->client, op, args, nargs, out);
}

/* The failures that happened before anything was sent: the repeat is the first try. */
static int nothing_ran(int rc) {
  return rc == XR_ECONNECT || rc == XR_ENOMASTER || rc == XR_ELOADING || rc == XR_ECLUSTERDOWN || rc == XR_EREADONLY;
}

/* The wait before attempt n + 1 (n >= 1). */
static int64_t backoff_ms(const xr_ayepi_retry *r, int n) {
  double d = (double)r->base_ms;
  for (int i = 1; i < n && d < (double)r->max_ms; i++) d *= r->factor;
  if (d > (double)r->max_ms) d = (double)r->max_ms;
  uint32_t random;
  xr_random_bytes(&random, sizeof random);
  return (int64_t)(d * (1 - r->jitter * ((double)random / 4294967296.0)) + 0.5);
}

int xr_ayepi_retry_next(const xr_ayepi_store *s, int op, int rc, int attempt, int64_t *delay_ms) {
  if (delay_ms) *delay_ms = -1;
  if (!s || rc >= 0 || op < 0 || op >= XR_AYEPI_OP_COUNT || attempt < 1) return XR_AYEPI_GIVE_UP;
  int more = attempt < s->retry.attempts, lost = rc == XR_EIO || rc == XR_ETIMEOUT;
  /* a lost reply of these may have counted or delivered: their repeat is not the same call */
  int counts = op == XR_AYEPI_OP_INCREMENT || op == XR_AYEPI_OP_PUBLISH_TO;
  int next = lost && op == XR_AYEPI_OP_SET_IF_NOT_EXISTS ? XR_AYEPI_READ_BACK
             : more && (nothing_ran(rc) || (lost && !counts)) ? XR_AYEPI_TRY_AGAIN
                                                              : XR_AYEPI_GIVE_UP;
  if (delay_ms && next != XR_AYEPI_GIVE_UP && more) *delay_ms = backoff_ms(&s->retry, attempt);
  return next;
}

int ayepi_reported(xr_ayepi_store *s, int rc) {
  if (rc && s->retry.on_error) {
    char message[512];
    snprintf(message, sizeof message, "%s", xr_error_last()->message);
    s->retry.on_error(s->retry.on_error_ctx, rc, message);
    xr_fail(rc, "%s", message); /* what on_error did leaves the call's own error */
  }
  return rc;
}

int ayepi_wait(xr_ayepi_store *s, int64_t delay_ms) {
  return xr_client_sleep(s->client, delay_ms); /* XR_ECLOSED: shut down */
}

/* After a lost SET NX reply: the key read back (the GET row, its own policy). 0 with res the BOOL
 * answer when the key is there (held by the caller's value: won); 1 when it is absent (the claim was
 * not made, or is gone: claim again); the lost reply's code when the read failed too. */
static int read_back(xr_ayepi_store *s, const xr_arg *a, int lost, xr_result *res);

/* Row op under the policy, not reported (the caller reports once). */
static int policy_call(xr_ayepi_store *s, int op, const xr_arg *a, size_t nargs, xr_result *res) {
  for (int attempt = 1;; attempt++) {
    int rc = call_once(s, op, a, nargs, res);
    int64_t delay;
    int next = rc ? xr_ayepi_retry_next(s, op, rc, attempt, &delay) : XR_AYEPI_GIVE_UP;
    if (next == XR_AYEPI_READ_BACK) {
      xr_result_clear(res);
      int held = read_back(s, a, rc, res);
      if (held != 1) return held;
      if (delay < 0) return xr_fail(rc, "ayepi.set_if_not_exists: the reply was lost and the key is not set");
    } else if (next == XR_AYEPI_GIVE_UP) {
      return rc;
    } else {
      xr_result_clear(res);
    }
    int slept = ayepi_wait(s, delay);
    if (slept) return slept;
  }
}

static int read_back(xr_ayepi_store *s, const xr_arg *a, int lost, xr_result *res) {
  char message[512];
  snprintf(message, sizeof message, "%s", xr_error_last()->message);
  xr_result held;
  int got = policy_call(s, XR_AYEPI_OP_GET, a, 1, &held);
  if (got) {
    xr_result_clear(&held);
    return xr_fail(lost, "%s (and reading the claim back failed: %s)", message, xr_error_last()->message);
  }
  if (!held.present) {
    xr_result_clear(&held);
    return 1;
  }
  const xr_arg *v = &a[1];
  bool mine = held.fields[0].len == v->len && (!v->len || !memcmp(held.fields[0].data, v->data, v->len));
  xr_result_clear(&held);
  res->kind = XR_RESULT_BOOL;
  res->present = mine;
  return XR_OK;
}

int xr_ayepi_call(xr_ayepi_store *s, int op, const xr_arg *args, size_t nargs, xr_result *out) {
  if (!out) return xr_fail(XR_EINVAL, "xr_ayepi_call: out is required");
  memset(out, 0, sizeof *out);
  if (!s) return xr_fail(XR_EINVAL, "xr_ayepi_call: the store is NULL");
  if (op < 0 || op >= XR_AYEPI_OP_COUNT || nargs != ayepi_system.ops[op].nargs)
    return call_once(s, op, args, nargs, out); /* its error names what is wrong */
  return ayepi_reported(s, policy_call(s, op, args, nargs, out));
}

static int status(xr_ayepi_store *s, int op, const xr_arg *a, bool *present) {
  xr_result res;
  int rc = xr_ayepi_call(s, op, a, ayepi_system.ops[op].nargs, &res);
  if (!rc && present) *present = res.present;
  xr_result_clear(&res);
  return rc;
}

/* A VALUE row's text into the caller's allocation. */
static int value(xr_ayepi_store *s, int op, const xr_arg *a, bool *found, char **out, size_t *out_len) {
  if (!found || !out) return xr_fail(XR_EINVAL, "ayepi.%s: found and the value are required", op_name(op));
  *found = false;
  *out = NULL;
  if (out_len) *out_len = 0;
  xr_result res;
  int rc = xr_ayepi_call(s, op, a, ayepi_system.ops[op].nargs, &res);
  if (!rc && res.present) {
    if (!(*out = xr_result_take_field(&res, 0))) rc = xr_fail_nomem();
    else {
      *found = true;
      if (out_len) *out_len = res.fields[0].len;
    }
  }
  xr_result_clear(&res);
  return rc;
}

int xr_ayepi_get(xr_ayepi_store *s, bool *found, char **v, size_t *v_len, const char *key, size_t key_len) {
  xr_arg a[] = {XR_ARG_OF_TEXT(key, key_len)};
  return value(s, XR_AYEPI_OP_GET, a, found, v, v_len);
}

int xr_ayepi_set(xr_ayepi_store *s, const char *key, size_t key_len, const char *v, size_t v_len, int64_t ttl_ms) {
  xr_arg a[] = {XR_ARG_OF_TEXT(key, key_len), XR_ARG_OF_TEXT(v, v_len), XR_ARG_OF_INT(ttl_ms)};
  return status(s, XR_AYEPI_OP_SET, a, NULL);
}

int xr_ayepi_delete(xr_ayepi_store *s, const char *key, size_t key_len) {
  xr_arg a[] = {XR_ARG_OF_TEXT(key, key_len)};
  return status(s, XR_AYEPI_OP_DELETE, a, NULL);
}

int xr_ayepi_set_if_not_exists(xr_ayepi_store *s, bool *stored, const char *key, size_t key_len, const char *v,
                               size_t v_len, int64_t ttl_ms) {
  if (!stored) return xr_fail(XR_EINVAL, "ayepi.set_if_not_exists: stored is required");
  *stored = false;
  xr_arg a[] = {XR_ARG_OF_TEXT(key, key_len), XR_ARG_OF_TEXT(v, v_len), XR_ARG_OF_INT(ttl_ms)};
  return status(s, XR_AYEPI_OP_SET_IF_NOT_EXISTS, a, stored);
}

int xr_ayepi_increment(xr_ayepi_store *s, int64_t *out, const char *key, size_t key_len, int64_t by, int64_t ttl_ms) {
  if (!out) return xr_fail(XR_EINVAL, "ayepi.increment: value is required");
  *out = 0;
  xr_arg a[] = {XR_ARG_OF_TEXT(key, key_len), XR_ARG_OF_INT(by), XR_ARG_OF_INT(ttl_ms)};
  xr_result res;
  int rc = xr_ayepi_call(s, XR_AYEPI_OP_INCREMENT, a, 3, &res);
  if (!rc) *out = res.integer;
  xr_result_clear(&res);
  return rc;
}

int xr_ayepi_cache_get(xr_ayepi_store *s, bool *found, char **entry, size_t *entry_len, const char *key,
                       size_t key_len) {
  xr_arg a[] = {XR_ARG_OF_TEXT(key, key_len)};
  return value(s, XR_AYEPI_OP_CACHE_GET, a, found, entry, entry_len);
}

int xr_ayepi_cache_set(xr_ayepi_store *s, const char *key, size_t key_len, const char *entry, size_t entry_len,
                       int64_t now_ms) {
  xr_arg a[] = {XR_ARG_OF_TEXT(key, key_len), XR_ARG_OF_TEXT(entry, entry_len), XR_ARG_OF_INT(now_ms)};
  return status(s, XR_AYEPI_OP_CACHE_SET, a, NULL);
}

int xr_ayepi_cache_delete(xr_ayepi_store *s, bool *deleted, const char *key, size_t key_len) {
  if (!deleted) return xr_fail(XR_EINVAL, "ayepi.cache_delete: deleted is required");
  *deleted = false;
  xr_arg a[] = {XR_ARG_OF_TEXT(key, key_len)};
  return status(s, XR_AYEPI_OP_CACHE_DELETE, a, deleted);
}

int xr_ayepi_publish_to(xr_ayepi_store *s, int64_t *receivers, const char *channel, size_t channel_len,
                        const char *message, size_t message_len) {
  if (receivers) *receivers = 0;
  xr_arg a[] = {XR_ARG_OF_TEXT(channel, channel_len), XR_ARG_OF_TEXT(message, message_len)};
  xr_result res;
  int rc = xr_ayepi_call(s, XR_AYEPI_OP_PUBLISH_TO, a, 2, &res);
  if (!rc && receivers) *receivers = res.integer;
  xr_result_clear(&res);
  return rc;
}
