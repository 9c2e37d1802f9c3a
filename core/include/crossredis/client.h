/* The client: one handle for a Redis server over TCP, a unix socket or TLS, with ACL
 * authentication, a database number, timeouts and an internal pool of connections.
 *
 * Thread safety: an xr_client may be used from any number of threads at once; each call takes a
 * connection from the pool (creating one when none is idle and the pool is not full, else waiting
 * for one) and gives it back. A connection that failed (I/O error, timeout, protocol error) is
 * closed instead of returned, and the other idle connections opened before the failure are
 * replaced on their next use, so a restarted server costs one failed call, not one per pooled
 * connection. Nothing is retried behind the caller's back: a command whose connection broke may
 * or may not have run, and only the caller knows whether repeating it is safe.
 *
 * Replies (xr_reply) and batches (xr_batch) belong to the caller and are not tied to a
 * connection; they may be read from any thread once the call returned.
 *
 * Errors: every function returns 0 or a negative XR_E* code and records a message naming what
 * failed (see error.h). Error replies map to codes: WRONGPASS/NOAUTH -> XR_EAUTH, WRONGTYPE ->
 * XR_EWRONGTYPE, anything else -> XR_ESERVER, with the server's text in the message. */
#ifndef CROSSREDIS_CLIENT_H
#define CROSSREDIS_CLIENT_H

#include <stddef.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_client xr_client;
typedef struct xr_reply xr_reply;
typedef struct xr_script xr_script;
typedef struct xr_batch xr_batch;
/* A TLS configuration, made by crossredis_tls (tls.h). Reference-counted: a client keeps its own
 * reference, so the caller may free it right after opening. */
typedef struct xr_tls xr_tls;

/* The longest TTL (and wait) any operation takes, in milliseconds: 2^53-1, about 285,000 years. A
 * bound every runtime can hold exactly (JavaScript numbers stop being exact integers past it), so
 * an expiry computed as now + ttl never overflows, in C or elsewhere. */
#define XR_TTL_MAX_MS 9007199254740991LL

/* ---- options -------------------------------------------------------------------------------- */

#define XR_CLIENT_OPTIONS_VERSION 2

/* Where the client finds its server: one node, the master a set of sentinels names, or a Redis
 * Cluster's nodes by slot. */
typedef enum xr_topology_kind {
  XR_TOPOLOGY_STANDALONE = 0,
  XR_TOPOLOGY_SENTINEL = 1,
  XR_TOPOLOGY_CLUSTER = 2
} xr_topology_kind;

typedef struct xr_client_options {
  unsigned version;       /* XR_CLIENT_OPTIONS_VERSION */
  const char *host;       /* NULL: "127.0.0.1" */
  int port;               /* 0: 6379 */
  const char *unix_path;  /* a unix socket instead of host and port */
  const char *username;   /* ACL user; NULL: the default user (AUTH with the password alone) */
  const char *password;   /* NULL: no AUTH */
  int db;                 /* SELECT when not 0 */
  int connect_timeout_ms; /* <= 0: wait as long as the system does */
  int command_timeout_ms; /* per reply (and per wait for a free pooled connection); <= 0: none */
  int pool_size;          /* connections at most; <= 0: 8 */
  xr_tls *tls;            /* NULL: no TLS */
  const char *client_name;/* CLIENT SETNAME on each connection when set */
  /* version 2 */
  xr_topology_kind topology; /* STANDALONE: host, port or unix_path say where */
  const char *nodes;      /* SENTINEL: the sentinels; CLUSTER: seed nodes. "host:port,host:port"
                             ([v6]:port; the port defaults to 26379 for sentinels, 6379 for nodes) */
  const char *master_name;       /* SENTINEL: the name the sentinels monitor */
  const char *sentinel_username; /* the sentinels' own ACL user (NULL: the default user) */
  const char *sentinel_password; /* the sentinels' own password (NULL: no AUTH to them) */
  xr_tls *sentinel_tls;   /* TLS toward the sentinels (NULL: plain TCP); `tls` is the data nodes' */
  int replica_reads;      /* 1: read-only commands may go to a replica */
  int max_redirects;      /* Cluster: MOVED/ASK hops per command; <= 0: 16 */
} xr_client_options;

