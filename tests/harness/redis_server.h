/* The test harness: real redis-server processes on free loopback ports, TLS certificates made with
 * the openssl command, and a silent listener for timeout tests. Used by the integration tests only.
 *
 * Every server lives in its own temporary directory (mkdtemp under $TMPDIR or /tmp) holding its
 * log, its unix socket and, for TLS, its certificates; xrt_server_free removes it. A server is
 * started with PR_SET_PDEATHSIG, so it dies with the thread that started it: start servers from a
 * thread that outlives them (the main thread).
 *
 * Errors: functions return 0 or -1; on -1 they write a message into `err` (XRT_ERR_SIZE bytes is
 * enough; may be NULL). Nothing here calls exit(). Not thread-safe: one thread drives a server. */
#ifndef XR_TEST_REDIS_SERVER_H
#define XR_TEST_REDIS_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#define XRT_ERR_SIZE 512

typedef struct xrt_server xrt_server;

typedef struct xrt_server_options {
  int unix_socket;            /* also listen on <dir>/redis.sock (mode 700) */
  int tls;                    /* serve TLS only: --port 0 --tls-port N */
  int tls_auth_clients;       /* with tls: require a client certificate signed by the CA */
  const char *certs_dir;      /* with tls: use the certificates there (from xrt_certs_generate);
                                 NULL: generate a fresh set in <dir>/certs */
  const char *acl_user;       /* an ACL user with every permission... */
  const char *acl_password;   /* ...and this password (no spaces) */
  int acl_disable_default;    /* turn the default user off */
  const char *requirepass;    /* password of the default user */
  const char *const *extra_args; /* more redis-server arguments, NULL-terminated; may be NULL */
  const char *config_text;    /* written to <dir>/redis.conf before the first start, and the server
                                 started from that file (the command line still wins): a file the
                                 server may rewrite (CONFIG REWRITE, Sentinel), kept across restarts;
                                 the place for passwords, which stay off the command line */
  int sentinel;               /* run as redis-sentinel (needs config_text: the sentinel monitor
                                 lines); ready when the log says "Sentinel ID is" */
} xrt_server_options;

#define XRT_SERVER_OPTIONS_INIT {0, 0, 0, NULL, NULL, NULL, 0, NULL, NULL, NULL, 0}

/* Starts a server and waits (up to 10 s) until it accepts connections. `o` may be NULL (plain TCP).
 * The redis-server binary is $XR_REDIS_SERVER, else the first one on $PATH. On failure the error
 * ends with the tail of the server's log. */
int xrt_server_start(xrt_server **out, const xrt_server_options *o, char *err);

/* SIGKILL, then reap: the server vanishes without closing anything cleanly. */
void xrt_server_kill(xrt_server *s);
/* SIGTERM, wait up to 5 s, then SIGKILL. Does nothing when it is not running. */
void xrt_server_stop(xrt_server *s);
/* Starts the server again on the same port with the same options (stopping it first when it is
 * still running); retries while the port cannot be bound yet. The data is gone. */
int xrt_server_restart(xrt_server *s, char *err);
/* Stops the server when it runs and removes its directory. NULL is ok. */
void xrt_server_free(xrt_server *s);

int xrt_server_running(const xrt_server *s);
pid_t xrt_server_pid(const xrt_server *s);   /* 0 when not running */
int xrt_server_port(const xrt_server *s);    /* the TCP port, or the TLS port with tls */
const char *xrt_server_host(const xrt_server *s);      /* "127.0.0.1" */
const char *xrt_server_dir(const xrt_server *s);       /* the private temp dir */
const char *xrt_server_log_path(const xrt_server *s);  /* <dir>/redis.log */
const char *xrt_server_config_path(const xrt_server *s); /* <dir>/redis.conf; NULL without config_text */
const char *xrt_server_unix_path(const xrt_server *s); /* NULL without unix_socket */
const char *xrt_server_certs_dir(const xrt_server *s); /* NULL without tls */
/* "redis://127.0.0.1:N" or "rediss://127.0.0.1:N"; and "unix://<path>" (NULL without one). */
const char *xrt_server_url(const xrt_server *s);
const char *xrt_server_unix_url(const xrt_server *s);

/* Sends "PING\r\n" over a raw TCP socket (or the unix socket when `use_unix`) and copies the
 * first reply line (e.g. "+PONG" or "-NOAUTH ...") into `reply`. Not for TLS servers. */
int xrt_server_raw_ping(const xrt_server *s, int use_unix, char *reply, size_t size, char *err);

/* Writes into `dir` (which must exist), with EC P-256 keys valid for one day:
 *   ca.crt ca.key             a test CA
 *   server.crt server.key     signed by it, subjectAltName IP:127.0.0.1, DNS:localhost
 *   client.crt client.key     signed by it, for mutual TLS
 *   wrong-ca.crt wrong-ca.key an unrelated CA
 * The openssl command ($XR_OPENSSL, else PATH) logs into dir/openssl.log. */
int xrt_certs_generate(const char *dir, char *err);

/* A loopback socket that listens and never accepts: the kernel completes the TCP handshake from
 * the backlog, then nothing ever answers. */
int xrt_silent_listener_start(int *port, int *fd, char *err);
void xrt_silent_listener_stop(int fd);

/* Runs argv[0] (a path, or a name looked up in $PATH) with argv, without a shell, waits for it
 * and returns its exit status (128 + signal when killed), or -1 when it could not be run. Its
 * stdout goes to `out` (NUL-terminated, truncated to size - 1) or, when out is NULL, to
 * `log_path` like its stderr (appended; NULL: dropped). */
int xrt_run(const char *const *argv, char *out, size_t size, const char *log_path, char *err);

/* As xrt_run, with `env` ("NAME=value" strings, NULL-terminated; NULL: none) replacing or adding to
 * the environment the child inherits: how a password reaches redis-cli (REDISCLI_AUTH) without
 * appearing on a command line. */
int xrt_run_env(const char *const *argv, const char *const *env, char *out, size_t size, const char *log_path,
                char *err);

/* Makes a fresh private directory <$TMPDIR or /tmp>/<prefix>-XXXXXX (mode 700) and writes its path
 * into `path`. Falls back to /tmp when $TMPDIR is so long that a unix socket path in it would not
 * fit in sun_path. */
int xrt_make_temp_dir(char *path, size_t size, const char *prefix, char *err);

/* Finds `name` in $PATH (or takes it as is when it holds a '/'); 0 when found. */
int xrt_find_program(const char *name, char *path, size_t size);

/* Removes a directory tree; 0 when it is gone. */
int xrt_remove_tree(const char *path);

/* Writes the message into err (XRT_ERR_SIZE bytes; err may be NULL) and returns -1: how the
 * harness's functions fail. */
int xrt_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sleeps for `ms` milliseconds. */
void xrt_sleep_ms(int ms);

#endif
