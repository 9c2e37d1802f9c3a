/* The harness checks itself: servers of each kind answer redis-cli and raw PINGs, kill, stop and
 * restart do what they say, certificates verify, a cluster (plain and TLS) and a Sentinel set (plain,
 * TLS, with passwords) are real and fail over, xr-topology's files name topologies that answer,
 * nothing is left behind. Every topology here is private (these tests break them). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>

#include "cluster.h"
#include "redis_cli.h"
#include "redis_server.h"
#include "sentinel.h"
#include "topology.h"
#include "itest.h"

#ifndef XR_TOPOLOGY_PATH
#error "XR_TOPOLOGY_PATH must name the xr-topology executable (tests/CMakeLists.txt defines it)"
#endif

static char certs_dir[256];

static int group_setup(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE];
  snprintf(certs_dir, sizeof certs_dir, "/tmp/xrt-harness-certs-XXXXXX");
  if (!mkdtemp(certs_dir)) return -1;
  if (xrt_certs_generate(certs_dir, err) != 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  return xrt_remove_tree(certs_dir);
}

/* Runs redis-cli with the given arguments; `out` gets its stdout without the trailing newline,
 * then its stderr. Returns its exit status. */
static int cli(char *out, size_t size, ...) {
  const char *argv[32];
  int n = 0;
  argv[n++] = "redis-cli";
  va_list ap;
  va_start(ap, size);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && n < 31) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  char err[XRT_ERR_SIZE], log[300];
  snprintf(log, sizeof log, "%s/cli.stderr", certs_dir);
  unlink(log);
  int rc = xrt_run(argv, out, size, log, err);
  if (rc < 0) fail_msg("redis-cli: %s", err);
  size_t len = strlen(out);
  while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r')) out[--len] = '\0';
  FILE *f = fopen(log, "r");
  if (f) {
    len += fread(out + len, 1, size - 1 - len, f);
    out[len] = '\0';
    fclose(f);
  }
  return rc;
}

static void port_str(char *buf, size_t size, const xrt_server *s) {
  snprintf(buf, size, "%d", xrt_server_port(s));
}

static int path_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static void test_plain_server(void **state) {
  (void)state;
  xrt_server *s = NULL;
  char err[XRT_ERR_SIZE] = "", reply[128], out[256], port[16];
  if (xrt_server_start(&s, NULL, err) != 0) fail_msg("start: %s", err);
  assert_true(xrt_server_running(s));
  assert_true(xrt_server_port(s) > 0);
  char url[64];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", xrt_server_port(s));
  assert_string_equal(xrt_server_url(s), url);
  assert_null(xrt_server_unix_path(s));
  assert_null(xrt_server_unix_url(s));
  assert_null(xrt_server_certs_dir(s));
  assert_true(path_exists(xrt_server_log_path(s)));

  ERR_CHECK(xrt_server_raw_ping(s, 0, reply, sizeof reply, err_));
  assert_string_equal(reply, "+PONG");
  port_str(port, sizeof port, s);
  assert_int_equal(cli(out, sizeof out, "-p", port, "PING", NULL), 0);
  assert_string_equal(out, "PONG");
  /* the options the harness promises */
  assert_int_equal(cli(out, sizeof out, "-p", port, "CONFIG", "GET", "save", NULL), 0);
  assert_string_equal(out, "save"); /* and an empty value */
  assert_int_equal(cli(out, sizeof out, "-p", port, "CONFIG", "GET", "appendonly", NULL), 0);
  assert_string_equal(out, "appendonly\nno");
  assert_int_equal(cli(out, sizeof out, "-p", port, "CONFIG", "GET", "dir", NULL), 0);
  char expect[600];
  snprintf(expect, sizeof expect, "dir\n%s", xrt_server_dir(s));
  assert_string_equal(out, expect);
  assert_int_equal(cli(out, sizeof out, "-p", port, "CONFIG", "GET", "bind", NULL), 0);
  assert_string_equal(out, "bind\n127.0.0.1");

  char dir[600];
  snprintf(dir, sizeof dir, "%s", xrt_server_dir(s));
  assert_true(path_exists(dir));
  xrt_server_free(s);
  assert_false(path_exists(dir));
}

static void test_unix_socket(void **state) {
  (void)state;
  xrt_server *s = NULL;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.unix_socket = 1;
  char err[XRT_ERR_SIZE] = "", reply[128], out[256];
  if (xrt_server_start(&s, &o, err) != 0) fail_msg("start: %s", err);
  const char *path = xrt_server_unix_path(s);
  assert_non_null(path);
  char url[256];
  snprintf(url, sizeof url, "unix://%s", path);
  assert_string_equal(xrt_server_unix_url(s), url);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0700);

  ERR_CHECK(xrt_server_raw_ping(s, 1, reply, sizeof reply, err_));
  assert_string_equal(reply, "+PONG");
  assert_int_equal(cli(out, sizeof out, "-s", path, "PING", NULL), 0);
  assert_string_equal(out, "PONG");
  /* TCP too */
  ERR_CHECK(xrt_server_raw_ping(s, 0, reply, sizeof reply, err_));
  assert_string_equal(reply, "+PONG");

  /* a clean stop removes the socket file */
  char sock[256];
  snprintf(sock, sizeof sock, "%s", path);
  xrt_server_stop(s);
  assert_false(xrt_server_running(s));
  assert_false(path_exists(sock));
  xrt_server_free(s);
}

static void test_certificates(void **state) {
  (void)state;
  const char *files[] = {"ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key",
                         "wrong-ca.crt"};
  char p[512], ca[512], wrong[512], out[4096], err[XRT_ERR_SIZE];
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    snprintf(p, sizeof p, "%s/%s", certs_dir, files[i]);
    if (!path_exists(p)) fail_msg("%s is missing", p);
  }
  snprintf(ca, sizeof ca, "%s/ca.crt", certs_dir);
  snprintf(wrong, sizeof wrong, "%s/wrong-ca.crt", certs_dir);
  const char *leaves[] = {"server.crt", "client.crt"};
  for (size_t i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s/%s", certs_dir, leaves[i]);
    const char *ok[] = {"openssl", "verify", "-CAfile", ca, p, NULL};
    int rc = xrt_run(ok, out, sizeof out, NULL, err);
    if (rc != 0) fail_msg("openssl verify %s: %d %s %s", p, rc, err, out);
    assert_non_null(strstr(out, ": OK"));
    const char *bad[] = {"openssl", "verify", "-CAfile", wrong, p, NULL};
    assert_int_not_equal(xrt_run(bad, out, sizeof out, NULL, err), 0);
  }
  /* the server certificate names 127.0.0.1 and localhost; purposes are right */
  snprintf(p, sizeof p, "%s/server.crt", certs_dir);
  const char *ip[] = {"openssl", "verify", "-CAfile", ca, "-verify_ip", "127.0.0.1", "-purpose", "sslserver", p, NULL};
  assert_int_equal(xrt_run(ip, out, sizeof out, NULL, err), 0);
  const char *host[] = {"openssl", "verify", "-CAfile", ca, "-verify_hostname", "localhost", p, NULL};
  assert_int_equal(xrt_run(host, out, sizeof out, NULL, err), 0);
  const char *other[] = {"openssl", "verify", "-CAfile", ca, "-verify_hostname", "example.com", p, NULL};
  assert_int_not_equal(xrt_run(other, out, sizeof out, NULL, err), 0);
  snprintf(p, sizeof p, "%s/client.crt", certs_dir);
  const char *client[] = {"openssl", "verify", "-CAfile", ca, "-purpose", "sslclient", p, NULL};
  assert_int_equal(xrt_run(client, out, sizeof out, NULL, err), 0);
}

