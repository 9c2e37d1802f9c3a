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
} chat_cmd;

void chat_cmd_free(chat_cmd *c);

/* XR_EINVAL unless 0 < ttl_ms <= XR_TTL_MAX_MS (0 allowed when zero_ok: no expiry); `op` names
 * the operation in the message ("chat.set: ttl_ms must be >= 0 (0: no expiry), got -5"). */
int chat_check_ttl(const char *op, int64_t ttl_ms, int zero_ok);
/* XR_EINVAL unless 0 <= v <= XR_TTL_MAX_MS: "<op>: <name> must be between 0 and ... (<what>), got v". */
int chat_check_ms(const char *op, const char *name, int64_t v, const char *what);

int chat_build_subscription(chat_cmd *c, const xr_chat *s, const char *name, const char *tid, size_t len);
int chat_build_acquire(chat_cmd *c, const xr_chat *s, xr_chat_lock *lock, const char *tid, size_t len, int64_t ttl_ms);
int chat_build_release(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *token, size_t token_len);
int chat_build_extend(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *token, size_t token_len,
                      int64_t ttl_ms);
int chat_build_release_if_empty(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *token,
                                size_t token_len);
int chat_build_force_release(chat_cmd *c, const xr_chat *s, const char *tid, size_t len);
int chat_build_get(chat_cmd *c, const xr_chat *s, const char *key, size_t key_len);
int chat_build_delete(chat_cmd *c, const xr_chat *s, const char *key, size_t key_len);
int chat_build_set(chat_cmd *c, const xr_chat *s, const char *key, size_t key_len, const char *json, size_t json_len,
                   int64_t ttl_ms, int nx);
int chat_build_append(chat_cmd *c, const xr_chat *s, const char *key, size_t key_len, const char *json,
                      size_t json_len, long max_length, int64_t ttl_ms);
int chat_build_get_list(chat_cmd *c, const xr_chat *s, const char *key, size_t key_len);
int chat_build_enqueue(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *message_json,
                       size_t message_len, int64_t enqueued_at_ms, int64_t expires_at_ms, long max_size);
int chat_build_dequeue(chat_cmd *c, const xr_chat *s, const char *tid, size_t len);
int chat_build_queue_depth(chat_cmd *c, const xr_chat *s, const char *tid, size_t len);
int chat_build_dequeue_reliable(chat_cmd *c, const xr_chat *s, const char *tid, size_t len);
int chat_build_ack(chat_cmd *c, const xr_chat *s, const char *tid, size_t len, const char *raw, size_t raw_len);
int chat_build_requeue(chat_cmd *c, const xr_chat *s, const char *tid, size_t len);

int chat_decode_status(const chat_cmd *c, const xr_reply *r);
int chat_decode_int1(const chat_cmd *c, const xr_reply *r, bool *out);
int chat_decode_set_nx(const chat_cmd *c, const xr_reply *r, bool *out);
int chat_decode_integer(const chat_cmd *c, const xr_reply *r, long long *out);
int chat_decode_value(const chat_cmd *c, const xr_reply *r, char **value, size_t *value_len);
int chat_decode_entry(const chat_cmd *c, const xr_chat *s, const xr_reply *r, bool *found, xr_chat_queue_entry *e);

/* Runs one command; a failure's message is prefixed with the key. */
int chat_run(xr_chat *s, chat_cmd *c, xr_reply **r);
int chat_name_key(const chat_cmd *c, int rc);

#endif
