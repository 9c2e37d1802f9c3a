/* toolhive transport sessions (SPEC.md 2, session.h): session.def's rows as builders over the
 * shared machinery (net/ops.h), the decoders of the SESSION and MAP results, and the typed calls. */
#include <stdio.h>
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/session.h"
#include "net/ops.h"

/* toolhive v0.55.1+'s scripts, byte for byte (their SHA-1s are what go-redis sends). */
static const char load_if_owner_lua[] =
    "\nlocal current = redis.call(\"GET\", KEYS[1])\n"
    "if not current then return false end\n"
    "local decoded = cjson.decode(current)\n"
    "if not decoded.metadata or decoded.metadata[ARGV[1]] ~= ARGV[2] then return false end\n"
    "redis.call(\"PEXPIRE\", KEYS[1], ARGV[3])\n"
    "return current";
static const char store_if_owner_lua[] =
    "\nlocal current = redis.call(\"GET\", KEYS[1])\n"
    "if not current then return 0 end\n"
    "local decoded = cjson.decode(current)\n"
    "if not decoded.metadata or decoded.metadata[ARGV[1]] ~= ARGV[2] then return 0 end\n"
    "local replacement = cjson.decode(ARGV[3])\n"
    "if not replacement.metadata or replacement.metadata[ARGV[1]] ~= ARGV[2] then return 0 end\n"
    "redis.call(\"SET\", KEYS[1], ARGV[3], \"PX\", ARGV[4])\n"
    "return 1";
static const char delete_if_owner_lua[] =
    "\nlocal current = redis.call(\"GET\", KEYS[1])\n"
    "if not current then return 0 end\n"
    "local decoded = cjson.decode(current)\n"
    "if not decoded.metadata or decoded.metadata[ARGV[1]] ~= ARGV[2] then return 0 end\n"
    "return redis.call(\"DEL\", KEYS[1])";

struct xr_session_storage {
  xr_client *client;
  char *prefix;
  size_t prefix_len;
  int64_t ttl_ms;
  xr_go_version go;
  xr_script *load_if_owner, *store_if_owner, *delete_if_owner;
};

extern const xr_system session_system;

/* ---- options ---------------------------------------------------------------------------------- */

typedef struct resolved {
  const char *prefix;
  int64_t ttl_ms;
  xr_go_version go;
} resolved;

static int resolve(resolved *r, const xr_session_options *o) {
  if (!o) return xr_fail(XR_EINVAL, "xr_session_storage_new: options are required");
  if (o->version != XR_SESSION_OPTIONS_VERSION)
    return xr_fail(XR_EINVAL, "xr_session_storage_new: options version %u, expected %u (use XR_SESSION_OPTIONS_INIT)",
                   o->version, XR_SESSION_OPTIONS_VERSION);
  r->prefix = o->key_prefix ? o->key_prefix : XR_SESSION_PROXY_PREFIX;
  size_t n = strlen(r->prefix);
  if (n == 0) return xr_fail(XR_EINVAL, "invalid redis configuration: key prefix is required");
  if (r->prefix[n - 1] != ':')
    return xr_fail(XR_EINVAL, "invalid redis configuration: key prefix must end with ':' to avoid key collisions (e.g. "
                              "\"thv:vmcp:session:\")");
  r->ttl_ms = o->ttl_ms ? o->ttl_ms : XR_SESSION_PROXY_TTL_MS;
  if (r->ttl_ms < 0) return xr_fail(XR_EINVAL, "ttl must be a positive duration (ttl_ms %lld)", (long long)r->ttl_ms);
  if (r->ttl_ms > XR_TTL_MAX_MS)
    return xr_fail(XR_EINVAL, "ttl_ms must be at most %lld, got %lld", (long long)XR_TTL_MAX_MS, (long long)r->ttl_ms);
  r->go = o->go ? o->go : XR_GO_1_27;
  if (r->go != XR_GO_1_26 && r->go != XR_GO_1_27)
    return xr_fail(XR_EINVAL, "xr_session_storage_new: go version %d is not XR_GO_1_26 or XR_GO_1_27", (int)o->go);
  return XR_OK;
}

int xr_session_options_check(const xr_session_options *o) {
  resolved r = {NULL, 0, XR_GO_DEFAULT};
  return resolve(&r, o);
}

