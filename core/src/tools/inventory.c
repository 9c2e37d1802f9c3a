/* The inventory's run (inventory.h): SCAN every master page by page; per page one pipeline of
 * TYPE, PTTL, MEMORY USAGE and the owner reads; the counters fed key by key; the rate bound. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crossredis/chat.h"
#include "crossredis/inventory.h"
#include "crossredis/json.h"
#include "crossredis/keys.h"
#include "crossredis/scan.h"
#include "crossredis/session_record.h"
#include "base/internal.h"
#include "tools/inventory_internal.h"

enum { DEFAULT_COUNT = 1000, DEFAULT_SAMPLES = 3, DEFAULT_SHAPES = 1000, PROGRESS_EVERY = 10000 };

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_until(double when) {
  for (double d; (d = when - now_s()) > 0;) {
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    if (nanosleep(&ts, NULL) != 0 && errno != EINTR) break;
  }
}

/* The rate bound: a pipeline of k commands starts no sooner than the previous one's start plus
 * its k / rate seconds, and the run ends no sooner than the last one's; time spent idle is not
 * saved up. So any stretch of the run sends at most rate commands per second on average, and N
 * commands take at least N / rate seconds. */
typedef struct pacer {
  long rate;   /* <= 0: none */
  double next; /* when the next pipeline may start */
} pacer;

static void pace(pacer *p, size_t k) {
  if (p->rate <= 0) return;
  double t = now_s();
  if (p->next < t) p->next = t;
  sleep_until(p->next);
  p->next += (double)k / (double)p->rate;
}

static void pace_end(pacer *p) {
  if (p->rate > 0) sleep_until(p->next);
}

void xr_inventory_report_free(xr_inventory_report *r) {
  if (!r) return;
  for (size_t i = 0; i < r->npatterns; i++) inv_pattern_clear(&r->patterns[i]);
  xr_free(r->patterns);
  for (size_t k = 0; k < r->nunits; k++) {
    inv_unit *u = &r->units[k];
    xr_free(u->name);
    xr_free(u->members);
    for (size_t i = 0; i < u->nshared; i++) xr_free(u->shared[i]);
    xr_free(u->shared);
    xr_free(u->verdict);
    for (size_t i = 0; i < u->cap; i++) xr_free(u->table[i].id);
    xr_free(u->table);
    for (size_t i = 0; i < u->nexamples; i++) xr_free(u->examples[i]);
  }
  xr_free(r->units);
  for (size_t i = 0; i < r->shape_cap; i++) {
    xr_free(r->shapes[i].shape);
    inv_stats_clear(&r->shapes[i].st);
  }
  xr_free(r->shapes);
  inv_stats_clear(&r->other);
  for (size_t i = 0; i < r->nwarnings; i++) xr_free(r->warnings[i]);
  xr_free(r->warnings);
  xr_free(r->match);
  xr_free(r);
}

uint64_t xr_inventory_report_keys(const xr_inventory_report *r) { return r ? r->keys : 0; }
uint64_t xr_inventory_report_commands(const xr_inventory_report *r) { return r ? r->commands : 0; }

/* ---- owners from values -------------------------------------------------------------------------- */

/* A Chat SDK queue entry's spelling: "ts", "python", "ts+python" (both members), or "unreadable". */
static const char *queue_dialect(const char *raw, size_t len) {
  xr_chat_queue_entry e;
  int rc = xr_chat_decode_queue_entry(&e, raw, len, XR_JSON_JS);
  xr_chat_queue_entry_clear(&e);
  if (rc) return xr_error_clear(), "unreadable";
  json_t *o = NULL;
  if (xr_json_parse(&o, raw, len) != XR_OK) return xr_error_clear(), "unreadable";
  bool ts = json_object_get(o, "expiresAt") != NULL, py = json_object_get(o, "expires_at") != NULL;
  json_decref(o);
  return ts && py ? "ts+python" : ts ? "ts" : "python";
}

