/* xml-pipeline's buffer and registry (SPEC.md 4, xp.h): xp.def's rows as builders over the shared
 * machinery (net/ops.h), the scripts that make them atomic on one server, and the typed calls. */
#include <stdio.h>
#include <string.h>

#include "base/decimal.h"
#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/token.h"
#include "crossredis/xp.h"
#include "net/client_internal.h"
#include "xp/xp_internal.h"

/* append: the slot and the TTL in one step (upstream's EXPIRE apart is lost with a crash between),
 * the index from RPUSH's reply (upstream's caller reads LLEN before: wrong under other writers). */
static const char append_lua[] =
    "local n = redis.call('RPUSH', KEYS[1], ARGV[1])\n"
    "if ARGV[2] ~= '0' then redis.call('EXPIRE', KEYS[1], ARGV[2]) end\n"
    "return n - 1";

/* The registry's scripts (one server). Keys computed from values (an old mapping's) are read only
 * when they are strings, so a stranger's key of another type there is left alone; the declared
 * keys are read first with plain GETs, so a wrong type there fails before anything is written. */
#define XP_LUA_STR                                                                     \
  "local function str(k)\n"                                                            \
  "  if redis.call('TYPE', k).ok == 'string' then return redis.call('GET', k) end\n"   \
  "  return false\n"                                                                   \
  "end\n"
/* SET with the TTL (ARGV[3], '0': none) */
#define XP_LUA_PUT                                                                     \
  "local function put(k, v)\n"                                                         \
  "  if ARGV[3] ~= '0' then redis.call('SET', k, v, 'EX', ARGV[3]) else redis.call('SET', k, v) end\n" \
  "end\n"

/* KEYS chain:<chain>, uuid:<uuid>; ARGV chain, uuid, ttl, chain prefix, uuid prefix */
static const char set_lua[] =
    XP_LUA_STR XP_LUA_PUT
    "local old_uuid = redis.call('GET', KEYS[1])\n"
    "local old_chain = redis.pcall('GET', KEYS[2])\n"
    "if type(old_chain) == 'table' and old_chain.err then\n" /* name the key: the core names KEYS[1] */
    "  if string.sub(old_chain.err, 1, 9) ~= 'WRONGTYPE' then return old_chain end\n"
    "  return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' holds the wrong kind of value')\n"
    "end\n"
    "local stale = {}\n"
    "if old_uuid and old_uuid ~= ARGV[2] and str(ARGV[5] .. old_uuid) == ARGV[1] then\n"
    "  stale[#stale + 1] = ARGV[5] .. old_uuid\n"
    "end\n"
    "if old_chain and old_chain ~= ARGV[1] and str(ARGV[4] .. old_chain) == ARGV[2] then\n"
    "  stale[#stale + 1] = ARGV[4] .. old_chain\n"
    "end\n"
    "put(KEYS[1], ARGV[2])\n"
    "put(KEYS[2], ARGV[1])\n"
    "for _, k in ipairs(stale) do redis.call('DEL', k) end\n"
    "return redis.status_reply('OK')";

/* KEYS uuid:<uuid>; ARGV uuid, chain prefix */
static const char get_chain_lua[] =
    XP_LUA_STR
    "local c = redis.call('GET', KEYS[1])\n"
    "if c and str(ARGV[2] .. c) == ARGV[1] then return c end\n"
    "return false";

/* KEYS chain:<chain>, uuid:<new uuid>; ARGV chain, new uuid, ttl */
static const char get_or_create_lua[] =
    XP_LUA_PUT
    "local u = redis.call('GET', KEYS[1])\n"
    "if u then return u end\n"
    "put(KEYS[1], ARGV[2])\n"
    "put(KEYS[2], ARGV[1])\n"
    "return ARGV[2]";

/* KEYS uuid:<uuid>; ARGV uuid, chain prefix: 1 when the forward key named uuid and is gone */
static const char delete_lua[] =
    XP_LUA_STR
    "local c = redis.call('GET', KEYS[1])\n"
    "if not c then return 0 end\n"
    "local removed = 0\n"
    "if str(ARGV[2] .. c) == ARGV[1] then removed = redis.call('DEL', ARGV[2] .. c) end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return removed";

