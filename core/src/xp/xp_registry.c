/* The registry on a Cluster (xp.h's protocol): a chain key and a uuid key live in different slots,
 * so what one server does in one script is here a few one-key steps. The forward key is written
 * first and is the truth; later steps only remove a key while it holds what they expect
 * (compare-and-delete); readers of the reverse key check the forward key maps back. */
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/token.h"
#include "xp/xp_internal.h"

static bool is_str(const xr_reply *r) { return r && xr_reply_kind(r) == XR_REPLY_STRING; }

static bool holds(const xr_reply *r, const char *v, size_t len) {
  size_t n = 0;
  const char *p = is_str(r) ? xr_reply_str(r, &n) : NULL;
  return p && n == len && (!len || !memcmp(p, v, len));
}

/* Runs c (built on key <p><id>) and frees it; *r its reply (NULL: not wanted). */
static int run(xr_xp_store *s, xr_cmd *c, xr_reply **r) {
  xr_reply *reply = NULL;
  int rc = xr_ops_run(&xp_system, s->client, c, &reply);
  if (r) *r = reply;
  else xr_reply_free(reply);
  xr_cmd_free(c);
  return rc;
}

/* Begins `<cmd> <p><id>` in a zeroed c. */
static int begin(xr_cmd *c, const char *cmd, const xp_prefix *p, const char *id, size_t id_len) {
  memset(c, 0, sizeof *c);
  int rc = xr_cmd_key_concat(&c->key, p->data, p->len, id, id_len);
  if (rc) return rc;
  xr_cmd_arg_str(c, cmd);
  xr_cmd_arg(c, c->key.data, c->key.len);
  return XR_OK;
}

/* GET <p><id> */
static int get(xr_xp_store *s, xr_reply **r, const xp_prefix *p, const char *id, size_t id_len) {
  xr_cmd c;
  *r = NULL;
  int rc = begin(&c, "GET", p, id, id_len);
  return rc ? rc : run(s, &c, r);
}

/* SET <p><id> <v> [EX <ttl>] [NX] [GET]: with old, GET's answer (the former value or nil; with NX,
 * the value that stopped it). */
static int set(xr_xp_store *s, xr_reply **old, const xp_prefix *p, const char *id, size_t id_len, const char *v,
               size_t v_len, bool nx) {
  xr_cmd c;
  int rc = begin(&c, "SET", p, id, id_len);
  if (rc) return rc;
  xr_cmd_arg(&c, v, v_len);
  if (s->ttl_s) {
    xr_cmd_arg_str(&c, "EX");
    xr_cmd_arg_str(&c, s->ttl);
  }
  if (nx) xr_cmd_arg_str(&c, "NX");
  if (old) xr_cmd_arg_str(&c, "GET");
  return run(s, &c, old);
}

/* compare-and-delete: <p><id> deleted while it holds v; *deleted (may be NULL) whether it was. */
static int cad(xr_xp_store *s, bool *deleted, const xp_prefix *p, const char *id, size_t id_len, const char *v,
               size_t v_len) {
  xr_cmd c;
  memset(&c, 0, sizeof c);
  int rc = xr_cmd_key_concat(&c.key, p->data, p->len, id, id_len);
  if (rc) return rc;
  c.script = s->cad;
  c.numkeys = 1;
  xr_cmd_arg(&c, c.key.data, c.key.len);
  xr_cmd_arg(&c, v, v_len);
  xr_reply *r = NULL;
  rc = run(s, &c, &r);
  if (!rc && deleted) *deleted = xr_reply_integer(r) == 1;
  xr_reply_free(r);
  return rc;
}

static void result_of(xr_result *out, xr_result_kind kind, bool present) {
  memset(out, 0, sizeof *out);
  out->kind = kind;
  out->present = present;
}

/* A VALUE result owning a copy of v. */
static int value_result(xr_result *out, const char *v, size_t len) {
  result_of(out, XR_RESULT_VALUE, true);
  if (!(out->owned_[0] = xr_strndup(v, len))) return xr_fail_nomem();
  out->nfields = 1;
  out->fields[0] = XR_ARG_OF_TEXT(out->owned_[0], len);
  return XR_OK;
}