int xr_session_storage_new(xr_session_storage **out, xr_client *client, const xr_session_options *o) {
  if (!out || !client) return xr_fail(XR_EINVAL, "xr_session_storage_new: out and client are required");
  *out = NULL;
  resolved r = {NULL, 0, XR_GO_DEFAULT};
  int rc = resolve(&r, o);
  if (rc) return rc;
  xr_session_storage *s = xr_calloc(1, sizeof *s);
  if (!s) return xr_fail_nomem();
  s->client = client;
  s->prefix_len = strlen(r.prefix);
  s->ttl_ms = r.ttl_ms;
  s->go = r.go;
  if (!(s->prefix = xr_strndup(r.prefix, s->prefix_len))) rc = xr_fail_nomem();
  if (!rc) rc = xr_script_new(&s->load_if_owner, load_if_owner_lua, sizeof load_if_owner_lua - 1);
  if (!rc) rc = xr_script_new(&s->store_if_owner, store_if_owner_lua, sizeof store_if_owner_lua - 1);
  if (!rc) rc = xr_script_new(&s->delete_if_owner, delete_if_owner_lua, sizeof delete_if_owner_lua - 1);
  if (rc) {
    xr_session_storage_free(s);
    return rc;
  }
  *out = s;
  return XR_OK;
}

void xr_session_storage_free(xr_session_storage *s) {
  if (!s) return;
  xr_script_free(s->load_if_owner);
  xr_script_free(s->store_if_owner);
  xr_script_free(s->delete_if_owner);
  xr_free(s->prefix);
  xr_free(s);
}

xr_client *xr_session_storage_client(const xr_session_storage *s) { return s ? s->client : NULL; }
const char *xr_session_storage_prefix(const xr_session_storage *s) { return s ? s->prefix : NULL; }
int64_t xr_session_storage_ttl_ms(const xr_session_storage *s) { return s ? s->ttl_ms : 0; }

/* ---- builders --------------------------------------------------------------------------------- */

/* What toolhive says of an empty id, per row (its own words differ by method). */
static const char *empty_id_text(int op) {
  switch (op) {
    case XR_SESSION_OP_STORE: return "cannot store session with empty ID";
    case XR_SESSION_OP_CREATE: return "cannot create nil session or empty ID";
    case XR_SESSION_OP_STORE_IF_OWNER: return "cannot store nil session or empty ID";
    case XR_SESSION_OP_LOAD:
    case XR_SESSION_OP_LOAD_IF_OWNER: return "cannot load session with empty ID";
    case XR_SESSION_OP_LOAD_METADATA: return "cannot load session metadata with empty ID";
    case XR_SESSION_OP_DELETE:
    case XR_SESSION_OP_DELETE_IF_OWNER: return "cannot delete session with empty ID";
    case XR_SESSION_OP_DATA_CREATE:
    case XR_SESSION_OP_DATA_UPDATE: return "cannot write session data with empty ID";
    case XR_SESSION_OP_DATA_LOAD:
    case XR_SESSION_OP_DATA_LOAD_METADATA: return "cannot load session data with empty ID";
    default: return "cannot delete session data with empty ID";
  }
}

static int keyed(xr_cmd *c, const xr_session_storage *s, int op, const char *id, size_t id_len) {
  if (id_len == 0) return xr_fail(XR_EINVAL, "session.%s: %s", session_system.ops[op].name, empty_id_text(op));
  return xr_cmd_key_concat(&c->key, s->prefix, s->prefix_len, id, id_len);
}

/* The TTL as go-redis sends it: `ex <s>`, or `px <ms>` when it is not a whole number of seconds. */
static void ttl_args(xr_cmd *c, const xr_session_storage *s) {
  if (s->ttl_ms % 1000 == 0) {
    xr_cmd_arg_str(c, "ex");
    xr_cmd_arg_num(c, 0, s->ttl_ms / 1000);
  } else {
    xr_cmd_arg_str(c, "px");
    xr_cmd_arg_num(c, 0, s->ttl_ms);
  }
}

/* session_json read as a record (the reader's rules make it the session Go would hold) and written
 * in the store's Go bytes into c->owned; the key from its id. A typed function has made both
 * already (typed_call: c->owned is the record, a[0] its text), which is then sent as it is. */