static void test_tls_server(void **state) {
  (void)state;
  xrt_server *s = NULL;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.tls = 1; /* its own certificates */
  char err[XRT_ERR_SIZE] = "", out[256], port[16], ca[600], wrong[600];
  if (xrt_server_start(&s, &o, err) != 0) fail_msg("start: %s", err);
  char url[64];
  snprintf(url, sizeof url, "rediss://127.0.0.1:%d", xrt_server_port(s));
  assert_string_equal(xrt_server_url(s), url);
  assert_non_null(xrt_server_certs_dir(s));
  snprintf(ca, sizeof ca, "%s/ca.crt", xrt_server_certs_dir(s));
  snprintf(wrong, sizeof wrong, "%s/wrong-ca.crt", xrt_server_certs_dir(s));
  assert_true(path_exists(ca));
  port_str(port, sizeof port, s);
  assert_int_equal(cli(out, sizeof out, "--tls", "--cacert", ca, "-p", port, "PING", NULL), 0);
  assert_string_equal(out, "PONG");
  /* the port speaks TLS only, and the certificate does not verify against another CA */
  assert_int_not_equal(xrt_server_raw_ping(s, 0, out, sizeof out, err), 0);
  cli(out, sizeof out, "--tls", "--cacert", wrong, "-p", port, "PING", NULL);
  assert_null(strstr(out, "PONG"));
  xrt_server_free(s);
}

static void test_tls_auth_clients(void **state) {
  (void)state;
  xrt_server *s = NULL;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.tls = 1;
  o.tls_auth_clients = 1;
  o.certs_dir = certs_dir;
  char err[XRT_ERR_SIZE] = "", out[256], port[16], ca[600], crt[600], key[600];
  if (xrt_server_start(&s, &o, err) != 0) fail_msg("start: %s", err);
  assert_string_equal(xrt_server_certs_dir(s), certs_dir);
  snprintf(ca, sizeof ca, "%s/ca.crt", certs_dir);
  snprintf(crt, sizeof crt, "%s/client.crt", certs_dir);
  snprintf(key, sizeof key, "%s/client.key", certs_dir);
  port_str(port, sizeof port, s);
  assert_int_equal(cli(out, sizeof out, "--tls", "--cacert", ca, "--cert", crt, "--key", key, "-p", port, "PING", NULL), 0);
  assert_string_equal(out, "PONG");
  cli(out, sizeof out, "--tls", "--cacert", ca, "-p", port, "PING", NULL);
  assert_null(strstr(out, "PONG"));
  xrt_server_free(s);
}

static void test_acl_user(void **state) {
  (void)state;
  xrt_server *s = NULL;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.acl_user = "alice";
  o.acl_password = "s3cret";
  o.acl_disable_default = 1;
  char err[XRT_ERR_SIZE] = "", reply[128], out[256], port[16];
  if (xrt_server_start(&s, &o, err) != 0) fail_msg("start: %s", err);
  ERR_CHECK(xrt_server_raw_ping(s, 0, reply, sizeof reply, err_));
  assert_memory_equal(reply, "-NOAUTH", 7);
  port_str(port, sizeof port, s);
  assert_int_equal(cli(out, sizeof out, "--no-auth-warning", "--user", "alice", "--pass", "s3cret", "-p", port, "PING", NULL), 0);
  assert_string_equal(out, "PONG");
  cli(out, sizeof out, "--no-auth-warning", "--user", "alice", "--pass", "wrong", "-p", port, "PING", NULL);
  assert_non_null(strstr(out, "WRONGPASS"));
  /* the default user is off */
  cli(out, sizeof out, "--no-auth-warning", "-a", "", "-p", port, "PING", NULL);
  assert_null(strstr(out, "PONG"));
  xrt_server_free(s);
}

static void test_requirepass(void **state) {
  (void)state;
  xrt_server *s = NULL;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.requirepass = "hunter2";
  char err[XRT_ERR_SIZE] = "", reply[128], out[256], port[16];
  if (xrt_server_start(&s, &o, err) != 0) fail_msg("start: %s", err);
  ERR_CHECK(xrt_server_raw_ping(s, 0, reply, sizeof reply, err_));
  assert_memory_equal(reply, "-NOAUTH", 7);
  port_str(port, sizeof port, s);
  assert_int_equal(cli(out, sizeof out, "--no-auth-warning", "-a", "hunter2", "-p", port, "PING", NULL), 0);
  assert_string_equal(out, "PONG");
  xrt_server_free(s);
}

static void test_extra_args(void **state) {
  (void)state;
  xrt_server *s = NULL;
  const char *extra[] = {"--maxmemory", "10mb", "--databases", "4", NULL};
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.extra_args = extra;
  char err[XRT_ERR_SIZE] = "", out[256], port[16];
  if (xrt_server_start(&s, &o, err) != 0) fail_msg("start: %s", err);
  port_str(port, sizeof port, s);
  assert_int_equal(cli(out, sizeof out, "-p", port, "CONFIG", "GET", "maxmemory", NULL), 0);
  assert_string_equal(out, "maxmemory\n10485760");
  assert_int_equal(cli(out, sizeof out, "-p", port, "CONFIG", "GET", "databases", NULL), 0);
  assert_string_equal(out, "databases\n4");
  xrt_server_free(s);
}

static void test_kill_and_restart(void **state) {
  (void)state;
  xrt_server *s = NULL;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.unix_socket = 1;
  char err[XRT_ERR_SIZE] = "", reply[128], out[256], port[16];
  if (xrt_server_start(&s, &o, err) != 0) fail_msg("start: %s", err);
  port_str(port, sizeof port, s);
  int p = xrt_server_port(s);
  pid_t pid = xrt_server_pid(s);
  assert_int_equal(cli(out, sizeof out, "-p", port, "SET", "k", "v", NULL), 0);
  assert_string_equal(out, "OK");

  xrt_server_kill(s);
  assert_false(xrt_server_running(s));
  assert_int_equal(xrt_server_pid(s), 0);
  assert_int_equal(kill(pid, 0), -1); /* reaped, not a zombie */
  assert_int_equal(errno, ESRCH);
  assert_int_not_equal(xrt_server_raw_ping(s, 0, reply, sizeof reply, err), 0);
  assert_non_null(strstr(err, "refused"));

  if (xrt_server_restart(s, err) != 0) fail_msg("restart: %s", err);
  assert_true(xrt_server_running(s));
  assert_int_equal(xrt_server_port(s), p);
  assert_int_not_equal(xrt_server_pid(s), pid);
  ERR_CHECK(xrt_server_raw_ping(s, 0, reply, sizeof reply, err_));
  assert_string_equal(reply, "+PONG");
  ERR_CHECK(xrt_server_raw_ping(s, 1, reply, sizeof reply, err_)); /* the stale socket file is replaced */
  assert_string_equal(reply, "+PONG");
  assert_int_equal(cli(out, sizeof out, "-p", port, "EXISTS", "k", NULL), 0);
  assert_string_equal(out, "0");

  /* restart of a running server stops it first */
  pid = xrt_server_pid(s);
  if (xrt_server_restart(s, err) != 0) fail_msg("restart while running: %s", err);
  assert_int_not_equal(xrt_server_pid(s), pid);
  ERR_CHECK(xrt_server_raw_ping(s, 0, reply, sizeof reply, err_));
  xrt_server_free(s);
}

/* Holds a port for a while, then lets it go: restart must wait for it. */
static void *release_later(void *arg) {
  xrt_sleep_ms(600);
  close(*(int *)arg);
  return NULL;
}

