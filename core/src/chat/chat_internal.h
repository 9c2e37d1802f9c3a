/* What the Chat SDK state's sources share: the adapter, its system description (the table of
 * chat.def with one builder per row, net/ops.h) and the checks the builders and the queue and
 * watchdog code make. */
#ifndef CROSSREDIS_CHAT_INTERNAL_H
#define CROSSREDIS_CHAT_INTERNAL_H

#include <stdbool.h>

#include "crossredis/chat.h"
#include "net/ops.h"

/* The bridge layout's operations (XR_CHAT_LAYOUT_BRIDGE): one script each over a thread's keys in
 * both layouts (chat.c). */
typedef enum chat_bridge_op {
  CHAT_BRIDGE_ACQUIRE,
  CHAT_BRIDGE_RELEASE,
  CHAT_BRIDGE_EXTEND,
  CHAT_BRIDGE_FORCE_RELEASE,
  CHAT_BRIDGE_ENQUEUE,
  CHAT_BRIDGE_DEQUEUE,
  CHAT_BRIDGE_DEPTH,
  CHAT_BRIDGE_DEQUEUE_RELIABLE,
  CHAT_BRIDGE_ACK,
  CHAT_BRIDGE_REQUEUE,
  CHAT_BRIDGE_RELEASE_IF_EMPTY,
  CHAT_BRIDGE_SCRIPTS
} chat_bridge_op;

struct xr_chat {
  xr_client *client;
  char *prefix;
  size_t prefix_len;
  char token_prefix[XR_TOKEN_PREFIX_MAX + 1];
  size_t token_prefix_len;
  xr_token_suffix suffix;
  xr_json_dialect json;
  xr_chat_queue_dialect queue;
  int min_replicas, min_replicas_timeout_ms; /* 0: no WAIT after a lock's write */
  xr_chat_layout layout;                     /* where a thread's keys live (chat.h) */
  xr_script *release, *extend, *append, *enqueue, *release_if_empty, *dequeue_reliable, *requeue;
  xr_script *bridge[CHAT_BRIDGE_SCRIPTS];      /* XR_CHAT_LAYOUT_BRIDGE's, by chat_bridge_op */
};

/* The Chat SDK state as a system: chat.def's rows, their builders, the entry decoder. */
extern const xr_system chat_system;

/* XR_EINVAL unless 0 < ttl_ms <= XR_TTL_MAX_MS (0 allowed when zero_ok: no expiry); `op` names
 * the operation in the message ("chat.set: ttl_ms must be >= 0 (0: no expiry), got -5"). */
int chat_check_ttl(const char *op, int64_t ttl_ms, int zero_ok);
/* XR_EINVAL unless 0 <= v <= XR_TTL_MAX_MS: "<op>: <name> must be between 0 and ... (<what>), got v". */
int chat_check_ms(const char *op, const char *name, int64_t v, const char *what);

/* The typed outputs of VALUE (a copy, xr_free) and ENTRY (moved out of res) results. */
int chat_copy_value(const xr_result *res, char **value, size_t *value_len);
void chat_take_entry(xr_result *res, bool *found, xr_chat_queue_entry *e);
/* An acquired lock (XR_RESULT_LOCK, present) as the C API's struct. */
void chat_lock_of(xr_chat_lock *lock, const xr_result *res);

#endif
