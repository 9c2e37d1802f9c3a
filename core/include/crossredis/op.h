/* How a system's operations are described, for the layers that handle every operation the same
 * way: the bindings (which convert arguments by their kind and results by the operation's result
 * kind, never per operation), the interop drivers and the batch machinery.
 *
 * Each system lists its operations once, in an X-macro table (chat.def for the Chat SDK state):
 * a code, the C/Python name, the upstream (wire) name, the result kind and the arguments. From
 * that table come the system's typed batch adders (xr_chat_batch_acquire_lock, ...), its info
 * table (xr_chat_op_at), the generic adder (xr_chat_batch_add) and the generic result accessor
 * (xr_chat_batch_result). See docs/CONVENTIONS.md for adding a system. */
#ifndef CROSSREDIS_OP_H
#define CROSSREDIS_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What an argument (or a result's field) is. */
typedef enum xr_arg_kind {
  XR_ARG_TEXT = 1,  /* bytes that are text to every runtime (ids, keys, JSON): str in Python, string in JS */
  XR_ARG_BYTES = 2, /* opaque bytes: bytes in Python, Buffer in JS */
  XR_ARG_INT = 3    /* a signed 64-bit integer (milliseconds, counts) */
} xr_arg_kind;

/* One argument or field: data/len for TEXT and BYTES (data may be NULL only when len is 0), num
 * for INT. The core validates every value (ranges, emptiness) and names the argument when it
 * refuses one. */
typedef struct xr_arg {
  const char *data;
  size_t len;
  int64_t num;
} xr_arg;

#define XR_ARG_OF_TEXT(p, n) ((xr_arg){(p), (n), 0})
#define XR_ARG_OF_INT(v) ((xr_arg){NULL, 0, (v)})

/* The shape of an operation's result. */
typedef enum xr_result_kind {
  XR_RESULT_STATUS = 0,  /* nothing but success */
  XR_RESULT_BOOL = 1,    /* present: the answer */
  XR_RESULT_INTEGER = 2, /* integer */
  XR_RESULT_VALUE = 3,   /* present: false when missing; fields[0]: the stored text */
  XR_RESULT_LIST = 4,    /* list: an array reply of texts (borrowed) */
  XR_RESULT_LOCK = 5,    /* present: acquired; fields: token (TEXT), expires_at_ms (INT) */
  XR_RESULT_ENTRY = 6,   /* present: found; fields: message (TEXT), enqueued_at_ms (INT, -1 when the
                            entry has none), expires_at_ms (INT), raw (BYTES: the entry as stored) */
  XR_RESULT_SESSION = 7, /* a toolhive session record (session.h); fields: id, type, created_at,
                            updated_at (TEXT, Go's RFC 3339), data (TEXT, one JSON value; NULL: none),
                            metadata (TEXT, Go's JSON object), raw (BYTES: the record as stored) */
  XR_RESULT_MAP = 8      /* a string map (session.h); fields: json (TEXT, Go's JSON object, or
                            "null" for Go's nil map), raw (BYTES: as stored) */
} xr_result_kind;

#define XR_RESULT_KIND_COUNT 9
#define XR_OP_ARGS_MAX 6
#define XR_RESULT_FIELDS_MAX 7

/* One row of a system's table. Static storage. */
typedef struct xr_op_info {
  int code;                              /* the operation's code in its system (its row, from 0) */
  const char *name;                      /* "acquire_lock": C (xr_chat_acquire_lock) and Python */
  const char *wire_name;                 /* "acquireLock": the upstream name, Node's and the drivers' */
  xr_result_kind result;
  size_t nargs;
  xr_arg_kind arg_kinds[XR_OP_ARGS_MAX];
  const char *arg_names[XR_OP_ARGS_MAX]; /* "thread_id", "ttl_ms", ... as the C API names them */
} xr_op_info;

/* The fields a result kind carries (LOCK: 2, ENTRY: 4, VALUE: 1, SESSION: 7, MAP: 2, else 0): their kinds and names
 * (static storage). */
typedef struct xr_result_shape {
  xr_result_kind kind;
  const char *name; /* "lock" */
  size_t nfields;
  xr_arg_kind field_kinds[XR_RESULT_FIELDS_MAX];
  const char *field_names[XR_RESULT_FIELDS_MAX];
} xr_result_shape;

