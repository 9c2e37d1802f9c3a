/* A scripted fake RESP server for the faults a real Redis cannot produce on demand: MOVED loops,
 * ASK chains to nodes nobody announced, TRYAGAIN forever, CLUSTERDOWN, "" and "?" endpoints in
 * CLUSTER SHARDS/SLOTS, a sentinel naming a node that says it is a replica, truncated replies, a
 * node that closes the connection after reading a command, a node that never answers. Anything a
 * real server can do on demand (failovers, resharding, kill -9) belongs to redis_server.h and
 * cluster.h instead.
 *
 * A fake listens on a free loopback port (127.0.0.1) and serves any number of connections from
 * one thread of its own (a poll loop). It reads commands (RESP arrays of bulk strings, or inline
 * lines split on spaces), records each one with the id of its connection, and answers by the
 * first matching rule the test added; commands no rule matches get built-in answers for the
 * connection setup (PING, ECHO, HELLO, AUTH, SELECT, CLIENT SETNAME/SETINFO, READONLY, READWRITE,
 * ASKING, QUIT) and otherwise the default reply. Replies go out in the order the commands came in
 * on each connection, like a real server's, so a delayed reply holds back the ones after it.
 *
 * Patterns: words separated by spaces, matched against the first arguments of a command, each an
 * fnmatch(3) glob compared case-insensitively; the command may have more arguments than the
 * pattern has words. "GET" matches any GET, "CLUSTER SHARDS" that subcommand, "SENTINEL
 * get-master-addr-by-name *" the subcommand with any master name, "*" every command.
 *
 * Replies are raw RESP text ("+OK\r\n", "-MOVED 3999 127.0.0.1:7001\r\n"), checked when the rule
 * is added: one or more complete RESP2/RESP3 values, unless the rule says `unchecked` (garbage
 * on purpose). Ports of other fakes go in with snprintf or the reply builders below.
 *
 * Errors: functions return 0 or -1 with a message in `err` (XRT_ERR_SIZE bytes; may be NULL), as
 * in redis_server.h; nothing calls exit(). The reply builders write into the caller's buffer and
 * return it, or NULL when the buffer is too small or the layout is not one (so a builder can be
 * passed straight to xrt_fake_on, which refuses NULL). Thread rules: every function but
 * xrt_fake_free may be called from any thread while the fake serves; xrt_fake_free from one
 * thread once nothing else uses the fake. */
#ifndef XR_TEST_FAKE_SERVER_H
#define XR_TEST_FAKE_SERVER_H

#include <stddef.h>

#include "redis_server.h"

typedef struct xrt_fake xrt_fake;

/* ---- starting and stopping ------------------------------------------------------------------- */

/* Listens on 127.0.0.1 at a port the kernel picks and starts serving. */
int xrt_fake_start(xrt_fake **out, char *err);
/* Stops the thread, closes the listener and every connection (replies still waiting for their
 * delay are dropped), frees everything. NULL is ok. */
void xrt_fake_free(xrt_fake *f);
int xrt_fake_port(const xrt_fake *f);

/* ---- rules ----------------------------------------------------------------------------------- */

typedef enum xrt_fake_action {
  XRT_FAKE_REPLY = 0, /* send the reply */
  XRT_FAKE_CLOSE,     /* close the connection after reading the command; no reply */
  XRT_FAKE_SILENT,    /* the connection goes mute: this command and every later one on it are
                         read and recorded but never answered; it stays open */
  XRT_FAKE_TRUNCATE,  /* send the first truncate_at bytes of the reply, then close */
} xrt_fake_action;

typedef struct xrt_fake_rule_options {
  int times;          /* match this many commands, then let them fall through to later rules;
                         0: every time */
  xrt_fake_action action;
  int delay_ms;       /* wait this long before answering (or closing); later replies on the
                         connection wait behind it, other connections do not */
  size_t truncate_at; /* TRUNCATE: bytes sent before closing, less than the reply's length;
                         0: half the reply */
  int unchecked;      /* send the reply as given even when it is not well-formed RESP */
} xrt_fake_rule_options;

#define XRT_FAKE_RULE_OPTIONS_INIT {0, XRT_FAKE_REPLY, 0, 0, 0}

/* Appends a rule (the earlier rules win). `reply` is required for REPLY and TRUNCATE and ignored
 * for CLOSE and SILENT; `o` may be NULL (reply every time, at once). The rule applies to the
 * next command read, on every connection, open or not yet. */
int xrt_fake_on_with(xrt_fake *f, const char *pattern, const char *reply,
                     const xrt_fake_rule_options *o, char *err);
/* The same with no options: reply every time, at once. Writes the reason to stderr when it
 * returns -1 (a mistake in the test: assert that it returns 0). */
int xrt_fake_on(xrt_fake *f, const char *pattern, const char *reply);
/* Forgets every rule: commands get the built-in and default replies again. */
void xrt_fake_clear_rules(xrt_fake *f);
/* The reply to a command that neither a rule nor a built-in answers; NULL restores the built-in
 * one: "-ERR unknown command 'NAME' (no rule in the fake server)". */
int xrt_fake_set_default(xrt_fake *f, const char *reply, char *err);

/* ---- acting on connections ------------------------------------------------------------------- */

/* Sends `resp` unasked (a pub/sub message, an out-of-band reply) to connection `conn`, or to every
 * open connection when conn is 0, after the replies already queued there. Unchecked bytes.
 * Error when `conn` is not open. */
int xrt_fake_send(xrt_fake *f, int conn, const char *resp, char *err);
/* Closes every open connection at once (a node that dies), queued replies unsent; the fake keeps
 * listening and accepting. Returns once they are closed. */