/* The owner the value tells, into buf; false when it tells nothing (no value). */
static bool owner_of(inv_reader reader, const xr_reply *v, char *buf, size_t size) {
  size_t len = 0;
  const char *s = xr_reply_kind(v) == XR_REPLY_STRING ? xr_reply_str(v, &len) : NULL;
  if (!s) return false;
  switch (reader) {
    case INV_READ_CHAT_LOCK:
      xr_chat_origins_text(xr_chat_origins(s, len), buf, size);
      return true;
    case INV_READ_SESSION: {
      xr_session_record rec;
      if (xr_session_read(&rec, s, len, XR_GO_DEFAULT) != XR_OK) {
        xr_error_clear();
        snprintf(buf, size, "unreadable");
        return true;
      }
      size_t n = rec.s.type_len;
      size_t k = 0;
      for (size_t i = 0; i < n && k + 1 < size && k < 32; i++) {
        char c = rec.s.type[i];
        buf[k++] = (c >= 0x20 && c < 0x7f) ? c : '?';
      }
      buf[k] = '\0';
      if (!k) snprintf(buf, size, "(empty type)");
      xr_session_record_clear(&rec);
      return true;
    }
    case INV_READ_CHAT_QUEUE:
      snprintf(buf, size, "%s", queue_dialect(s, len));
      return true;
    default:
      return false;
  }
}

/* ---- one page ------------------------------------------------------------------------------------ */

typedef struct run {
  xr_inventory_report *r;
  xr_client *c;
  xr_batch *b;
  pacer pace;
  bool send_memory;
  long *pattern_of; /* per key of the page: its pattern or -1 */
  size_t pattern_cap;
} run;

/* Per key: TYPE, PTTL, [MEMORY USAGE], [GET | LINDEX 0]; *per the commands per key so far. */
static int add_key_commands(run *ru, const char *key, size_t len, long pi) {
  const char *argv[4] = {"TYPE", key};
  size_t lens[4] = {4, len};
  int rc = xr_batch_add(ru->b, 2, argv, lens);
  argv[0] = "PTTL", lens[0] = 4;
  if (rc >= 0) rc = xr_batch_add(ru->b, 2, argv, lens);
  if (rc >= 0 && ru->send_memory) {
    const char *m[] = {"MEMORY", "USAGE", key};
    size_t ml[] = {6, 5, len};
    rc = xr_batch_add(ru->b, 3, m, ml);
  }
  inv_reader reader = pi >= 0 ? ru->r->patterns[pi].reader : INV_READ_NONE;
  if (rc >= 0 && (reader == INV_READ_CHAT_LOCK || reader == INV_READ_SESSION)) {
    argv[0] = "GET", lens[0] = 3;
    rc = xr_batch_add(ru->b, 2, argv, lens);
  } else if (rc >= 0 && reader == INV_READ_CHAT_QUEUE) {
    const char *l[] = {"LINDEX", key, "0"};
    size_t ll[] = {6, len, 1};
    rc = xr_batch_add(ru->b, 3, l, ll);
  }
  return rc < 0 ? rc : XR_OK;
}

/* MEMORY USAGE refused: the report says memory is unknown, once, and it is not sent again. */
static int memory_refused(run *ru, const char *why) {
  ru->send_memory = false;
  ru->r->memory_unknown = true;
  return inv_warn(ru->r, "MEMORY USAGE refused (%s): memory is unknown", why ? why : "an error");
}