#define XR_CLIENT_OPTIONS_INIT \
  {XR_CLIENT_OPTIONS_VERSION, NULL, 6379, NULL, NULL, NULL, 0, 5000, 3000, 8, NULL, NULL, \
   XR_TOPOLOGY_STANDALONE, NULL, NULL, NULL, NULL, NULL, 0, 16}

/* A parsed connection URL:
 *   redis://[[user]:password@]host[:port][/db][?option=value&...]
 *   rediss://... (TLS)
 *   unix:///path/to/socket[?db=N&...]   (user and password as in redis://, before the path)
 *   redis+sentinel://[[user]:password@]host[:port],host[:port].../master_name[/db][?...]
 *       the sentinels to ask (port 26379 by default) and the name they monitor; user and password
 *       are the data nodes' (sentinel_username / sentinel_password in the query are the
 *       sentinels' own)
 *   redis+cluster://[[user]:password@]host[:port],host[:port]...[?...]   seed nodes (port 6379)
 *   rediss+sentinel://, rediss+cluster:// (TLS; for a Sentinel also toward the sentinels unless
 *       sentinel_tls=false)
 * Options: connect_timeout_ms, timeout_ms (command), pool_size, client_name, db; and for
 * rediss: ca_file, cert_file, key_file, server_name, insecure (true/false: no peer verification);
 * and for the topologies: sentinel_username, sentinel_password, sentinel_tls, replica_reads,
 * max_redirects. User, password and path are percent-decoded. An IPv6 host goes in brackets. */
typedef struct xr_url {
  char *host;
  int port;
  char *unix_path;
  char *username;
  char *password;
  int db;               /* -1 when the URL does not say */
  int tls;              /* 1 for rediss:// */
  char *ca_file;
  char *cert_file;
  char *key_file;
  char *server_name;
  int insecure;
  int connect_timeout_ms; /* -1 when the URL does not say */
  int command_timeout_ms; /* -1 when the URL does not say */
  int pool_size;          /* 0 when the URL does not say */
  char *client_name;
  xr_topology_kind topology;
  char *nodes;            /* the sentinels or seed nodes, "host:port,host:port" (ports filled in) */
  char *master_name;
  char *sentinel_username;
  char *sentinel_password;
  int sentinel_tls;       /* -1 when the URL does not say (then: as the data nodes) */
  int replica_reads;      /* -1 when the URL does not say */
  int max_redirects;      /* 0 when the URL does not say */
} xr_url;

/* Parses `url`. Errors: XR_EINVAL naming the part that is wrong (scheme, port, db, option). */
XR_API int xr_url_parse(xr_url **out, const char *url);
XR_API void xr_url_free(xr_url *u);

/* `url` with its passwords replaced by three stars (the userinfo's, and a sentinel_password in the
 * query), for logs and messages: the authority
 * user:pw@host:6379 becomes user:***@host:6379, a lone password pw@host becomes :***@host, and a
 * URL without credentials is copied as it is. Writes at most cap bytes, NUL-terminated, into out
 * (which may be NULL when cap is 0) and returns the length the whole text needs, like snprintf.
 * The last '@' before the query ends the password, so one with an unescaped '/', '@' or '#' (no
 * fragment to the parser) is hidden too; with no '@' there, the last '@' anywhere (a password with
 * an unescaped '?'), which may hide a query value as well: the safe side. The user is kept only
 * when a ':' ends it before the first '@' (a unix:// socket path may hold a ':'). Messages of
 * xr_url_parse never echo a piece of a URL that holds credentials. */
XR_API size_t xr_url_redact(char *out, size_t cap, const char *url);

/* Whether the sentinels of a redis+sentinel:// URL are spoken to over TLS: its sentinel_tls, else
 * as the data nodes (rediss+sentinel://). */
XR_API int xr_url_sentinel_tls(const xr_url *u);