/* compare-and-delete (the Cluster's steps): KEYS[1] deleted while it holds ARGV[1] */
static const char cad_lua[] =
    "if redis.call('TYPE', KEYS[1]).ok == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0";

/* ---- the store ---------------------------------------------------------------------------------- */

static int prefix_make(xp_prefix *p, const char *prefix, size_t len, const char *kind) {
  size_t kind_len = strlen(kind);
  if (!(p->data = xr_malloc(len + kind_len + 1))) return xr_fail_nomem();
  memcpy(p->data, prefix, len);
  memcpy(p->data + len, kind, kind_len + 1);
  p->len = len + kind_len;
  return XR_OK;
}

int xr_xp_store_new(xr_xp_store **out, xr_client *client, const xr_xp_options *o) {
  if (!out || !client) return xr_fail(XR_EINVAL, "xr_xp_store_new: out and client are required");
  *out = NULL;
  if (!o) return xr_fail(XR_EINVAL, "xr_xp_store_new: options are required");
  if (o->version != XR_XP_OPTIONS_VERSION)
    return xr_fail(XR_EINVAL, "xr_xp_store_new: options version %u, expected %u (use XR_XP_OPTIONS_INIT)", o->version,
                   XR_XP_OPTIONS_VERSION);
  if (o->ttl_s < XR_XP_TTL_NONE || o->ttl_s > XR_TTL_MAX_MS / 1000)
    return xr_fail(XR_EINVAL, "xr_xp_store_new: ttl_s must be 0 (the default, 86400), -1 (none) or 1 to %lld, got %lld",
                   (long long)(XR_TTL_MAX_MS / 1000), (long long)o->ttl_s);
  const char *prefix = o->key_prefix ? o->key_prefix : XR_XP_PREFIX;
  size_t len = strlen(prefix);
  xr_xp_store *s = xr_calloc(1, sizeof *s);
  if (!s) return xr_fail_nomem();
  s->client = client;
  s->ttl_s = o->ttl_s == 0 ? XR_XP_TTL_S : o->ttl_s == XR_XP_TTL_NONE ? 0 : o->ttl_s;
  s->ttl[xr_dec_i64(s->ttl, s->ttl_s)] = '\0';
  int rc = prefix_make(&s->prefix, prefix, len, "");
  if (!rc) rc = prefix_make(&s->buffer, prefix, len, "buffer:");
  if (!rc) rc = prefix_make(&s->chain, prefix, len, "chain:");
  if (!rc) rc = prefix_make(&s->uuid, prefix, len, "uuid:");
  if (!rc) rc = xr_script_new(&s->append, append_lua, sizeof append_lua - 1);
  if (!rc) rc = xr_script_new(&s->set, set_lua, sizeof set_lua - 1);
  if (!rc) rc = xr_script_new(&s->get_chain, get_chain_lua, sizeof get_chain_lua - 1);
  if (!rc) rc = xr_script_new(&s->get_or_create, get_or_create_lua, sizeof get_or_create_lua - 1);
  if (!rc) rc = xr_script_new(&s->delete, delete_lua, sizeof delete_lua - 1);
  if (!rc) rc = xr_script_new(&s->cad, cad_lua, sizeof cad_lua - 1);
  if (rc) {
    xr_xp_store_free(s);
    return rc;
  }
  *out = s;
  return XR_OK;
}

void xr_xp_store_free(xr_xp_store *s) {
  if (!s) return;
  xr_script *scripts[] = {s->append, s->set, s->get_chain, s->get_or_create, s->delete, s->cad};
  for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) xr_script_free(scripts[i]);
  xr_free(s->prefix.data);
  xr_free(s->buffer.data);
  xr_free(s->chain.data);
  xr_free(s->uuid.data);
  xr_free(s);
}

xr_client *xr_xp_store_client(const xr_xp_store *s) { return s ? s->client : NULL; }
const char *xr_xp_store_prefix(const xr_xp_store *s) { return s ? s->prefix.data : NULL; }
int64_t xr_xp_store_ttl_s(const xr_xp_store *s) { return s ? s->ttl_s : 0; }

/* ---- builders ----------------------------------------------------------------------------------- */

static const char *op_name(int op) { return xp_system.ops[op].name; }

int xp_check_id(int op, const char *what, const xr_arg *a) {
  return a->len ? XR_OK : xr_fail(XR_EINVAL, "xp.%s: %s is empty", op_name(op), what);
}