/* The shape of `kind`; NULL for an unknown kind. */
XR_API const xr_result_shape *xr_result_shape_of(xr_result_kind kind);

/* An operation's outcome, read from a batch by the system's generic accessor. TEXT and BYTES
 * fields and the list are valid until xr_result_clear and until the batch is cleared or freed.
 * One thread at a time. */
typedef struct xr_result {
  xr_result_kind kind;
  bool present;          /* BOOL: the answer; VALUE, LOCK, ENTRY: false when absent; else true */
  long long integer;     /* INTEGER */
  const xr_reply *list;  /* LIST: an array reply whose elements are the texts */
  size_t nfields;
  xr_arg fields[XR_RESULT_FIELDS_MAX];
  char *owned_[2];       /* private: what xr_result_clear frees */
  xr_reply *reply_;      /* private: the reply a sequential call's result borrows from */
} xr_result;

/* Frees what the result owns and zeroes it. NULL is fine. */
XR_API void xr_result_clear(xr_result *r);

/* Field i's bytes as an allocation of the caller's (xr_free), NUL-terminated: the result's own
 * buffer when it owns one for that field (taken, not copied: an entry's big message is in memory
 * once), else a copy. NULL when the field has no bytes or out of memory (XR_ENOMEM recorded). */
XR_API char *xr_result_take_field(xr_result *r, size_t i);

/* ---- expanding a system's table ---------------------------------------------------------------
 * A table row lists its arguments as (XR_TEXT(thread_id), XR_INT(ttl_ms)); these macros turn such
 * a list into C parameters, xr_arg values, kinds and names (one to XR_OP_ARGS_MAX arguments). */
#define XR_TEXT(x) (TEXT, x)
#define XR_BYTES(x) (BYTES, x)
#define XR_INT(x) (INT, x)

#define XR_OP_CAT_(a, b) a##b
#define XR_OP_CAT(a, b) XR_OP_CAT_(a, b)
#define XR_OP_COUNT_(a, b, c, d, e, f, n, ...) n
#define XR_OP_COUNT(...) XR_OP_COUNT_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define XR_OP_UNPAREN(...) __VA_ARGS__
#define XR_OP_MAP_1(m, a) m a
#define XR_OP_MAP_2(m, a, ...) m a, XR_OP_MAP_1(m, __VA_ARGS__)
#define XR_OP_MAP_3(m, a, ...) m a, XR_OP_MAP_2(m, __VA_ARGS__)
#define XR_OP_MAP_4(m, a, ...) m a, XR_OP_MAP_3(m, __VA_ARGS__)
#define XR_OP_MAP_5(m, a, ...) m a, XR_OP_MAP_4(m, __VA_ARGS__)
#define XR_OP_MAP_6(m, a, ...) m a, XR_OP_MAP_5(m, __VA_ARGS__)
#define XR_OP_MAP_(m, ...) XR_OP_CAT(XR_OP_MAP_, XR_OP_COUNT(__VA_ARGS__))(m, __VA_ARGS__)
/* m applied to each (KIND, name) of a parenthesised argument list, comma-separated. */
#define XR_OP_MAP(m, args) XR_OP_MAP_(m, XR_OP_UNPAREN args)
/* The number of arguments in a parenthesised list. */
#define XR_OP_NARGS(args) XR_OP_COUNT(XR_OP_UNPAREN args)

#define XR_OP_PARAM_TEXT(x) const char *x, size_t x##_len
#define XR_OP_PARAM_BYTES(x) const char *x, size_t x##_len
#define XR_OP_PARAM_INT(x) int64_t x
#define XR_OP_PARAM(kind, x) XR_OP_PARAM_##kind(x)
#define XR_OP_VALUE_TEXT(x) XR_ARG_OF_TEXT(x, x##_len)
#define XR_OP_VALUE_BYTES(x) XR_ARG_OF_TEXT(x, x##_len)
#define XR_OP_VALUE_INT(x) XR_ARG_OF_INT(x)
#define XR_OP_VALUE(kind, x) XR_OP_VALUE_##kind(x)
#define XR_OP_KIND(kind, x) XR_ARG_##kind
#define XR_OP_NAME(kind, x) #x

/* The C parameters of an argument list: const char *thread_id, size_t thread_id_len, int64_t ttl_ms */
#define XR_OP_PARAMS(args) XR_OP_MAP(XR_OP_PARAM, args)

#ifdef __cplusplus
}
#endif
#endif