/* Copies what `u` says into `opts` (strings point into `u`, which must outlive their use);
 * fields the URL does not mention keep their value. `opts->tls` is not touched. */
XR_API void xr_url_apply(const xr_url *u, xr_client_options *opts);

/* ---- the client ----------------------------------------------------------------------------- */

/* Opens a client and checks the server: connects one connection, authenticates, selects the db
 * and sends PING, so a wrong address, password or certificate fails here with its own error. All
 * of it (TCP connect, TLS handshake, AUTH, SELECT, PING) counts against connect_timeout_ms: a
 * server that accepts and never answers fails with XR_ETIMEOUT after about that long. The same
 * bound holds whenever the pool opens another connection.
 *
 * Commands that would change a pooled connection's state for the calls after them (SELECT, AUTH,
 * HELLO, RESET, QUIT, MONITOR, the SUBSCRIBE family, CLIENT REPLY/TRACKING/CACHING/SETNAME,
 * READONLY, and MULTI/EXEC/WATCH outside a batch) are refused by xr_client_command and
 * xr_batch_add with XR_EINVAL saying where to do it instead. A batch may hold MULTI ... EXEC (or
 * DISCARD) and WATCH ... as long as it closes them before it runs. */
XR_API int xr_client_open(xr_client **out, const xr_client_options *opts);

/* Opens from a URL; `base` (may be NULL) gives what the URL does not (timeouts, pool, tls).
 * A rediss:// URL needs base->tls, or xr_tls_client_open_url() from crossredis_tls, which builds
 * the TLS configuration from the URL's options. */
XR_API int xr_client_open_url(xr_client **out, const char *url, const xr_client_options *base);

/* Wakes every call waiting inside the client (the sleeps of xr_chat_acquire_lock_wait, a wait for
 * a free pooled connection) so it returns XR_ECLOSED within milliseconds; calls made afterwards
 * fail XR_ECLOSED at once. A command already on the wire is not interrupted: it ends by its reply
 * or the command timeout. Any thread may call it, any number of times; it frees nothing. A binding
 * that closes a client other threads may be using calls this, waits for those calls to return,
 * then calls xr_client_close. */
XR_API void xr_client_shutdown(xr_client *c);

/* Closes every connection and frees the client. No other thread may be using it. NULL is ok. */
XR_API void xr_client_close(xr_client *c);

/* Which topology the client was opened for. */
XR_API xr_topology_kind xr_client_topology(const xr_client *c);

/* Which node serves `slot` now, as a small number for a host that keeps one pipeline per node:
 * on a Cluster the master's place in the current slot map (0 .. masters-1; a refresh may renumber
 * them), 0 for standalone and Sentinel, -1 for a slot out of range or unassigned. A hint: a
 * command sent by it is still routed (and redirected) by the client. Thread-safe. */
XR_API int xr_client_node_of_slot(xr_client *c, int slot);

/* "host:port" or the socket path (standalone), "cluster host:port (+N)" (the first seed and how
 * many more), "master 'name' of sentinels host:port,..." - for messages. Valid while open. */
XR_API const char *xr_client_address(const xr_client *c);

/* Sends one command with binary-safe arguments and waits for its reply. `argvlen` may be NULL
 * when every argument is a NUL-terminated string. *out (when out is not NULL) receives the reply,
 * to be freed with xr_reply_free; on failure *out is NULL. */
XR_API int xr_client_command(xr_client *c, xr_reply **out, int argc, const char *const *argv,
                             const size_t *argvlen);

/* PING; 0 when the server answered PONG. */
XR_API int xr_client_ping(xr_client *c);

/* The reply timeout in milliseconds (<= 0: none), for callers that keep their own deadline
 * (xr_loop_conn_cancel). */
XR_API int xr_client_command_timeout_ms(const xr_client *c);

/* ---- replies -------------------------------------------------------------------------------- */

/* A reply nested deeper than 1000 levels (arrays, maps, sets in one another) is refused: the call
 * fails XR_EPROTOCOL ("a reply nested deeper than 1000 levels") and the connection is closed. */