static int count_key(run *ru, const char *key, size_t len, long pi, size_t *at, bool memory) {
  xr_inventory_report *r = ru->r;
  const xr_reply *type = NULL, *ttl = NULL, *mem = NULL, *value = NULL;
  const char *why = NULL;
  int rc = xr_batch_result(ru->b, (*at)++, &type, &why);
  if (rc) return xr_fail(rc, "TYPE %.200s: %s", key, why ? why : xr_strerror(rc));
  if ((rc = xr_batch_result(ru->b, (*at)++, &ttl, &why)) != 0)
    return xr_fail(rc, "PTTL %.200s: %s", key, why ? why : xr_strerror(rc));
  int64_t mem_bytes = -1;
  if (memory) {
    if (xr_batch_result(ru->b, (*at)++, &mem, &why) != XR_OK) {
      if (ru->send_memory && (rc = memory_refused(ru, why)) != 0) return rc;
    } else if (xr_reply_kind(mem) == XR_REPLY_INTEGER) {
      mem_bytes = xr_reply_integer(mem);
    }
  }
  inv_reader reader = pi >= 0 ? r->patterns[pi].reader : INV_READ_NONE;
  if (reader != INV_READ_NONE && xr_batch_result(ru->b, (*at)++, &value, NULL) != XR_OK) value = NULL;
  size_t tlen = 0;
  const char *tname = xr_reply_str(type, &tlen);
  if (!tname || (tlen == 4 && !memcmp(tname, "none", 4)) || xr_reply_integer(ttl) == -2) { /* gone meanwhile */
    r->vanished++;
    return XR_OK;
  }
  int t = inv_type_of(tname, tlen);
  int64_t ttl_ms = xr_reply_integer(ttl) < 0 ? -1 : xr_reply_integer(ttl);
  r->keys++;
  if (pi < 0) return inv_count_unclassified(r, key, len, t, ttl_ms, memory ? mem_bytes : -1);
  r->classified++;
  inv_pattern *p = &r->patterns[pi];
  if ((rc = inv_stats_add(&p->st, r->samples, key, len, t, ttl_ms, mem_bytes))) return rc;
  char owner[XR_CHAT_ORIGINS_TEXT_MAX];
  if (value && owner_of(reader, value, owner, sizeof owner) && (rc = inv_stats_owner(&p->st, owner))) return rc;
  return inv_unit_observe(r, (size_t)pi, key, len);
}

/* Keys first..last of a page in one pipeline. */
static int read_keys(run *ru, const xr_reply *keys, size_t first, size_t last) {
  xr_batch_clear(ru->b);
  bool memory = ru->send_memory;
  for (size_t i = first; i < last; i++) {
    size_t len;
    const char *key = xr_reply_str(xr_reply_at(keys, i), &len);
    if (!key) return xr_fail(XR_EPROTOCOL, "SCAN answered a key that is not a string");
    ru->pattern_of[i] = inv_classify(ru->r, key, len);
    int rc = add_key_commands(ru, key, len, ru->pattern_of[i]);
    if (rc) return rc;
  }
  size_t k = xr_batch_count(ru->b);
  if (!k) return XR_OK;
  pace(&ru->pace, k);
  ru->r->commands += k;
  int rc = xr_client_exec(ru->c, ru->b);
  if (rc) return rc;
  size_t at = 0;
  for (size_t i = first; i < last && !rc; i++) {
    size_t len;
    const char *key = xr_reply_str(xr_reply_at(keys, i), &len);
    rc = count_key(ru, key, len, ru->pattern_of[i], &at, memory);
  }
  return rc;
}

/* A page's keys in pipelines of at most a tenth of a second's commands at the rate (about 4 per
 * key), so a bounded run sends no burst bigger than that; unbounded: the whole page at once. */
static int read_page(run *ru, const xr_reply *keys, size_t n) {
  if (n > ru->pattern_cap) {
    long *v = xr_realloc(ru->pattern_of, n * sizeof *v);
    if (!v) return xr_fail_nomem();
    ru->pattern_of = v;
    ru->pattern_cap = n;
  }
  size_t step = ru->pace.rate > 0 ? (size_t)(ru->pace.rate / 40) : n;
  if (step == 0) step = 1;
  int rc = XR_OK;
  for (size_t first = 0; first < n && !rc; first += step) rc = read_keys(ru, keys, first, first + step < n ? first + step : n);
  return rc;
}

/* ---- the run ------------------------------------------------------------------------------------- */

static void progress(const run *ru, const xr_inventory_options *o, const xr_scan *s, double t0) {
  if (!o->progress) return;
  xr_inventory_progress p = {ru->r->scanned, ru->r->classified, ru->r->commands, xr_scan_node_at(s), xr_scan_nodes(s),
                             now_s() - t0};
  o->progress(o->progress_ctx, &p);
}

