/* The crossredis command: one source per subcommand, dispatched by main.c, and the helpers they
 * share (command line, connecting, showing bytes). */
#ifndef CROSSREDIS_CLI_H
#define CROSSREDIS_CLI_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "crossredis/client.h"
#include "crossredis/loop.h"

#ifndef CROSSREDIS_VERSION
#define CROSSREDIS_VERSION "0.1.0"
#endif

/* Exit statuses: 0 done, 1 the work failed, 2 the command line was wrong. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

/* The subcommands: argv[0] is the subcommand's name. */
int cli_demo(int argc, char **argv);
int cli_locks(int argc, char **argv);
int cli_drain(int argc, char **argv);
int cli_sessions(int argc, char **argv);
int cli_inventory(int argc, char **argv);
int cli_driver(int argc, char **argv);
int cli_interop(int argc, char **argv);
int cli_migrate(int argc, char **argv);

/* Prints "crossredis: <what>: <last error message>" on stderr and returns CLI_FAILED. */
int cli_fail(const char *what);

/* ---- the command line (args.c) ---------------------------------------------------------------- */

/* The server a subcommand works on: `flag` (the --url value, or NULL), else $REDIS_URL when set and
 * not empty, else redis://127.0.0.1:6379. Its password is remembered for cli_redact, and hidden
 * from this process's own command line (overwritten with '*' in argv: ps shows none). A URL the
 * core cannot parse is a usage error naming where it came from ("crossredis <cmd>: --url
 * redis://:***@h:x: URL: bad port ..." with the usage, or "...: the environment variable REDIS_URL
 * ..."). Returns CLI_OK with *url set (valid until the program ends), or CLI_USAGE after saying
 * why. */
int cli_server_url(const char *cmd, const char *flag, void (*usage)(FILE *), const char **url);

/* NULL when the core can parse `url`, else why not (redacted; free it). Remembers its password. */
char *cli_url_problem(const char *url);

/* The same checks for a URL from `from` ("--url" or "REDIS_URL"): CLI_OK or CLI_USAGE. */
int cli_check_url(const char *cmd, const char *url, const char *from, void (*usage)(FILE *));

/* The value of the flag `name` (--url, --sentinel-url...) as a URL: copied (*url valid until the
 * program ends), its password remembered for cli_redact and overwritten with '*' in argv, checked
 * as cli_check_url does. CLI_OK or CLI_USAGE. */
int cli_flag_url(const char *cmd, const char *name, const char *value, void (*usage)(FILE *), const char **url);

/* "lock" or "locks" for n. */
static inline const char *cli_plural(size_t n, const char *one, const char *many) { return n == 1 ? one : many; }

/* Whether argv[*i] is --help or -h. */
bool cli_is_help(const char *arg);

/* Matches "--name VALUE" or "--name=VALUE" at argv[*i]. Returns 1 when it matched (*value set,
 * *i moved to the last argument used), 0 when argv[*i] is another argument, -1 when the value is
 * missing (the message is printed, naming the command `cmd`). */
int cli_flag_value(int argc, char **argv, int *i, const char *name, const char **value, const char *cmd);

/* Prints "crossredis <cmd>: <message>", a blank line and the usage on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, void (*usage)(FILE *), const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses a whole decimal integer in [min, max]; false when `text` is anything else. */
bool cli_parse_long(const char *text, long min, long max, long *out);
/* Parses a decimal number of seconds (fractions allowed) in [0, max]. */
bool cli_parse_seconds(const char *text, double max, double *out);

/* Opens a client from `url` (redis://, rediss:// with ca_file, cert_file, key_file, server_name,
 * insecure, unix://) and checks it with a PING. NULL after printing
 * "crossredis: <cmd>: <why>" (cannot connect, authentication failed, TLS, a bad URL). */
xr_client *cli_connect(const char *cmd, const char *url);

/* Monotonic milliseconds, for durations. */
double cli_monotonic_ms(void);

/* "2.4" or "60": seconds with one decimal, without a trailing ".0", into buf. */
const char *cli_format_seconds(char *buf, size_t size, double seconds);

/* ---- secrets (secret.c) ---------------------------------------------------------------------- */

/* Where the password of `url` (len bytes) is: the userinfo after its first ':' (all of a lone
 * userinfo), up to the last '@' before the query (or the last '@' at all when the query holds the
 * only one: a password with '?' the parser cuts short). false when there is no password. */
bool cli_url_password_span(const char *url, size_t len, size_t *start, size_t *plen);

/* A copy of `url` with its password as "***": redis://user:***@host:port/..., redis://:***@host
 * for a password without a user; the query is kept. Free it. */
char *cli_url_redact(const char *url);