/* Reply types, the same numbers hiredis uses. */
typedef enum xr_reply_type {
  XR_REPLY_STRING = 1,
  XR_REPLY_ARRAY = 2,
  XR_REPLY_INTEGER = 3,
  XR_REPLY_NIL = 4,
  XR_REPLY_STATUS = 5,
  XR_REPLY_ERROR = 6,
  XR_REPLY_DOUBLE = 7,
  XR_REPLY_BOOL = 8,
  XR_REPLY_MAP = 9,
  XR_REPLY_SET = 10
} xr_reply_type;

XR_API void xr_reply_free(xr_reply *r);
XR_API xr_reply_type xr_reply_kind(const xr_reply *r);
/* Text of a string, status, error or double reply (NULL for other types); len may be NULL. */
XR_API const char *xr_reply_str(const xr_reply *r, size_t *len);
/* Value of an integer (or bool) reply; 0 for other types. */
XR_API long long xr_reply_integer(const xr_reply *r);
/* Number of elements of an array, set or map (a map counts keys and values); 0 otherwise. */
XR_API size_t xr_reply_count(const xr_reply *r);
/* Element i of an array, set or map; NULL when out of range. Borrowed from r. */
XR_API const xr_reply *xr_reply_at(const xr_reply *r, size_t i);

/* ---- scripts -------------------------------------------------------------------------------- */

/* A Lua script sent by EVALSHA, falling back to EVAL when the server answers NOSCRIPT (its effect
 * on keys is the same as EVAL's). Immutable once made; share it between threads and clients. */
XR_API int xr_script_new(xr_script **out, const char *body, size_t len);
XR_API void xr_script_free(xr_script *s);
/* The SHA1 of the body as 40 lower-case hex digits. */
XR_API const char *xr_script_sha1(const xr_script *s);

/* Runs `s` with argv = numkeys keys followed by the arguments (argc in all). */
XR_API int xr_client_eval(xr_client *c, xr_reply **out, const xr_script *s, int numkeys, int argc,
                          const char *const *argv, const size_t *argvlen);

/* ---- batches -------------------------------------------------------------------------------- */

/* A batch collects operations and sends them as one pipeline on one connection, then reads one
 * result per operation, in order. Not thread-safe itself: fill and run it from one thread. */
XR_API int xr_batch_new(xr_batch **out);
XR_API void xr_batch_free(xr_batch *b);
/* Forgets the operations and results, keeping the memory for reuse. */
XR_API void xr_batch_clear(xr_batch *b);
XR_API size_t xr_batch_count(const xr_batch *b);
/* Appends a command; returns its index (>= 0) or a negative code. */
XR_API int xr_batch_add(xr_batch *b, int argc, const char *const *argv, const size_t *argvlen);
/* Appends a script run; returns its index (>= 0) or a negative code. */
XR_API int xr_batch_add_eval(xr_batch *b, const xr_script *s, int numkeys, int argc,
                             const char *const *argv, const size_t *argvlen);

/* Sends the batch and reads every reply. Returns 0 when every reply was read, even if some are
 * error replies (see xr_batch_result); a negative code when the connection failed, in which case
 * the operations without a reply carry that code too. Operations run in the order added: the
 * first run of each script in a batch goes by EVAL (loading it), later ones by EVALSHA, so a
 * server that lost its script cache (restart, failover, SCRIPT FLUSH) runs the batch as sent. */
XR_API int xr_client_exec(xr_client *c, xr_batch *b);

/* The outcome of operation i after xr_client_exec: 0 with *reply set (borrowed from the batch,
 * valid until clear or free), or the operation's error code with its message in *message (when
 * message is not NULL). XR_EINVAL when i is out of range or the batch did not run. */
XR_API int xr_batch_result(const xr_batch *b, size_t i, const xr_reply **reply,
                           const char **message);

/* Loop connections (batches driven by the caller's event loop) are in loop.h. */

#ifdef __cplusplus
}
#endif
#endif