static void test_restart_waits_for_port(void **state) {
  (void)state;
  xrt_server *s = NULL;
  char err[XRT_ERR_SIZE] = "", reply[128];
  if (xrt_server_start(&s, NULL, err) != 0) fail_msg("start: %s", err);
  xrt_server_kill(s);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((unsigned short)xrt_server_port(s));
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 1), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, release_later, &fd), 0);
  int rc = xrt_server_restart(s, err);
  pthread_join(t, NULL);
  if (rc != 0) fail_msg("restart: %s", err);
  ERR_CHECK(xrt_server_raw_ping(s, 0, reply, sizeof reply, err_));
  assert_string_equal(reply, "+PONG");
  xrt_server_free(s);
}

static void test_start_failure_reports_log_and_cleans_up(void **state) {
  (void)state;
  char tmp[] = "/tmp/xrt-harness-tmpdir-XXXXXX";
  assert_non_null(mkdtemp(tmp));
  const char *old = getenv("TMPDIR");
  char saved[512] = "";
  if (old) snprintf(saved, sizeof saved, "%s", old);
  setenv("TMPDIR", tmp, 1);

  xrt_server *s = NULL;
  const char *extra[] = {"--no-such-directive", "1", NULL};
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.extra_args = extra;
  char err[XRT_ERR_SIZE] = "";
  int rc = xrt_server_start(&s, &o, err);

  if (old) setenv("TMPDIR", saved, 1); else unsetenv("TMPDIR");
  assert_int_equal(rc, -1);
  assert_null(s);
  assert_non_null(strstr(err, "exited"));
  assert_non_null(strstr(err, "no-such-directive")); /* from the log tail */
  assert_int_equal(rmdir(tmp), 0);                   /* empty: the server's dir is gone */
}

static void test_missing_redis_server(void **state) {
  (void)state;
  setenv("XR_REDIS_SERVER", "/nonexistent/redis-server", 1);
  xrt_server *s = NULL;
  char err[XRT_ERR_SIZE] = "";
  int rc = xrt_server_start(&s, NULL, err);
  unsetenv("XR_REDIS_SERVER");
  assert_int_equal(rc, -1);
  assert_null(s);
  assert_non_null(strstr(err, "/nonexistent/redis-server"));
}

/* Dead: gone, or a zombie nobody reaps (PID 1 in a container may not). */
static int process_dead(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return 1;
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *paren = strrchr(buf, ')');
  return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* A server started by a process that dies goes with it. */
static void test_server_dies_with_parent(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    close(fds[0]);
    xrt_server *s = NULL;
    char err[XRT_ERR_SIZE];
    struct { pid_t pid; char dir[512]; } msg;
    memset(&msg, 0, sizeof msg);
    if (xrt_server_start(&s, NULL, err) == 0) {
      msg.pid = xrt_server_pid(s);
      snprintf(msg.dir, sizeof msg.dir, "%s", xrt_server_dir(s));
    }
    ssize_t w = write(fds[1], &msg, sizeof msg);
    _exit(w == (ssize_t)sizeof msg ? 0 : 1); /* without stopping the server */
  }
  close(fds[1]);
  struct { pid_t pid; char dir[512]; } msg;
  ssize_t n = read(fds[0], &msg, sizeof msg);
  close(fds[0]);
  int status;
  waitpid(child, &status, 0);
  assert_int_equal(n, (ssize_t)sizeof msg);
  assert_true(msg.pid > 0);
  int gone = 0;
  for (int i = 0; i < 500 && !gone; i++) {
    if (process_dead(msg.pid)) gone = 1;
    else xrt_sleep_ms(10);
  }
  xrt_remove_tree(msg.dir);
  assert_true(gone);
}

static void test_silent_listener(void **state) {
  (void)state;
  int port = 0, fd = -1;
  ERR_CHECK(xrt_silent_listener_start(&port, &fd, err_));
  assert_true(port > 0);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((unsigned short)port);
  assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0); /* the handshake completes */
  assert_int_equal(send(c, "PING\r\n", 6, MSG_NOSIGNAL), 6);
  struct pollfd p = {c, POLLIN, 0};
  assert_int_equal(poll(&p, 1, 300), 0); /* and nothing ever comes back */
  close(c);
  xrt_silent_listener_stop(fd);
  /* once stopped, the port refuses */
  c = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), -1);
  assert_int_equal(errno, ECONNREFUSED);
  close(c);
}

static void test_run(void **state) {
  (void)state;
  char out[64], err[XRT_ERR_SIZE];
  const char *echo[] = {"echo", "hello", NULL};
  assert_int_equal(xrt_run(echo, out, sizeof out, NULL, err), 0);
  assert_string_equal(out, "hello\n");
  const char *f[] = {"false", NULL};
  assert_int_equal(xrt_run(f, out, sizeof out, NULL, err), 1);
  const char *missing[] = {"xrt-no-such-program", NULL};
  assert_int_equal(xrt_run(missing, out, sizeof out, NULL, err), -1);
  assert_non_null(strstr(err, "xrt-no-such-program"));
  /* output longer than the buffer is truncated, and the child is not blocked by it */
  const char *seq[] = {"seq", "1", "100000", NULL};
  assert_int_equal(xrt_run(seq, out, sizeof out, NULL, err), 0);
  assert_int_equal(strlen(out), sizeof out - 1);
}

/* A cluster of 3 masters with a replica each: every node ok, 16384 slots on 3 shards, and a key
 * asked of a node that does not serve its slot is MOVED (a real cluster, not 6 lone servers). */
static void test_cluster(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE];
  xrt_cluster *c = NULL;
  if (xrt_cluster_start(&c, 3, 1, err) != 0) fail_msg("cluster: %s", err);
  assert_int_equal(xrt_cluster_size(c), 6);
  assert_null(xrt_cluster_node(c, 6));
  char info[4096], port[16];
  snprintf(port, sizeof port, "%d", xrt_server_port(xrt_cluster_node(c, 0)));
  const char *argv[] = {"redis-cli", "-p", port, "CLUSTER", "INFO", NULL};
  assert_int_equal(xrt_run(argv, info, sizeof info, NULL, err), 0);
  assert_non_null(strstr(info, "cluster_state:ok"));
  assert_non_null(strstr(info, "cluster_size:3"));
  assert_non_null(strstr(info, "cluster_known_nodes:6"));
  int moved = 0;
  for (size_t i = 0; i < 3; i++) {
    char out[256];
    snprintf(port, sizeof port, "%d", xrt_server_port(xrt_cluster_node(c, i)));
    const char *get[] = {"redis-cli", "-p", port, "GET", "chat-sdk:lock:t", NULL};
    assert_int_equal(xrt_run(get, out, sizeof out, NULL, err), 0);
    moved += strncmp(out, "MOVED ", 6) == 0 || strstr(out, "MOVED") != NULL;
  }
  assert_true(moved >= 1);
  assert_non_null(strstr(xrt_cluster_seeds(c), "127.0.0.1:"));
  xrt_cluster_free(c);
}

/* Reads a file into buf (NUL-terminated, truncated to size - 1); its length, or -1. */
static long read_text(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
  return (long)n;
}

/* The value of `field` ("role:", "master_port:", ...) in INFO replication of an endpoint. */
static void info_field(const xrt_endpoint *e, const char *field, char *value, size_t size) {
  char out[8192];
  ERR_CHECK(xrt_cli(e, out, sizeof out, err_, "INFO", "replication", NULL));
  if (xrt_reply_field(out, field, value, size) != 0) fail_msg("no %s in INFO replication: %s", field, out);
}

/* Port `port` of 127.0.0.1 does not answer a plain PING (it speaks TLS, or nothing). */
static void assert_no_plain_pong(int port) {
  char out[256], err[XRT_ERR_SIZE];
  xrt_endpoint plain = XRT_ENDPOINT_INIT;
  plain.port = port;
  int rc = xrt_cli(&plain, out, sizeof out, err, "PING", NULL);
  if (rc == 0 && strstr(out, "PONG")) fail_msg("port %d answered a plain PING", port);
}

