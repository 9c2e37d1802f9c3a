/* Key patterns (key_pattern.h), the language of the inventory's patterns file and of migration
 * families: any text is parsed, and a parsed pattern is matched against any key.
 *
 * Input: the pattern's bytes up to the first '\n', the key's bytes after it (NUL bytes included).
 *
 * Properties:
 *   - parsing fails with XR_EINVAL and a message, or yields a pattern whose text is the input;
 *   - a key that matches renders back from its field values to the same bytes, and the values
 *     each fit their field (render accepts them);
 *   - the pattern's glob is made, and every field name is found again by its index;
 *   - a pattern overlaps itself; when no field name repeats, the witness it gives has its shape,
 *     and a pattern and the key read as a literal pattern overlap exactly when the key matches
 *     (overlap does not hold a repeated field to one value: it may see more keys than match). */
#include <stdbool.h>

#include "crossredis/alloc.h"
#include "crossredis/key_pattern.h"
#include "fuzz.h"

/* How many fields the text writes (a name used twice counts twice). */
static size_t field_uses(const char *s, size_t n) {
  size_t uses = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\') i++;
    else if (s[i] == '<') uses++;
  }
  return uses;
}

static bool has_field_syntax(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '<' || s[i] == '\\') return true;
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *in = (const char *)data;
  const char *nl = memchr(in, '\n', size);
  size_t plen = nl ? (size_t)(nl - in) : size;
  const char *key = nl ? nl + 1 : in + size;
  size_t klen = nl ? size - plen - 1 : 0;
  xr_key_pattern *p = NULL;
  int rc = xr_key_pattern_parse(&p, in, plen);
  if (rc) {
    FUZZ_CHECK(rc == XR_EINVAL && p == NULL, "parse returned %d", rc);
    FUZZ_CHECK_FAILED_WITH_MESSAGE(rc);
    return 0;
  }
  size_t tlen;
  const char *text = xr_key_pattern_text(p, &tlen);
  FUZZ_CHECK(tlen == plen && !memcmp(text, in, plen), "text differs from the input");
  size_t nf = xr_key_pattern_field_count(p);
  for (size_t i = 0; i < nf; i++) {
    const char *name = xr_key_pattern_field_name(p, i);
    FUZZ_CHECK(xr_key_pattern_field_index(p, name, strlen(name)) == (int)i, "field %zu not found by its name", i);
  }
  char *glob = NULL;
  FUZZ_CHECK(xr_key_pattern_glob(p, &glob, NULL) == XR_OK && glob, "no glob");
  xr_free(glob);

  xr_key_span *values = xr_calloc(nf + 1, sizeof *values);
  FUZZ_CHECK(values != NULL, "out of memory");
  bool m = xr_key_pattern_match(p, key, klen, values);
  if (m) {
    char *out = NULL;
    size_t olen = 0;
    rc = xr_key_pattern_render(p, &out, &olen, values, nf);
    FUZZ_CHECK(rc == XR_OK, "a matched key's values do not render");
    FUZZ_CHECK(olen == klen && !memcmp(out, key, klen), "render(match(key)) != key");
    xr_free(out);
  }
  xr_free(values);

  if (plen <= 96) { /* the overlap search is quadratic in the pattern's length */
    char *w = NULL;
    size_t wl = 0;
    FUZZ_CHECK(xr_key_pattern_overlap(p, p, &w, &wl), "a pattern does not overlap itself");
    bool repeats = field_uses(in, plen) != nf;
    FUZZ_CHECK(w && (repeats || xr_key_pattern_match(p, w, wl, NULL)), "the witness does not have the shape");
    xr_free(w);
    xr_key_pattern *lit = NULL;
    if (!repeats && klen && klen <= 96 && !has_field_syntax(key, klen) && xr_key_pattern_parse(&lit, key, klen) == XR_OK) {
      FUZZ_CHECK(xr_key_pattern_overlap(p, lit, NULL, NULL) == m, "overlap with a literal disagrees with match");
      xr_key_pattern_free(lit);
    }
  }
  xr_key_pattern_free(p);
  return 0;
}