int xp_cluster_set(xr_xp_store *s, const xr_arg *a, xr_result *out) {
  int op = XR_XP_OP_REGISTRY_SET;
  result_of(out, XR_RESULT_STATUS, true);
  const xr_arg *chain = &a[0], *uuid = &a[1];
  int rc = xp_check_id(op, "chain", chain);
  if (!rc) rc = xp_check_id(op, "uuid", uuid);
  if (rc) return rc;
  xr_reply *rev = NULL, *old_uuid = NULL, *old_chain = NULL;
  rc = get(s, &rev, &s->uuid, uuid->data, uuid->len); /* 1: a wrong-type reverse key fails before any write */
  if (!rc) rc = set(s, &old_uuid, &s->chain, chain->data, chain->len, uuid->data, uuid->len, false); /* 2 */
  if (!rc) rc = set(s, &old_chain, &s->uuid, uuid->data, uuid->len, chain->data, chain->len, false); /* 3 */
  size_t n = 0;
  const char *v;
  if (!rc && is_str(old_uuid) && !holds(old_uuid, uuid->data, uuid->len)) { /* 4 */
    v = xr_reply_str(old_uuid, &n);
    rc = cad(s, NULL, &s->uuid, v, n, chain->data, chain->len);
  }
  if (!rc && is_str(old_chain) && !holds(old_chain, chain->data, chain->len)) { /* 5 */
    v = xr_reply_str(old_chain, &n);
    rc = cad(s, NULL, &s->chain, v, n, uuid->data, uuid->len);
  }
  xr_reply_free(rev);
  xr_reply_free(old_uuid);
  xr_reply_free(old_chain);
  return rc;
}

int xp_cluster_get_chain(xr_xp_store *s, const xr_arg *a, xr_result *out) {
  result_of(out, XR_RESULT_VALUE, false);
  int rc = xp_check_id(XR_XP_OP_REGISTRY_GET_CHAIN, "uuid", &a[0]);
  xr_reply *rev = NULL, *fwd = NULL;
  if (!rc) rc = get(s, &rev, &s->uuid, a[0].data, a[0].len);
  size_t n = 0;
  const char *chain = rc || !is_str(rev) ? NULL : xr_reply_str(rev, &n);
  if (chain) {
    rc = get(s, &fwd, &s->chain, chain, n);
    if (rc == XR_EWRONGTYPE) rc = XR_OK; /* not a mapping: none */
    if (!rc && holds(fwd, a[0].data, a[0].len)) rc = value_result(out, chain, n);
  }
  xr_reply_free(rev);
  xr_reply_free(fwd);
  if (rc) xr_result_clear(out);
  return rc;
}

int xp_cluster_get_or_create(xr_xp_store *s, const xr_arg *a, xr_result *out, bool *created) {
  result_of(out, XR_RESULT_VALUE, false);
  const xr_arg *chain = &a[0];
  char uuid[XR_UUID4_LEN + 1];
  int rc = xp_check_id(XR_XP_OP_REGISTRY_GET_OR_CREATE, "chain", chain);
  if (!rc) rc = xr_uuid4(uuid);
  xr_reply *old = NULL;
  if (!rc) rc = set(s, &old, &s->chain, chain->data, chain->len, uuid, XR_UUID4_LEN, true); /* the arbiter */
  size_t n = 0;
  if (!rc && is_str(old)) {
    const char *v = xr_reply_str(old, &n);
    rc = value_result(out, v, n);
  } else if (!rc) {
    rc = set(s, NULL, &s->uuid, uuid, XR_UUID4_LEN, chain->data, chain->len, false);
    if (!rc) rc = value_result(out, uuid, XR_UUID4_LEN);
    if (!rc && created) *created = true;
  }
  xr_reply_free(old);
  if (rc) xr_result_clear(out);
  return rc;
}

int xp_cluster_delete(xr_xp_store *s, const xr_arg *a, xr_result *out) {
  result_of(out, XR_RESULT_BOOL, false);
  const xr_arg *uuid = &a[0];
  int rc = xp_check_id(XR_XP_OP_REGISTRY_DELETE, "uuid", uuid);
  xr_reply *rev = NULL;
  if (!rc) rc = get(s, &rev, &s->uuid, uuid->data, uuid->len); /* 1 */
  size_t n = 0;
  const char *chain = rc || !is_str(rev) ? NULL : xr_reply_str(rev, &n);
  bool removed = false;
  if (chain) {
    rc = cad(s, &removed, &s->chain, chain, n, uuid->data, uuid->len); /* 2 */
    if (!rc) rc = cad(s, NULL, &s->uuid, uuid->data, uuid->len, chain, n); /* 3 */
  }
  out->present = !rc && removed;
  xr_reply_free(rev);
  return rc;
}
