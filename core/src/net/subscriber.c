/* Subscribers (subscriber.h): the channels wanted, the connections that carry them (one per node:
 * the one node of a plain subscriber, each slot's master when sharded), all under one epoll
 * descriptor, and the messages received waiting for the caller. A connection that breaks or whose
 * node left the topology is opened again after a backoff and subscribes again. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "base/internal.h"
#include "base/pollable.h"
#include "codec/resp.h"
#include "crossredis/keys.h"
#include "crossredis/subscriber.h"
#include "net/client_internal.h"

#define BACKOFF_MAX_MS 1000

typedef struct sub_channel {
  char *name;
  size_t len;
  size_t conn;   /* the connection that carries it, SIZE_MAX: none yet */
  int confirmed; /* the server said (s)subscribe */
} sub_channel;

typedef struct sent {
  size_t channel; /* SIZE_MAX: an unsubscribe (its answer only needs to be taken) */
} sent;

typedef struct sconn {
  xr_node *node;     /* a reference */
  xr_conn *conn;     /* NULL while down */
  int64_t retry_at;  /* when down: when to open it again */
  int waits;
  int ever_open;
  int watching_write;
  sent *pending;     /* commands sent, oldest first, waiting for their answer */
  size_t npending, cap;
} sconn;

typedef struct message {
  char *data; /* channel then payload */
  size_t channel_len, payload_len;
} message;

struct xr_subscriber {
  xr_pollable pollable;
  xr_client *c;
  int sharded;
  int epfd;
  sub_channel *ch;
  size_t nch, capch;
  sconn *conns;
  size_t nconns, capconns;
  message *q;
  size_t qhead, qlen, qcap;
  char *taken; /* the message handed out last, freed on the next call */
  uint64_t reconnects;
};

static const xr_pollable_vtable subscriber_pollable;

int xr_subscriber_new(xr_subscriber **out, xr_client *c, const xr_subscriber_options *o) {
  if (!out || !c) return xr_fail(XR_EINVAL, "xr_subscriber_new: out and client are required");
  *out = NULL;
  xr_subscriber_options opts = XR_SUBSCRIBER_OPTIONS_INIT;
  if (o) {
    if (o->version != XR_SUBSCRIBER_OPTIONS_VERSION)
      return xr_fail(XR_EINVAL, "xr_subscriber_new: options version %u, expected %u (use XR_SUBSCRIBER_OPTIONS_INIT)",
                     o->version, XR_SUBSCRIBER_OPTIONS_VERSION);
    opts = *o;
  }
  xr_subscriber *s = xr_calloc(1, sizeof *s);
  if (!s) return xr_fail_nomem();
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->epfd < 0) {
    xr_free(s);
    return xr_fail(XR_EIO, "epoll_create1: %s", strerror(errno));
  }
  s->pollable.vt = &subscriber_pollable;
  s->c = c;
  s->sharded = opts.sharded != 0;
  *out = s;
  return XR_OK;
}

static void close_conn(xr_subscriber *s, sconn *k) {
  if (!k->conn) return;
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, k->conn->rc->fd, NULL);
  xr_conn_close(k->conn);
  k->conn = NULL;
  k->npending = 0;
  k->watching_write = 0;
}

void xr_subscriber_free(xr_subscriber *s) {
  if (!s) return;
  for (size_t i = 0; i < s->nconns; i++) {
    close_conn(s, &s->conns[i]);
    xr_node_release(s->conns[i].node);
    xr_free(s->conns[i].pending);
  }
  for (size_t i = 0; i < s->nch; i++) xr_free(s->ch[i].name);
  for (size_t i = s->qhead; i < s->qhead + s->qlen; i++) xr_free(s->q[i].data);
  xr_free(s->taken);
  xr_free(s->conns);
  xr_free(s->ch);
  xr_free(s->q);
  close(s->epfd);
  xr_free(s);
}

xr_pollable *xr_subscriber_pollable(xr_subscriber *s) { return s ? &s->pollable : NULL; }
uint64_t xr_subscriber_reconnects(const xr_subscriber *s) { return s ? s->reconnects : 0; }

