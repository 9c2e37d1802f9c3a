/* The inventory's streaming counters (per pattern, per unclassified shape, per unit) and the report
 * they make, as JSON and as a table (inventory.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crossredis/json.h"
#include "crossredis/keys.h"
#include "base/internal.h"
#include "codec/json_internal.h"
#include "tools/inventory_internal.h"

const char *const inv_type_names[INV_TYPES] = {"string", "list", "set", "zset", "hash", "stream", "other"};

int inv_type_of(const char *name, size_t len) {
  for (int t = 0; t < INV_OTHER; t++)
    if (strlen(inv_type_names[t]) == len && !memcmp(inv_type_names[t], name, len)) return t;
  return INV_OTHER;
}

/* ---- counters ------------------------------------------------------------------------------------ */

void inv_stats_clear(inv_stats *s) {
  for (size_t i = 0; i < s->nsamples; i++) xr_free(s->samples[i]);
  xr_free(s->samples);
  xr_free(s->sample_lens);
  xr_free(s->slots);
  for (size_t i = 0; i < s->nowners; i++) xr_free(s->owners[i].name);
  memset(s, 0, sizeof *s);
}

int inv_stats_add(inv_stats *s, int samples, const char *key, size_t len, int type, int64_t ttl_ms, int64_t mem) {
  if (!s->slots && !(s->slots = xr_calloc(INV_SLOTS / 8, 1))) return xr_fail_nomem();
  if (samples > 0 && !s->samples &&
      (!(s->samples = xr_calloc((size_t)samples, sizeof *s->samples)) ||
       !(s->sample_lens = xr_calloc((size_t)samples, sizeof *s->sample_lens))))
    return xr_fail_nomem();
  s->count++;
  s->types[type]++;
  if (ttl_ms >= 0) {
    if (!s->with_ttl || ttl_ms < s->ttl_min) s->ttl_min = ttl_ms;
    if (!s->with_ttl || ttl_ms > s->ttl_max) s->ttl_max = ttl_ms;
    s->with_ttl++;
  } else {
    s->without_ttl++;
  }
  if (mem >= 0) {
    s->mem_total += (uint64_t)mem;
    if ((uint64_t)mem > s->mem_max) s->mem_max = (uint64_t)mem;
  }
  unsigned slot = xr_key_slot(key, len);
  s->slots[slot / 8] |= (uint8_t)(1u << (slot % 8));
  if (samples > 0 && s->nsamples < (size_t)samples) {
    if (!(s->samples[s->nsamples] = xr_strndup(key, len))) return xr_fail_nomem();
    s->sample_lens[s->nsamples++] = len;
  }
  return XR_OK;
}

int inv_stats_owner(inv_stats *s, const char *name) {
  for (size_t i = 0; i < s->nowners; i++)
    if (!strcmp(s->owners[i].name, name)) return s->owners[i].n++, XR_OK;
  if (s->nowners == INV_OWNERS_MAX) return s->owners_other++, XR_OK;
  if (!(s->owners[s->nowners].name = xr_strndup(name, strlen(name)))) return xr_fail_nomem();
  s->owners[s->nowners++].n = 1;
  return XR_OK;
}

int inv_warn(xr_inventory_report *r, const char *fmt, ...) {
  char **v = xr_realloc(r->warnings, (r->nwarnings + 1) * sizeof *v);
  if (!v) return xr_fail_nomem();
  r->warnings = v;
  xr_buf b = {0};
  va_list ap;
  va_start(ap, fmt);
  char text[1024];
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  xr_buf_puts(&b, text);
  if (xr_buf_finish(&b, &r->warnings[r->nwarnings], NULL)) return xr_fail_nomem();
  r->nwarnings++;
  return XR_OK;
}

/* ---- unclassified shapes ------------------------------------------------------------------------- */

static bool all_in(const char *s, size_t n, const char *set) {
  for (size_t i = 0; i < n; i++)
    if (!strchr(set, s[i]) || !s[i]) return false;
  return n > 0;
}

static bool is_uuid(const char *s, size_t n) {
  static const size_t dash[] = {8, 13, 18, 23};
  if (n != 36) return false;
  for (size_t i = 0, d = 0; i < n; i++) {
    if (d < 4 && i == dash[d]) {
      if (s[i] != '-') return false;
      d++;
    } else if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) {
      return false;
    }
  }
  return true;
}