/* A TLS cluster: every node speaks TLS only (a plain client gets nothing), the bus and the
 * replication run over TLS (tls-cluster, tls-replication: the cluster could not be ok nor the
 * replicas linked otherwise), CLUSTER SLOTS names the TLS ports, and a key asked of the wrong node
 * is MOVED. Its own certificates: in its directory, gone with it. */
static void test_cluster_tls(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE], out[8192], v[64];
  xrt_cluster *c = NULL;
  xrt_cluster_options o = XRT_CLUSTER_OPTIONS_INIT;
  o.tls = 1;
  if (xrt_cluster_start_with(&c, &o, err) != 0) fail_msg("TLS cluster: %s", err);
  assert_int_equal(xrt_cluster_size(c), 6);
  assert_true(xrt_cluster_tls(c));
  char ca[620], certs[600];
  snprintf(certs, sizeof certs, "%s", xrt_cluster_certs_dir(c));
  snprintf(ca, sizeof ca, "%s/ca.crt", certs);
  assert_true(path_exists(ca));
  int masters = 0, moved = 0;
  xrt_endpoint e0 = xrt_cluster_endpoint(c, 0);
  char slots[8192];
  ERR_CHECK(xrt_cli(&e0, slots, sizeof slots, err_, "CLUSTER", "SLOTS", NULL));
  for (size_t i = 0; i < xrt_cluster_size(c); i++) {
    xrt_server *n = xrt_cluster_node(c, i);
    xrt_endpoint e = xrt_cluster_endpoint(c, i);
    assert_string_equal(e.certs_dir, certs);
    assert_int_not_equal(xrt_server_raw_ping(n, 0, out, sizeof out, err), 0);
    assert_no_plain_pong(xrt_server_port(n));
    ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CLUSTER", "INFO", NULL));
    assert_non_null(strstr(out, "cluster_state:ok"));
    ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CONFIG", "GET", "tls-cluster", NULL));
    assert_string_equal(out, "tls-cluster\nyes");
    ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CONFIG", "GET", "port", NULL));
    assert_string_equal(out, "port\n0");
    info_field(&e, "role:", v, sizeof v);
    if (strcmp(v, "master") == 0) {
      masters++;
      char port[16];
      snprintf(port, sizeof port, "\n%d\n", xrt_server_port(n));
      if (!strstr(slots, port)) fail_msg("CLUSTER SLOTS lacks the TLS port %d: %s", xrt_server_port(n), slots);
      ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "GET", "chat-sdk:lock:t", NULL));
      moved += strncmp(out, "MOVED ", 6) == 0;
    } else {
      char link[32];
      for (int i2 = 0; i2 < 50; i2++) { /* a replica links up soon after the cluster is ok */
        info_field(&e, "master_link_status:", link, sizeof link);
        if (strcmp(link, "up") == 0) break;
        xrt_sleep_ms(100);
      }
      assert_string_equal(link, "up");
    }
  }
  assert_int_equal(masters, 3);
  assert_int_equal(moved, 2);
  xrt_cluster_free(c);
  assert_false(path_exists(ca));
}

/* The master's port as sentinel i names it. */
static int sentinel_names(const xrt_sentinel *s, size_t i) {
  char out[256];
  xrt_endpoint e = xrt_sentinel_sentinel_endpoint(s, i);
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", xrt_sentinel_master_name(s),
                    NULL));
  if (strncmp(out, "127.0.0.1\n", 10) != 0) fail_msg("sentinel %zu names \"%s\"", i, out);
  return atoi(out + 10);
}

/* Every sentinel names data node m, which says role:master; the others follow it. */
static void assert_master(const xrt_sentinel *s, int m) {
  char err[XRT_ERR_SIZE], v[64];
  int port = xrt_server_port(xrt_sentinel_node(s, (size_t)m));
  assert_int_equal(xrt_sentinel_master_index(s, err), m);
  for (size_t i = 0; i < XRT_SENTINEL_SENTINELS; i++)
    if (xrt_server_running(xrt_sentinel_sentinel(s, i))) assert_int_equal(sentinel_names(s, i), port);
  for (size_t i = 0; i < XRT_SENTINEL_NODES; i++) {
    if (!xrt_server_running(xrt_sentinel_node(s, i))) continue;
    xrt_endpoint e = xrt_sentinel_node_endpoint(s, i);
    info_field(&e, "role:", v, sizeof v);
    assert_string_equal(v, (int)i == m ? "master" : "slave");
    if ((int)i == m) continue;
    info_field(&e, "master_port:", v, sizeof v);
    assert_int_equal(atoi(v), port);
  }
}

/* A Sentinel set with the defaults: node 0 is the master, the others replicate it, the sentinels
 * name it; SENTINEL FAILOVER moves the master and keeps the data; a killed master is replaced by
 * the sentinels themselves; the killed node returns as a replica; a sentinel killed and restarted
 * rejoins; everything goes away with the set. */
static void test_sentinel_fails_over(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE], out[256], seeds[256];
  xrt_sentinel *s = NULL;
  ERR_CHECK(xrt_sentinel_start(&s, NULL, err_));
  assert_string_equal(xrt_sentinel_master_name(s), "xrmaster");
  assert_false(xrt_sentinel_tls(s));
  assert_null(xrt_sentinel_certs_dir(s));
  assert_null(xrt_sentinel_node(s, XRT_SENTINEL_NODES));
  assert_null(xrt_sentinel_sentinel(s, XRT_SENTINEL_SENTINELS));
  snprintf(seeds, sizeof seeds, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", xrt_server_port(xrt_sentinel_sentinel(s, 0)),
           xrt_server_port(xrt_sentinel_sentinel(s, 1)), xrt_server_port(xrt_sentinel_sentinel(s, 2)));
  assert_string_equal(xrt_sentinel_seeds(s), seeds);
  assert_master(s, 0);
  /* the sentinels run from files they rewrote (their ids), in their own directories */
  char conf[600], text[4096];
  snprintf(conf, sizeof conf, "%s", xrt_server_config_path(xrt_sentinel_sentinel(s, 0)));
  assert_true(read_text(conf, text, sizeof text) > 0);
  assert_non_null(strstr(text, "sentinel myid "));
  assert_non_null(strstr(text, "sentinel monitor xrmaster 127.0.0.1 "));
  assert_non_null(strstr(text, "sentinel down-after-milliseconds xrmaster 1000"));

  /* a write on the master reaches both replicas */
  xrt_endpoint e0 = xrt_sentinel_node_endpoint(s, 0);
  ERR_CHECK(xrt_cli(&e0, out, sizeof out, err_, "SET", "xrt:k", "v", NULL));
  ERR_CHECK(xrt_cli(&e0, out, sizeof out, err_, "WAIT", "2", "2000", NULL));
  assert_string_equal(out, "2");

  int m = -1;
  ERR_CHECK(xrt_sentinel_failover(s, &m, err_));
  assert_true(m == 1 || m == 2);
  assert_master(s, m); /* node 0, still running, follows the new master */
  xrt_endpoint em = xrt_sentinel_node_endpoint(s, (size_t)m);
  ERR_CHECK(xrt_cli(&em, out, sizeof out, err_, "GET", "xrt:k", NULL));
  assert_string_equal(out, "v");
  ERR_CHECK(xrt_cli(&e0, out, sizeof out, err_, "SET", "xrt:k", "w", NULL));
  assert_non_null(strstr(out, "READONLY"));

  /* the master dies: the sentinels fail over on their own */
  xrt_sentinel_kill_node(s, (size_t)m);
  assert_false(xrt_server_running(xrt_sentinel_node(s, (size_t)m)));
  int m2 = -1;
  ERR_CHECK(xrt_sentinel_wait_master_change(s, m, 30000, &m2, err_));
  assert_true(m2 >= 0 && m2 != m);
  ERR_CHECK(xrt_sentinel_wait_ready(s, 30000, err_));
  assert_master(s, m2);
  /* it comes back as a replica of the new master */
  ERR_CHECK(xrt_sentinel_restart_node(s, (size_t)m, err_));
  assert_master(s, m2);

  /* a sentinel goes: the other two still agree; back, it rejoins with the same id */
  xrt_sentinel_kill_sentinel(s, 1);
  assert_false(xrt_server_running(xrt_sentinel_sentinel(s, 1)));
  ERR_CHECK(xrt_sentinel_wait_ready(s, 10000, err_));
  assert_int_equal(xrt_sentinel_master_index(s, err), m2);
  ERR_CHECK(xrt_sentinel_restart_sentinel(s, 1, err_));
  assert_master(s, m2);

  char dirs[XRT_SENTINEL_NODES + XRT_SENTINEL_SENTINELS + 1][600];
  for (size_t i = 0; i < XRT_SENTINEL_NODES; i++) snprintf(dirs[i], 600, "%s", xrt_server_dir(xrt_sentinel_node(s, i)));
  for (size_t i = 0; i < XRT_SENTINEL_SENTINELS; i++)
    snprintf(dirs[XRT_SENTINEL_NODES + i], 600, "%s", xrt_server_dir(xrt_sentinel_sentinel(s, i)));
  snprintf(dirs[XRT_SENTINEL_NODES + XRT_SENTINEL_SENTINELS], 600, "%s", xrt_sentinel_dir(s));
  xrt_sentinel_free(s);
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
    if (path_exists(dirs[i])) fail_msg("%s is left behind", dirs[i]);
}

