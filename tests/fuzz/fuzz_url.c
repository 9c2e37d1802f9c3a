/* Connection URLs (xr_url_parse, xr_url_apply, xr_url_redact), as given by users, environment
 * variables (REDIS_URL) and the bindings.
 *
 * Input: the URL (cut at the first NUL, as the C API takes it).
 *
 * Properties:
 *   - a parsed URL's fields are in their documented ranges;
 *   - a URL whose authority holds credentials (an '@' before the query) never has a piece of
 *     itself echoed in an error message: the message stays the same when every letter between
 *     the scheme and the query is replaced by another of its class (hex letters by hex letters, so
 *     percent escapes stay valid; the query is not secret);
 *   - with an '@' anywhere after the scheme, no message quotes a piece of the URL;
 *   - whatever the parser reads as the password, xr_url_redact hides: the redacted URL parses to
 *     the password "***" (or no longer parses at all);
 *   - redacting twice changes nothing more; a short buffer gets a NUL-terminated prefix and the
 *     full length back, as snprintf. */
#include "crossredis/client.h"
#include "fuzz.h"

static char *redacted(const char *url) {
  size_t need = xr_url_redact(NULL, 0, url);
  char *out = malloc(need + 1);
  if (!out) abort();
  FUZZ_CHECK(xr_url_redact(out, need + 1, url) == need && strlen(out) == need, "redact length");
  return out;
}

/* Letters only: another digit may turn a valid port or db into an invalid one (or back), which
 * moves where the parse fails. */
static char rotate(char c) {
  if (c >= 'a' && c <= 'f') return c == 'f' ? 'a' : (char)(c + 1);
  if (c >= 'g' && c <= 'z') return c == 'z' ? 'g' : (char)(c + 1);
  if (c >= 'A' && c <= 'F') return c == 'F' ? 'A' : (char)(c + 1);
  if (c >= 'G' && c <= 'Z') return c == 'Z' ? 'G' : (char)(c + 1);
  return c;
}

/* Where the part after the scheme starts, and whether an '@' comes before the query. */
static size_t after_scheme(const char *url) {
  const char *sep = strstr(url, "://");
  return sep ? (size_t)(sep + 3 - url) : 0;
}

static int holds_credentials(const char *url) {
  const char *rest = url + after_scheme(url);
  size_t main_len = strcspn(rest, "?");
  return memchr(rest, '@', main_len) != NULL;
}

static void check_fields(const xr_url *u, const char *url) {
  FUZZ_CHECK(u->port >= 0 && u->port <= 65535, "port %d", u->port);
  FUZZ_CHECK(u->db >= -1, "db %d", u->db);
  FUZZ_CHECK(u->pool_size >= 0 && u->pool_size <= 4096, "pool_size %d", u->pool_size);
  FUZZ_CHECK(u->connect_timeout_ms >= -1 && u->command_timeout_ms >= -1, "timeouts");
  FUZZ_CHECK(u->tls == 0 || u->tls == 1, "tls %d", u->tls);
  FUZZ_CHECK(u->insecure == 0 || u->insecure == 1, "insecure %d", u->insecure);
  FUZZ_CHECK(!u->unix_path || u->unix_path[0] == '/', "unix path %s", u->unix_path);
  FUZZ_CHECK(u->tls || !(u->ca_file || u->cert_file || u->key_file || u->server_name || u->insecure),
             "TLS options without rediss://");
  const char *strs[] = {u->host, u->unix_path, u->username, u->password, u->ca_file, u->cert_file, u->key_file,
                        u->server_name, u->client_name};
  size_t total = 0;
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) total += strs[i] ? strlen(strs[i]) : 0;
  FUZZ_CHECK(total <= strlen(url), "the parts are longer than the URL");
  xr_client_options o = XR_CLIENT_OPTIONS_INIT;
  xr_url_apply(u, &o);
  FUZZ_CHECK(o.port >= 0 && o.port <= 65535, "applied port %d", o.port);
}