size_t xr_subscriber_confirmed(const xr_subscriber *s) {
  size_t n = 0;
  for (size_t i = 0; s && i < s->nch; i++) n += s->ch[i].confirmed;
  return n;
}

/* ---- connections ------------------------------------------------------------------------------ */

static void watch_writes(xr_subscriber *s, size_t i) {
  sconn *k = &s->conns[i];
  int want = sdslen(k->conn->rc->obuf) > 0;
  if (want == k->watching_write) return;
  struct epoll_event ev = {EPOLLIN | (want ? EPOLLOUT : 0), {.u64 = i}};
  if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, k->conn->rc->fd, &ev) == 0) k->watching_write = want;
}

/* Down: closed now, opened again after the backoff; its channels wait unconfirmed. */
static void conn_down(xr_subscriber *s, size_t i) {
  sconn *k = &s->conns[i];
  close_conn(s, k);
  int64_t ms = 10;
  for (int w = 0; w < k->waits && ms < BACKOFF_MAX_MS; w++) ms *= 2;
  k->waits++;
  k->retry_at = xr_monotonic_ms() + (ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms);
  for (size_t c = 0; c < s->nch; c++)
    if (s->ch[c].conn == i) s->ch[c].confirmed = 0;
}

static int flush(xr_subscriber *s, size_t i) {
  sconn *k = &s->conns[i];
  int done = 0;
  if (redisBufferWrite(k->conn->rc, &done) != REDIS_OK) {
    conn_down(s, i);
    return 0;
  }
  watch_writes(s, i);
  return 1;
}

/* Queues one (S)SUBSCRIBE or (S)UNSUBSCRIBE of channel ci (an unsubscribe: ci SIZE_MAX, name given). */
static int send_cmd(xr_subscriber *s, size_t i, const char *verb, const char *name, size_t len, size_t ci) {
  sconn *k = &s->conns[i];
  if (k->npending == k->cap) {
    size_t cap = k->cap ? k->cap * 2 : 8;
    sent *p = xr_realloc(k->pending, cap * sizeof *p);
    if (!p) return xr_fail_nomem();
    k->pending = p;
    k->cap = cap;
  }
  const char *argv[2] = {verb, name};
  size_t lens[2] = {strlen(verb), len};
  if (redisAppendCommandArgv(k->conn->rc, 2, argv, lens) != REDIS_OK) return xr_fail_nomem();
  k->pending[k->npending++] = (sent){ci};
  flush(s, i);
  return XR_OK;
}

static const char *sub_verb(const xr_subscriber *s) { return s->sharded ? "SSUBSCRIBE" : "SUBSCRIBE"; }

/* Opens connection i (blocking, within the connect timeout) and subscribes its channels. */
static int open_conn(xr_subscriber *s, size_t i) {
  sconn *k = &s->conns[i];
  xr_conn *conn;
  int rc = xr_conn_open(s->c, k->node, NULL, &conn, 0);
  if (!rc && (rc = xr_conn_set_nonblocking(conn))) xr_conn_close(conn);
  if (rc) {
    if (rc == XR_ENOMEM) return rc;
    k->conn = NULL;
    conn_down(s, i); /* try again later */
    return XR_OK;
  }
  struct epoll_event ev = {EPOLLIN, {.u64 = i}};
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, conn->rc->fd, &ev) != 0) {
    xr_conn_close(conn);
    return xr_fail(XR_EIO, "epoll_ctl: %s", strerror(errno));
  }
  k->conn = conn;
  if (k->ever_open) s->reconnects++;
  k->ever_open = 1;
  k->waits = 0;
  for (size_t c = 0; c < s->nch && k->conn; c++)
    if (s->ch[c].conn == i && (rc = send_cmd(s, i, sub_verb(s), s->ch[c].name, s->ch[c].len, c))) return rc;
  return XR_OK;
}