static int record_arg(xr_cmd *c, const xr_session_storage *s, int op, const xr_arg *a) {
  if (c->owned) {
    xr_cmd_arg(c, a[0].data, a[0].len);
    return XR_OK;
  }
  xr_session_record rec;
  int rc = xr_session_read(&rec, a[0].data, a[0].len, s->go);
  if (rc) {
    char why[512];
    snprintf(why, sizeof why, "%s", xr_error_last()->message);
    return xr_fail(rc == XR_EPARSE ? XR_EINVAL : rc, "session.%s: session_json is not a session: %s",
                   session_system.ops[op].name, why);
  }
  size_t n;
  if (!(rc = keyed(c, s, op, rec.s.id, rec.s.id_len))) rc = xr_session_write(&c->owned, &n, &rec.s, s->go);
  if (!rc) xr_cmd_arg(c, c->owned, n);
  xr_session_record_clear(&rec);
  return rc;
}

/* set <key> <record> ex <ttl> [nx] */
static int build_set_record(xr_cmd *c, const void *self, int op, const xr_arg *a, const char *mode) {
  const xr_session_storage *s = self;
  xr_cmd_arg_str(c, "set");
  xr_cmd_arg(c, NULL, 0); /* the key, once the record gave the id */
  int rc = record_arg(c, s, op, a);
  if (rc) return rc;
  c->argv[1] = c->key.data;
  c->lens[1] = c->key.len;
  ttl_args(c, s);
  if (mode) xr_cmd_arg_str(c, mode);
  return XR_OK;
}

static int build_store(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_set_record(c, self, XR_SESSION_OP_STORE, a, NULL);
}

static int build_create(xr_cmd *c, const void *self, const xr_arg *a) {
  c->nil_code = XR_EEXISTS;
  c->nil_msg = "session already exists";
  return build_set_record(c, self, XR_SESSION_OP_CREATE, a, "nx");
}

/* <command> <key> [ttl]: the loads and deletes. */
static int build_plain(xr_cmd *c, const xr_session_storage *s, int op, const char *cmd, const xr_arg *a, int ttl) {
  int rc = keyed(c, s, op, a[0].data, a[0].len);
  if (rc) return rc;
  xr_cmd_arg_str(c, cmd);
  xr_cmd_arg(c, c->key.data, c->key.len);
  if (ttl) ttl_args(c, s);
  return XR_OK;
}

static int build_load(xr_cmd *c, const void *self, const xr_arg *a) {
  c->nil_code = XR_ENOTFOUND;
  c->nil_msg = "session not found";
  return build_plain(c, self, XR_SESSION_OP_LOAD, "getex", a, 1);
}

static int build_delete(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_plain(c, self, XR_SESSION_OP_DELETE, "del", a, 0);
}

static int build_load_metadata(xr_cmd *c, const void *self, const xr_arg *a) {
  c->nil_code = XR_ENOTFOUND;
  c->nil_msg = "session not found";
  c->made_num = 1; /* the MAP of a record's metadata, not a stored map */
  return build_plain(c, self, XR_SESSION_OP_LOAD_METADATA, "get", a, 0);
}

/* The scripts' TTL argument: toolhive's max(ttl in ms, 1). */
static void ttl_ms_arg(xr_cmd *c, const xr_session_storage *s, int slot) {
  xr_cmd_arg_num(c, slot, s->ttl_ms > 1 ? s->ttl_ms : 1);
}

/* evalsha <script> 1 <key> vmcp.identity.binding <owner> ... */
static int owner_script(xr_cmd *c, const xr_session_storage *s, const xr_script *script, const xr_arg *owner) {
  c->script = script;
  c->numkeys = 1;
  xr_cmd_arg(c, c->key.data, c->key.len);
  xr_cmd_arg_str(c, XR_SESSION_BINDING_KEY);
  xr_cmd_arg(c, owner->data, owner->len);
  (void)s;
  return XR_OK;
}

static int build_load_if_owner(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_session_storage *s = self;
  int rc = keyed(c, s, XR_SESSION_OP_LOAD_IF_OWNER, a[0].data, a[0].len);
  if (rc) return rc;
  c->nil_code = XR_ENOTFOUND;
  c->nil_msg = "session not found";
  owner_script(c, s, s->load_if_owner, &a[1]);
  ttl_ms_arg(c, s, 0);
  return XR_OK;
}