/* `secret` is on no command line of the set's processes. */
static void assert_not_on_command_lines(const xrt_sentinel *s, const char *secret) {
  for (size_t i = 0; i < XRT_SENTINEL_NODES + XRT_SENTINEL_SENTINELS; i++) {
    const xrt_server *p = i < XRT_SENTINEL_NODES ? xrt_sentinel_node(s, i) : xrt_sentinel_sentinel(s, i - XRT_SENTINEL_NODES);
    char path[64], cmd[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)xrt_server_pid(p));
    long n = read_text(path, cmd, sizeof cmd);
    assert_true(n > 0);
    for (long k = 0; k < n; k++)
      if (cmd[k] == '\0') cmd[k] = ' ';
    if (strstr(cmd, secret)) fail_msg("a password is on the command line of pid %d", (int)xrt_server_pid(p));
  }
}

/* TLS everywhere, an ACL user on the data nodes (default user off), a password of the sentinels'
 * own: every port refuses plain clients, each side wants its own credentials, and a failover
 * still happens (the sentinels reach the data nodes over TLS as the ACL user, the replicas
 * follow over TLS). */
static void test_sentinel_tls_acl_and_sentinel_password(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE], out[256];
  xrt_sentinel *s = NULL;
  xrt_sentinel_options o = XRT_SENTINEL_OPTIONS_INIT;
  o.master_name = "tls.master-1";
  o.tls = 1;
  o.certs_dir = certs_dir;
  o.acl_user = "alice";
  o.acl_password = "data-s3cret";
  o.sentinel_password = "sentinel-s3cret";
  ERR_CHECK(xrt_sentinel_start(&s, &o, err_));
  assert_true(xrt_sentinel_tls(s));
  assert_string_equal(xrt_sentinel_certs_dir(s), certs_dir);
  assert_master(s, 0);
  assert_not_on_command_lines(s, "s3cret");
  for (size_t i = 0; i < XRT_SENTINEL_NODES; i++) {
    xrt_server *p = xrt_sentinel_node(s, i);
    assert_int_not_equal(xrt_server_raw_ping(p, 0, out, sizeof out, err), 0);
    assert_no_plain_pong(xrt_server_port(p));
    /* over TLS: the default user is off, the sentinels' password is no data node's */
    xrt_endpoint e = xrt_sentinel_node_endpoint(s, i);
    assert_string_equal(e.user, "alice");
    ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "PING", NULL));
    assert_string_equal(out, "PONG");
    e.user = NULL;
    e.password = NULL;
    ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "PING", NULL));
    assert_non_null(strstr(out, "NOAUTH"));
    e.password = "sentinel-s3cret";
    ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "PING", NULL));
    assert_null(strstr(out, "PONG"));
  }
  for (size_t i = 0; i < XRT_SENTINEL_SENTINELS; i++) {
    xrt_server *p = xrt_sentinel_sentinel(s, i);
    assert_int_not_equal(xrt_server_raw_ping(p, 0, out, sizeof out, err), 0);
    assert_no_plain_pong(xrt_server_port(p));
    xrt_endpoint e = xrt_sentinel_sentinel_endpoint(s, i);
    e.password = NULL;
    ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "tls.master-1", NULL));
    assert_non_null(strstr(out, "NOAUTH"));
    e.password = "data-s3cret";
    ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "PING", NULL));
    assert_null(strstr(out, "PONG"));
  }
  xrt_endpoint e0 = xrt_sentinel_node_endpoint(s, 0);
  ERR_CHECK(xrt_cli(&e0, out, sizeof out, err_, "CONFIG", "GET", "tls-replication", NULL));
  assert_string_equal(out, "tls-replication\nyes");
  int m = -1;
  ERR_CHECK(xrt_sentinel_failover(s, &m, err_));
  assert_true(m == 1 || m == 2);
  assert_master(s, m);
  xrt_sentinel_free(s);
}

/* requirepass on the data nodes: the replicas sync with masterauth, the sentinels see them with
 * auth-pass (the set could not be whole otherwise); clients without it get NOAUTH. */
static void test_sentinel_requirepass(void **state) {
  (void)state;
  char reply[128];
  xrt_sentinel *s = NULL;
  xrt_sentinel_options o = XRT_SENTINEL_OPTIONS_INIT;
  o.requirepass = "hunter2";
  o.down_after_ms = 2000;
  o.failover_timeout_ms = 8000;
  ERR_CHECK(xrt_sentinel_start(&s, &o, err_));
  assert_master(s, 0);
  assert_not_on_command_lines(s, "hunter2");
  ERR_CHECK(xrt_server_raw_ping(xrt_sentinel_node(s, 1), 0, reply, sizeof reply, err_));
  assert_memory_equal(reply, "-NOAUTH", 7);
  ERR_CHECK(xrt_server_raw_ping(xrt_sentinel_sentinel(s, 0), 0, reply, sizeof reply, err_));
  assert_string_equal(reply, "+PONG"); /* the sentinels have no password of their own here */
  xrt_endpoint e = xrt_sentinel_sentinel_endpoint(s, 0);
  char master[4096], v[64];
  ERR_CHECK(xrt_cli(&e, master, sizeof master, err_, "SENTINEL", "MASTER", "xrmaster", NULL));
  assert_int_equal(xrt_reply_field(master, "down-after-milliseconds", v, sizeof v), 0);
  assert_string_equal(v, "2000");
  assert_int_equal(xrt_reply_field(master, "failover-timeout", v, sizeof v), 0);
  assert_string_equal(v, "8000");
  assert_int_equal(xrt_reply_field(master, "quorum", v, sizeof v), 0);
  assert_string_equal(v, "2");
  xrt_sentinel_free(s);
}