static bool cluster(const xr_xp_store *s) { return xr_client_topology(s->client) == XR_TOPOLOGY_CLUSTER; }

/* The Cluster's several-step rows cannot be one command of a batch. */
static int several_steps(const xr_xp_store *s, int op) {
  if (!cluster(s)) return XR_OK;
  return xr_fail(XR_EUNSUPPORTED, "xp.%s: on a Cluster this is several steps (xp.h): run it with xr_xp_call or "
                 "xr_xp_%s, not in a batch", op_name(op), op_name(op));
}

/* The row's key: <which prefix><a[0]>, refused when a[0] is empty. */
static int keyed(xr_cmd_key *k, int op, const xp_prefix *p, const char *what, const xr_arg *a) {
  int rc = xp_check_id(op, what, a);
  return rc ? rc : xr_cmd_key_concat(k, p->data, p->len, a->data, a->len);
}

/* <cmd> <buffer key> */
static int build_buffer_cmd(xr_cmd *c, const xr_xp_store *s, int op, const char *cmd, const xr_arg *a) {
  int rc = keyed(&c->key, op, &s->buffer, "thread_id", &a[0]);
  if (rc) return rc;
  xr_cmd_arg_str(c, cmd);
  xr_cmd_arg(c, c->key.data, c->key.len);
  return XR_OK;
}

static int build_buffer_append(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_xp_store *s = self;
  if (a[1].len > XR_XP_SLOT_MAX)
    return xr_fail(XR_EINVAL, "xp.buffer_append: slot is %zu bytes, at most %zu (Redis's limit on a value)", a[1].len,
                   XR_XP_SLOT_MAX);
  int rc = keyed(&c->key, XR_XP_OP_BUFFER_APPEND, &s->buffer, "thread_id", &a[0]);
  if (rc) return rc;
  c->script = s->append;
  c->numkeys = 1;
  xr_cmd_arg(c, c->key.data, c->key.len);
  xr_cmd_arg(c, a[1].data ? a[1].data : "", a[1].len);
  xr_cmd_arg_str(c, s->ttl);
  return XR_OK;
}

static int build_buffer_get_thread(xr_cmd *c, const void *self, const xr_arg *a) {
  int rc = build_buffer_cmd(c, self, XR_XP_OP_BUFFER_GET_THREAD, "LRANGE", a);
  if (rc) return rc;
  xr_cmd_arg_str(c, "0");
  xr_cmd_arg_str(c, "-1");
  return XR_OK;
}

static int build_buffer_get_slot(xr_cmd *c, const void *self, const xr_arg *a) {
  int rc = build_buffer_cmd(c, self, XR_XP_OP_BUFFER_GET_SLOT, "LINDEX", a);
  if (rc) return rc;
  xr_cmd_arg_num(c, 0, a[1].num);
  return XR_OK;
}

static int build_buffer_thread_len(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_buffer_cmd(c, self, XR_XP_OP_BUFFER_THREAD_LEN, "LLEN", a);
}

static int build_buffer_thread_exists(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_buffer_cmd(c, self, XR_XP_OP_BUFFER_THREAD_EXISTS, "EXISTS", a);
}

static int build_buffer_delete_thread(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_buffer_cmd(c, self, XR_XP_OP_BUFFER_DELETE_THREAD, "DEL", a);
}

static int build_registry_set(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_xp_store *s = self;
  int op = XR_XP_OP_REGISTRY_SET;
  int rc = keyed(&c->key, op, &s->chain, "chain", &a[0]);
  if (!rc) rc = keyed(&c->key2, op, &s->uuid, "uuid", &a[1]);
  if (!rc) rc = several_steps(s, op);
  if (rc) return rc;
  c->script = s->set;
  c->numkeys = 2;
  xr_cmd_arg(c, c->key.data, c->key.len);
  xr_cmd_arg(c, c->key2.data, c->key2.len);
  xr_cmd_arg(c, a[0].data, a[0].len);
  xr_cmd_arg(c, a[1].data, a[1].len);
  xr_cmd_arg_str(c, s->ttl);
  xr_cmd_arg(c, s->chain.data, s->chain.len);
  xr_cmd_arg(c, s->uuid.data, s->uuid.len);
  return XR_OK;
}