static int build_store_if_owner(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_session_storage *s = self;
  int rc = record_arg(c, s, XR_SESSION_OP_STORE_IF_OWNER, a);
  if (rc) return rc;
  const char *record = c->argv[0];
  size_t record_len = c->lens[0];
  c->argc = 0;
  owner_script(c, s, s->store_if_owner, &a[1]);
  xr_cmd_arg(c, record, record_len);
  ttl_ms_arg(c, s, 0);
  return XR_OK;
}

static int build_delete_if_owner(xr_cmd *c, const void *self, const xr_arg *a) {
  const xr_session_storage *s = self;
  int rc = keyed(c, s, XR_SESSION_OP_DELETE_IF_OWNER, a[0].data, a[0].len);
  if (rc) return rc;
  return owner_script(c, s, s->delete_if_owner, &a[1]);
}

/* set <key> <map> ex <ttl> nx|xx: data_json read as a map (Go's reader) and written as Go writes
 * it. */
static int build_data_write(xr_cmd *c, const xr_session_storage *s, int op, const xr_arg *a, const char *mode) {
  int rc = keyed(c, s, op, a[0].data, a[0].len);
  if (rc) return rc;
  xr_session_map m;
  if ((rc = xr_session_map_read(&m, a[1].data, a[1].len, s->go))) {
    char why[512];
    snprintf(why, sizeof why, "%s", xr_error_last()->message);
    return xr_fail(rc == XR_EPARSE ? XR_EINVAL : rc, "session.%s: data_json is not a map of strings: %s",
                   session_system.ops[op].name, why);
  }
  size_t n;
  rc = xr_session_map_write(&c->owned, &n, m.pairs, m.count, s->go); /* a nil map is written "{}" */
  xr_session_map_clear(&m);
  if (rc) return rc;
  xr_cmd_arg_str(c, "set");
  xr_cmd_arg(c, c->key.data, c->key.len);
  xr_cmd_arg(c, c->owned, n);
  ttl_args(c, s);
  xr_cmd_arg_str(c, mode);
  return XR_OK;
}

static int build_data_create(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_data_write(c, self, XR_SESSION_OP_DATA_CREATE, a, "nx");
}

static int build_data_update(xr_cmd *c, const void *self, const xr_arg *a) {
  /* go-redis SetArgs writes its Mode as given: toolhive's is "XX" (SetNX writes "nx") */
  return build_data_write(c, self, XR_SESSION_OP_DATA_UPDATE, a, "XX");
}

static int build_data_load(xr_cmd *c, const void *self, const xr_arg *a) {
  c->nil_code = XR_ENOTFOUND;
  c->nil_msg = "session not found";
  return build_plain(c, self, XR_SESSION_OP_DATA_LOAD, "getex", a, 1);
}

static int build_data_load_metadata(xr_cmd *c, const void *self, const xr_arg *a) {
  c->nil_code = XR_ENOTFOUND;
  c->nil_msg = "session not found";
  return build_plain(c, self, XR_SESSION_OP_DATA_LOAD_METADATA, "get", a, 0);
}

static int build_data_delete(xr_cmd *c, const void *self, const xr_arg *a) {
  return build_plain(c, self, XR_SESSION_OP_DATA_DELETE, "del", a, 0);
}

/* ---- decoding --------------------------------------------------------------------------------- */

static int decode_failed(const xr_cmd *c, const char *what) {
  char why[512];
  snprintf(why, sizeof why, "%s", xr_error_last()->message);
  return xr_fail(XR_EPARSE, "%.*s: %s: %s", (int)c->key.len, c->key.data, what, why);
}

/* A stored record read as toolhive reads it, its failure named as toolhive names it. */
static int read_record(const xr_cmd *c, const xr_session_storage *s, const char *p, size_t n, xr_session_record *rec) {
  if (xr_session_read(rec, p, n, s->go))
    return decode_failed(c, n ? "failed to deserialize session: failed to unmarshal session data"
                              : "failed to deserialize session");
  return XR_OK;
}

