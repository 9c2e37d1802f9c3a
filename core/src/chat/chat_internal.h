/* What the Chat SDK state's sources share: the adapter, one command (argv with its owned
 * buffers), the builders and decoders used by both the sequential calls and the batches. */
#ifndef CROSSREDIS_CHAT_INTERNAL_H
#define CROSSREDIS_CHAT_INTERNAL_H

#include <stdbool.h>

#include "crossredis/chat.h"

struct xr_chat {
  xr_client *client;
  char *prefix;
  size_t prefix_len;
  char token_prefix[XR_TOKEN_PREFIX_MAX + 1];
  size_t token_prefix_len;
  xr_token_suffix suffix;
  xr_json_dialect json;
  xr_chat_queue_dialect queue;
  xr_script *release, *extend, *append, *enqueue, *release_if_empty, *dequeue_reliable, *requeue;
};

/* A key, on the stack when short. */
typedef struct chat_key {
  char small[192];
  char *heap;
  const char *data;
  size_t len;
} chat_key;

/* One command or script run. Zero it before building; chat_cmd_free releases what it owns. */
typedef struct chat_cmd {
  int argc;
  const char *argv[8];
  size_t lens[8];
  const xr_script *script; /* a script run: argv holds the keys then the arguments */
  int numkeys;
  chat_key key, key2;
  char num[2][24];
  char *owned; /* a value or entry text the command sends */
  xr_chat_lock lock; /* acquire_lock: the token sent */
} chat_cmd;

void chat_cmd_free(chat_cmd *c);

/* XR_EINVAL unless 0 < ttl_ms <= XR_TTL_MAX_MS (0 allowed when zero_ok: no expiry); `op` names
 * the operation in the message ("chat.set: ttl_ms must be >= 0 (0: no expiry), got -5"). */
int chat_check_ttl(const char *op, int64_t ttl_ms, int zero_ok);
/* XR_EINVAL unless 0 <= v <= XR_TTL_MAX_MS: "<op>: <name> must be between 0 and ... (<what>), got v". */
int chat_check_ms(const char *op, const char *name, int64_t v, const char *what);

/* One builder per row of chat.def, all of one shape: `a` holds the row's arguments (checked for
 * count by the caller, for values here). chat_builders[op] is XR_CHAT_OP_<op>'s. */
typedef int (*chat_builder)(chat_cmd *c, const xr_chat *s, const xr_arg *a);
extern const chat_builder chat_builders[XR_CHAT_OP_COUNT];

/* The script of xr_chat_release_lock_if_queue_empty (a sequential call only). */
int chat_build_release_if_empty(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *token,
                                size_t token_len);

/* Reads reply r of a command built for an operation of result kind `kind` into out (op.h). The
 * fields borrow from r and from c (an acquired lock's token): keep both while out is used. */
int chat_decode(const chat_cmd *c, const xr_chat *s, xr_result_kind kind, const xr_reply *r, xr_result *out);

/* The typed outputs of VALUE (a copy, xr_free) and ENTRY (moved out of res) results. */
int chat_copy_value(const xr_result *res, char **value, size_t *value_len);
void chat_take_entry(xr_result *res, bool *found, xr_chat_queue_entry *e);

/* "2 arguments (thread_id, ttl_ms), got 1" unless nargs is row op's count; XR_EINVAL for an
 * unknown op. */
int chat_check_args(int op, size_t nargs);

/* Runs one command; a failure's message is prefixed with the key. */
int chat_run(xr_chat *s, chat_cmd *c, xr_reply **r);
int chat_name_key(const chat_cmd *c, int rc);

#endif