/* Remembers the password of `url` (as written and percent-decoded) for cli_redact. */
void cli_secrets_add_url(const char *url);

/* A copy of `msg` fit to print: every URL in it redacted (from its scheme to the next blank or
 * quote) and every remembered password replaced by "***". Free it. */
char *cli_redact(const char *msg);

/* A copy of `msg` with every '...' quoted piece as '***'. Free it. */
char *cli_mask_quoted(const char *msg);

/* fputs(cli_redact(msg), f). */
void cli_print_redacted(FILE *f, const char *msg);

/* ---- bytes shown to people and in JSON (text.c) ------------------------------------------------ */

/* A NUL-terminated copy of `s` for a terminal: printable ASCII and valid UTF-8 as they are,
 * a backslash as "\\", every other byte as "\xNN". Never NULL (aborts when out of memory). */
char *cli_text_escape(const char *s, size_t len);

/* A JSON string of `s`: valid UTF-8 as it is, each invalid byte as U+FFFD (JSON holds text only).
 * NUL bytes are kept (written as \u0000). A new reference; never NULL. */
json_t *cli_json_string(const char *s, size_t len);

/* Whether s (len bytes) is valid UTF-8 (what cli_json_string keeps as it is). */
bool cli_utf8_valid(const char *s, size_t len);

/* The bytes as a base64 JSON string (RFC 4648, with padding): what a key that is not valid UTF-8
 * is in JSON, exactly. A new reference; never NULL. */
json_t *cli_json_base64(const char *s, size_t len);
/* base64 text (RFC 4648, padded; no spaces) as bytes: *out (malloc'd, NUL after the bytes; free)
 * and *out_len; false (and *out NULL) when it is not base64. */
bool cli_base64_decode(const char *s, size_t len, char **out, size_t *out_len);

/* Allocation that aborts with a message when memory runs out (the command has no way to go on). */
void *cli_xmalloc(size_t size);
void *cli_xrealloc(void *p, size_t size);

/* ---- what the lock scan reports while it runs (locks.c; crossredis/lock_scan.h) ---------------- */

/* xr_lock_scan_options.progress: "<ctx>: N keys scanned, M locks" on stderr (ctx: a const char *). */
void cli_lock_scan_progress(void *ctx, size_t scanned, size_t locks);

/* xr_lock_scan_options.skipped: "crossredis: skipping <key>: not a string, so not a Chat SDK lock"
 * on stderr. */
void cli_lock_scan_skipped(void *ctx, const char *key, size_t key_len);

/* ---- the demo's Sentinel and Cluster parts (demo.c, demo_topologies.c) ------------------------- */