/* A stored record as a SESSION result: every text field (id, type, data, the times and the
 * metadata as Go writes them) copied into one buffer the result owns (owned_[0]); raw borrows the
 * reply. */
static int session_result(const xr_cmd *c, const xr_session_storage *s, const char *p, size_t n, xr_result *out) {
  xr_session_record rec;
  if (read_record(c, s, p, n, &rec)) return xr_error_last()->code;
  char *meta = NULL, t1[XR_RFC3339_MAX], t2[XR_RFC3339_MAX];
  size_t meta_len = 0;
  int n1 = 0, n2 = 0;
  int rc = xr_session_map_write(&meta, &meta_len, rec.s.metadata, rec.s.metadata_count, s->go);
  if (!rc && (n1 = xr_time_format_rfc3339(t1, &rec.s.created_at)) < 0) rc = n1;
  if (!rc && (n2 = xr_time_format_rfc3339(t2, &rec.s.updated_at)) < 0) rc = n2;
  size_t data_len = rec.s.data ? rec.s.data_len : 0;
  size_t total = rec.s.id_len + rec.s.type_len + data_len + (size_t)n1 + (size_t)n2 + meta_len + 6;
  char *buf = rc ? NULL : xr_malloc(total);
  if (!rc && !buf) rc = xr_fail_nomem();
  if (rc) {
    xr_free(meta);
    xr_session_record_clear(&rec);
    return rc;
  }
  struct {
    const char *p;
    size_t n;
  } parts[6] = {{rec.s.id, rec.s.id_len}, {rec.s.type, rec.s.type_len}, {t1, (size_t)n1},
                {t2, (size_t)n2},         {rec.s.data, data_len},       {meta, meta_len}};
  char *w = buf;
  for (int i = 0; i < 6; i++) {
    if (parts[i].n) memcpy(w, parts[i].p, parts[i].n);
    w[parts[i].n] = '\0';
    out->fields[i] = XR_ARG_OF_TEXT(w, parts[i].n);
    w += parts[i].n + 1;
  }
  if (!rec.s.data) out->fields[4] = XR_ARG_OF_TEXT(NULL, 0);
  out->fields[6] = XR_ARG_OF_TEXT(p, n);
  out->nfields = 7;
  out->owned_[0] = buf;
  xr_free(meta);
  xr_session_record_clear(&rec);
  return XR_OK;
}

/* A MAP result: a stored map (the data store), or a record's metadata (load_metadata: made_num). */
static int map_result(const xr_cmd *c, const xr_session_storage *s, const char *p, size_t n, xr_result *out) {
  char *json = NULL;
  size_t len = 0;
  int rc;
  if (c->made_num) {
    xr_session_record rec;
    if (n == 0) {
      xr_fail(XR_EPARSE, "unexpected end of JSON input");
      return decode_failed(c, "failed to deserialize session metadata");
    }
    if (xr_session_read(&rec, p, n, s->go)) return decode_failed(c, "failed to deserialize session metadata");
    rc = rec.metadata_present ? xr_session_map_write(&json, &len, rec.s.metadata, rec.s.metadata_count, s->go)
                              : ((json = xr_strndup("null", 4)) ? (len = 4, XR_OK) : xr_fail_nomem());
    xr_session_record_clear(&rec);
  } else {
    xr_session_map m;
    if (xr_session_map_read(&m, p, n, s->go)) return decode_failed(c, "failed to deserialize session metadata");
    rc = !m.is_nil ? xr_session_map_write(&json, &len, m.pairs, m.count, s->go)
                   : ((json = xr_strndup("null", 4)) ? (len = 4, XR_OK) : xr_fail_nomem());
    xr_session_map_clear(&m);
  }
  if (rc) return rc;
  out->nfields = 2;
  out->fields[0] = XR_ARG_OF_TEXT(json, len);
  out->fields[1] = XR_ARG_OF_TEXT(p, n);
  out->owned_[0] = json;
  return XR_OK;
}

/* The stored text a load answered: a string reply, else XR_EPROTOCOL. */
static int reply_text(const xr_cmd *c, const xr_reply *r, const char **p, size_t *n) {
  if (xr_reply_kind(r) != XR_REPLY_STRING)
    return xr_fail(XR_EPROTOCOL, "%.*s: unexpected reply (type %d) to %s", (int)c->key.len, c->key.data,
                   (int)xr_reply_kind(r), c->script ? "a script" : c->argv[0]);
  *p = xr_reply_str(r, n);
  return XR_OK;
}

