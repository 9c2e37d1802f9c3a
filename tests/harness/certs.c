/* Test certificates made with the openssl command: a CA, a server and a client certificate signed
 * by it, and an unrelated CA. EC P-256 keys (fast to make), valid for one day. Our own config file
 * so the system's openssl.cnf cannot add or change extensions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis_server.h"

#define CERT_PATH_SIZE 600

static const char config_text[] =
    "[req]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[dn]\n"
    "CN = crossredis test\n"
    "[ca_ext]\n"
    "basicConstraints = critical, CA:TRUE\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[server_ext]\n"
    "basicConstraints = CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "[client_ext]\n"
    "basicConstraints = CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = clientAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n";

typedef struct certs_ctx {
  const char *dir;
  const char *openssl;
  char log[CERT_PATH_SIZE];
  char cnf[CERT_PATH_SIZE];
  char *err;
} certs_ctx;

/* buf = dir/name (the directory's length is checked once, up front). */
static void path_in(char *buf, const certs_ctx *c, const char *name) {
  int n = snprintf(buf, CERT_PATH_SIZE, "%s/%s", c->dir, name);
  (void)n;
}

/* Runs openssl with argv (argv[0] is replaced by the program); on failure names the step. */
static int openssl(certs_ctx *c, const char *step, const char **argv) {
  argv[0] = c->openssl;
  char sub[XRT_ERR_SIZE];
  int rc = xrt_run(argv, NULL, 0, c->log, sub);
  if (rc == 0) return 0;
  if (c->err) {
    if (rc < 0)
      snprintf(c->err, XRT_ERR_SIZE, "certificates: %s: %.400s", step, sub);
    else
      snprintf(c->err, XRT_ERR_SIZE, "certificates: %s: openssl exited with %d (see %.400s)", step, rc, c->log);
  }
  return -1;
}

static int make_key(certs_ctx *c, const char *name) {
  char key[CERT_PATH_SIZE];
  path_in(key, c, name);
  const char *argv[] = {NULL, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-out", key, NULL};
  return openssl(c, name, argv);
}

static int make_ca(certs_ctx *c, const char *base, const char *subject) {
  char key_name[64], key[CERT_PATH_SIZE], crt[CERT_PATH_SIZE], crt_name[64];
  snprintf(key_name, sizeof key_name, "%s.key", base);
  snprintf(crt_name, sizeof crt_name, "%s.crt", base);
  path_in(key, c, key_name);
  path_in(crt, c, crt_name);
  if (make_key(c, key_name) != 0) return -1;
  const char *argv[] = {NULL, "req", "-config", c->cnf, "-new", "-x509", "-sha256", "-days", "1",
                        "-key", key, "-subj", subject, "-extensions", "ca_ext", "-out", crt, NULL};
  return openssl(c, crt_name, argv);
}

static int make_leaf(certs_ctx *c, const char *base, const char *subject, const char *ext,
                     const char *serial) {
  char key_name[64], crt_name[64], key[CERT_PATH_SIZE], csr[CERT_PATH_SIZE], crt[CERT_PATH_SIZE],
      ca_crt[CERT_PATH_SIZE], ca_key[CERT_PATH_SIZE];
  snprintf(key_name, sizeof key_name, "%s.key", base);
  snprintf(crt_name, sizeof crt_name, "%s.crt", base);
  path_in(key, c, key_name);
  path_in(crt, c, crt_name);
  char csr_name[64];
  snprintf(csr_name, sizeof csr_name, "%s.csr", base);
  path_in(csr, c, csr_name);
  path_in(ca_crt, c, "ca.crt");
  path_in(ca_key, c, "ca.key");
  if (make_key(c, key_name) != 0) return -1;
  const char *req[] = {NULL, "req", "-config", c->cnf, "-new", "-sha256", "-key", key,
                       "-subj", subject, "-out", csr, NULL};
  if (openssl(c, crt_name, req) != 0) return -1;
  const char *sign[] = {NULL, "x509", "-req", "-sha256", "-days", "1", "-in", csr,
                        "-CA", ca_crt, "-CAkey", ca_key, "-set_serial", serial,
                        "-extfile", c->cnf, "-extensions", ext, "-out", crt, NULL};
  int rc = openssl(c, crt_name, sign);
  unlink(csr);
  return rc;
}

int xrt_certs_generate(const char *dir, char *err) {
  certs_ctx c;
  memset(&c, 0, sizeof c);
  c.dir = dir;
  c.err = err;
  char program[CERT_PATH_SIZE];
  const char *name = getenv("XR_OPENSSL");
  if (!name || !*name) name = "openssl";
  if (!dir || strlen(dir) > CERT_PATH_SIZE - 32) {
    if (err) snprintf(err, XRT_ERR_SIZE, "certificates: no directory, or its path is too long");
    return -1;
  }
  if (xrt_find_program(name, program, sizeof program) != 0) {
    if (err) snprintf(err, XRT_ERR_SIZE, "certificates: %s not found (set XR_OPENSSL or PATH)", name);
    return -1;
  }
  c.openssl = program;
  path_in(c.log, &c, "openssl.log");
  path_in(c.cnf, &c, "openssl.cnf");

  FILE *f = fopen(c.cnf, "w");
  int written = f && fputs(config_text, f) >= 0;
  if (f && fclose(f) != 0) written = 0;
  if (!written) {
    if (err) snprintf(err, XRT_ERR_SIZE, "certificates: cannot write %.400s: %s", c.cnf, strerror(errno));
    return -1;
  }
  if (make_ca(&c, "ca", "/CN=crossredis test CA") != 0) return -1;
  if (make_leaf(&c, "server", "/CN=localhost", "server_ext", "2") != 0) return -1;
  if (make_leaf(&c, "client", "/CN=crossredis test client", "client_ext", "3") != 0) return -1;
  if (make_ca(&c, "wrong-ca", "/CN=crossredis unrelated CA") != 0) return -1;
  return 0;
}
