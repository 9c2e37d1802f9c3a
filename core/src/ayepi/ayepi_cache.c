/* ayepi's cache entry (SPEC.md 3): a JSON object of any runtime written as @ayepi/redis writes its
 * entry, JSON.stringify's bytes with the keys in its order. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "crossredis/json.h"

/* The entry's fields in the order ayepi writes them, and what each must be. */
enum kind { STRING, INTEGER, NUMBER, HEADERS };
static const struct {
  const char *name;
  enum kind kind;
} fields[] = {
    {"body", STRING},   {"status", INTEGER},     {"headers", HEADERS}, {"storedAt", NUMBER}, {"expires", NUMBER},
    {"staleUntil", NUMBER}, {"bytes", INTEGER}, {"method", STRING},   {"path", STRING},     {"key", STRING},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static const char *kind_text(enum kind k) {
  return k == STRING ? "a string" : k == INTEGER ? "an integer" : k == NUMBER ? "a number" : "an array of [name, value] strings";
}

static int check_field(const json_t *v, enum kind k) {
  switch (k) {
    case STRING: return json_is_string(v);
    case INTEGER: return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    case NUMBER: return json_is_number(v);
    case HEADERS: {
      if (!json_is_array(v)) return 0;
      size_t i;
      json_t *h;
      json_array_foreach(v, i, h) {
        if (!json_is_array(h) || json_array_size(h) != 2 || !json_is_string(json_array_get(h, 0)) ||
            !json_is_string(json_array_get(h, 1)))
          return 0;
      }
      return 1;
    }
  }
  return 0;
}

int xr_ayepi_cache_entry_write(char **out, size_t *out_len, int64_t *stale_until_ms, const char *entry_json,
                               size_t entry_len) {
  if (!out || !entry_json) return xr_fail(XR_EINVAL, "xr_ayepi_cache_entry_write: out and the entry are required");
  *out = NULL;
  if (out_len) *out_len = 0;
  json_t *e = NULL;
  int rc = xr_json_parse(&e, entry_json, entry_len);
  if (rc) return xr_fail(XR_EINVAL, "cache entry: not JSON: %s", xr_error_last()->message);
  if (!json_is_object(e)) {
    json_decref(e);
    return xr_fail(XR_EINVAL, "cache entry: not a JSON object");
  }
  const char *k;
  json_t *v;
  json_object_foreach(e, k, v) { /* nothing the entry has not: ayepi would store it, and no reader has it */
    size_t i = 0;
    while (i < NFIELDS && strcmp(fields[i].name, k) != 0) i++;
    if (i == NFIELDS) {
      rc = xr_fail(XR_EINVAL, "cache entry: unknown field \"%.100s\"", k);
      json_decref(e);
      return rc;
    }
  }
  json_t *ordered = json_object();
  for (size_t i = 0; !rc && i < NFIELDS; i++) {
    json_t *f = json_object_get(e, fields[i].name);
    if (!f) rc = xr_fail(XR_EINVAL, "cache entry: \"%s\" is missing", fields[i].name);
    else if (!check_field(f, fields[i].kind))
      rc = xr_fail(XR_EINVAL, "cache entry: \"%s\" must be %s", fields[i].name, kind_text(fields[i].kind));
    else if (json_object_set(ordered, fields[i].name, f))
      rc = xr_fail_nomem();
  }
  double stale = rc ? 0 : json_number_value(json_object_get(e, "staleUntil"));
  if (!rc && (stale != floor(stale) || fabs(stale) > 9007199254740991.0))
    rc = xr_fail(XR_EINVAL, "cache entry: \"staleUntil\" must be whole milliseconds, got %.17g", stale);
  if (!rc) rc = xr_json_write(out, out_len, ordered, XR_JSON_JS, 0);
  if (!rc && stale_until_ms) *stale_until_ms = (int64_t)stale;
  json_decref(ordered);
  json_decref(e);
  return rc;
}