/* Each ':' segment: {uuid}, {sha256} (64 hex), {hex32} (32 hex), {number} (digits), or as it is. */
static int generalise(xr_buf *b, const char *key, size_t len) {
  static const char HEX[] = "0123456789abcdefABCDEF";
  b->len = 0;
  for (size_t at = 0; at <= len;) {
    const char *end = memchr(key + at, ':', len - at);
    size_t n = end ? (size_t)(end - (key + at)) : len - at;
    const char *seg = key + at;
    if (is_uuid(seg, n)) xr_buf_puts(b, "{uuid}");
    else if (n == 64 && all_in(seg, n, HEX)) xr_buf_puts(b, "{sha256}");
    else if (n == 32 && all_in(seg, n, HEX)) xr_buf_puts(b, "{hex32}");
    else if (all_in(seg, n, "0123456789")) xr_buf_puts(b, "{number}");
    else xr_buf_append(b, seg, n);
    if (!end) break;
    xr_buf_putc(b, ':');
    at += n + 1;
  }
  return b->oom ? xr_fail_nomem() : XR_OK;
}

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

int inv_count_unclassified(xr_inventory_report *r, const char *key, size_t len, int type, int64_t ttl_ms, int64_t mem) {
  xr_buf b = {0};
  int rc = generalise(&b, key, len);
  if (rc) return xr_buf_free(&b), rc;
  if (!r->shapes) {
    r->shape_cap = 64;
    if (!(r->shapes = xr_calloc(r->shape_cap, sizeof *r->shapes))) return xr_buf_free(&b), xr_fail_nomem();
  }
  size_t mask = r->shape_cap - 1, i = (size_t)hash_bytes(b.data, b.len) & mask;
  while (r->shapes[i].shape && !(r->shapes[i].len == b.len && !memcmp(r->shapes[i].shape, b.data, b.len))) i = (i + 1) & mask;
  inv_stats *s;
  if (r->shapes[i].shape) {
    s = &r->shapes[i].st;
  } else if (r->nshapes >= r->max_shapes) {
    s = &r->other;
  } else {
    if ((r->nshapes + 1) * 2 > r->shape_cap) { /* grow, then find the free bucket again */
      size_t cap = r->shape_cap * 2;
      inv_shape *t = xr_calloc(cap, sizeof *t);
      if (!t) return xr_buf_free(&b), xr_fail_nomem();
      for (size_t k = 0; k < r->shape_cap; k++) {
        if (!r->shapes[k].shape) continue;
        size_t j = (size_t)hash_bytes(r->shapes[k].shape, r->shapes[k].len) & (cap - 1);
        while (t[j].shape) j = (j + 1) & (cap - 1);
        t[j] = r->shapes[k];
      }
      xr_free(r->shapes);
      r->shapes = t;
      r->shape_cap = cap;
      mask = cap - 1;
      i = (size_t)hash_bytes(b.data, b.len) & mask;
      while (r->shapes[i].shape) i = (i + 1) & mask;
    }
    if (!(r->shapes[i].shape = xr_strndup(b.data, b.len))) return xr_buf_free(&b), xr_fail_nomem();
    r->shapes[i].len = b.len;
    r->nshapes++;
    s = &r->shapes[i].st;
  }
  xr_buf_free(&b);
  return inv_stats_add(s, r->samples, key, len, type, ttl_ms, mem);
}

/* ---- units: the observed slots of each instance -------------------------------------------------- */

static int add_example(inv_unit *u, const char *id, size_t len) {
  if (u->nexamples >= INV_EXAMPLES) return XR_OK;
  char *e = xr_malloc(len + 1);
  if (!e) return xr_fail_nomem();
  for (size_t i = 0; i < len; i++) e[i] = id[i] ? id[i] : ','; /* shared values joined */
  e[len] = '\0';
  u->examples[u->nexamples++] = e;
  return XR_OK;
}