static int build_registry_get_uuid(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_xp_store *s = self;
  int rc = keyed(&c->key, XR_XP_OP_REGISTRY_GET_UUID, &s->chain, "chain", &a[0]);
  if (rc) return rc;
  xr_cmd_arg_str(c, "GET");
  xr_cmd_arg(c, c->key.data, c->key.len);
  return XR_OK;
}

/* <script> 1 uuid:<uuid> <uuid> <chain prefix>: get_chain's and delete's, which read the chain
 * the reverse key names and check its forward key. */
static int build_by_uuid(xr_cmd *c, const xr_xp_store *s, int op, const xr_script *script, const xr_arg *a) {
  int rc = keyed(&c->key, op, &s->uuid, "uuid", &a[0]);
  if (!rc) rc = several_steps(s, op);
  if (rc) return rc;
  c->script = script;
  c->numkeys = 1;
  xr_cmd_arg(c, c->key.data, c->key.len);
  xr_cmd_arg(c, a[0].data, a[0].len);
  xr_cmd_arg(c, s->chain.data, s->chain.len);
  return XR_OK;
}

static int build_registry_get_chain(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_xp_store *s = self;
  return build_by_uuid(c, s, XR_XP_OP_REGISTRY_GET_CHAIN, s->get_chain, a);
}

/* The new uuid is minted here (c->made), used only when the chain has none. */
static int build_registry_get_or_create(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_xp_store *s = self;
  int op = XR_XP_OP_REGISTRY_GET_OR_CREATE;
  int rc = keyed(&c->key, op, &s->chain, "chain", &a[0]);
  if (!rc) rc = several_steps(s, op);
  if (!rc) rc = xr_uuid4(c->made);
  if (rc) return rc;
  c->made_len = XR_UUID4_LEN;
  if ((rc = xr_cmd_key_concat(&c->key2, s->uuid.data, s->uuid.len, c->made, c->made_len))) return rc;
  c->script = s->get_or_create;
  c->numkeys = 2;
  xr_cmd_arg(c, c->key.data, c->key.len);
  xr_cmd_arg(c, c->key2.data, c->key2.len);
  xr_cmd_arg(c, a[0].data, a[0].len);
  xr_cmd_arg(c, c->made, c->made_len);
  xr_cmd_arg_str(c, s->ttl);
  return XR_OK;
}

static int build_registry_delete(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_xp_store *s = self;
  return build_by_uuid(c, s, XR_XP_OP_REGISTRY_DELETE, s->delete, a);
}

/* The first key of a row, for routing before building (the Node lanes). */
static int row_key(xr_cmd_key *k, const void *self, int op, const xr_arg *a) {
  const xr_xp_store *s = self;
  switch (op) {
    case XR_XP_OP_REGISTRY_SET:
    case XR_XP_OP_REGISTRY_GET_UUID:
    case XR_XP_OP_REGISTRY_GET_OR_CREATE:
      return keyed(k, op, &s->chain, "chain", &a[0]);
    case XR_XP_OP_REGISTRY_GET_CHAIN:
    case XR_XP_OP_REGISTRY_DELETE:
      return keyed(k, op, &s->uuid, "uuid", &a[0]);
    default:
      return keyed(k, op, &s->buffer, "thread_id", &a[0]);
  }
}

/* A script whose reply was lost may have run; the core never sends it again (an append twice
 * would add the slot twice). */
static const char *lost_reply_hint(const xr_cmd *c) {
  return c->script ? "the script may have run (an append's slot may be in the list)" : NULL;
}

static const xr_op_info xp_ops[XR_XP_OP_COUNT] = {
#define XR_XP_OP(ID, name, wire, result, args) XR_OPS_ROW(XP, ID, name, wire, result, args)
#include "crossredis/xp.def"
#undef XR_XP_OP
};

static const xr_op_builder xp_builders[XR_XP_OP_COUNT] = {
#define XR_XP_OP(ID, name, wire, result, args) XR_OPS_BUILDER(XP, ID, name)
#include "crossredis/xp.def"
#undef XR_XP_OP
};

const xr_system xp_system = {"xp", xp_ops, XR_XP_OP_COUNT, xp_builders, NULL, lost_reply_hint, NULL, row_key};

