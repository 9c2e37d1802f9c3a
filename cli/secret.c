/* Passwords the command must never print: URLs shown redacted (redis://user:***@host:port, as
 * DECISIONS.md says), and every message that may quote a URL or a password (the library's, the
 * command line's) passed through cli_redact before it is printed. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crossredis/client.h"

/* The passwords of the URLs this run uses (as written in the URL and percent-decoded). */
enum { SECRETS_MAX = 8 };
static char *secrets[SECRETS_MAX];
static size_t nsecrets;

typedef struct text {
  char *s;
  size_t len, cap;
} text;

static void put(text *t, const char *s, size_t n) {
  if (t->len + n + 1 > t->cap) {
    t->cap = (t->len + n + 1) * 2;
    t->s = cli_xrealloc(t->s, t->cap);
  }
  memcpy(t->s + t->len, s, n);
  t->len += n;
  t->s[t->len] = '\0';
}

static void add_secret(const char *s, size_t n) {
  if (n == 0 || nsecrets == SECRETS_MAX) return;
  for (size_t i = 0; i < nsecrets; i++)
    if (strlen(secrets[i]) == n && !memcmp(secrets[i], s, n)) return;
  char *copy = cli_xmalloc(n + 1);
  memcpy(copy, s, n);
  copy[n] = '\0';
  secrets[nsecrets++] = copy;
}

/* xr_url_redact of url's first n bytes, allocated. */
static char *redacted(const char *url, size_t n) {
  char *copy = cli_xmalloc(n + 1);
  memcpy(copy, url, n);
  copy[n] = '\0';
  size_t m = xr_url_redact(NULL, 0, copy);
  char *r = cli_xmalloc(m + 1);
  xr_url_redact(r, m + 1, copy);
  free(copy);
  return r;
}

/* The password span is what the core's redaction replaced: the bytes between the longest common
 * prefix and suffix of the URL and its redacted text (a '*' at either end of the password counts as
 * common, and is a '*' either way). */
bool cli_url_password_span(const char *url, size_t len, size_t *start, size_t *plen) {
  char *r = redacted(url, len);
  size_t m = strlen(r), p = 0, e = 0;
  while (p < len && p < m && url[p] == r[p]) p++;
  while (e < len - p && e < m - p && url[len - 1 - e] == r[m - 1 - e]) e++;
  free(r);
  *start = p;
  *plen = len - p - e;
  return *plen > 0;
}

/* url (n bytes) with its password replaced by "***" appended to t. */
static void put_redacted_url(text *t, const char *url, size_t n) {
  char *r = redacted(url, n);
  put(t, r, strlen(r));
  free(r);
}

char *cli_url_redact(const char *url) {
  text t = {0};
  put(&t, "", 0);
  put_redacted_url(&t, url, strlen(url));
  return t.s;
}

void cli_secrets_add_url(const char *url) {
  size_t start, plen;
  if (cli_url_password_span(url, strlen(url), &start, &plen)) add_secret(url + start, plen);
  xr_url *u = NULL;
  if (xr_url_parse(&u, url) == 0) {
    if (u->password) add_secret(u->password, strlen(u->password));
    if (u->sentinel_password) add_secret(u->sentinel_password, strlen(u->sentinel_password));
    xr_url_free(u);
  }
}

static bool url_char(char c) { return c && c != ' ' && c != '\t' && c != '\n' && c != '\'' && c != '"'; }

static bool scheme_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

char *cli_redact(const char *msg) {
  text t = {0};
  put(&t, "", 0);
  /* URLs first: from the scheme to the next blank or quote, the password redacted. */
  const char *p = msg;
  for (;;) {
    const char *sep = strstr(p, "://");
    if (!sep) break;
    const char *b = sep;
    while (b > p && scheme_char(b[-1])) b--;
    const char *e = sep + 3;
    while (url_char(*e)) e++;
    put(&t, p, (size_t)(b - p));
    put_redacted_url(&t, b, (size_t)(e - b));
    p = e;
  }
  put(&t, p, strlen(p));
  /* Then every known password wherever it appears (a parse error quoting a piece of a URL). */
  for (size_t k = 0; k < nsecrets; k++) {
    size_t n = strlen(secrets[k]);
    text u = {0};
    put(&u, "", 0);
    const char *from = t.s, *hit;
    while ((hit = strstr(from, secrets[k])) != NULL) {
      put(&u, from, (size_t)(hit - from));
      put(&u, "***", 3);
      from = hit + n;
    }
    put(&u, from, strlen(from));
    free(t.s);
    t = u;
  }
  return t.s;
}

char *cli_mask_quoted(const char *msg) {
  text t = {0};
  put(&t, "", 0);
  const char *p = msg, *q;
  while ((q = strchr(p, '\'')) != NULL) {
    const char *end = strchr(q + 1, '\'');
    if (!end) break;
    put(&t, p, (size_t)(q - p));
    put(&t, "'***'", 5);
    p = end + 1;
  }
  put(&t, p, strlen(p));
  return t.s;
}

void cli_print_redacted(FILE *f, const char *msg) {
  char *safe = cli_redact(msg);
  fputs(safe, f);
  free(safe);
}