int inv_unit_observe(xr_inventory_report *r, size_t pi, const char *key, size_t len) {
  const inv_pattern *p = &r->patterns[pi];
  if (!p->unit) return XR_OK;
  inv_unit *u = NULL;
  for (size_t k = 0; k < r->nunits && !u; k++)
    if (!strcmp(r->units[k].name, p->unit)) u = &r->units[k];
  if (!u) return XR_OK;
  u->seen = true;
  if (!u->nshared || u->nmembers < 2) return XR_OK;
  xr_key_span vals[16];
  size_t nf = xr_key_pattern_field_count(p->p);
  if (nf > 16 || !xr_key_pattern_match(p->p, key, len, vals)) return XR_OK;
  xr_buf id = {0};
  for (size_t i = 0; i < u->nshared; i++) {
    int f = xr_key_pattern_field_index(p->p, u->shared[i], strlen(u->shared[i]));
    if (i) xr_buf_putc(&id, '\0');
    if (f >= 0) xr_buf_append(&id, vals[f].ptr, vals[f].len);
  }
  if (id.oom) return xr_buf_free(&id), xr_fail_nomem();
  if ((u->used + 1) * 2 > u->cap && u->used < XR_INVENTORY_UNIT_INSTANCES_MAX) { /* grow (from 1024) */
    size_t cap = u->cap ? u->cap * 2 : 1024;
    inv_instance *t = xr_malloc(cap * sizeof *t);
    if (!t) return xr_buf_free(&id), xr_fail_nomem();
    for (size_t k = 0; k < cap; k++) t[k] = (inv_instance){NULL, 0, -1, false};
    for (size_t k = 0; k < u->cap; k++) {
      if (u->table[k].slot < 0) continue;
      size_t j = (size_t)hash_bytes(u->table[k].id, u->table[k].id_len) & (cap - 1);
      while (t[j].slot >= 0) j = (j + 1) & (cap - 1);
      t[j] = u->table[k];
    }
    xr_free(u->table);
    u->table = t;
    u->cap = cap;
  }
  int slot = (int)xr_key_slot(key, len), rc = XR_OK;
  size_t mask = u->cap - 1, i = (size_t)hash_bytes(id.data ? id.data : "", id.len) & mask;
  while (u->table[i].slot >= 0 && !(u->table[i].id_len == id.len && !memcmp(u->table[i].id, id.data, id.len)))
    i = (i + 1) & mask;
  inv_instance *e = &u->table[i];
  if (e->slot < 0) {
    if (u->used < XR_INVENTORY_UNIT_INSTANCES_MAX) { /* past the cap new instances are not followed */
      if (!(e->id = xr_strndup(id.data ? id.data : "", id.len))) rc = xr_fail_nomem();
      else e->id_len = id.len, e->slot = slot, u->used++, u->instances++;
    }
  } else if (e->slot != slot && !e->split) {
    e->split = true;
    u->split++;
    rc = add_example(u, id.data, id.len);
  }
  xr_buf_free(&id);
  return rc;
}

/* The owners by count (most first), then name: the order both texts show. */
static int by_owner(const void *a, const void *b) {
  const inv_owner_count *x = a, *y = b;
  if (x->n != y->n) return x->n > y->n ? -1 : 1;
  return strcmp(x->name, y->name);
}

static void sort_owners(const inv_stats *s, inv_owner_count *out) {
  memcpy(out, s->owners, s->nowners * sizeof *out);
  qsort(out, s->nowners, sizeof *out, by_owner);
}

/* ---- JSON ---------------------------------------------------------------------------------------- */

/* Text for JSON: valid UTF-8 as it is, each other byte U+FFFD. */
static json_t *jtext(const char *s, size_t len) {
  xr_buf b = {0};
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = xr_json_utf8_decode((const unsigned char *)s + i, len - i, 0, &cp);
    if (n) {
      xr_buf_append(&b, s + i, n);
      i += n;
    } else {
      xr_buf_puts(&b, "\xEF\xBF\xBD");
      i++;
    }
  }
  json_t *j = json_stringn(b.data ? b.data : "", b.len);
  xr_buf_free(&b);
  return j ? j : json_string("");
}

static json_t *jstr(const char *s) { return s ? jtext(s, strlen(s)) : json_null(); }

static json_t *jlist(char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, jstr(v[i]));
  return a;
}

static size_t slot_count(const inv_stats *s, unsigned *some, size_t cap, size_t *nsome) {
  size_t n = 0;
  *nsome = 0;
  for (unsigned k = 0; s->slots && k < INV_SLOTS; k++) {
    if (!(s->slots[k / 8] & (1u << (k % 8)))) continue;
    if (*nsome < cap) some[(*nsome)++] = k;
    n++;
  }
  return n;
}