/* Options the harness refuses, with a message that never shows a password. */
static void test_sentinel_bad_options(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE];
  xrt_sentinel *s = NULL;
  xrt_sentinel_options o = XRT_SENTINEL_OPTIONS_INIT;
  o.master_name = "no spaces";
  assert_int_equal(xrt_sentinel_start(&s, &o, err), -1);
  assert_null(s);
  assert_non_null(strstr(err, "master name"));
  o.master_name = NULL;
  o.requirepass = "open sesame";
  assert_int_equal(xrt_sentinel_start(&s, &o, err), -1);
  assert_non_null(strstr(err, "password"));
  assert_null(strstr(err, "sesame"));
  o.requirepass = "x";
  o.acl_user = "alice";
  o.acl_password = "y";
  assert_int_equal(xrt_sentinel_start(&s, &o, err), -1);
  assert_non_null(strstr(err, "not both"));
  /* a sentinel without its config is refused up front */
  xrt_server *p = NULL;
  xrt_server_options so = XRT_SERVER_OPTIONS_INIT;
  so.sentinel = 1;
  assert_int_equal(xrt_server_start(&p, &so, err), -1);
  assert_non_null(strstr(err, "config_text"));
}

/* xrt_run_env: the child sees the added variables (a replaced one once) and inherits the rest;
 * xrt_cli gives redis-cli its password that way, and fails naming the port and what redis-cli
 * said, without the password. */
static void test_run_env(void **state) {
  (void)state;
  char out[16384], err[XRT_ERR_SIZE];
  setenv("XRT_RUN_ENV_A", "old", 1);
  const char *env[] = {"XRT_RUN_ENV_A=new", "XRT_RUN_ENV_B=b", NULL};
  const char *argv[] = {"env", NULL};
  int rc = xrt_run_env(argv, env, out, sizeof out, NULL, err);
  unsetenv("XRT_RUN_ENV_A");
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "XRT_RUN_ENV_A=new\n"));
  assert_null(strstr(out, "XRT_RUN_ENV_A=old"));
  assert_non_null(strstr(out, "XRT_RUN_ENV_B=b\n"));
  assert_non_null(strstr(out, "PATH="));

  xrt_server *s = NULL;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.requirepass = "hunter2";
  if (xrt_server_start(&s, &o, err) != 0) fail_msg("start: %s", err);
  char log[600];
  snprintf(log, sizeof log, "%s/cli.log", xrt_server_dir(s));
  xrt_endpoint e = XRT_ENDPOINT_INIT;
  e.port = xrt_server_port(s);
  e.password = "hunter2";
  e.log_path = log;
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "PING", NULL));
  assert_string_equal(out, "PONG");
  e.password = NULL;
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "PING", NULL));
  assert_non_null(strstr(out, "NOAUTH"));
  e.password = "hunter2";
  xrt_server_kill(s);
  assert_int_equal(xrt_cli(&e, out, sizeof out, err, "PING", NULL), -1);
  char port[32];
  snprintf(port, sizeof port, "port %d", e.port);
  assert_non_null(strstr(err, port));
  assert_non_null(strstr(err, "refused"));
  assert_null(strstr(err, "hunter2"));
  xrt_server_free(s);
}

/* A server from a config file: the file's settings apply, the command line wins over it, CONFIG
 * REWRITE writes to it, and a restart reads the rewritten file. */
static void test_config_file_mode(void **state) {
  (void)state;
  xrt_server *s = NULL;
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.config_text = "maxmemory 7mb\ndatabases 5\nappendonly yes\n";
  char err[XRT_ERR_SIZE], out[256];
  if (xrt_server_start(&s, &o, err) != 0) fail_msg("start: %s", err);
  char path[600];
  snprintf(path, sizeof path, "%s/redis.conf", xrt_server_dir(s));
  assert_string_equal(xrt_server_config_path(s), path);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  xrt_endpoint e = XRT_ENDPOINT_INIT;
  e.port = xrt_server_port(s);
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CONFIG", "GET", "maxmemory", NULL));
  assert_string_equal(out, "maxmemory\n7340032");
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CONFIG", "GET", "appendonly", NULL));
  assert_string_equal(out, "appendonly\nno"); /* the harness's --appendonly no wins */
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CONFIG", "SET", "databases", "5", NULL));
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CONFIG", "SET", "maxmemory", "9mb", NULL));
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CONFIG", "REWRITE", NULL));
  assert_string_equal(out, "OK");
  ERR_CHECK(xrt_server_restart(s, err_));
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CONFIG", "GET", "maxmemory", NULL));
  assert_string_equal(out, "maxmemory\n9437184");
  xrt_server *plain = NULL;
  if (xrt_server_start(&plain, NULL, err) != 0) fail_msg("start: %s", err);
  assert_null(xrt_server_config_path(plain));
  xrt_server_free(plain);
  xrt_server_free(s);
}

/* Environment variables set for one test, then put back. */
typedef struct saved_env {
  char name[64];
  char *value; /* NULL: was unset */
} saved_env;

static const char *const topology_env[] = {XRT_ENV_CLUSTER_NODES, XRT_ENV_TLS_CLUSTER_NODES, XRT_ENV_SENTINELS,
                                           XRT_ENV_SENTINEL_MASTER, XRT_ENV_TLS_SENTINELS,
                                           XRT_ENV_TLS_SENTINEL_MASTER, XRT_ENV_TLS_CERTS_DIR,
                                           XRT_ENV_TOPOLOGY_FILE};
#define TOPOLOGY_ENV_COUNT (sizeof topology_env / sizeof *topology_env)

/* Saves and unsets every variable of the contract (the suite's own shared topology is in them
 * under scripts/test). */
static void save_topology_env(saved_env *saved) {
  for (size_t i = 0; i < TOPOLOGY_ENV_COUNT; i++) {
    snprintf(saved[i].name, sizeof saved[i].name, "%s", topology_env[i]);
    const char *v = getenv(topology_env[i]);
    saved[i].value = v ? strdup(v) : NULL;
    unsetenv(topology_env[i]);
  }
}

static void restore_topology_env(saved_env *saved) {
  for (size_t i = 0; i < TOPOLOGY_ENV_COUNT; i++) {
    if (saved[i].value) setenv(saved[i].name, saved[i].value, 1);
    else unsetenv(saved[i].name);
    free(saved[i].value);
  }
}

/* What the environment says is what xrt_topology_from_env gives; wrong variables are errors. */
static void test_topology_from_env(void **state) {
  (void)state;
  saved_env saved[TOPOLOGY_ENV_COUNT];
  save_topology_env(saved);
  char err[XRT_ERR_SIZE];
  xrt_topology *t = (xrt_topology *)1;
  for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) {
    assert_int_equal(xrt_topology_from_env(&t, (xrt_topology_kind)k, err), 0);
    assert_null(t);
  }
  setenv(XRT_ENV_SENTINELS, "127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381", 1);
  setenv(XRT_ENV_SENTINEL_MASTER, "xrmaster", 1);
  assert_int_equal(xrt_topology_from_env(&t, XRT_TOPOLOGY_SENTINEL, err), 0);
  assert_non_null(t);
  assert_true(xrt_topology_shared(t));
  assert_int_equal(xrt_topology_kind_of(t), XRT_TOPOLOGY_SENTINEL);
  assert_false(xrt_topology_tls(t));
  assert_int_equal(xrt_topology_seed_count(t), 3);
  assert_int_equal(xrt_topology_seed_port(t, 2), 26381);
  assert_int_equal(xrt_topology_seed_port(t, 3), 0);
  assert_string_equal(xrt_topology_master_name(t), "xrmaster");
  assert_null(xrt_topology_certs_dir(t));
  assert_null(xrt_topology_sentinel(t));
  xrt_topology_free(t); /* leaves a shared one alone: nothing to stop */

  setenv(XRT_ENV_TLS_CLUSTER_NODES, "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002", 1);
  assert_int_equal(xrt_topology_from_env(&t, XRT_TOPOLOGY_TLS_CLUSTER, err), -1); /* no certs dir */
  assert_non_null(strstr(err, XRT_ENV_TLS_CERTS_DIR));
  setenv(XRT_ENV_TLS_CERTS_DIR, certs_dir, 1);
  assert_int_equal(xrt_topology_from_env(&t, XRT_TOPOLOGY_TLS_CLUSTER, err), 0);
  assert_string_equal(xrt_topology_certs_dir(t), certs_dir);
  assert_null(xrt_topology_master_name(t));
  xrt_endpoint e = xrt_topology_endpoint(t, 1);
  assert_int_equal(e.port, 7001);
  assert_string_equal(e.certs_dir, certs_dir);
  xrt_topology_free(t);

  setenv(XRT_ENV_CLUSTER_NODES, "127.0.0.1:7000,localhost:7001", 1);
  assert_int_equal(xrt_topology_from_env(&t, XRT_TOPOLOGY_CLUSTER, err), -1);
  assert_non_null(strstr(err, "localhost:7001"));
  setenv(XRT_ENV_CLUSTER_NODES, "127.0.0.1:70000", 1);
  assert_int_equal(xrt_topology_from_env(&t, XRT_TOPOLOGY_CLUSTER, err), -1);
  unsetenv(XRT_ENV_SENTINEL_MASTER);
  assert_int_equal(xrt_topology_from_env(&t, XRT_TOPOLOGY_SENTINEL, err), -1);
  assert_non_null(strstr(err, XRT_ENV_SENTINEL_MASTER));
  restore_topology_env(saved);
}