/* The redacted URL reads as the same URL with the password "***". */
static void check_redacted_password(const char *url, const xr_url *u) {
  if (!u->password) return;
  char *red = redacted(url);
  xr_url *r = NULL;
  if (xr_url_parse(&r, red) == XR_OK) {
    FUZZ_CHECK(r->password && strcmp(r->password, "***") == 0, "the redacted URL still has a password: %s", red);
    xr_url_free(r);
  } else {
    FUZZ_CHECK(strstr(red, "***") != NULL, "nothing redacted: %s", red);
  }
  free(red);
}

/* With an '@' anywhere after the scheme (a password may hold an unescaped '?', so the query
 * counts too), no message quotes a piece of the URL: quoting is how every message echoes one. */
static void check_message_quotes_nothing(const char *url, const char *message) {
  if (!strchr(url + after_scheme(url), '@') || !strncmp(message, "URL: unsupported scheme", 23)) return;
  /* quotes of the core's own words, not of the URL */
  static const char *const fixed[] = {"percent-encode '/', '@' and ':' in them", "without ']'"};
  char *m = strdup(message);
  if (!m) abort();
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    for (char *h = strstr(m, fixed[i]); h; h = strstr(h, fixed[i])) memset(h, ' ', strlen(fixed[i]));
  FUZZ_CHECK(strchr(m, '\'') == NULL, "a quoted piece of a URL with credentials:\n  %s\n  %s", url, message);
  free(m);
}

static void check_message_hides(const char *url, const char *message) {
  check_message_quotes_nothing(url, message);
  if (!holds_credentials(url)) return;
  char *other = strdup(url);
  if (!other) abort();
  size_t start = after_scheme(url), end = start + strcspn(url + start, "?"); /* the query is not hidden */
  for (size_t i = start; i < end; i++) {
    if (other[i] == '%') { /* keep escapes as they are: %00 is refused, %41 is not */
      i += i + 1 < end ? (i + 2 < end ? 2 : 1) : 0;
      continue;
    }
    other[i] = rotate(other[i]);
  }
  xr_url *u = NULL;
  if (xr_url_parse(&u, other) == XR_OK) {
    xr_url_free(u);
  } else {
    FUZZ_CHECK(strcmp(message, xr_error_last()->message) == 0,
               "the message depends on the URL's text though it holds credentials:\n  %s\n  %s\n  %s\n  %s", url,
               message, other, xr_error_last()->message);
  }
  free(other);
}

static void check_redact(const char *url, const uint8_t *data, size_t size) {
  char *once = redacted(url);
  char *twice = redacted(once);
  FUZZ_CHECK(strcmp(once, twice) == 0, "redacting twice: %s -> %s", once, twice);
  size_t need = strlen(once);
  size_t cap = size ? data[size - 1] % 16 : 1;
  char small[16];
  memset(small, 'x', sizeof small);
  FUZZ_CHECK(xr_url_redact(cap ? small : NULL, cap, url) == need, "redact into %zu bytes", cap);
  if (cap) {
    size_t n = need < cap ? need : cap - 1;
    FUZZ_CHECK(small[n] == '\0' && memcmp(small, once, n) == 0, "redact into %zu bytes: not a prefix", cap);
  }
  free(twice);
  free(once);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *url = fuzz_cstring(data, size);
  xr_url *u = NULL;
  int rc = xr_url_parse(&u, url);
  if (rc == XR_OK) {
    FUZZ_CHECK(u != NULL, "no URL");
    check_fields(u, url);
    check_redacted_password(url, u);
    xr_url_free(u);
  } else {
    FUZZ_CHECK_FAILED_WITH_MESSAGE(rc);
    FUZZ_CHECK(rc == XR_EINVAL && u == NULL, "parse: %d", rc);
    char *message = strdup(xr_error_last()->message);
    if (!message) abort();
    check_message_hides(url, message);
    free(message);
  }
  check_redact(url, data, size);
  free(url);
  return 0;
}