static int decode(const xr_cmd *c, const void *self, xr_result_kind kind, const xr_reply *r, xr_result *out) {
  if (kind != XR_RESULT_SESSION && kind != XR_RESULT_MAP) return xr_fail(XR_EINVAL, "session: unknown result kind %d", (int)kind);
  const char *p = NULL;
  size_t n = 0;
  int rc = reply_text(c, r, &p, &n);
  if (rc) return rc;
  return kind == XR_RESULT_SESSION ? session_result(c, self, p, n, out) : map_result(c, self, p, n, out);
}

/* The key of a row, for routing before building (the Node lanes). */
static int row_key(xr_cmd_key *k, const void *self, int op, const xr_arg *a) {
  const xr_session_storage *s = self;
  if (op == XR_SESSION_OP_STORE || op == XR_SESSION_OP_CREATE || op == XR_SESSION_OP_STORE_IF_OWNER) {
    xr_session_record rec;
    int rc = xr_session_read(&rec, a[0].data, a[0].len, s->go);
    if (!rc) rc = rec.s.id_len ? xr_cmd_key_concat(k, s->prefix, s->prefix_len, rec.s.id, rec.s.id_len)
                               : xr_fail(XR_EINVAL, "session.%s: %s", session_system.ops[op].name, empty_id_text(op));
    xr_session_record_clear(&rec);
    return rc;
  }
  if (a[0].len == 0) return xr_fail(XR_EINVAL, "session.%s: %s", session_system.ops[op].name, empty_id_text(op));
  return xr_cmd_key_concat(k, s->prefix, s->prefix_len, a[0].data, a[0].len);
}

static const xr_op_info session_ops[XR_SESSION_OP_COUNT] = {
#define XR_SESSION_OP(ID, name, wire, result, args) XR_OPS_ROW(SESSION, ID, name, wire, result, args)
#include "crossredis/session.def"
#undef XR_SESSION_OP
};

static const xr_op_builder session_builders[XR_SESSION_OP_COUNT] = {
#define XR_SESSION_OP(ID, name, wire, result, args) XR_OPS_BUILDER(SESSION, ID, name)
#include "crossredis/session.def"
#undef XR_SESSION_OP
};

const xr_system session_system = {"session", session_ops, XR_SESSION_OP_COUNT, session_builders, decode, NULL, NULL,
                                  row_key};

const xr_op_info *xr_session_op_at(int op) { return xr_ops_row(&session_system, op); }

int xr_session_op_slot(const xr_session_storage *s, int op, const xr_arg *args, size_t nargs) {
  return s ? xr_ops_slot(&session_system, s, op, args, nargs) : -1;
}

/* ---- the calls -------------------------------------------------------------------------------- */

static int need(const xr_session_storage *s, const char *fn) {
  return s ? XR_OK : xr_fail(XR_EINVAL, "%s: the session storage is NULL", fn);
}

int xr_session_call(xr_session_storage *s, int op, const xr_arg *args, size_t nargs, xr_result *out) {
  if (!out) return xr_fail(XR_EINVAL, "xr_session_call: out is required");
  memset(out, 0, sizeof *out);
  int rc = need(s, __func__);
  return rc ? rc : xr_ops_call(&session_system, s, s->client, op, args, nargs, out);
}

/* Runs row op on packed arguments; the result's memory is the caller's (xr_result_clear). */
static int run(xr_session_storage *s, int op, const xr_arg *a, xr_result *res) {
  return xr_session_call(s, op, a, session_system.ops[op].nargs, res);
}

/* Row op run for a typed function: `made` begins the command (a record written from a typed
 * session, or nothing), the reply stays in *r for the caller to read (xr_ops_call_end frees all). */
static int typed_call(xr_session_storage *s, int op, const xr_arg *a, xr_cmd *c, xr_reply **r, xr_result *res) {
  int rc = xr_ops_check_args(&session_system, op, a, session_system.ops[op].nargs);
  return rc ? rc : xr_ops_call_prepared(&session_system, s, s->client, op, a, c, r, res);
}