static void stats_json(json_t *o, const inv_stats *s, bool memory_known) {
  json_object_set_new(o, "count", json_integer((json_int_t)s->count));
  json_t *types = json_object();
  for (int t = 0; t < INV_TYPES; t++)
    if (s->types[t]) json_object_set_new(types, inv_type_names[t], json_integer((json_int_t)s->types[t]));
  json_object_set_new(o, "types", types);
  json_t *ttl = json_object();
  json_object_set_new(ttl, "min_ms", s->with_ttl ? json_integer(s->ttl_min) : json_null());
  json_object_set_new(ttl, "max_ms", s->with_ttl ? json_integer(s->ttl_max) : json_null());
  json_object_set_new(ttl, "without_expiry", json_integer((json_int_t)s->without_ttl));
  json_object_set_new(o, "ttl", ttl);
  if (memory_known) {
    json_t *m = json_object();
    json_object_set_new(m, "total_bytes", json_integer((json_int_t)s->mem_total));
    json_object_set_new(m, "max_bytes", json_integer((json_int_t)s->mem_max));
    json_object_set_new(o, "memory", m);
  } else {
    json_object_set_new(o, "memory", json_null());
  }
  json_t *samples = json_array();
  for (size_t i = 0; i < s->nsamples; i++) json_array_append_new(samples, jtext(s->samples[i], s->sample_lens[i]));
  json_object_set_new(o, "samples", samples);
  unsigned some[INV_SOME_SLOTS];
  size_t nsome;
  json_t *slots = json_object(), *sa = json_array();
  json_object_set_new(slots, "distinct", json_integer((json_int_t)slot_count(s, some, INV_SOME_SLOTS, &nsome)));
  for (size_t i = 0; i < nsome; i++) json_array_append_new(sa, json_integer(some[i]));
  json_object_set_new(slots, "some", sa);
  json_object_set_new(o, "slots", slots);
}

static const char *policy_name(inv_ttl_policy p) {
  return p == INV_TTL_REQUIRED ? "required" : p == INV_TTL_NONE ? "none" : "any";
}

static int types_seen(const inv_stats *s) {
  int n = 0;
  for (int t = 0; t < INV_TYPES; t++) n += s->types[t] != 0;
  return n;
}

/* The warnings of one pattern, as texts (into a JSON array). */
static json_t *pattern_warnings(const inv_pattern *p) {
  json_t *w = json_array();
  char text[512];
  const inv_stats *s = &p->st;
  if (p->ttl_policy == INV_TTL_REQUIRED && s->without_ttl) {
    snprintf(text, sizeof text, "%llu of %llu keys have no TTL (policy: required)", (unsigned long long)s->without_ttl,
             (unsigned long long)s->count);
    json_array_append_new(w, json_string(text));
  }
  if (types_seen(s) > 1) {
    xr_buf b = {0};
    xr_buf_puts(&b, "mixed types:");
    for (int t = 0; t < INV_TYPES; t++)
      if (s->types[t]) xr_buf_printf(&b, " %s %llu", inv_type_names[t], (unsigned long long)s->types[t]);
    json_array_append_new(w, jtext(b.data, b.len));
    xr_buf_free(&b);
  } else if (p->expect_type >= 0 && !s->types[p->expect_type]) {
    for (int t = 0; t < INV_TYPES; t++)
      if (s->types[t]) snprintf(text, sizeof text, "type %s where %s writes a %s", inv_type_names[t], p->system,
                                inv_type_names[p->expect_type]);
    json_array_append_new(w, json_string(text));
  }
  return w;
}

static int by_count_desc(const void *a, const void *b) {
  const inv_shape *x = *(const inv_shape *const *)a, *y = *(const inv_shape *const *)b;
  if (x->st.count != y->st.count) return x->st.count > y->st.count ? -1 : 1;
  size_t n = x->len < y->len ? x->len : y->len;
  int d = memcmp(x->shape, y->shape, n);
  return d ? d : (x->len > y->len) - (x->len < y->len);
}

/* The shapes in report order (most keys first); *n of them. Free the array. */
static const inv_shape **sorted_shapes(const xr_inventory_report *r, size_t *n) {
  const inv_shape **v = xr_calloc(r->nshapes + 1, sizeof *v);
  *n = 0;
  if (!v) return NULL;
  for (size_t i = 0; i < r->shape_cap; i++)
    if (r->shapes[i].shape) v[(*n)++] = &r->shapes[i];
  qsort(v, *n, sizeof *v, by_count_desc);
  return v;
}