/* Without the environment, xrt_topology_get starts a topology of its own, and frees it. */
static void test_topology_private_fallback(void **state) {
  (void)state;
  saved_env saved[TOPOLOGY_ENV_COUNT];
  save_topology_env(saved);
  char err[XRT_ERR_SIZE], out[256];
  xrt_topology *t = NULL;
  int rc = xrt_topology_get(&t, XRT_TOPOLOGY_TLS_SENTINEL, err);
  restore_topology_env(saved);
  if (rc != 0) fail_msg("xrt_topology_get: %s", err);
  assert_false(xrt_topology_shared(t));
  assert_true(xrt_topology_tls(t));
  assert_non_null(xrt_topology_sentinel(t));
  assert_null(xrt_topology_cluster(t));
  assert_string_equal(xrt_topology_master_name(t), XRT_TOPOLOGY_TLS_MASTER);
  assert_string_equal(xrt_topology_seeds(t), xrt_sentinel_seeds(xrt_topology_sentinel(t)));
  assert_int_equal(xrt_topology_seed_count(t), 3);
  xrt_endpoint e = xrt_topology_endpoint(t, 0);
  ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", XRT_TOPOLOGY_TLS_MASTER, NULL));
  assert_memory_equal(out, "127.0.0.1\n", 10);
  char dir[600];
  snprintf(dir, sizeof dir, "%s", xrt_sentinel_dir(xrt_topology_sentinel(t)));
  xrt_topology_free(t);
  assert_false(path_exists(dir));
}

/* xr-topology as a child: stdin a pipe we hold, stdout a pipe we read, stderr into a file. */
typedef struct topology_proc {
  pid_t pid;
  int in, out; /* our ends */
  char dir[256], env_path[300], json_path[300], log_path[300];
} topology_proc;

static void topology_spawn(topology_proc *p, const char *const *flags) {
  snprintf(p->dir, sizeof p->dir, "/tmp/xrt-harness-topology-XXXXXX");
  assert_non_null(mkdtemp(p->dir));
  snprintf(p->env_path, sizeof p->env_path, "%s/env", p->dir);
  snprintf(p->json_path, sizeof p->json_path, "%s/topology.json", p->dir);
  snprintf(p->log_path, sizeof p->log_path, "%s/stderr", p->dir);
  int in[2], out[2];
  assert_int_equal(pipe(in), 0);
  assert_int_equal(pipe(out), 0);
  const char *argv[16];
  int n = 0;
  argv[n++] = XR_TOPOLOGY_PATH;
  for (; *flags; flags++) argv[n++] = *flags;
  argv[n++] = "--env";
  argv[n++] = p->env_path;
  argv[n++] = "--json";
  argv[n++] = p->json_path;
  argv[n] = NULL;
  p->pid = fork();
  assert_true(p->pid >= 0);
  if (p->pid == 0) {
    int log = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (log < 0 || dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(log, 2) < 0) _exit(127);
    close(in[1]);
    close(out[0]);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  p->in = in[1];
  p->out = out[0];
}

/* Reads xr-topology's stdout until "ready\n" (or EOF, a failure) within 90 s. */
static void topology_wait_ready(topology_proc *p) {
  char buf[64] = "";
  size_t len = 0;
  struct pollfd pfd = {p->out, POLLIN, 0};
  while (len < sizeof buf - 1 && !strstr(buf, "ready\n")) {
    if (poll(&pfd, 1, 90000) <= 0) fail_msg("xr-topology: no \"ready\" within 90 s (see %s)", p->log_path);
    ssize_t r = read(p->out, buf + len, sizeof buf - 1 - len);
    if (r <= 0) {
      char log[2048] = "";
      read_text(p->log_path, log, sizeof log);
      fail_msg("xr-topology ended before \"ready\": %s", log);
    }
    len += (size_t)r;
    buf[len] = '\0';
  }
  assert_string_equal(buf, "ready\n");
}

/* Waits for xr-topology to exit and returns its status. */
static int topology_wait_exit(topology_proc *p) {
  int status = 0;
  for (int i = 0; i < 300; i++) {
    pid_t w = waitpid(p->pid, &status, WNOHANG);
    if (w == p->pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    xrt_sleep_ms(50);
  }
  kill(p->pid, SIGKILL);
  waitpid(p->pid, &status, 0);
  fail_msg("xr-topology did not stop within 15 s");
  return -1;
}

/* Loads NAME=value lines into the environment; returns how many. */
static int load_env_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) fail_msg("cannot open %s", path);
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    size_t len = strlen(line);
    assert_true(len > 0 && line[len - 1] == '\n');
    line[len - 1] = '\0';
    char *eq = strchr(line, '=');
    assert_non_null(eq);
    *eq = '\0';
    assert_int_equal(strncmp(line, "XR_TEST_", 8), 0);
    assert_null(strpbrk(eq + 1, " '\"$`\\")); /* a shell reads it as one word */
    setenv(line, eq + 1, 1);
    n++;
  }
  fclose(f);
  return n;
}

/* Starts xr-topology with these flags, waits for "ready" and loads its env file; returns how
 * many variables it set. */
static int topology_run(topology_proc *p, const char *const *flags) {
  topology_spawn(p, flags);
  topology_wait_ready(p);
  return load_env_file(p->env_path);
}

/* The pids of a JSON topology's "nodes" and "sentinels" arrays, appended to pids. */
static void collect_pids(json_t *topo, pid_t *pids, size_t *n, char dirs[][600]) {
  const char *arrays[] = {"nodes", "sentinels"};
  for (size_t a = 0; a < 2; a++) {
    json_t *arr = json_object_get(topo, arrays[a]), *v;
    size_t i;
    json_array_foreach(arr, i, v) {
      json_int_t pid = json_integer_value(json_object_get(v, "pid"));
      const char *dir = json_string_value(json_object_get(v, "dir"));
      assert_true(pid > 0);
      assert_non_null(dir);
      assert_true(path_exists(dir));
      snprintf(dirs[*n], 600, "%s", dir);
      pids[(*n)++] = (pid_t)pid;
    }
  }
}

/* xr-topology --all: the env file names four topologies that answer as their names say (the
 * plain cluster in plain text, the TLS one in TLS only, each Sentinel set's master by its name),
 * the JSON agrees with it, and closing xr-topology's stdin stops every process and removes every
 * directory and both files. */