const xr_op_info *xr_xp_op_at(int op) { return xr_ops_row(&xp_system, op); }

int xr_xp_op_slot(const xr_xp_store *s, int op, const xr_arg *args, size_t nargs) {
  return s ? xr_ops_slot(&xp_system, s, op, args, nargs) : -1;
}

/* ---- the calls ---------------------------------------------------------------------------------- */

/* get_or_create on one server: the script's answer, and whether it is the uuid minted here. */
static int get_or_create_one(xr_xp_store *s, const xr_arg *a, xr_result *out, bool *created) {
  xr_cmd c;
  xr_reply *r;
  int rc = xr_ops_call_keep(&xp_system, s, s->client, XR_XP_OP_REGISTRY_GET_OR_CREATE, a, &c, &r, out);
  if (!rc && created)
    *created = out->present && out->fields[0].len == c.made_len && !memcmp(out->fields[0].data, c.made, c.made_len);
  out->reply_ = r; /* the VALUE borrows from it */
  xr_cmd_free(&c);
  if (rc) xr_result_clear(out);
  return rc;
}

static int call(xr_xp_store *s, int op, const xr_arg *args, size_t nargs, xr_result *out, bool *created) {
  if (!out) return xr_fail(XR_EINVAL, "xr_xp_call: out is required");
  memset(out, 0, sizeof *out);
  if (!s) return xr_fail(XR_EINVAL, "xr_xp_call: the store is NULL");
  int rc = xr_ops_check_args(&xp_system, op, args, nargs);
  if (rc) return rc;
  if (created) *created = false;
  if (op == XR_XP_OP_REGISTRY_GET_OR_CREATE && !cluster(s)) return get_or_create_one(s, args, out, created);
  if (cluster(s)) {
    switch (op) {
      case XR_XP_OP_REGISTRY_SET: return xp_cluster_set(s, args, out);
      case XR_XP_OP_REGISTRY_GET_CHAIN: return xp_cluster_get_chain(s, args, out);
      case XR_XP_OP_REGISTRY_GET_OR_CREATE: return xp_cluster_get_or_create(s, args, out, created);
      case XR_XP_OP_REGISTRY_DELETE: return xp_cluster_delete(s, args, out);
      default: break;
    }
  }
  return xr_ops_call(&xp_system, s, s->client, op, args, nargs, out);
}

int xr_xp_call(xr_xp_store *s, int op, const xr_arg *args, size_t nargs, xr_result *out) {
  return call(s, op, args, nargs, out, NULL);
}

/* A row of kind BOOL, INTEGER or STATUS: its answer. */
static int scalar(xr_xp_store *s, int op, const xr_arg *a, bool *present, int64_t *integer) {
  xr_result res;
  int rc = call(s, op, a, xp_system.ops[op].nargs, &res, NULL);
  if (!rc && present) *present = res.present;
  if (!rc && integer) *integer = res.integer;
  xr_result_clear(&res);
  return rc;
}

/* A VALUE row's bytes into the caller's allocation. */
static int value(xr_xp_store *s, int op, const xr_arg *a, bool *found, char **out, size_t *out_len, bool *created) {
  if (!out) return xr_fail(XR_EINVAL, "xp.%s: the value's pointer is required", op_name(op));
  if (found) *found = false;
  *out = NULL;
  if (out_len) *out_len = 0;
  xr_result res;
  int rc = call(s, op, a, xp_system.ops[op].nargs, &res, created);
  if (!rc && res.present) {
    if (!(*out = xr_result_take_field(&res, 0)) && res.fields[0].len) rc = xr_fail_nomem();
    else if (!*out && !(*out = xr_strndup("", 0))) rc = xr_fail_nomem(); /* an empty slot */
    if (!rc) {
      if (found) *found = true;
      if (out_len) *out_len = res.fields[0].len;
    }
  }
  xr_result_clear(&res);
  return rc;
}

#define ID_ARG(x) XR_ARG_OF_TEXT(x, x##_len)

int xr_xp_buffer_append(xr_xp_store *s, int64_t *index, const char *thread_id, size_t thread_id_len, const char *slot,
                        size_t slot_len) {
  if (index) *index = -1;
  xr_arg a[] = {ID_ARG(thread_id), ID_ARG(slot)};
  return scalar(s, XR_XP_OP_BUFFER_APPEND, a, NULL, index);
}