/* The connection for node n (a new, unopened one when the subscriber has none to it). */
static int conn_for(xr_subscriber *s, xr_node *n, size_t *idx) {
  for (size_t i = 0; i < s->nconns; i++) {
    if (s->conns[i].node == n) {
      xr_node_release(n);
      *idx = i;
      return XR_OK;
    }
  }
  if (s->nconns == s->capconns) {
    size_t cap = s->capconns ? s->capconns * 2 : 4;
    sconn *conns = xr_realloc(s->conns, cap * sizeof *conns);
    if (!conns) {
      xr_node_release(n);
      return xr_fail_nomem();
    }
    s->conns = conns;
    s->capconns = cap;
  }
  memset(&s->conns[s->nconns], 0, sizeof s->conns[0]);
  s->conns[s->nconns].node = n;
  *idx = s->nconns++;
  return XR_OK;
}

/* Puts channel ci on the connection of the node that should carry it now, subscribing it there
 * (opening that connection when it never was). */
static int place(xr_subscriber *s, size_t ci) {
  sub_channel *ch = &s->ch[ci];
  int slot = s->sharded && xr_client_topology(s->c) == XR_TOPOLOGY_CLUSTER ? (int)xr_key_slot(ch->name, ch->len) : -1;
  xr_node *n;
  size_t i = 0;
  int rc;
  if (!s->sharded && s->nconns > 0 && !atomic_load(&s->conns[0].node->retired)) {
    i = 0; /* plain: every channel on the one connection */
  } else if ((rc = xr_topology_route(s->c, slot, 0, &n)) || (rc = conn_for(s, n, &i))) {
    return rc;
  }
  ch->conn = i;
  ch->confirmed = 0;
  sconn *k = &s->conns[i];
  if (!k->conn && !k->ever_open) return open_conn(s, i); /* subscribes its channels, ch included */
  if (k->conn) return send_cmd(s, i, sub_verb(s), ch->name, ch->len, ci);
  return XR_OK; /* down: subscribed when it comes back */
}

/* ---- subscribing ------------------------------------------------------------------------------ */

static size_t find(const xr_subscriber *s, const char *name, size_t len) {
  for (size_t i = 0; i < s->nch; i++)
    if (s->ch[i].len == len && !memcmp(s->ch[i].name, name, len)) return i;
  return SIZE_MAX;
}

int xr_subscriber_subscribe(xr_subscriber *s, const char *channel, size_t len) {
  if (!s || (!channel && len)) return xr_fail(XR_EINVAL, "xr_subscriber_subscribe: subscriber and channel are required");
  if (len == 0 || len > 65536) return xr_fail(XR_EINVAL, "xr_subscriber_subscribe: a channel has 1 to 65536 bytes, got %zu", len);
  if (find(s, channel, len) != SIZE_MAX) return XR_OK;
  if (s->nch == s->capch) {
    size_t cap = s->capch ? s->capch * 2 : 8;
    sub_channel *ch = xr_realloc(s->ch, cap * sizeof *ch);
    if (!ch) return xr_fail_nomem();
    s->ch = ch;
    s->capch = cap;
  }
  char *name = xr_strndup(channel, len);
  if (!name) return xr_fail_nomem();
  s->ch[s->nch] = (sub_channel){name, len, SIZE_MAX, 0};
  return place(s, s->nch++);
}