int xr_inventory_report_json(const xr_inventory_report *r, char **out, size_t *out_len) {
  if (!r || !out) return xr_fail(XR_EINVAL, "xr_inventory_report_json: the report and out are required");
  bool mem = !r->memory_unknown;
  json_t *root = json_object(), *pats = json_array(), *unc = json_array(), *units = json_array();
  json_object_set_new(root, "keys", json_integer((json_int_t)r->keys));
  json_object_set_new(root, "scanned", json_integer((json_int_t)r->scanned));
  json_object_set_new(root, "vanished", json_integer((json_int_t)r->vanished));
  json_object_set_new(root, "nodes", json_integer((json_int_t)r->nodes));
  json_object_set_new(root, "commands", json_integer((json_int_t)r->commands));
  json_object_set_new(root, "elapsed_ms", json_integer((json_int_t)r->elapsed_ms));
  json_object_set_new(root, "rate", json_integer(r->rate > 0 ? r->rate : 0));
  json_object_set_new(root, "truncated", json_boolean(r->truncated));
  json_object_set_new(root, "match", r->match ? jstr(r->match) : json_null());
  json_object_set_new(root, "memory", json_string(mem ? "measured" : "unknown"));
  for (size_t i = 0; i < r->npatterns; i++) {
    const inv_pattern *p = &r->patterns[i];
    if (!p->st.count) continue;
    json_t *o = json_object();
    json_object_set_new(o, "pattern", jstr(p->text));
    json_object_set_new(o, "source", json_string(p->builtin ? "builtin" : "file"));
    json_object_set_new(o, "system", json_string(p->system));
    json_object_set_new(o, "owner", jstr(p->owner));
    json_object_set_new(o, "readers", jlist(p->readers, p->nreaders));
    json_object_set_new(o, "writers", jlist(p->writers, p->nwriters));
    json_object_set_new(o, "ttl_policy", json_string(policy_name(p->ttl_policy)));
    json_object_set_new(o, "tier", jstr(p->tier));
    json_object_set_new(o, "unit", jstr(p->unit));
    json_object_set_new(o, "notes", jstr(p->notes));
    stats_json(o, &p->st, mem);
    json_t *owners = json_object();
    inv_owner_count sorted[INV_OWNERS_MAX];
    sort_owners(&p->st, sorted);
    for (size_t k = 0; k < p->st.nowners; k++) json_object_set_new(owners, sorted[k].name, json_integer((json_int_t)sorted[k].n));
    if (p->st.owners_other) json_object_set_new(owners, "(other)", json_integer((json_int_t)p->st.owners_other));
    json_object_set_new(o, "owners", owners);
    json_object_set_new(o, "warnings", pattern_warnings(p));
    json_array_append_new(pats, o);
  }
  size_t n = 0;
  const inv_shape **sh = sorted_shapes(r, &n);
  for (size_t i = 0; sh && i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "shape", jtext(sh[i]->shape, sh[i]->len));
    stats_json(o, &sh[i]->st, mem);
    json_array_append_new(unc, o);
  }
  xr_free(sh);
  if (r->other.count) {
    json_t *o = json_object();
    json_object_set_new(o, "shape", json_string("(other)"));
    stats_json(o, &r->other, mem);
    json_array_append_new(unc, o);
  }
  for (size_t k = 0; k < r->nunits; k++) {
    const inv_unit *u = &r->units[k];
    if (!u->seen) continue;
    json_t *o = json_object(), *ps = json_array(), *obs = json_object(), *ex = json_array();
    json_object_set_new(o, "unit", jstr(u->name));
    for (size_t m = 0; m < u->nmembers; m++) json_array_append_new(ps, jstr(r->patterns[u->members[m]].text));
    json_object_set_new(o, "patterns", ps);
    json_object_set_new(o, "ready", u->unknown ? json_null() : json_boolean(u->ready));
    json_object_set_new(o, "verdict", jstr(u->verdict));
    json_object_set_new(obs, "instances", json_integer((json_int_t)u->instances));
    json_object_set_new(obs, "split", json_integer((json_int_t)u->split));
    for (size_t e = 0; e < u->nexamples; e++) json_array_append_new(ex, jstr(u->examples[e]));
    json_object_set_new(obs, "examples", ex);
    json_object_set_new(o, "observed", obs);
    json_array_append_new(units, o);
  }
  json_object_set_new(root, "patterns", pats);
  json_object_set_new(root, "unclassified", unc);
  json_object_set_new(root, "units", units);
  json_object_set_new(root, "warnings", jlist(r->warnings, r->nwarnings));
  char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (!text) return xr_fail_nomem();
  size_t len = strlen(text);
  *out = xr_strndup(text, len);
  free(text);
  if (!*out) return xr_fail_nomem();
  if (out_len) *out_len = len;
  return XR_OK;
}

