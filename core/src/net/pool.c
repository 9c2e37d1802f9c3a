/* A node's pool: a call takes an idle connection (or opens one while the pool has room, or waits),
 * runs on it and gives it back. A connection whose I/O failed is closed, and the failure bumps the
 * pool's generation so the idle connections opened before it are replaced when next taken: after a
 * server restart they are all dead, and only the call that found out pays for it. Shutting the
 * client down wakes every call waiting in the pool or sleeping (xr_client_sleep). */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "net/client_internal.h"

void xr_pool_init(xr_pool *p, int size) {
  p->size = size;
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cv, &ca);
  pthread_condattr_destroy(&ca);
}

void xr_pool_adopt(xr_conn *conn) {
  xr_pool *p = &conn->node->pool;
  pthread_mutex_lock(&p->mu);
  conn->next = p->idle;
  p->idle = conn;
  p->total++;
  pthread_mutex_unlock(&p->mu);
}

void xr_pool_destroy(xr_pool *p) {
  while (p->idle) {
    xr_conn *next = p->idle->next;
    xr_conn_close(p->idle);
    p->idle = next;
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
}

void xr_pool_stale(xr_pool *p) {
  pthread_mutex_lock(&p->mu);
  p->gen++;
  pthread_mutex_unlock(&p->mu);
}

void xr_pool_wake(xr_pool *p) {
  pthread_mutex_lock(&p->mu);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* The CLOCK_MONOTONIC time ms from now, for the pool's condition variables. */
static struct timespec time_in(int64_t ms) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  t.tv_sec += (time_t)(ms / 1000);
  t.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) t.tv_sec++, t.tv_nsec -= 1000000000L;
  return t;
}

static int wait_deadline(xr_client *c, xr_pool *p, const struct timespec *deadline) {
  if (c->command_timeout_ms <= 0) return pthread_cond_wait(&p->cv, &p->mu);
  return pthread_cond_timedwait(&p->cv, &p->mu, deadline);
}

int xr_pool_get(xr_client *c, xr_node *node, xr_conn **out) {
  xr_pool *p = &node->pool;
  struct timespec deadline = {0, 0};
  if (c->command_timeout_ms > 0) deadline = time_in(c->command_timeout_ms);
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (atomic_load(&c->shut)) {
      pthread_mutex_unlock(&p->mu);
      return xr_client_check_open(c, "the call");
    }
    xr_conn *conn = p->idle;
    if (conn) {
      p->idle = conn->next;
      if (conn->gen == p->gen) {
        pthread_mutex_unlock(&p->mu);
        *out = conn;
        return XR_OK;
      }
      p->total--; /* opened before a lost connection: likely dead too, replace it */
      pthread_mutex_unlock(&p->mu);
      xr_conn_close(conn);
      pthread_mutex_lock(&p->mu);
      continue;
    }
    if (p->total < p->size) {
      p->total++;
      uint64_t gen = p->gen;
      pthread_mutex_unlock(&p->mu);
      int code = xr_conn_open(c, node, NULL, &conn, 0);
      if (code != XR_OK) {
        pthread_mutex_lock(&p->mu);
        p->total--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return code;
      }
      conn->gen = gen;
      *out = conn;
      return XR_OK;
    }
    if (wait_deadline(c, p, &deadline) == ETIMEDOUT) {
      pthread_mutex_unlock(&p->mu);
      return xr_fail(XR_ETIMEOUT, "timeout after %d ms waiting for a free connection (pool of %d) to %s",
                     c->command_timeout_ms, p->size, node->address);
    }
  }
}

void xr_pool_put(xr_client *c, xr_conn *conn, int outcome) {
  XR_UNUSED(c);
  xr_pool *p = &conn->node->pool;
  pthread_mutex_lock(&p->mu);
  if (outcome == XR_CONN_OK && !atomic_load(&conn->node->retired)) {
    conn->next = p->idle;
    p->idle = conn;
    conn = NULL;
  } else {
    p->total--;
    if (outcome == XR_CONN_LOST) p->gen++;
  }
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  xr_conn_close(conn);
}

int xr_client_check_open(const xr_client *c, const char *fn) {
  if (!atomic_load(&c->shut)) return XR_OK;
  return xr_fail(XR_ECLOSED, "%s: the client of %s is shut down", fn, c->address);
}

void xr_client_shutdown(xr_client *c) {
  if (!c) return;
  pthread_mutex_lock(&c->sleep_mu);
  atomic_store(&c->shut, 1);
  pthread_cond_broadcast(&c->sleep_cv);
  pthread_mutex_unlock(&c->sleep_mu);
  xr_topology_wake_all(c);
}

int xr_client_sleep(xr_client *c, int64_t ms) {
  struct timespec until = time_in(ms < 0 ? 0 : ms);
  pthread_mutex_lock(&c->sleep_mu);
  int rc = 0;
  while (!atomic_load(&c->shut) && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&c->sleep_cv, &c->sleep_mu, &until);
  pthread_mutex_unlock(&c->sleep_mu);
  return xr_client_check_open(c, "the wait");
}

void xr_client_sleep_init(xr_client *c) {
  pthread_mutex_init(&c->sleep_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->sleep_cv, &ca);
  pthread_condattr_destroy(&ca);
}

void xr_client_sleep_destroy(xr_client *c) {
  pthread_mutex_destroy(&c->sleep_mu);
  pthread_cond_destroy(&c->sleep_cv);
}
