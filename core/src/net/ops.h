/* What every system (chat, and the ones after it) shares to run the rows of its operation table
 * (op.h): a command being built (xr_cmd), the system's description (xr_system: its table, one
 * builder per row, a decoder for the result kinds of its own), and the generic machinery on top:
 * argument checks, one sequential call, batches, decoding by result kind, failures that name the
 * key. A system writes builders and its typed wrappers; everything else is here, once. */
#ifndef CROSSREDIS_NET_OPS_H
#define CROSSREDIS_NET_OPS_H

#include <stdbool.h>

#include "base/internal.h"
#include "crossredis/client.h"
#include "crossredis/loop.h"
#include "crossredis/op.h"
#include "crossredis/token.h"

/* A key, on the stack when short. */
typedef struct xr_cmd_key {
  char small[192];
  char *heap;
  const char *data;
  size_t len;
} xr_cmd_key;

/* One command or script run. Zero it before building; xr_cmd_free releases what it owns. */
typedef struct xr_cmd {
  int argc;
  const char *argv[8];
  size_t lens[8];
  const xr_script *script; /* a script run: argv holds the keys then the arguments */
  int numkeys;
  xr_cmd_key key, key2;    /* key names the command in failures */
  xr_cmd_key key3, key4;   /* a script's further keys */
  char num[2][24];
  char *owned;             /* a value or entry text the command sends */
  /* what the command made that its result reports (XR_RESULT_LOCK: the token and its expiry) */
  char made[XR_TOKEN_MAX];
  size_t made_len;
  int64_t made_num;
  /* WAIT wait_replicas wait_ms after it (a lock that counts only once replicas have it): how many
   * acknowledged, in acked. 0: no WAIT. */
  int wait_replicas, wait_ms;
  long long acked;
  /* A nil reply is this failure rather than a result ("<key>: <nil_msg>"): a create that found
   * the key (XR_EEXISTS), a load that found nothing (XR_ENOTFOUND). 0: nil is a result. */
  int nil_code;
  const char *nil_msg; /* static storage */
} xr_cmd;

void xr_cmd_free(xr_cmd *c);
void xr_cmd_arg(xr_cmd *c, const char *p, size_t n);
void xr_cmd_arg_str(xr_cmd *c, const char *p);
/* The decimal text of v, kept in the command's number slot `slot` (0 or 1). */
void xr_cmd_arg_num(xr_cmd *c, int slot, long long v);
/* <prefix>:<kind>:<id>, or <prefix>:<kind> when id is NULL. */
int xr_cmd_key_make(xr_cmd_key *k, const char *prefix, size_t prefix_len, const char *kind, const char *id,
                    size_t id_len);
/* <prefix>:<kind>:{<id>}: the id as the key's Redis Cluster hash tag (a prefix without braces). */
int xr_cmd_key_make_tag(xr_cmd_key *k, const char *prefix, size_t prefix_len, const char *kind, const char *id,
                        size_t id_len);

/* <prefix><id>: plain concatenation (toolhive's keys). */
int xr_cmd_key_concat(xr_cmd_key *k, const char *prefix, size_t prefix_len, const char *id, size_t id_len);

typedef int (*xr_op_builder)(xr_cmd *c, const void *self, const xr_arg *a);

/* A system: its table and how to build and decode its rows. Static storage. */
typedef struct xr_system {
  const char *name;             /* "chat": messages say "chat.acquire_lock: ..." */
  const xr_op_info *ops;        /* rows 0..nops-1 */
  int nops;
  const xr_op_builder *build;   /* one per row */
  /* Decodes the result kinds the generic decoder does not know (XR_RESULT_ENTRY); NULL: none. */
  int (*decode)(const xr_cmd *c, const void *self, xr_result_kind kind, const xr_reply *r, xr_result *out);
  /* Words appended to a failure that lost its reply (XR_EIO, XR_ETIMEOUT), when that matters for
   * the command (a plain LPOP may have popped an entry); NULL: none. */
  const char *(*lost_reply_hint)(const xr_cmd *c);
  /* A command that waited for replicas (wait_replicas) succeeded on the master but fewer replicas
   * than asked acknowledged it: what to do (release what it took) and the failure to return
   * (XR_ENOREPLICAS). `sequential` 0 in a batch, where nothing more may be sent. NULL: XR_ENOREPLICAS. */
  int (*unacked)(const xr_cmd *c, const void *self, xr_client *client, int op, int sequential);
  /* Makes row op's key (the first, for a row with two) from its arguments, as its builder does:
   * what routes it on a Cluster before it is built (xr_ops_slot). NULL: rows are routed when built. */
  int (*row_key)(xr_cmd_key *k, const void *self, int op, const xr_arg *a);
} xr_system;