/* A typed session's row: its record written once, in the store's Go bytes, and sent as it is (the
 * row's builder would read session_json and write it again, the same bytes). */
static int run_session(xr_session_storage *s, int op, const xr_session *session, const xr_arg *owner, xr_result *res) {
  memset(res, 0, sizeof *res);
  int rc = need(s, session_system.ops[op].name);
  if (rc) return rc;
  if (!session) return xr_fail(XR_EINVAL, "session.%s: the session is NULL", session_system.ops[op].name);
  /* the session as toolhive would hold it: a streamable session has no data (StreamableSession
   * drops it), as the reader of session_json makes it */
  xr_session held = *session;
  if (held.type_len == 10 && held.type && !memcmp(held.type, "streamable", 10)) {
    held.data = NULL;
    held.data_len = 0;
  }
  xr_cmd c;
  memset(&c, 0, sizeof c);
  xr_reply *r = NULL;
  size_t len = 0;
  rc = xr_session_write(&c.owned, &len, &held, s->go);
  if (!rc) rc = keyed(&c, s, op, held.id, held.id_len);
  if (!rc) {
    xr_arg a[2] = {XR_ARG_OF_TEXT(c.owned, len), owner ? *owner : XR_ARG_OF_TEXT("", 0)};
    rc = typed_call(s, op, a, &c, &r, res);
  }
  xr_reply_free(r);
  xr_cmd_free(&c);
  return rc;
}

int xr_session_store(xr_session_storage *s, const xr_session *session) {
  xr_result res;
  int rc = run_session(s, XR_SESSION_OP_STORE, session, NULL, &res);
  xr_result_clear(&res);
  return rc;
}

int xr_session_create(xr_session_storage *s, const xr_session *session) {
  xr_result res;
  int rc = run_session(s, XR_SESSION_OP_CREATE, session, NULL, &res);
  xr_result_clear(&res);
  return rc;
}

int xr_session_store_if_owner(xr_session_storage *s, bool *stored, const xr_session *session, const char *owner,
                              size_t owner_len) {
  if (!stored) return xr_fail(XR_EINVAL, "xr_session_store_if_owner: stored is required");
  *stored = false;
  xr_arg o = XR_ARG_OF_TEXT(owner, owner_len);
  xr_result res;
  int rc = run_session(s, XR_SESSION_OP_STORE_IF_OWNER, session, &o, &res);
  if (!rc) *stored = res.present;
  xr_result_clear(&res);
  return rc;
}

/* A load into the caller's typed record: the reply read once, straight into it (the SESSION
 * result's text fields are not made). The row's result kind is decoded as STATUS, which keeps the
 * nil reply's failure (session not found) and nothing else. */
static int load_record(xr_session_storage *s, int op, xr_session_record *out, const xr_arg *a) {
  if (!out) return xr_fail(XR_EINVAL, "session.%s: out is required", session_system.ops[op].name);
  memset(out, 0, sizeof *out);
  int rc = need(s, session_system.ops[op].name);
  if (rc) return rc;
  xr_cmd c;
  memset(&c, 0, sizeof c);
  xr_reply *r = NULL;
  xr_result res;
  const char *p = NULL;
  size_t n = 0;
  rc = xr_ops_check_args(&session_system, op, a, session_system.ops[op].nargs);
  if (!rc) rc = session_system.build[op](&c, s, a);
  if (!rc) rc = xr_ops_run(&session_system, s->client, &c, &r);
  if (!rc) rc = xr_ops_decode(&session_system, s, &c, XR_RESULT_STATUS, r, &res);
  if (!rc) rc = reply_text(&c, r, &p, &n);
  if (!rc) rc = read_record(&c, s, p, n, out);
  xr_reply_free(r);
  xr_cmd_free(&c);
  return rc;
}

int xr_session_load(xr_session_storage *s, xr_session_record *out, const char *id, size_t id_len) {
  xr_arg a[] = {XR_ARG_OF_TEXT(id, id_len)};
  return load_record(s, XR_SESSION_OP_LOAD, out, a);
}