int xr_subscriber_unsubscribe(xr_subscriber *s, const char *channel, size_t len) {
  if (!s || (!channel && len)) return xr_fail(XR_EINVAL, "xr_subscriber_unsubscribe: subscriber and channel are required");
  size_t ci = find(s, channel, len);
  if (ci == SIZE_MAX) return XR_OK;
  sub_channel ch = s->ch[ci];
  s->ch[ci] = s->ch[--s->nch]; /* the last takes its place: renumber what is in flight */
  for (size_t i = 0; i < s->nconns; i++) {
    sconn *k = &s->conns[i];
    for (size_t p = 0; p < k->npending; p++) {
      if (k->pending[p].channel == ci) k->pending[p].channel = SIZE_MAX;
      else if (k->pending[p].channel == s->nch) k->pending[p].channel = ci;
    }
  }
  int rc = XR_OK;
  if (ch.conn != SIZE_MAX && s->conns[ch.conn].conn)
    rc = send_cmd(s, ch.conn, s->sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", ch.name, ch.len, SIZE_MAX);
  xr_free(ch.name);
  return rc;
}

/* ---- receiving -------------------------------------------------------------------------------- */

static int push_message(xr_subscriber *s, const redisReply *ch, const redisReply *payload) {
  if (s->qhead + s->qlen == s->qcap) {
    if (s->qhead > 0) {
      memmove(s->q, s->q + s->qhead, s->qlen * sizeof *s->q);
      s->qhead = 0;
    } else {
      size_t cap = s->qcap ? s->qcap * 2 : 16;
      message *q = xr_realloc(s->q, cap * sizeof *q);
      if (!q) return xr_fail_nomem();
      s->q = q;
      s->qcap = cap;
    }
  }
  char *data = xr_malloc(ch->len + payload->len + 1);
  if (!data) return xr_fail_nomem();
  memcpy(data, ch->str, ch->len);
  memcpy(data + ch->len, payload->str, payload->len);
  s->q[s->qhead + s->qlen++] = (message){data, ch->len, payload->len};
  return XR_OK;
}

static int is(const redisReply *r, const char *word) {
  return r->type == REDIS_REPLY_STRING && r->len == strlen(word) && !strncasecmp(r->str, word, r->len);
}

/* One reply on connection i. */
static int take(xr_subscriber *s, size_t i, const redisReply *r) {
  sconn *k = &s->conns[i];
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && (is(r->element[0], "message") || is(r->element[0], "smessage")) &&
      r->element[1]->type == REDIS_REPLY_STRING && r->element[2]->type == REDIS_REPLY_STRING)
    return push_message(s, r->element[1], r->element[2]);
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && is(r->element[0], "sunsubscribe") &&
      r->element[1]->type == REDIS_REPLY_STRING) {
    /* asked for (an answer to our SUNSUBSCRIBE), or the node's own: the slot moved away */
    if (k->npending && k->pending[0].channel == SIZE_MAX) {
      memmove(k->pending, k->pending + 1, --k->npending * sizeof *k->pending);
      return XR_OK;
    }
    size_t ci = find(s, r->element[1]->str, r->element[1]->len);
    if (ci == SIZE_MAX) return XR_OK;
    xr_topology_refresh(s->c, 0);
    s->reconnects++;
    return place(s, ci);
  }
  /* the answer to the oldest command sent: a confirmation, or an error (MOVED for SSUBSCRIBE) */
  if (k->npending == 0) return XR_OK;
  size_t ci = k->pending[0].channel;
  memmove(k->pending, k->pending + 1, --k->npending * sizeof *k->pending);
  if (ci == SIZE_MAX) return XR_OK;
  if (r->type == REDIS_REPLY_ERROR) {
    xr_redirect rd;
    if (xr_redirect_classify(r->str, r->len, &rd) == XR_REDIRECT_MOVED) {
      xr_topology_moved(s->c, k->node, &rd);
      s->reconnects++;
      return place(s, ci);
    }
    return XR_OK; /* refused (a server without sharded pub/sub): it stays unconfirmed */
  }
  s->ch[ci].confirmed = 1;
  return XR_OK;
}

static int read_conn(xr_subscriber *s, size_t i) {
  if (redisBufferRead(s->conns[i].conn->rc) != REDIS_OK) {
    conn_down(s, i);
    return XR_OK;
  }
  for (;;) {
    void *r = NULL;
    if (redisGetReplyFromReader(s->conns[i].conn->rc, &r) != REDIS_OK) {
      conn_down(s, i);
      return XR_OK;
    }
    if (!r) return XR_OK;
    int rc = take(s, i, r); /* may add connections: s->conns may move */
    freeReplyObject(r);
    if (rc) return rc;
    if (!s->conns[i].conn) return XR_OK; /* went down meanwhile */
  }
}