int xr_xp_buffer_get_thread(xr_xp_store *s, xr_result *out, const char *thread_id, size_t thread_id_len) {
  xr_arg a[] = {ID_ARG(thread_id)};
  return xr_xp_call(s, XR_XP_OP_BUFFER_GET_THREAD, a, 1, out);
}

int xr_xp_buffer_get_slot(xr_xp_store *s, bool *found, char **slot, size_t *slot_len, const char *thread_id,
                          size_t thread_id_len, int64_t index) {
  if (!found) return xr_fail(XR_EINVAL, "xp.buffer_get_slot: found is required");
  xr_arg a[] = {ID_ARG(thread_id), XR_ARG_OF_INT(index)};
  return value(s, XR_XP_OP_BUFFER_GET_SLOT, a, found, slot, slot_len, NULL);
}

int xr_xp_buffer_thread_len(xr_xp_store *s, int64_t *len, const char *thread_id, size_t thread_id_len) {
  if (!len) return xr_fail(XR_EINVAL, "xp.buffer_thread_len: len is required");
  *len = 0;
  xr_arg a[] = {ID_ARG(thread_id)};
  return scalar(s, XR_XP_OP_BUFFER_THREAD_LEN, a, NULL, len);
}

int xr_xp_buffer_thread_exists(xr_xp_store *s, bool *exists, const char *thread_id, size_t thread_id_len) {
  if (!exists) return xr_fail(XR_EINVAL, "xp.buffer_thread_exists: exists is required");
  *exists = false;
  xr_arg a[] = {ID_ARG(thread_id)};
  return scalar(s, XR_XP_OP_BUFFER_THREAD_EXISTS, a, exists, NULL);
}

int xr_xp_buffer_delete_thread(xr_xp_store *s, bool *deleted, const char *thread_id, size_t thread_id_len) {
  if (deleted) *deleted = false;
  xr_arg a[] = {ID_ARG(thread_id)};
  return scalar(s, XR_XP_OP_BUFFER_DELETE_THREAD, a, deleted, NULL);
}

int xr_xp_registry_set(xr_xp_store *s, const char *chain, size_t chain_len, const char *uuid, size_t uuid_len) {
  xr_arg a[] = {ID_ARG(chain), ID_ARG(uuid)};
  return scalar(s, XR_XP_OP_REGISTRY_SET, a, NULL, NULL);
}

int xr_xp_registry_get_uuid(xr_xp_store *s, bool *found, char **uuid, size_t *uuid_len, const char *chain,
                            size_t chain_len) {
  if (!found) return xr_fail(XR_EINVAL, "xp.registry_get_uuid: found is required");
  xr_arg a[] = {ID_ARG(chain)};
  return value(s, XR_XP_OP_REGISTRY_GET_UUID, a, found, uuid, uuid_len, NULL);
}

int xr_xp_registry_get_chain(xr_xp_store *s, bool *found, char **chain, size_t *chain_len, const char *uuid,
                             size_t uuid_len) {
  if (!found) return xr_fail(XR_EINVAL, "xp.registry_get_chain: found is required");
  xr_arg a[] = {ID_ARG(uuid)};
  return value(s, XR_XP_OP_REGISTRY_GET_CHAIN, a, found, chain, chain_len, NULL);
}

int xr_xp_registry_get_or_create(xr_xp_store *s, char **uuid, size_t *uuid_len, bool *created, const char *chain,
                                 size_t chain_len) {
  bool made = false;
  if (created) *created = false;
  xr_arg a[] = {ID_ARG(chain)};
  int rc = value(s, XR_XP_OP_REGISTRY_GET_OR_CREATE, a, NULL, uuid, uuid_len, &made);
  if (!rc && created) *created = made;
  return rc;
}

int xr_xp_registry_delete(xr_xp_store *s, bool *deleted, const char *uuid, size_t uuid_len) {
  if (deleted) *deleted = false;
  xr_arg a[] = {ID_ARG(uuid)};
  return scalar(s, XR_XP_OP_REGISTRY_DELETE, a, deleted, NULL);
}

int xr_xp_ping(xr_xp_store *s) {
  if (!s) return xr_fail(XR_EINVAL, "xp.ping: the store is NULL");
  return xr_client_ping(s->client);
}