/* ---- the table ----------------------------------------------------------------------------------- */

/* Bytes for a terminal: printable ASCII and valid UTF-8 as they are, a backslash doubled, any
 * other byte \xNN (as `crossredis locks` shows keys). */
static void put_shown(xr_buf *b, const char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    unsigned char c = (unsigned char)s[i];
    uint32_t cp;
    size_t n = c >= 0x80 ? xr_json_utf8_decode((const unsigned char *)s + i, len - i, 0, &cp) : 0;
    if (n) {
      xr_buf_append(b, s + i, n);
      i += n;
      continue;
    }
    if (c == '\\') xr_buf_puts(b, "\\\\");
    else if (c >= 0x20 && c < 0x7f) xr_buf_putc(b, (char)c);
    else xr_buf_printf(b, "\\x%02x", c);
    i++;
  }
}

static void put_ms(xr_buf *b, int64_t ms) {
  if (ms < 10000) xr_buf_printf(b, "%lldms", (long long)ms);
  else if (ms < 600000) xr_buf_printf(b, "%llds", (long long)(ms / 1000));
  else if (ms < 172800000) xr_buf_printf(b, "%lldm", (long long)(ms / 60000));
  else xr_buf_printf(b, "%lldd", (long long)(ms / 86400000));
}

static void put_bytes(xr_buf *b, uint64_t n) {
  if (n < 10240) xr_buf_printf(b, "%lluB", (unsigned long long)n);
  else if (n < 10485760) xr_buf_printf(b, "%lluK", (unsigned long long)(n / 1024));
  else xr_buf_printf(b, "%lluM", (unsigned long long)(n / 1048576));
}

/* One row's cells after the name: keys, types, TTL range, no TTL, memory, slots. */
static void put_cells(xr_buf *b, const inv_stats *s, bool mem) {
  xr_buf c = {0};
  for (int t = 0; t < INV_TYPES; t++)
    if (s->types[t]) xr_buf_printf(&c, "%s%s", c.len ? "," : "", inv_type_names[t]);
  xr_buf_printf(b, " %9llu  %-12.*s", (unsigned long long)s->count, (int)c.len, c.data ? c.data : "");
  c.len = 0;
  if (s->with_ttl) {
    put_ms(&c, s->ttl_min);
    xr_buf_puts(&c, "..");
    put_ms(&c, s->ttl_max);
  } else {
    xr_buf_puts(&c, "-");
  }
  xr_buf_printf(b, "  %-15.*s %8llu", (int)c.len, c.data, (unsigned long long)s->without_ttl);
  c.len = 0;
  if (mem) put_bytes(&c, s->mem_total);
  else xr_buf_puts(&c, "unknown");
  unsigned some[1];
  size_t nsome;
  xr_buf_printf(b, "  %8.*s %6zu", (int)c.len, c.data, slot_count(s, some, 1, &nsome));
  xr_buf_free(&c);
}

/* The column names over put_cells's cells. */
static void put_header(xr_buf *b, const char *first) {
  xr_buf_printf(b, "  %-44s %9s  %-12s  %-15s %8s  %8s %6s", first, "keys", "types", "ttl min..max", "no ttl", "memory",
                "slots");
}