static int scan_all(run *ru, const xr_inventory_options *o) {
  xr_inventory_report *r = ru->r;
  xr_scan_options so = XR_SCAN_OPTIONS_INIT;
  so.match = o->match;
  so.count = o->count ? o->count : DEFAULT_COUNT;
  xr_scan *s = NULL;
  xr_batch *page = NULL;
  int rc = xr_scan_new(&s, ru->c, &so);
  if (!rc) rc = xr_batch_new(&page);
  if (!rc) rc = xr_batch_new(&ru->b);
  double t0 = now_s();
  uint64_t next_report = PROGRESS_EVERY;
  if (!rc) r->nodes = xr_scan_nodes(s);
  for (int done = 0; !rc && !done;) {
    xr_batch_clear(page);
    int i = xr_scan_add(s, page);
    if (i < 0) {
      rc = i;
      break;
    }
    pace(&ru->pace, 1);
    r->commands++;
    const xr_reply *keys = NULL;
    if ((rc = xr_client_exec(ru->c, page)) != 0 || (rc = xr_scan_take(s, page, (size_t)i, &keys, &done)) != 0) break;
    size_t n = xr_reply_count(keys);
    if (o->max_keys && r->scanned + n >= o->max_keys) {
      if (r->scanned + n > o->max_keys || !done) r->truncated = true;
      n = (size_t)(o->max_keys - r->scanned);
      done = 1;
    }
    r->scanned += n;
    if ((rc = read_page(ru, keys, n))) break;
    if (r->scanned >= next_report) {
      progress(ru, o, s, t0);
      while (next_report <= r->scanned) next_report += PROGRESS_EVERY;
    }
  }
  if (!rc) pace_end(&ru->pace);
  r->elapsed_ms = (now_s() - t0) * 1000.0;
  if (!rc) progress(ru, o, s, t0);
  xr_batch_free(page);
  xr_batch_free(ru->b);
  ru->b = NULL;
  xr_scan_free(s);
  return rc;
}

/* Warnings about what the run saw as a whole: keys no pattern matched. */
static int final_warnings(xr_inventory_report *r) {
  uint64_t unclassified = r->keys - r->classified;
  if (unclassified)
    return inv_warn(r, "%llu of %llu keys match no declared pattern (see unclassified)", (unsigned long long)unclassified,
                    (unsigned long long)r->keys);
  return XR_OK;
}

int xr_inventory_run(xr_inventory_report **out, xr_client *c, const xr_inventory_options *options) {
  if (!out || !c) return xr_fail(XR_EINVAL, "xr_inventory_run: out and a client are required");
  *out = NULL;
  xr_inventory_options o = XR_INVENTORY_OPTIONS_INIT;
  if (options) {
    if (options->version != XR_INVENTORY_OPTIONS_VERSION)
      return xr_fail(XR_EINVAL, "xr_inventory_run: options version %u, expected %u (use XR_INVENTORY_OPTIONS_INIT)",
                     options->version, XR_INVENTORY_OPTIONS_VERSION);
    o = *options;
  }
  if (o.rate < 0 && o.rate != XR_INVENTORY_UNLIMITED)
    return xr_fail(XR_EINVAL, "inventory: rate must be > 0 commands per second (0: the default %d; %d: no bound), got %ld",
                   XR_INVENTORY_DEFAULT_RATE, XR_INVENTORY_UNLIMITED, o.rate);
  if (o.count < 0) return xr_fail(XR_EINVAL, "inventory: count must be 0 (the default, 1000) or more, got %d", o.count);
  if (o.samples < -1) return xr_fail(XR_EINVAL, "inventory: samples must be -1 (none), 0 (the default, 3) or more, got %d", o.samples);
  xr_inventory_report *r = xr_calloc(1, sizeof *r);
  if (!r) return xr_fail_nomem();
  r->samples = o.samples == 0 ? DEFAULT_SAMPLES : o.samples < 0 ? 0 : o.samples;
  r->max_shapes = o.max_shapes ? o.max_shapes : DEFAULT_SHAPES;
  r->rate = o.rate == 0 ? XR_INVENTORY_DEFAULT_RATE : o.rate;
  int rc = o.match && !(r->match = xr_strndup(o.match, strlen(o.match))) ? xr_fail_nomem() : XR_OK;
  if (!rc) rc = inv_patterns_build(r, &o);
  run ru = {r, c, NULL, {r->rate, 0}, true, NULL, 0};
  if (!rc) rc = scan_all(&ru, &o);
  xr_free(ru.pattern_of);
  if (!rc) rc = final_warnings(r);
  if (rc) {
    xr_inventory_report_free(r);
    return rc;
  }
  *out = r;
  return XR_OK;
}
