/* The MONITOR normaliser (monitor.h). */
#include "monitor.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int token_char(char ch) { return isalnum((unsigned char)ch) || ch == '-' || ch == '_'; }

char *xrt_monitor_mask(const char *s, unsigned flags) {
  size_t n = strlen(s);
  char *out = malloc(n + 16); /* every replacement is shorter than what it replaces */
  if (!out) return NULL;
  size_t o = 0;
  for (size_t k = 0; k < n;) {
    int boundary = k == 0 || !token_char(s[k - 1]);
    if ((flags & XRT_MASK_TOKENS) && boundary) {
      size_t j = k;
      while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '-')) j++;
      size_t d = j + 1, e;
      int ok = j > k && j < n && s[j] == '_';
      for (e = d; ok && e < n && e - d < 13; e++) ok = isdigit((unsigned char)s[e]);
      ok = ok && e - d == 13 && e < n && s[e] == '_';
      size_t f = e + 1;
      while (ok && f < n && (isdigit((unsigned char)s[f]) || (s[f] >= 'a' && s[f] <= 'z'))) f++;
      if (ok && f > e + 1 && (f == n || !token_char(s[f]))) {
        memcpy(out + o, s + k, j - k);
        o += j - k;
        memcpy(out + o, "_<MS>_<SFX>", 11);
        o += 11;
        k = f;
        continue;
      }
    }
    if ((flags & XRT_MASK_MS) && (k == 0 || !isdigit((unsigned char)s[k - 1])) && isdigit((unsigned char)s[k])) {
      size_t e = k;
      while (e < n && isdigit((unsigned char)s[e])) e++;
      if (e - k == 13) {
        memcpy(out + o, "<MS>", 4);
        o += 4;
      } else {
        memcpy(out + o, s + k, e - k);
        o += e - k;
      }
      k = e;
      continue;
    }
    out[o++] = s[k++];
  }
  out[o] = '\0';
  return out;
}

char *xrt_monitor_normalize(const char *line, unsigned flags, int *bad) {
  if (bad) *bad = 0;
  /* "[<db> <client>] ": the first '[' followed by a digit (a capture may annotate its lines with
   * a "[setup]" column first) */
  const char *open = strchr(line, '[');
  while (open && !isdigit((unsigned char)open[1])) open = strchr(open + 1, '[');
  const char *close = open ? strstr(open, "] ") : NULL;
  if (!close) return NULL;
  int lua = close - open >= 4 && memcmp(close - 4, " lua", 4) == 0;
  const char *p = close + 2;
  if (*p != '"') return NULL;
  /* Each argument gains at most a separating space, and takes at least two bytes (its quotes):
   * "a""b" with no space between them is read too. */
  size_t n = strlen(p);
  char *out = malloc(n + n / 2 + 16);
  if (!out) return NULL;
  size_t o = (size_t)sprintf(out, "%s", lua ? "lua" : "client");
  int argi = 0, eval = 0;
  while (*p == '"') {
    const char *q = p + 1;
    while (*q && *q != '"') q += (*q == '\\' && q[1]) ? 2 : 1;
    if (*q != '"') {
      free(out);
      if (bad) *bad = 1;
      return NULL;
    }
    size_t len = (size_t)(q + 1 - p);
    if (argi == 0) {
      out[o++] = ' ';
      for (size_t i = 0; i < len; i++) out[o++] = (char)toupper((unsigned char)p[i]);
      out[o] = '\0';
      if (!lua && (strcmp(out, "client \"EVAL\"") == 0 || strcmp(out, "client \"EVALSHA\"") == 0)) {
        eval = 1;
        o = (size_t)sprintf(out, "client \"EVAL\"");
      }
    } else if (!(eval && argi == 1)) {
      out[o++] = ' ';
      memcpy(out + o, p, len);
      o += len;
    }
    argi++;
    p = q + 1;
    if (*p == ' ') p++;
  }
  out[o] = '\0';
  if (!flags) return out;
  char *masked = xrt_monitor_mask(out, flags);
  free(out);
  return masked;
}

int xrt_monitor_normalize_lines(char *const *lines, size_t n, unsigned flags, char ***out, size_t *out_n,
                                size_t *bad_line) {
  *out = NULL;
  *out_n = 0;
  char **tmp = calloc(n ? n : 1, sizeof *tmp);
  if (!tmp) return *bad_line = n, -1;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    int bad = 0;
    char *l = xrt_monitor_normalize(lines[i], flags, &bad);
    if (bad) {
      for (size_t k = 0; k < m; k++) free(tmp[k]);
      free(tmp);
      *bad_line = i;
      return -1;
    }
    if (l) tmp[m++] = l;
  }
  size_t w = 0;
  for (size_t i = 0; i < m; i++) {
    if (i + 1 < m && strncmp(tmp[i], "client \"EVAL\"", 13) == 0 && strcmp(tmp[i], tmp[i + 1]) == 0) {
      free(tmp[i]); /* an EVALSHA refused with NOSCRIPT, then its EVAL: once */
      continue;
    }
    tmp[w++] = tmp[i];
  }
  *out = tmp;
  *out_n = w;
  return 0;
}
