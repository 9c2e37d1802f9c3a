/* TLS against real redis-server TLS ports: verification against the right and a wrong CA (file
 * and PEM in memory), the server name, insecure mode, mutual TLS, rediss:// URLs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crossredis/tls.h"
#include "itest.h"

static char certs[256];
static xrt_server *tls_server;    /* TLS, no client certificate needed */
static xrt_server *mutual_server; /* TLS, client certificate required */

static char *read_file(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", certs, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = calloc(1, 65536);
  if (buf) {
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
  }
  fclose(f);
  return buf;
}

static const char *cert_path(const char *name) {
  static char paths[8][512];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 512, "%s/%s", certs, name);
  return p;
}

static int group_setup(void **state) {
  (void)state;
  char err[XRT_ERR_SIZE];
  snprintf(certs, sizeof certs, "/tmp/xrt-tls-certs-XXXXXX");
  if (!mkdtemp(certs)) return -1;
  if (xrt_certs_generate(certs, err) != 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  xrt_server_options o = XRT_SERVER_OPTIONS_INIT;
  o.tls = 1;
  o.certs_dir = certs;
  if (itest_start(&tls_server, &o) != 0) return -1;
  o.tls_auth_clients = 1;
  return itest_start(&mutual_server, &o);
}

static int group_teardown(void **state) {
  (void)state;
  xrt_server_free(tls_server);
  xrt_server_free(mutual_server);
  xrt_remove_tree(certs);
  return 0;
}

/* Opens a client of `s` with the TLS options `to`; returns the open code. */
static int open_tls(xr_client **c, const xrt_server *s, const xr_tls_options *to) {
  xr_tls *t = NULL;
  int rc = xr_tls_new(&t, to);
  if (rc != 0) fail_msg("xr_tls_new: %s", xr_error_last()->message);
  xr_client_options o = itest_options(s);
  o.tls = t;
  o.connect_timeout_ms = 5000;
  rc = xr_client_open(c, &o);
  xr_tls_free(t); /* the client keeps its own reference */
  return rc;
}

static void use_client(xr_client *c) {
  XR_OK(itest_cmd(c, NULL, "SET", "tls:k", "over tls", NULL));
  itest_assert_get(c, "tls:k", "over tls");
}

/* Values larger than a TLS record and the socket buffers go through whole. */
static void use_client_big(xr_client *c) {
  size_t len = 1024 * 1024 + 7;
  char *big = malloc(len);
  assert_non_null(big);
  for (size_t i = 0; i < len; i++) big[i] = (char)(i * 131 + (i >> 11));
  const char *set[3] = {"SET", "tls:big", big};
  size_t setlen[3] = {3, 7, len};
  XR_OK(xr_client_command(c, NULL, 3, set, setlen));
  xr_reply *r = NULL;
  XR_OK(itest_cmd(c, &r, "GET", "tls:big", NULL));
  size_t got = 0;
  const char *v = xr_reply_str(r, &got);
  assert_int_equal(got, len);
  assert_memory_equal(v, big, len);
  xr_reply_free(r);
  free(big);
}

/* A loop connection over TLS (what the Node addon's event loop drives): small batches, a 24 MiB
 * pipeline that OpenSSL writes in parts (WANT_WRITE), the same driven as a pollable (loop.h),
 * then the server closing it while idle. */
static void use_loop_conn(xr_client *c) {
  xr_loop_conn *lc = NULL;
  XR_OK(xr_loop_conn_open(&lc, c));
  xr_batch *b = NULL;
  XR_OK(xr_batch_new(&b));
  const char *set[] = {"SET", "tls:loop", "over tls, no thread"}, *get[] = {"GET", "tls:loop"};
  xr_batch_add(b, 3, set, NULL);
  xr_batch_add(b, 2, get, NULL);
  int writes = 0;
  for (int round = 0; round < 50; round++) {
    int wait = 0;
    XR_OK(xr_loop_conn_start(lc, b, &wait));
    XR_OK(itest_drive_loop(lc, wait, NULL, &writes));
    const xr_reply *r = NULL;
    XR_OK(xr_batch_result(b, 1, &r, NULL));
    assert_string_equal(xr_reply_str(r, NULL), "over tls, no thread");
  }
  enum { N = 96, SIZE = 256 * 1024 };
  xr_batch_clear(b);
  itest_add_big_sets(b, "tls:loop:", N, SIZE);
  itest_small_send_buffer(lc);
  int wait = 0;
  XR_OK(xr_loop_conn_start(lc, b, &wait));
  XR_OK(itest_drive_loop(lc, wait, NULL, &writes));
  assert_true(writes >= 1); /* the pipeline did not fit: OpenSSL asked to wait for writability */
  for (int i = 0; i < N; i++) {
    const xr_reply *r = NULL;
    XR_OK(xr_batch_result(b, (size_t)i, &r, NULL));
    assert_string_equal(xr_reply_str(r, NULL), "OK");
  }
  xr_reply *len = NULL;
  XR_OK(itest_cmd(c, &len, "STRLEN", "tls:loop:95", NULL));
  assert_int_equal(xr_reply_integer(len), SIZE);
  xr_reply_free(len);
  /* as a pollable: reads and writes watched together, OpenSSL's waits behind them */
  for (int round = 0; round < 2; round++) {
    XR_OK(xr_loop_conn_start(lc, b, &wait));
    int write_steps = 0;
    int rc = itest_drive_pollable(xr_loop_conn_pollable(lc), &write_steps);
    if (rc != XR_POLL_DONE) fail_msg("%d: %s", rc, xr_error_last()->message);
    assert_true(write_steps >= 1);
    for (int i = 0; i < N; i++) {
      const xr_reply *r = NULL;
      XR_OK(xr_batch_result(b, (size_t)i, &r, NULL));
      assert_string_equal(xr_reply_str(r, NULL), "OK");
    }
  }
  /* the server closes the idle connection: readable, and continue says the connection is lost */
  XR_OK(itest_cmd(c, NULL, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes", NULL));
  struct pollfd p = {xr_loop_conn_fd(lc), POLLIN, 0};
  assert_int_equal(poll(&p, 1, 5000), 1);
  XR_FAILS(xr_loop_conn_continue(lc, &wait), XR_EIO, "connection lost");
  assert_true(xr_loop_conn_broken(lc));
  xr_batch_free(b);
  xr_loop_conn_close(lc);
}

static void test_right_ca_file(void **state) {
  (void)state;
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = cert_path("ca.crt");
  xr_client *c = NULL;
  XR_OK(open_tls(&c, tls_server, &to));
  use_client(c);
  use_client_big(c);
  use_loop_conn(c);
  xr_client_close(c);
}

static void test_right_ca_pem(void **state) {
  (void)state;
  char *pem = read_file("ca.crt");
  assert_non_null(pem);
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_pem = pem;
  xr_client *c = NULL;
  XR_OK(open_tls(&c, tls_server, &to));
  free(pem); /* loaded at xr_tls_new */
  use_client(c);
  xr_client_close(c);
}

static void test_wrong_ca_fails(void **state) {
  (void)state;
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = cert_path("wrong-ca.crt");
  xr_client *c = (xr_client *)&c;
  XR_FAILS(open_tls(&c, tls_server, &to), XR_ETLS, "certificate verify failed");
  assert_null(c);

  char *pem = read_file("wrong-ca.crt");
  assert_non_null(pem);
  xr_tls_options top = XR_TLS_OPTIONS_INIT;
  top.ca_pem = pem;
  XR_FAILS(open_tls(&c, tls_server, &top), XR_ETLS, "certificate verify failed");
  free(pem);
}

static void test_server_name(void **state) {
  (void)state;
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = cert_path("ca.crt");
  to.server_name = "redis.example.com"; /* not in the certificate */
  xr_client *c = NULL;
  XR_FAILS(open_tls(&c, tls_server, &to), XR_ETLS, "certificate verify failed");
  assert_null(c);
  assert_non_null(strstr(xr_error_last()->message, "redis.example.com"));

  to.server_name = "localhost"; /* in the certificate's subjectAltName */
  XR_OK(open_tls(&c, tls_server, &to));
  use_client(c);
  xr_client_close(c);
}

static void test_insecure_accepts_any_certificate(void **state) {
  (void)state;
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = cert_path("wrong-ca.crt");
  to.insecure = 1;
  xr_client *c = NULL;
  XR_OK(open_tls(&c, tls_server, &to));
  use_client(c);
  xr_client_close(c);
}

static void test_mutual_tls(void **state) {
  (void)state;
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = cert_path("ca.crt");
  to.cert_file = cert_path("client.crt");
  to.key_file = cert_path("client.key");
  xr_client *c = NULL;
  XR_OK(open_tls(&c, mutual_server, &to));
  use_client(c);
  xr_client_close(c);

  /* the certificate and key as PEM text */
  char *crt = read_file("client.crt"), *key = read_file("client.key");
  assert_non_null(crt);
  assert_non_null(key);
  xr_tls_options tp = XR_TLS_OPTIONS_INIT;
  tp.ca_file = cert_path("ca.crt");
  tp.cert_pem = crt;
  tp.key_pem = key;
  XR_OK(open_tls(&c, mutual_server, &tp));
  free(crt);
  free(key);
  use_client(c);
  xr_client_close(c);
}

static void test_mutual_tls_without_certificate_fails(void **state) {
  (void)state;
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = cert_path("ca.crt");
  xr_client *c = (xr_client *)&c;
  int rc = open_tls(&c, mutual_server, &to);
  const char *msg = xr_error_last()->message;
  assert_null(c);
  /* With TLS 1.3 the server rejects the missing certificate after the client's side of the
   * handshake is done, so the failure shows on the first read. It must still say what is wrong:
   * a TLS failure about the client certificate, naming the server; not "connection lost". */
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", xrt_server_port(mutual_server));
  if (rc != XR_ETLS || !strstr(msg, "certificate") || !strstr(msg, addr))
    fail_msg("mutual TLS without a client certificate -> %s: \"%s\"; expected ETLS naming the "
             "certificate and %s", xr_error_name(rc), msg, addr);
}

static void test_rediss_url(void **state) {
  (void)state;
  char url[1024];
  xr_client *c = NULL;
  snprintf(url, sizeof url, "%s?ca_file=%s", xrt_server_url(tls_server), cert_path("ca.crt"));
  assert_memory_equal(url, "rediss://", 9);
  XR_OK(xr_tls_client_open_url(&c, url, NULL));
  use_client(c);
  xr_client_close(c);

  snprintf(url, sizeof url, "%s?ca_file=%s", xrt_server_url(tls_server), cert_path("wrong-ca.crt"));
  XR_FAILS(xr_tls_client_open_url(&c, url, NULL), XR_ETLS, "certificate verify failed");
  assert_null(c);

  snprintf(url, sizeof url, "%s?ca_file=%s&insecure=true", xrt_server_url(tls_server), cert_path("wrong-ca.crt"));
  XR_OK(xr_tls_client_open_url(&c, url, NULL));
  xr_client_close(c);

  snprintf(url, sizeof url, "%s?ca_file=%s&server_name=localhost", xrt_server_url(tls_server), cert_path("ca.crt"));
  XR_OK(xr_tls_client_open_url(&c, url, NULL));
  xr_client_close(c);

  snprintf(url, sizeof url, "%s?ca_file=%s&cert_file=%s&key_file=%s", xrt_server_url(mutual_server),
           cert_path("ca.crt"), cert_path("client.crt"), cert_path("client.key"));
  XR_OK(xr_tls_client_open_url(&c, url, NULL));
  use_client(c);
  xr_client_close(c);

  /* TLS from base->tls when the URL names no TLS option */
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = cert_path("ca.crt");
  xr_tls *t = NULL;
  XR_OK(xr_tls_new(&t, &to));
  xr_client_options base = XR_CLIENT_OPTIONS_INIT;
  base.tls = t;
  XR_OK(xr_tls_client_open_url(&c, xrt_server_url(tls_server), &base));
  xr_tls_free(t);
  use_client(c);
  xr_client_close(c);

  /* plain redis:// to the TLS port: the server never answers in plain text */
  snprintf(url, sizeof url, "redis://127.0.0.1:%d?timeout_ms=1000&connect_timeout_ms=1000", xrt_server_port(tls_server));
  int rc = xr_tls_client_open_url(&c, url, NULL);
  assert_int_not_equal(rc, 0);
  assert_null(c);
}

static void test_tls_config_errors(void **state) {
  (void)state;
  xr_tls *t = (xr_tls *)&t;
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.ca_file = "/nonexistent/ca.crt";
  XR_FAILS(xr_tls_new(&t, &to), XR_ETLS, "/nonexistent/ca.crt");
  assert_null(t);

  xr_tls_options mismatch = XR_TLS_OPTIONS_INIT;
  mismatch.ca_file = cert_path("ca.crt");
  mismatch.cert_file = cert_path("client.crt");
  mismatch.key_file = cert_path("server.key"); /* not the client certificate's key */
  XR_FAILS(xr_tls_new(&t, &mismatch), XR_ETLS, "server.key"); /* names the file */

  xr_tls_options half = XR_TLS_OPTIONS_INIT;
  half.cert_file = cert_path("client.crt");
  XR_FAILS(xr_tls_new(&t, &half), XR_EINVAL, NULL);
}

/* ---- TLS to something that does not speak it ---------------------------------------------- */

/* A listener that answers whatever arrives with a plain Redis error line, as a plain port behind
 * a proxy or a server in "inline" mode would. */
typedef struct plain_answerer {
  int fd, port;
} plain_answerer;

static void *answer_plain(void *arg) {
  plain_answerer *p = arg;
  int c = accept(p->fd, NULL, NULL);
  if (c < 0) return NULL;
  char buf[512];
  if (read(c, buf, sizeof buf) > 0) {
    static const char line[] = "-ERR unknown command\r\n";
    if (write(c, line, sizeof line - 1) < 0) perror("write");
  }
  xrt_sleep_ms(200);
  close(c);
  return NULL;
}

static void test_tls_to_a_plain_port_says_so(void **state) {
  (void)state;
  xr_tls_options to = XR_TLS_OPTIONS_INIT;
  to.insecure = 1;
  xr_tls *t = NULL;
  XR_OK(xr_tls_new(&t, &to));

  /* something answers in plain text: OpenSSL's "wrong version number", said plainly */
  plain_answerer p;
  p.fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  assert_int_equal(bind(p.fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(p.fd, 4), 0);
  assert_int_equal(getsockname(p.fd, (struct sockaddr *)&a, &alen), 0);
  p.port = ntohs(a.sin_port);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, answer_plain, &p), 0);
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  o.port = p.port;
  o.tls = t;
  o.connect_timeout_ms = 5000;
  xr_client *c = NULL;
  XR_FAILS(xr_client_open(&c, &o), XR_ETLS, "the server does not speak TLS on this port");
  assert_null(strstr(xr_error_last()->message, "(null)"));
  pthread_join(th, NULL);
  close(p.fd);

  /* a real plain redis-server answers nothing to a ClientHello: the connect timeout says why */
  xrt_server *plain = NULL;
  assert_int_equal(itest_start(&plain, NULL), 0);
  o.port = xrt_server_port(plain);
  o.connect_timeout_ms = 300;
  XR_FAILS(xr_client_open(&c, &o), XR_ETIMEOUT, "a plain, non-TLS Redis port never answers one: use redis://");
  xrt_server_free(plain);
  xr_tls_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_right_ca_file),
      cmocka_unit_test(test_right_ca_pem),
      cmocka_unit_test(test_wrong_ca_fails),
      cmocka_unit_test(test_server_name),
      cmocka_unit_test(test_insecure_accepts_any_certificate),
      cmocka_unit_test(test_mutual_tls),
      cmocka_unit_test(test_mutual_tls_without_certificate_fails),
      cmocka_unit_test(test_rediss_url),
      cmocka_unit_test(test_tls_config_errors),
      cmocka_unit_test(test_tls_to_a_plain_port_says_so),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