int xr_inventory_report_table(const xr_inventory_report *r, char **out, size_t *out_len) {
  if (!r || !out) return xr_fail(XR_EINVAL, "xr_inventory_report_table: the report and out are required");
  bool mem = !r->memory_unknown;
  xr_buf b = {0};
  xr_buf_printf(&b, "%llu keys on %zu %s (%llu SCAN replies), %llu commands in %.1f s", (unsigned long long)r->keys,
                r->nodes, r->nodes == 1 ? "node" : "masters", (unsigned long long)r->scanned,
                (unsigned long long)r->commands, r->elapsed_ms / 1000.0);
  if (r->rate > 0) xr_buf_printf(&b, " (at most %ld commands/s)", r->rate);
  if (r->truncated) xr_buf_puts(&b, "; stopped at --max-keys");
  xr_buf_puts(&b, "\n\npatterns\n");
  size_t shown = 0;
  for (size_t i = 0; i < r->npatterns; i++) {
    const inv_pattern *p = &r->patterns[i];
    if (!p->st.count) continue;
    if (!shown++) {
      put_header(&b, "pattern");
      xr_buf_puts(&b, "  tier  owner / unit\n");
    }
    xr_buf_puts(&b, "  ");
    size_t at = b.len;
    put_shown(&b, p->text, strlen(p->text));
    size_t w = b.len - at;
    if (w < 44) xr_buf_printf(&b, "%*s", (int)(44 - w), "");
    put_cells(&b, &p->st, mem);
    xr_buf_printf(&b, "  %-4s  %s%s%s\n", p->tier ? p->tier : "-", p->owner ? p->owner : "-", p->unit ? " / " : "",
                  p->unit ? p->unit : "");
    if (p->st.nowners) {
      xr_buf_puts(&b, "      owners:");
      inv_owner_count sorted[INV_OWNERS_MAX];
      sort_owners(&p->st, sorted);
      for (size_t k = 0; k < p->st.nowners; k++)
        xr_buf_printf(&b, "%s %s %llu", k ? "," : "", sorted[k].name, (unsigned long long)sorted[k].n);
      if (p->st.owners_other) xr_buf_printf(&b, ", (other) %llu", (unsigned long long)p->st.owners_other);
      xr_buf_putc(&b, '\n');
    }
    json_t *w2 = pattern_warnings(p);
    for (size_t k = 0; k < json_array_size(w2); k++)
      xr_buf_printf(&b, "      warning: %s\n", json_string_value(json_array_get(w2, k)));
    json_decref(w2);
  }
  if (!shown) xr_buf_puts(&b, "  (no key matched a pattern)\n");
  size_t n = 0;
  const inv_shape **sh = sorted_shapes(r, &n);
  if (n || r->other.count) {
    xr_buf_puts(&b, "\nunclassified\n");
    put_header(&b, "shape");
    xr_buf_putc(&b, '\n');
    for (size_t i = 0; sh && i < n + (r->other.count ? 1 : 0); i++) {
      const char *name = i < n ? sh[i]->shape : "(other)";
      size_t len = i < n ? sh[i]->len : 7;
      xr_buf_puts(&b, "  ");
      size_t at = b.len;
      put_shown(&b, name, len);
      size_t w = b.len - at;
      if (w < 44) xr_buf_printf(&b, "%*s", (int)(44 - w), "");
      put_cells(&b, i < n ? &sh[i]->st : &r->other, mem);
      xr_buf_putc(&b, '\n');
    }
  }
  xr_free(sh);
  bool any_unit = false;
  for (size_t k = 0; k < r->nunits; k++) {
    const inv_unit *u = &r->units[k];
    if (!u->seen) continue;
    if (!any_unit) xr_buf_puts(&b, "\nCluster readiness\n");
    any_unit = true;
    xr_buf_printf(&b, "  %-20s %s\n", u->name, u->unknown ? "UNKNOWN" : u->ready ? "READY" : "NOT READY");
    xr_buf_printf(&b, "      %s\n", u->verdict);
    if (u->nshared && u->nmembers > 1) {
      xr_buf_printf(&b, "      observed: %llu instances, %llu with keys on different slots",
                    (unsigned long long)u->instances, (unsigned long long)u->split);
      for (size_t e = 0; e < u->nexamples; e++) {
        xr_buf_puts(&b, e ? ", " : " (e.g. ");
        put_shown(&b, u->examples[e], strlen(u->examples[e]));
      }
      xr_buf_puts(&b, u->nexamples ? ")\n" : "\n");
    }
  }
  if (r->nwarnings) {
    xr_buf_puts(&b, "\nwarnings\n");
    for (size_t i = 0; i < r->nwarnings; i++) xr_buf_printf(&b, "  %s\n", r->warnings[i]);
  }
  return xr_buf_finish(&b, out, out_len);
}