/* The row `op`, or NULL. */
const xr_op_info *xr_ops_row(const xr_system *sys, int op);
/* XR_EINVAL unless op is a row and nargs its count ("chat.set: 3 arguments (key, json, ttl_ms), got
 * 2"); also refuses NULL args with a count and a NULL span with a length. */
int xr_ops_check_args(const xr_system *sys, int op, const xr_arg *args, size_t nargs);

/* Decodes reply r of a command built for a row of result kind `kind` into out (op.h). The fields
 * borrow from r and from c (a made token): keep both while out is used. */
int xr_ops_decode(const xr_system *sys, const void *self, const xr_cmd *c, xr_result_kind kind, const xr_reply *r,
                  xr_result *out);

/* A row of a system's table as its xr_op_info, and its builder (build_<name>), for the system's
 * X-macro over its .def: `#define XR_FOO_OP(ID, name, wire, result, args) XR_OPS_ROW(FOO, ID, name,
 * wire, result, args)` inside `static const xr_op_info foo_ops[] = {...}`. */
#define XR_OPS_ROW(SYS, ID, name, wire, result, args)                                                 \
  [XR_##SYS##_OP_##ID] = {XR_##SYS##_OP_##ID, #name, wire, XR_RESULT_##result, XR_OP_NARGS(args), \
                          {XR_OP_MAP(XR_OP_KIND, args)}, {XR_OP_MAP(XR_OP_NAME, args)}},
#define XR_OPS_BUILDER(SYS, ID, name) [XR_##SYS##_OP_##ID] = build_##name,

/* ---- a system's public batch ------------------------------------------------------------------
 * Every system's batch (struct xr_<sys>_batch) is the generic batch over its system value
 * (<sys>_system), with the same functions: XR_OPS_BATCH_DEFINE(sys, Handle, client_of) defines the
 * struct and xr_<sys>_batch_new / _clear / _free / _count / _add / _exec / _start / _result /
 * _reply_size (client_of(h): the handle's client); XR_OPS_BATCH_ADDER(sys, SYS, ID, name, args),
 * expanded by the system's X-macro over its .def, one typed adder per row. */
