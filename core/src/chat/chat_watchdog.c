/* The watchdog: the TS core's lock heartbeat (extend every TTL/3, up to a maximum lifetime), for
 * every runtime, driven by the caller's clock and timer so the core starts no thread. */
#include <string.h>

#include "chat/chat_internal.h"
#include "base/internal.h"

struct xr_chat_watchdog {
  xr_chat *s;
  char *thread_id;
  size_t len;
  char token[XR_TOKEN_MAX];
  size_t token_len;
  int64_t ttl_ms, interval_ms;
  int64_t next_due_ms;
  int64_t expires_at_ms;
  int64_t finish_at_ms; /* INT64_MAX: no lifetime limit */
  xr_chat_watchdog_state state;
};

int xr_chat_watchdog_new(xr_chat_watchdog **out, xr_chat *s, const char *thread_id, size_t len,
                         const xr_chat_lock *lock, int64_t ttl_ms, int64_t max_lifetime_ms, int64_t now_ms) {
  if (!out || !s || !lock || !thread_id || len == 0)
    return xr_fail(XR_EINVAL, "xr_chat_watchdog_new: out, state, a thread id and the lock are required");
  *out = NULL;
  int rc = chat_check_ttl("chat.watchdog", ttl_ms, 0);
  if (rc) return rc;
  if (ttl_ms < 3) return xr_fail(XR_EINVAL, "chat.watchdog: ttl_ms must be at least 3 to extend every ttl/3, got %lld",
                                 (long long)ttl_ms);
  if ((rc = chat_check_ms("chat.watchdog", "max_lifetime_ms", max_lifetime_ms, "milliseconds (0: no limit)")) ||
      (rc = chat_check_ms("chat.watchdog", "now_ms", now_ms, "Unix milliseconds")))
    return rc;
  if (lock->token_len == 0 || lock->token_len >= XR_TOKEN_MAX)
    return xr_fail(XR_EINVAL, "xr_chat_watchdog_new: the lock has no valid token");
  xr_chat_watchdog *w = xr_calloc(1, sizeof *w);
  if (!w || !(w->thread_id = xr_strndup(thread_id, len))) {
    xr_free(w);
    return xr_fail_nomem();
  }
  w->s = s;
  w->len = len;
  memcpy(w->token, lock->token, lock->token_len);
  w->token_len = lock->token_len;
  w->ttl_ms = ttl_ms;
  w->interval_ms = ttl_ms / 3;
  w->next_due_ms = now_ms + w->interval_ms;
  w->expires_at_ms = lock->expires_at_ms;
  w->finish_at_ms = max_lifetime_ms > 0 ? now_ms + max_lifetime_ms : INT64_MAX;
  w->state = XR_CHAT_WATCHDOG_HELD;
  *out = w;
  return XR_OK;
}

void xr_chat_watchdog_free(xr_chat_watchdog *w) {
  if (!w) return;
  xr_free(w->thread_id);
  xr_free(w);
}

int64_t xr_chat_watchdog_due_in(const xr_chat_watchdog *w, int64_t now_ms) {
  if (!w || w->state != XR_CHAT_WATCHDOG_HELD) return -1;
  return w->next_due_ms > now_ms ? w->next_due_ms - now_ms : 0;
}

int64_t xr_chat_watchdog_expires_at(const xr_chat_watchdog *w) { return w ? w->expires_at_ms : -1; }

int xr_chat_watchdog_tick(xr_chat_watchdog *w, xr_chat_watchdog_state *state, int64_t now_ms) {
  if (!w) return xr_fail(XR_EINVAL, "xr_chat_watchdog_tick: the watchdog is NULL");
  int rc = chat_check_ms("chat.watchdog", "now_ms", now_ms, "Unix milliseconds");
  if (rc) return rc;
  if (w->state == XR_CHAT_WATCHDOG_HELD && now_ms >= w->next_due_ms) {
    if (now_ms >= w->finish_at_ms) {
      w->state = XR_CHAT_WATCHDOG_FINISHED; /* the lock now lives out its last TTL */
    } else {
      bool extended = false;
      rc = xr_chat_extend_lock(w->s, &extended, w->thread_id, w->len, w->token, w->token_len, w->ttl_ms);
      if (rc == XR_OK && extended) {
        w->expires_at_ms = now_ms + w->ttl_ms;
        w->next_due_ms = now_ms + w->interval_ms;
      } else if (rc == XR_OK) {
        w->state = XR_CHAT_WATCHDOG_LOST; /* deleted, expired or taken by another token */
      } else if (now_ms >= w->expires_at_ms) {
        w->state = XR_CHAT_WATCHDOG_LOST; /* could not reach the server before the lock ran out */
      } else {
        int64_t retry = w->interval_ms / 4 > 0 ? w->interval_ms / 4 : 1;
        w->next_due_ms = now_ms + retry;
      }
    }
  }
  if (state) *state = w->state;
  return rc;
}