/* "  <what padded to 44>  <text>": a row of the demo's output. */
void cli_demo_row(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The Chat SDK state through a redis+sentinel:// URL: a lock, a queued message and, with
 * `changes`, a SENTINEL FAILOVER followed by the client. Keys under `prefix` only, deleted after.
 * CLI_OK, or CLI_FAILED after saying why. */
int cli_demo_sentinel(const char *url, const char *prefix, bool changes);
/* The same through a redis+cluster:// URL: keys over the masters, CROSSSLOT, a hash-tagged prefix
 * and, with `changes`, a slot moved to another master (moved back unless `local`). */
int cli_demo_cluster(const char *url, const char *prefix, bool changes, bool local);

/* The demo's inventory step (demo_inventory.c): a Chat SDK thread in the upstream and in the tagged
 * layout under `prefix`, inventoried: owners and each layout's Cluster readiness; keys deleted
 * after. CLI_OK, or CLI_FAILED after saying why. */
int cli_demo_inventory(xr_client *c, const char *prefix);

/* The demo's migration (migrate.c): old-shape keys under `prefix` moved to a hash-tagged shape
 * through a window and migrate copy, shown as rows, deleted after. CLI_OK, or CLI_FAILED after
 * saying why. */
int cli_demo_migrate(const char *url, const char *prefix);

/* ---- throwaway local redis-servers for the demo (local_server.c) ------------------------------ */

typedef struct cli_local_server cli_local_server;

typedef struct cli_local_server_options {
  bool tls;                  /* TLS only, with certificates made for it */
  bool cluster;              /* a Cluster node (nodes.conf in its folder, node timeout 2 s) */
  bool sentinel;             /* redis-server --sentinel; `config` holds its sentinel lines */
  const char *config;        /* written to redis.conf in its folder, which the server starts from and
                                may rewrite; NULL: none */
  const atomic_bool *cancel; /* NULL, or set from another thread to give up starting ("stopped") */
} cli_local_server_options;

#define CLI_LOCAL_SERVER_OPTIONS_INIT {false, false, false, NULL, NULL}

/* Starts redis-server ($XR_REDIS_SERVER, else the one on PATH) in a new folder under $TMPDIR on a
 * free loopback port, without a password or persistence, as `o` says (NULL: plain), and waits up
 * to 10 s until it answers PING. -1 with the reason in err (size bytes) otherwise. The server dies
 * with the thread that started it: start it from one that outlives it. */
int cli_local_server_start(cli_local_server **out, const cli_local_server_options *o, char *err, size_t size);
/* "redis://127.0.0.1:N", or "rediss://127.0.0.1:N" with TLS. */
const char *cli_local_server_url(const cli_local_server *s);
int cli_local_server_port(const cli_local_server *s);
/* Its folder; with TLS it holds ca.crt (the CA that signed the server's certificate) and
 * wrong-ca.crt (an unrelated CA). */
const char *cli_local_server_dir(const cli_local_server *s);
/* A client on the server's unix socket (plain even for a TLS server), for setting it up. */
int cli_local_server_client(const cli_local_server *s, xr_client **out, int timeout_ms);
/* Runs argv (argv[0] a path) for server s and waits for it, its output in <folder>/<log_name>;
 * killed when the server's start is cancelled, and by a cleanup signal. 0, or -1 with err. */
int cli_local_server_run(cli_local_server *s, char *const argv[], const char *log_name, char *err, size_t size);
/* Stops the server and removes its folder. NULL is ok. */
void cli_local_server_stop(cli_local_server *s);
/* The same for n servers at once (SIGTERM to all, then each waited for); NULL entries are ok. */
void cli_local_servers_stop(cli_local_server *const *servers, size_t n);
/* Holds those signals on this thread (a cleanup waits until no thread holds them, for a step that
 * must not stop halfway), and lets them go again. */
void cli_local_server_hold_signals(sigset_t *old);
void cli_local_server_release_signals(const sigset_t *old);
/* Makes SIGINT, SIGTERM, SIGHUP and SIGPIPE stop every local server and remove its folder (then end the
 * process as the signal says). Starting a server does it too; call it before a child process may
 * save and restore a handler (the interop runner's SIGINT) while servers start. */
void cli_local_server_cleanup_on_signals(void);

/* ---- throwaway local topologies for the demo (local_topology.c) ------------------------------- */

typedef struct cli_local_topology cli_local_topology;

typedef enum cli_local_topology_kind {
  CLI_LOCAL_SENTINEL, /* a master, two replicas, three sentinels (quorum 2) naming it "crossredis-demo" */
  CLI_LOCAL_CLUSTER   /* three masters with a replica each */
} cli_local_topology_kind;

/* Starts one in a thread of its own, which owns its servers until cli_local_topology_stop, and
 * returns at once. Never NULL. */
cli_local_topology *cli_local_topology_start(cli_local_topology_kind kind);
/* Waits until it is up (every node agreeing: a Sentinel set whole, the Cluster ok on every node):
 * 0, or -1 with why in err. */
int cli_local_topology_wait(cli_local_topology *t, char *err, size_t size);
/* "redis+sentinel://127.0.0.1:s1,.../crossredis-demo" or "redis+cluster://127.0.0.1:p1,..." (every
 * node), once up. */
const char *cli_local_topology_url(const cli_local_topology *t);
/* How long it took to come up, in milliseconds. */
double cli_local_topology_up_ms(const cli_local_topology *t);
/* Stops it (giving up when it is still starting), removes its folders, frees it. NULL is ok. */
void cli_local_topology_stop(cli_local_topology *t);

/* ---- what servers say about themselves (reply.c) ---------------------------------------------- */

/* The value of `name` in INFO text ("role" for "role:master"), into out; false when missing. */
bool cli_info_field(const char *info, const char *name, char *out, size_t size);
/* The value after the string `name` in a flat map (an array of names and values, or a map); NULL
 * when missing. Borrowed from map (which may be NULL). */
const xr_reply *cli_map_value(const xr_reply *map, const char *name);
/* The same as text; "" when missing or not a string. */
const char *cli_map_text(const xr_reply *map, const char *name);

/* ---- the interop runner (interop.c) ----------------------------------------------------------- */

/* `name` looked up in $PATH into out, or taken as it is when it holds a '/'; false when it is not
 * an executable file. */
bool cli_find_program(const char *name, char *out, size_t size);

/* Runs interop/run.py with `args` (nargs of them, passed through) plus "--crossredis <this
 * program>", and `url` as REDIS_URL in its environment (never on a command line: ps shows those),
 * waiting for it (fork, exec, waitpid), and returns its exit status (CLI_FAILED when it was killed
 * or could not be started, after saying why). `cmd` names the caller in messages. */
int cli_interop_run(const char *cmd, const char *url, const char *const *args, int nargs);

#endif