#define XR_OPS_BATCH_DEFINE(sys, Handle, client_of)                                                       \
  struct xr_##sys##_batch {                                                                             \
    xr_ops_batch *ops;                                                                                  \
  };                                                                                                    \
  int xr_##sys##_batch_new(xr_##sys##_batch **out, Handle *h) {                                         \
    if (!out || !h) return xr_fail(XR_EINVAL, "xr_" #sys "_batch_new: out and the handle are required"); \
    *out = NULL;                                                                                        \
    xr_##sys##_batch *b = xr_calloc(1, sizeof *b);                                                      \
    if (!b) return xr_fail_nomem();                                                                     \
    int rc = xr_ops_batch_new(&b->ops, &sys##_system, h, client_of(h));                                \
    if (rc) {                                                                                           \
      xr_free(b);                                                                                       \
      return rc;                                                                                        \
    }                                                                                                   \
    *out = b;                                                                                           \
    return XR_OK;                                                                                       \
  }                                                                                                     \
  void xr_##sys##_batch_clear(xr_##sys##_batch *b) {                                                    \
    if (b) xr_ops_batch_clear(b->ops);                                                                  \
  }                                                                                                     \
  void xr_##sys##_batch_free(xr_##sys##_batch *b) {                                                     \
    if (!b) return;                                                                                     \
    xr_ops_batch_free(b->ops);                                                                          \
    xr_free(b);                                                                                         \
  }                                                                                                     \
  size_t xr_##sys##_batch_count(const xr_##sys##_batch *b) { return b ? xr_ops_batch_count(b->ops) : 0; } \
  int xr_##sys##_batch_add(xr_##sys##_batch *b, int op, const xr_arg *args, size_t nargs) {            \
    if (!b) return xr_fail(XR_EINVAL, #sys " batch: the batch is NULL");                              \
    return xr_ops_batch_add(b->ops, op, args, nargs);                                                   \
  }                                                                                                     \
  int xr_##sys##_batch_exec(xr_##sys##_batch *b) {                                                      \
    if (!b) return xr_fail(XR_EINVAL, "xr_" #sys "_batch_exec: the batch is NULL");                   \
    return xr_ops_batch_exec(b->ops);                                                                   \
  }                                                                                                     \
  int xr_##sys##_batch_start(xr_##sys##_batch *b, xr_loop_conn *lc, int *wait) {                        \
    if (!b) return xr_fail(XR_EINVAL, "xr_" #sys "_batch_start: the batch is NULL");                  \
    return xr_ops_batch_start(b->ops, lc, wait);                                                        \
  }                                                                                                     \
  size_t xr_##sys##_batch_reply_size(const xr_##sys##_batch *b, size_t i) {                             \
    return b ? xr_ops_batch_reply_size(b->ops, i) : 0;                                                  \
  }                                                                                                     \
  int xr_##sys##_batch_result(const xr_##sys##_batch *b, size_t i, xr_result *out) {                    \
    if (!out) return xr_fail(XR_EINVAL, "xr_" #sys "_batch_result: out is required");                 \
    if (!b) {                                                                                           \
      memset(out, 0, sizeof *out);                                                                      \
      return xr_fail(XR_EINVAL, #sys " batch: the batch is NULL");                                     \
    }                                                                                                   \
    return xr_ops_batch_result(b->ops, i, out);                                                         \
  }

#define XR_OPS_BATCH_ADDER(sys, SYS, ID, name, args)                          \
  int xr_##sys##_batch_##name(xr_##sys##_batch *b, XR_OP_PARAMS(args)) {      \
    if (!b) return xr_fail(XR_EINVAL, #sys " batch: the batch is NULL");     \
    const xr_arg a[] = {XR_OP_MAP(XR_OP_VALUE, args)};                       \
    return xr_ops_batch_add_row(b->ops, XR_##SYS##_OP_##ID, a);              \
  }

/* The Cluster slot of row op's key (0..16383) without building the command, for a host that keeps
 * one pipeline per node; -1 when the system cannot tell (no row_key), op is not a row, or the
 * arguments make no key (recorded as the last error, as the builder records it). */
int xr_ops_slot(const xr_system *sys, const void *self, int op, const xr_arg *args, size_t nargs);

/* Puts the key in front of the failure's message ("chat-sdk:cache:x: WRONGTYPE ..."). */
int xr_ops_name_key(const xr_system *sys, const xr_cmd *c, int rc);

/* Runs one built command on the client's pool; a failure names the key. */
int xr_ops_run(const xr_system *sys, xr_client *client, xr_cmd *c, xr_reply **r);

/* Builds row op from args, runs it and decodes its reply into *out; the result owns what it
 * borrows (xr_result_clear). A failing entry decode (XR_EPARSE) still fills *out. */
int xr_ops_call(const xr_system *sys, const void *self, xr_client *client, int op, const xr_arg *args,
                size_t nargs, xr_result *out);

/* The same, for a typed sequential function that keeps the command and the reply itself (the
 * result borrows from both): *c and *r are the caller's to free (xr_ops_call_end). */
int xr_ops_call_keep(const xr_system *sys, const void *self, xr_client *client, int op, const xr_arg *a,
                     xr_cmd *c, xr_reply **r, xr_result *out);
/* xr_ops_call_keep on a command the caller has zeroed and may have begun (a system's typed
 * function that hands its builder something made already, such as a record written from a typed
 * value: the builder then skips making it from the row's arguments). */
int xr_ops_call_prepared(const xr_system *sys, const void *self, xr_client *client, int op, const xr_arg *a,
                         xr_cmd *c, xr_reply **r, xr_result *out);
void xr_ops_call_end(xr_cmd *c, xr_reply *r, xr_result *out);

/* ---- batches of rows ------------------------------------------------------------------------- */

typedef struct xr_ops_batch xr_ops_batch;

int xr_ops_batch_new(xr_ops_batch **out, const xr_system *sys, const void *self, xr_client *client);
void xr_ops_batch_free(xr_ops_batch *b);
void xr_ops_batch_clear(xr_ops_batch *b);
size_t xr_ops_batch_count(const xr_ops_batch *b);
/* Adds row op (args checked for count first); the operation's index or a negative code. */
int xr_ops_batch_add(xr_ops_batch *b, int op, const xr_arg *args, size_t nargs);
/* Adds row op, whose arguments the caller packed in the row's order (the typed adders). */
int xr_ops_batch_add_row(xr_ops_batch *b, int op, const xr_arg *a);
int xr_ops_batch_exec(xr_ops_batch *b);
int xr_ops_batch_start(xr_ops_batch *b, xr_loop_conn *lc, int *wait);
/* Operation i's row (-1 when i is out of range). */
int xr_ops_batch_op(const xr_ops_batch *b, size_t i);
/* Operation i's result by its row's kind; made tokens borrow from the batch. */
int xr_ops_batch_result(const xr_ops_batch *b, size_t i, xr_result *out);
/* The bytes of operation i's reply (its strings, in arrays too), before any decoding: what a
 * binding weighs to decide where to decode. 0 when there is none (not run, failed). */
size_t xr_ops_batch_reply_size(const xr_ops_batch *b, size_t i);
/* The same, refusing an operation of another kind than `want` (the typed accessors). */
int xr_ops_batch_result_of(const xr_ops_batch *b, size_t i, xr_result_kind want, xr_result *out);

#endif