int xr_subscriber_next(xr_subscriber *s, const char **channel, size_t *channel_len, const char **payload,
                       size_t *payload_len) {
  if (!s || !channel || !channel_len || !payload || !payload_len)
    return xr_fail(XR_EINVAL, "xr_subscriber_next: an argument is NULL");
  xr_free(s->taken);
  s->taken = NULL;
  if (s->qlen == 0) return 0;
  message m = s->q[s->qhead++];
  s->qlen--;
  s->taken = m.data;
  *channel = m.data;
  *channel_len = m.channel_len;
  *payload = m.data + m.channel_len;
  *payload_len = m.payload_len;
  return 1;
}

/* ---- the pollable ------------------------------------------------------------------------------ */

#define OWNER(p) XR_POLLABLE_OWNER(p, xr_subscriber, pollable)

static int has_channels(const xr_subscriber *s, size_t i) {
  for (size_t c = 0; c < s->nch; c++)
    if (s->ch[c].conn == i) return 1;
  return 0;
}

static int pollable_fd(const xr_pollable *p) { return OWNER(p)->epfd; }
static int pollable_events(const xr_pollable *p) { return OWNER(p) ? XR_WAIT_READ : 0; }

static int64_t pollable_deadline(const xr_pollable *p) {
  const xr_subscriber *s = OWNER(p);
  int64_t at = -1;
  for (size_t i = 0; i < s->nconns; i++) {
    const sconn *k = &s->conns[i];
    if (!k->conn && has_channels(s, i) && (at < 0 || k->retry_at < at)) at = k->retry_at;
  }
  return at;
}

static int pollable_process(xr_pollable *p, int ready, int64_t now_ms) {
  XR_UNUSED(ready);
  xr_subscriber *s = OWNER(p);
  xr_topology_tick(s->c); /* a Sentinel's watch: a failover moves the master */
  int rc = XR_OK;
  /* connections whose node left the topology (a failover, a reshard): their channels move */
  for (size_t i = 0; i < s->nconns && !rc; i++) {
    sconn *k = &s->conns[i];
    if (!atomic_load(&k->node->retired) || !has_channels(s, i)) continue;
    close_conn(s, k);
    k->retry_at = now_ms;
    s->reconnects++; /* its channels move to the node that replaced it */
    for (size_t c = 0; c < s->nch && !rc; c++)
      if (s->ch[c].conn == i) rc = place(s, c);
  }
  if (!rc && s->nconns == 1) {
    /* one connection (a plain subscriber's): the set could only name it, so it is read (and
     * written, when it has output waiting) straight away, one system call less a wake-up; a read
     * with nothing there is a no-op */
    if (s->conns[0].conn && s->conns[0].watching_write) flush(s, 0);
    if (s->conns[0].conn) rc = read_conn(s, 0);
  } else if (!rc) {
    struct epoll_event evs[16];
    int n = epoll_wait(s->epfd, evs, 16, 0);
    for (int e = 0; e < n && !rc; e++) {
      size_t i = (size_t)evs[e].data.u64;
      if (i >= s->nconns || !s->conns[i].conn) continue;
      if (evs[e].events & EPOLLOUT) flush(s, i);
      if (s->conns[i].conn && (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) rc = read_conn(s, i);
    }
  }
  int down = 0;
  for (size_t i = 0; i < s->nconns && !rc; i++) {
    sconn *k = &s->conns[i];
    if (k->conn || !has_channels(s, i)) continue;
    if (now_ms >= k->retry_at) {
      if (s->sharded) { /* the channels' nodes may have changed: each goes where its slot is now */
        xr_topology_refresh(s->c, 0);
        for (size_t c = 0; c < s->nch && !rc; c++)
          if (s->ch[c].conn == i) rc = place(s, c);
      }
      if (!rc && !s->conns[i].conn && has_channels(s, i)) rc = open_conn(s, i);
    }
    down |= !s->conns[i].conn && has_channels(s, i);
  }
  if (rc) return rc;
  if (s->qlen) return XR_POLL_DONE;
  return down ? XR_POLL_RUNNING : XR_POLL_IDLE;
}

static const xr_pollable_vtable subscriber_pollable = {pollable_fd, pollable_events, pollable_deadline, pollable_process};