void xrt_fake_close_connections(xrt_fake *f);

/* ---- what the clients sent ------------------------------------------------------------------- */

typedef struct xrt_fake_command {
  int conn;          /* the connection: 1 for the first one accepted, then 2, ... */
  int argc;
  char **argv;       /* each NUL-terminated; argv_len for arguments holding NUL bytes */
  size_t *argv_len;
} xrt_fake_command;

typedef struct xrt_fake_log {
  size_t count;
  xrt_fake_command *commands; /* in the order they were read (within a connection, the order
                                 they were sent) */
} xrt_fake_log;

/* Copies every command recorded since the start or the last xrt_fake_clear_log; free the copy
 * with xrt_fake_log_free. */
int xrt_fake_commands(xrt_fake *f, xrt_fake_log *out, char *err);
void xrt_fake_log_free(xrt_fake_log *log);
void xrt_fake_clear_log(xrt_fake *f);
/* How many recorded commands match `pattern` (a rule's pattern; NULL: all of them). */
size_t xrt_fake_count(xrt_fake *f, const char *pattern);
/* Waits up to timeout_ms until at least `n` recorded commands match `pattern`. */
int xrt_fake_wait(xrt_fake *f, const char *pattern, size_t n, int timeout_ms, char *err);
/* The commands of connection `conn` as text, one per line, arguments joined by spaces
 * ("PING\nASKING\nGET k\n"); conn 0: every connection's, each line starting with the connection
 * id ("1 PING\n2 PING\n"). Error when it does not fit in `size`. */
int xrt_fake_transcript(xrt_fake *f, int conn, char *buf, size_t size, char *err);
/* Connections accepted since the start, and how many are open now. */
int xrt_fake_accepted(xrt_fake *f);
int xrt_fake_open_connections(xrt_fake *f);

/* ---- replies --------------------------------------------------------------------------------- */

/* The texts real servers send (Redis 7), for rules. */
#define XRT_FAKE_OK "+OK\r\n"
#define XRT_FAKE_NULL "$-1\r\n"
#define XRT_FAKE_TRYAGAIN "-TRYAGAIN Multiple keys request during rehashing of slot\r\n"
#define XRT_FAKE_CLUSTERDOWN "-CLUSTERDOWN The cluster is down\r\n"
#define XRT_FAKE_CLUSTERDOWN_SLOT "-CLUSTERDOWN Hash slot not served\r\n"
#define XRT_FAKE_READONLY "-READONLY You can't write against a read only replica.\r\n"
#define XRT_FAKE_LOADING "-LOADING Redis is loading the dataset in memory\r\n"
#define XRT_FAKE_NOREPLICAS "-NOREPLICAS Not enough good replicas to write.\r\n"
#define XRT_FAKE_MASTERDOWN \
  "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n"

#define XRT_FAKE_MAX_RANGES 8
#define XRT_FAKE_MAX_SHARD_NODES 8

typedef struct xrt_fake_node {
  int port;
  const char *ip;       /* NULL: "127.0.0.1" */
  const char *endpoint; /* what CLUSTER SLOTS lists first and SHARDS calls "endpoint": NULL: the
                           ip; "" (the host you used) and "?" (unknown) go out as given */
  const char *hostname; /* NULL: none announced (no hostname field) */
  const char *id;       /* NULL: 40 hex digits made from the port */
  const char *health;   /* CLUSTER SHARDS: NULL: "online" */
} xrt_fake_node;

typedef struct xrt_fake_shard {
  int ranges[XRT_FAKE_MAX_RANGES][2]; /* first and last slot of each range */
  size_t range_count;                 /* 0: a shard without slots (SHARDS lists it, SLOTS not) */
  xrt_fake_node nodes[XRT_FAKE_MAX_SHARD_NODES]; /* the master, then its replicas */
  size_t node_count;                  /* >= 1 */
} xrt_fake_shard;

/* CLUSTER SLOTS as Redis 7 answers it in RESP2: one entry per range, each node as [endpoint,
 * port, id, metadata], the metadata holding "ip" when the endpoint is not the ip and "hostname"
 * when one is announced and is not the endpoint. */
const char *xrt_fake_cluster_slots(char *buf, size_t size, const xrt_fake_shard *shards,
                                   size_t count);
/* CLUSTER SHARDS as Redis 7 answers it in RESP2: slots, then nodes with id, port, ip, endpoint,
 * hostname (when announced), role, replication-offset (0), health. */
const char *xrt_fake_cluster_shards(char *buf, size_t size, const xrt_fake_shard *shards,
                                    size_t count);
/* "-MOVED 3999 127.0.0.1:7001\r\n" and "-ASK ..." (host "" gives "-MOVED 3999 :7001"). */
const char *xrt_fake_moved(char *buf, size_t size, int slot, const char *host, int port);
const char *xrt_fake_ask(char *buf, size_t size, int slot, const char *host, int port);
/* SENTINEL get-master-addr-by-name: [host, "port"], or a null array when host is NULL (a master
 * the sentinel does not know). */
const char *xrt_fake_sentinel_master(char *buf, size_t size, const char *host, int port);
/* ROLE of a master with no replicas: [master, offset, []]. */
const char *xrt_fake_role_master(char *buf, size_t size, long long offset);
/* ROLE of a replica: [slave, master host, master port, state ("connected", "sync", ...),
 * offset]. */
const char *xrt_fake_role_replica(char *buf, size_t size, const char *master_host,
                                  int master_port, const char *state, long long offset);

#endif