static void test_topology_process(void **state) {
  (void)state;
  saved_env saved[TOPOLOGY_ENV_COUNT];
  save_topology_env(saved);
  topology_proc p;
  const char *flags[] = {"--all", NULL};
  assert_int_equal(topology_run(&p, flags), 8);
  assert_string_equal(getenv(XRT_ENV_TOPOLOGY_FILE), p.json_path);
  assert_string_equal(getenv(XRT_ENV_SENTINEL_MASTER), XRT_TOPOLOGY_MASTER);
  assert_string_equal(getenv(XRT_ENV_TLS_SENTINEL_MASTER), XRT_TOPOLOGY_TLS_MASTER);
  char out[4096];
  xrt_topology *t[XRT_TOPOLOGY_KINDS];
  for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) {
    ERR_CHECK(xrt_topology_from_env(&t[k], (xrt_topology_kind)k, err_));
    assert_non_null(t[k]);
    assert_true(xrt_topology_shared(t[k]));
  }
  for (int k = XRT_TOPOLOGY_CLUSTER; k <= XRT_TOPOLOGY_TLS_CLUSTER; k++) {
    assert_int_equal(xrt_topology_seed_count(t[k]), 6);
    for (size_t i = 0; i < 6; i++) {
      xrt_endpoint e = xrt_topology_endpoint(t[k], i);
      ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "CLUSTER", "INFO", NULL));
      assert_non_null(strstr(out, "cluster_state:ok"));
      assert_non_null(strstr(out, "cluster_known_nodes:6"));
      if (k == XRT_TOPOLOGY_TLS_CLUSTER) assert_no_plain_pong(e.port);
    }
  }
  for (int k = XRT_TOPOLOGY_SENTINEL; k <= XRT_TOPOLOGY_TLS_SENTINEL; k++) {
    assert_int_equal(xrt_topology_seed_count(t[k]), 3);
    for (size_t i = 0; i < 3; i++) {
      xrt_endpoint e = xrt_topology_endpoint(t[k], i);
      ERR_CHECK(xrt_cli(&e, out, sizeof out, err_, "SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                        xrt_topology_master_name(t[k]), NULL));
      assert_memory_equal(out, "127.0.0.1\n", 10);
      if (k == XRT_TOPOLOGY_TLS_SENTINEL) assert_no_plain_pong(e.port);
    }
  }
  /* the TLS certificates verify the TLS topologies */
  char ca[600];
  snprintf(ca, sizeof ca, "%s/ca.crt", getenv(XRT_ENV_TLS_CERTS_DIR));
  assert_true(path_exists(ca));

  /* the JSON: the same seeds, a pid and a directory for every process, roles at start */
  json_error_t jerr;
  json_t *root = json_load_file(p.json_path, 0, &jerr);
  if (!root) fail_msg("%s: %s", p.json_path, jerr.text);
  assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
  assert_int_equal(json_integer_value(json_object_get(root, "pid")), p.pid);
  assert_string_equal(json_string_value(json_object_get(root, "certs_dir")), getenv(XRT_ENV_TLS_CERTS_DIR));
  pid_t pids[64];
  char dirs[64][600];
  size_t npids = 0;
  for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) {
    json_t *o = json_object_get(root, xrt_topology_kind_name((xrt_topology_kind)k));
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "seeds")), xrt_topology_seeds(t[k]));
    assert_int_equal(json_is_true(json_object_get(o, "tls")), xrt_topology_tls(t[k]));
    json_t *nodes = json_object_get(o, "nodes"), *v;
    size_t i, masters = 0;
    json_array_foreach(nodes, i, v) masters += strcmp(json_string_value(json_object_get(v, "role")), "master") == 0;
    if (k <= XRT_TOPOLOGY_TLS_CLUSTER) {
      assert_int_equal(json_array_size(nodes), 6);
      assert_int_equal(masters, 3);
    } else {
      assert_int_equal(json_array_size(nodes), 3);
      assert_int_equal(masters, 1);
      assert_int_equal(json_array_size(json_object_get(o, "sentinels")), 3);
      assert_string_equal(json_string_value(json_object_get(o, "master_name")), xrt_topology_master_name(t[k]));
    }
    collect_pids(o, pids, &npids, dirs);
  }
  json_decref(root);
  assert_int_equal(npids, 2 * 6 + 2 * 6);
  for (int k = 0; k < XRT_TOPOLOGY_KINDS; k++) xrt_topology_free(t[k]);

  /* EOF on its stdin stops it all */
  close(p.in);
  assert_int_equal(topology_wait_exit(&p), 0);
  close(p.out);
  for (size_t i = 0; i < npids; i++) {
    if (!process_dead(pids[i])) fail_msg("pid %d outlived xr-topology", (int)pids[i]);
    if (path_exists(dirs[i])) fail_msg("%s outlived xr-topology", dirs[i]);
  }
  assert_false(path_exists(p.env_path));
  assert_false(path_exists(p.json_path));
  assert_false(path_exists(ca));
  xrt_remove_tree(p.dir);
  restore_topology_env(saved);
}

/* xr-topology --sentinel writes only its lines and stops on SIGTERM; a bad flag is a usage error. */
static void test_topology_process_stops_on_sigterm(void **state) {
  (void)state;
  saved_env saved[TOPOLOGY_ENV_COUNT];
  save_topology_env(saved);
  topology_proc p;
  const char *flags[] = {"--sentinel", NULL};
  assert_int_equal(topology_run(&p, flags), 3); /* the file, the sentinels, the master name */
  assert_non_null(getenv(XRT_ENV_SENTINELS));
  assert_null(getenv(XRT_ENV_CLUSTER_NODES));
  assert_null(getenv(XRT_ENV_TLS_CERTS_DIR));
  assert_int_equal(kill(p.pid, SIGTERM), 0);
  assert_int_equal(topology_wait_exit(&p), 0);
  close(p.in);
  close(p.out);
  assert_false(path_exists(p.env_path));
  xrt_remove_tree(p.dir);

  const char *bad[] = {"--no-such-flag", NULL};
  topology_spawn(&p, bad);
  assert_int_equal(topology_wait_exit(&p), 2);
  close(p.in);
  close(p.out);
  xrt_remove_tree(p.dir);
  restore_topology_env(saved);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run),
      cmocka_unit_test(test_plain_server),
      cmocka_unit_test(test_unix_socket),
      cmocka_unit_test(test_certificates),
      cmocka_unit_test(test_tls_server),
      cmocka_unit_test(test_tls_auth_clients),
      cmocka_unit_test(test_acl_user),
      cmocka_unit_test(test_requirepass),
      cmocka_unit_test(test_extra_args),
      cmocka_unit_test(test_kill_and_restart),
      cmocka_unit_test(test_restart_waits_for_port),
      cmocka_unit_test(test_start_failure_reports_log_and_cleans_up),
      cmocka_unit_test(test_missing_redis_server),
      cmocka_unit_test(test_server_dies_with_parent),
      cmocka_unit_test(test_silent_listener),
      cmocka_unit_test(test_cluster),
      cmocka_unit_test(test_cluster_tls),
      cmocka_unit_test(test_sentinel_fails_over),
      cmocka_unit_test(test_sentinel_tls_acl_and_sentinel_password),
      cmocka_unit_test(test_sentinel_requirepass),
      cmocka_unit_test(test_sentinel_bad_options),
      cmocka_unit_test(test_run_env),
      cmocka_unit_test(test_config_file_mode),
      cmocka_unit_test(test_topology_from_env),
      cmocka_unit_test(test_topology_private_fallback),
      cmocka_unit_test(test_topology_process),
      cmocka_unit_test(test_topology_process_stops_on_sigterm),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