int xr_session_load_if_owner(xr_session_storage *s, xr_session_record *out, const char *id, size_t id_len,
                             const char *owner, size_t owner_len) {
  xr_arg a[] = {XR_ARG_OF_TEXT(id, id_len), XR_ARG_OF_TEXT(owner, owner_len)};
  return load_record(s, XR_SESSION_OP_LOAD_IF_OWNER, out, a);
}

static int plain(xr_session_storage *s, int op, const xr_arg *a, bool *answer) {
  xr_result res;
  int rc = run(s, op, a, &res);
  if (answer) *answer = !rc && res.present;
  xr_result_clear(&res);
  return rc;
}

int xr_session_delete(xr_session_storage *s, const char *id, size_t id_len) {
  xr_arg a[] = {XR_ARG_OF_TEXT(id, id_len)};
  return plain(s, XR_SESSION_OP_DELETE, a, NULL);
}

int xr_session_delete_if_owner(xr_session_storage *s, bool *deleted, const char *id, size_t id_len, const char *owner,
                               size_t owner_len) {
  if (!deleted) return xr_fail(XR_EINVAL, "xr_session_delete_if_owner: deleted is required");
  xr_arg a[] = {XR_ARG_OF_TEXT(id, id_len), XR_ARG_OF_TEXT(owner, owner_len)};
  return plain(s, XR_SESSION_OP_DELETE_IF_OWNER, a, deleted);
}

int xr_session_delete_expired(xr_session_storage *s, const xr_time *before) {
  (void)before; /* toolhive's RedisStorage.DeleteExpired does nothing: Redis expires by TTL */
  return need(s, __func__);
}

int xr_session_data_delete(xr_session_storage *s, const char *id, size_t id_len) {
  xr_arg a[] = {XR_ARG_OF_TEXT(id, id_len)};
  return plain(s, XR_SESSION_OP_DATA_DELETE, a, NULL);
}

static int data_write(xr_session_storage *s, int op, bool *done, const char *id, size_t id_len,
                      const xr_session_pair *pairs, size_t count) {
  if (!done) return xr_fail(XR_EINVAL, "session.%s: the answer's pointer is required", session_system.ops[op].name);
  *done = false;
  int rc = need(s, session_system.ops[op].name);
  char *json = NULL;
  size_t len = 0;
  if (!rc) rc = xr_session_map_write(&json, &len, pairs, count, s->go);
  if (rc) return rc;
  xr_arg a[] = {XR_ARG_OF_TEXT(id, id_len), XR_ARG_OF_TEXT(json, len)};
  rc = plain(s, op, a, done);
  xr_free(json);
  return rc;
}

int xr_session_data_create(xr_session_storage *s, bool *created, const char *id, size_t id_len,
                           const xr_session_pair *pairs, size_t count) {
  return data_write(s, XR_SESSION_OP_DATA_CREATE, created, id, id_len, pairs, count);
}

int xr_session_data_update(xr_session_storage *s, bool *updated, const char *id, size_t id_len,
                           const xr_session_pair *pairs, size_t count) {
  return data_write(s, XR_SESSION_OP_DATA_UPDATE, updated, id, id_len, pairs, count);
}

/* A MAP result's text read into the caller's map. */
static int load_map(xr_session_storage *s, int op, xr_session_map *out, const char *id, size_t id_len) {
  if (!out) return xr_fail(XR_EINVAL, "session.%s: out is required", session_system.ops[op].name);
  memset(out, 0, sizeof *out);
  xr_arg a[] = {XR_ARG_OF_TEXT(id, id_len)};
  xr_result res;
  int rc = run(s, op, a, &res);
  if (!rc) rc = xr_session_map_read(out, res.fields[0].data, res.fields[0].len, s->go);
  xr_result_clear(&res);
  return rc;
}

int xr_session_load_metadata(xr_session_storage *s, xr_session_map *out, const char *id, size_t id_len) {
  return load_map(s, XR_SESSION_OP_LOAD_METADATA, out, id, id_len);
}

int xr_session_data_load(xr_session_storage *s, xr_session_map *out, const char *id, size_t id_len) {
  return load_map(s, XR_SESSION_OP_DATA_LOAD, out, id, id_len);
}

int xr_session_data_load_metadata(xr_session_storage *s, xr_session_map *out, const char *id, size_t id_len) {
  return load_map(s, XR_SESSION_OP_DATA_LOAD_METADATA, out, id, id_len);
}
