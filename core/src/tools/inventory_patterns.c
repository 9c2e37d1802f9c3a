/* The inventory's patterns (inventory.h): the user's file, the built-ins of every system crossredis
 * knows, the units and their Cluster readiness verdict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crossredis/json.h"
#include "crossredis/keys.h"
#include "base/internal.h"
#include "tools/inventory_internal.h"

/* ---- one pattern --------------------------------------------------------------------------------- */

static void free_list(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) xr_free(v[i]);
  xr_free(v);
}

void inv_pattern_clear(inv_pattern *p) {
  xr_key_pattern_free(p->p);
  xr_free(p->text);
  xr_free(p->owner);
  xr_free(p->notes);
  xr_free(p->unit);
  xr_free(p->tier);
  free_list(p->readers, p->nreaders);
  free_list(p->writers, p->nwriters);
  inv_stats_clear(&p->st);
  memset(p, 0, sizeof *p);
}

static char *dup_or_null(const char *s) { return s ? xr_strndup(s, strlen(s)) : NULL; }

static int dup_list(char ***out, size_t *n, char *const *v, size_t count) {
  *out = NULL;
  *n = 0;
  if (!count) return XR_OK;
  if (!(*out = xr_calloc(count, sizeof **out))) return xr_fail_nomem();
  for (size_t i = 0; i < count; i++) {
    if (!((*out)[i] = dup_or_null(v[i]))) return xr_fail_nomem();
    ++*n;
  }
  return XR_OK;
}

/* A copy of src with fresh counters (the report owns its patterns; the user's set is borrowed). */
static int pattern_copy(inv_pattern *dst, const inv_pattern *src) {
  memset(dst, 0, sizeof *dst);
  dst->system = src->system;
  dst->builtin = src->builtin;
  dst->ttl_policy = src->ttl_policy;
  dst->reader = src->reader;
  dst->expect_type = src->expect_type;
  if (!(dst->text = dup_or_null(src->text))) return xr_fail_nomem();
  int rc = xr_key_pattern_parse(&dst->p, src->text, strlen(src->text));
  if (rc) return rc;
  if ((src->owner && !(dst->owner = dup_or_null(src->owner))) || (src->notes && !(dst->notes = dup_or_null(src->notes))) ||
      (src->unit && !(dst->unit = dup_or_null(src->unit))) || (src->tier && !(dst->tier = dup_or_null(src->tier))))
    return xr_fail_nomem();
  if ((rc = dup_list(&dst->readers, &dst->nreaders, src->readers, src->nreaders))) return rc;
  return dup_list(&dst->writers, &dst->nwriters, src->writers, src->nwriters);
}

/* ---- the user's file ----------------------------------------------------------------------------- */

void xr_inventory_patterns_free(xr_inventory_patterns *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n; i++) inv_pattern_clear(&p->v[i]);
  xr_free(p->v);
  xr_free(p);
}

size_t xr_inventory_patterns_count(const xr_inventory_patterns *p) { return p ? p->n : 0; }

/* An optional string member; XR_EINVAL naming it when it is not a string. */
static int opt_string(char **out, json_t *o, const char *member, const char *where, size_t i) {
  json_t *v = json_object_get(o, member);
  *out = NULL;
  if (!v || json_is_null(v)) return XR_OK;
  if (!json_is_string(v)) return xr_fail(XR_EINVAL, "%s: patterns[%zu].%s must be a string", where, i, member);
  if (!(*out = xr_strndup(json_string_value(v), json_string_length(v)))) return xr_fail_nomem();
  return XR_OK;
}

static int opt_list(char ***out, size_t *n, json_t *o, const char *member, const char *where, size_t i) {
  json_t *v = json_object_get(o, member);
  *out = NULL;
  *n = 0;
  if (!v || json_is_null(v)) return XR_OK;
  if (json_is_string(v)) { /* one name without the list */
    if (!(*out = xr_calloc(1, sizeof **out)) || !((*out)[0] = xr_strndup(json_string_value(v), json_string_length(v))))
      return xr_fail_nomem();
    *n = 1;
    return XR_OK;
  }
  if (!json_is_array(v)) return xr_fail(XR_EINVAL, "%s: patterns[%zu].%s must be a list of names", where, i, member);
  size_t count = json_array_size(v);
  if (count && !(*out = xr_calloc(count, sizeof **out))) return xr_fail_nomem();
  for (size_t k = 0; k < count; k++) {
    json_t *e = json_array_get(v, k);
    if (!json_is_string(e)) return xr_fail(XR_EINVAL, "%s: patterns[%zu].%s[%zu] must be a string", where, i, member, k);
    if (!((*out)[k] = xr_strndup(json_string_value(e), json_string_length(e)))) return xr_fail_nomem();
    ++*n;
  }
  return XR_OK;
}

static int parse_policy(inv_ttl_policy *out, const char *text, const char *where, size_t i) {
  if (!text || !strcmp(text, "any")) *out = INV_TTL_ANY;
  else if (!strcmp(text, "required")) *out = INV_TTL_REQUIRED;
  else if (!strcmp(text, "none")) *out = INV_TTL_NONE;
  else return xr_fail(XR_EINVAL, "%s: patterns[%zu].ttl_policy must be \"required\", \"none\" or \"any\", not \"%s\"", where, i, text);
  return XR_OK;
}

static int read_entry(inv_pattern *p, json_t *o, const char *where, size_t i) {
  p->system = "file";
  p->expect_type = -1;
  if (!json_is_object(o)) return xr_fail(XR_EINVAL, "%s: patterns[%zu] must be an object", where, i);
  json_t *pat = json_object_get(o, "pattern");
  if (!json_is_string(pat) || json_string_length(pat) == 0)
    return xr_fail(XR_EINVAL, "%s: patterns[%zu].pattern is required (a non-empty string)", where, i);
  if (!(p->text = xr_strndup(json_string_value(pat), json_string_length(pat)))) return xr_fail_nomem();
  if (xr_key_pattern_parse(&p->p, p->text, json_string_length(pat)) != XR_OK)
    return xr_fail(XR_EINVAL, "%s: patterns[%zu].pattern '%s': %s", where, i, p->text, xr_error_last()->message);
  char *policy = NULL;
  int rc = opt_string(&p->owner, o, "owner", where, i);
  if (!rc) rc = opt_string(&p->notes, o, "notes", where, i);
  if (!rc) rc = opt_string(&p->unit, o, "unit", where, i);
  if (!rc) rc = opt_string(&p->tier, o, "tier", where, i);
  if (!rc) rc = opt_list(&p->readers, &p->nreaders, o, "readers", where, i);
  if (!rc) rc = opt_list(&p->writers, &p->nwriters, o, "writers", where, i);
  if (!rc) rc = opt_string(&policy, o, "ttl_policy", where, i);
  if (!rc) rc = parse_policy(&p->ttl_policy, policy, where, i);
  xr_free(policy);
  if (!rc && p->tier && !(strlen(p->tier) == 2 && p->tier[0] == 'R' && p->tier[1] >= '0' && p->tier[1] <= '4'))
    rc = xr_fail(XR_EINVAL, "%s: patterns[%zu].tier must be R0 .. R4, not \"%s\"", where, i, p->tier);
  return rc;
}

int xr_inventory_patterns_load(xr_inventory_patterns **out, const char *text, size_t len, const char *name) {
  if (!out || !text) return xr_fail(XR_EINVAL, "xr_inventory_patterns_load: out and the text are required");
  *out = NULL;
  const char *where = name ? name : "patterns";
  json_t *root = NULL;
  if (xr_json_parse(&root, text, len) != XR_OK) return xr_fail(XR_EPARSE, "%s: %s", where, xr_error_last()->message);
  json_t *list = json_is_object(root) ? json_object_get(root, "patterns") : NULL;
  if (!json_is_array(list)) {
    json_decref(root);
    return xr_fail(XR_EINVAL, "%s: expected {\"patterns\": [{\"pattern\": ..., ...}, ...]}", where);
  }
  xr_inventory_patterns *ps = xr_calloc(1, sizeof *ps);
  size_t n = json_array_size(list);
  int rc = ps ? XR_OK : xr_fail_nomem();
  if (!rc && n && !(ps->v = xr_calloc(n, sizeof *ps->v))) rc = xr_fail_nomem();
  for (size_t i = 0; !rc && i < n; i++) {
    rc = read_entry(&ps->v[i], json_array_get(list, i), where, i);
    ps->n = i + 1;
  }
  json_decref(root);
  if (rc) {
    xr_inventory_patterns_free(ps);
    return rc;
  }
  *out = ps;
  return XR_OK;
}

/* ---- the built-ins ------------------------------------------------------------------------------- */

/* P_FIXED: crossredis's own keys, whose prefix no option moves. */
typedef enum prefix_kind { P_CHAT, P_SESSION, P_VMCP, P_AYEPI, P_AYEPI_CACHE, P_XP, P_FIXED, P_KINDS } prefix_kind;

static const char *const default_prefix[P_KINDS] = {"chat-sdk", "thv:proxy:session:", "thv:vmcp:session:", "",
                                                    "ayepi:cache:", "xp:", ""};

typedef struct builtin {
  const char *system;
  prefix_kind prefix;
  const char *rest;      /* the pattern after the prefix */
  int type;              /* inv_type the system writes */
  inv_ttl_policy ttl;
  const char *tier, *unit, *owner;
  inv_reader reader;
  const char *notes;
} builtin;

static const char *const CHAT_RUNTIMES[] = {"chat (TS, node-redis/ioredis)", "chat (Python port)", "crossredis"};
static const char *const SESSION_RUNTIMES[] = {"toolhive (Go)", "crossredis"};
static const char *const AYEPI_RUNTIMES[] = {"ayepi (TS, ioredis)", "crossredis"};
static const char *const XP_RUNTIMES[] = {"xml-pipeline (Python)", "crossredis"};
static const char *const CROSSREDIS_RUNTIMES[] = {"crossredis"};

/* Tagged before upstream: an upstream field at the end of a key would take the braces too. */
static const builtin BUILTINS[] = {
    {"chat", P_CHAT, ":subscriptions", INV_SET, INV_TTL_NONE, "R1", NULL, "chat-sdk", INV_READ_NONE,
     "the subscribed thread ids"},
    {"chat", P_CHAT, ":lock:{<thread>}", INV_STRING, INV_TTL_REQUIRED, "R0", "chat-thread-tagged", "chat-sdk",
     INV_READ_CHAT_LOCK, "a thread's lock (tagged layout); the value is the holder's token"},
    {"chat", P_CHAT, ":queue:{<thread>}", INV_LIST, INV_TTL_REQUIRED, "R4", "chat-thread-tagged", "chat-sdk",
     INV_READ_CHAT_QUEUE, "a thread's queued messages (tagged layout)"},
    {"chat", P_CHAT, ":queue-processing:{<thread>}", INV_LIST, INV_TTL_REQUIRED, "R4", "chat-thread-tagged",
     "chat-sdk", INV_READ_CHAT_QUEUE, "entries taken by a reliable dequeue, not yet acknowledged (tagged layout)"},
    {"chat", P_CHAT, ":lock:<thread>", INV_STRING, INV_TTL_REQUIRED, "R0", "chat-thread", "chat-sdk", INV_READ_CHAT_LOCK,
     "a thread's lock; the value is the holder's token"},
    {"chat", P_CHAT, ":queue:<thread>", INV_LIST, INV_TTL_REQUIRED, "R4", "chat-thread", "chat-sdk", INV_READ_CHAT_QUEUE,
     "a thread's queued messages"},
    {"chat", P_CHAT, ":queue-processing:<thread>", INV_LIST, INV_TTL_REQUIRED, "R4", "chat-thread", "chat-sdk",
     INV_READ_CHAT_QUEUE, "entries taken by a reliable dequeue, not yet acknowledged (crossredis)"},
    {"chat", P_CHAT, ":cache:<key>", INV_STRING, INV_TTL_ANY, "R2", NULL, "chat-sdk", INV_READ_NONE,
     "key/value state (dedupe, thread-state, channel-state: JSON)"},
    {"chat", P_CHAT, ":list:<key>", INV_LIST, INV_TTL_ANY, "R3", NULL, "chat-sdk", INV_READ_NONE,
     "lists of JSON texts (message history)"},
    {"session", P_SESSION, "<id>", INV_STRING, INV_TTL_REQUIRED, "R1", NULL, "toolhive", INV_READ_SESSION,
     "a transport session record (Go JSON); sliding TTL"},
    {"session", P_VMCP, "<id>", INV_STRING, INV_TTL_REQUIRED, "R1", NULL, "toolhive-vmcp", INV_READ_NONE,
     "a vMCP session's data map (Go JSON map of strings)"},
    {"ayepi", P_AYEPI, "work:state:<id>", INV_STRING, INV_TTL_ANY, "R1", NULL, "ayepi", INV_READ_NONE, "a work item's state (JSON)"},
    {"ayepi", P_AYEPI, "work:result:<id>", INV_STRING, INV_TTL_ANY, "R1", NULL, "ayepi", INV_READ_NONE, "a work item's result"},
    {"ayepi", P_AYEPI, "work:item:<id>:error", INV_STRING, INV_TTL_ANY, "R1", NULL, "ayepi", INV_READ_NONE, "a work item's error"},
    {"ayepi", P_AYEPI, "work:group:<group>:open", INV_STRING, INV_TTL_ANY, "R1", NULL, "ayepi", INV_READ_NONE,
     "a group's open items (counter)"},
    {"ayepi", P_AYEPI, "work:group:<group>:done", INV_STRING, INV_TTL_ANY, "R1", NULL, "ayepi", INV_READ_NONE, "a group's done mark"},
    {"ayepi", P_AYEPI, "work:group:<group>:result", INV_STRING, INV_TTL_ANY, "R1", NULL, "ayepi", INV_READ_NONE, "a group's result"},
    {"ayepi", P_AYEPI, "work:group:<group>:final", INV_STRING, INV_TTL_ANY, "R1", NULL, "ayepi", INV_READ_NONE, "a group's final mark"},
    {"ayepi", P_AYEPI, "work:wait:<group>", INV_STRING, INV_TTL_ANY, "R1", NULL, "ayepi", INV_READ_NONE, "a group's waiter"},
    {"ayepi", P_AYEPI, "work:group-handled:<group>", INV_STRING, INV_TTL_ANY, "R0", NULL, "ayepi", INV_READ_NONE,
     "a group's handled claim"},
    {"ayepi", P_AYEPI, "work:hb:<id>", INV_STRING, INV_TTL_ANY, "R0", NULL, "ayepi", INV_READ_NONE, "a worker's heartbeat (ms)"},
    {"ayepi", P_AYEPI, "work:sched:<name>:<second:number>", INV_STRING, INV_TTL_ANY, "R0", NULL, "ayepi", INV_READ_NONE,
     "a schedule's claim for one second"},
    {"ayepi", P_AYEPI, "work:dep:<dep>:fired", INV_STRING, INV_TTL_ANY, "R0", NULL, "ayepi", INV_READ_NONE,
     "a dependency's fired mark"},
    {"ayepi", P_AYEPI_CACHE, "<key>", INV_STRING, INV_TTL_REQUIRED, "R2", NULL, "ayepi", INV_READ_NONE,
     "a response cache entry (JSON), PX until staleUntil"},
    {"xp", P_XP, "buffer:<thread>", INV_LIST, INV_TTL_ANY, "R3", NULL, "xp", INV_READ_NONE,
     "a thread's context buffer slots (Python pickles); TTL 86400 s unless configured 0"},
    {"xp", P_XP, "chain:<chain>", INV_STRING, INV_TTL_ANY, "R1", "xp-registry", "xp", INV_READ_NONE,
     "the registry's forward key: chain -> uuid"},
    {"xp", P_XP, "uuid:<uuid>", INV_STRING, INV_TTL_ANY, "R1", "xp-registry", "xp", INV_READ_NONE,
     "the registry's reverse key: uuid -> chain"},
    {"crossredis", P_FIXED, "xr:window:deleted:{<slot:number>}:<key:rest>", INV_STRING, INV_TTL_REQUIRED, "R0", NULL,
     "crossredis", INV_READ_NONE,
     "a migration window's delete marker (window.h): keeps copies forward of <key> away for a few seconds"},
};

/* The prefix as pattern text: '<' and '\' escaped. */
static void put_literal(xr_buf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '<' || *s == '\\') xr_buf_putc(b, '\\');
    xr_buf_putc(b, *s);
  }
}

static const char *prefix_of(const xr_inventory_options *o, prefix_kind k) {
  const char *given[P_KINDS] = {o->chat_prefix, o->session_prefix, o->vmcp_prefix, o->ayepi_prefix, o->ayepi_cache_prefix,
                                o->xp_prefix, NULL};
  return given[k] ? given[k] : default_prefix[k];
}

static int add_builtin(inv_pattern *p, const builtin *b, const xr_inventory_options *o) {
  static const char *const option_names[P_KINDS] = {"chat_prefix", "session_prefix", "vmcp_prefix", "ayepi_prefix",
                                                    "ayepi_cache_prefix", "xp_prefix", "(none)"};
  memset(p, 0, sizeof *p);
  xr_buf t = {0};
  put_literal(&t, prefix_of(o, b->prefix));
  xr_buf_puts(&t, b->rest);
  size_t len;
  int rc = xr_buf_finish(&t, &p->text, &len);
  if (rc) return rc;
  if (xr_key_pattern_parse(&p->p, p->text, len) != XR_OK)
    return xr_fail(XR_EINVAL, "inventory: %s \"%s\" makes the pattern '%s': %s", option_names[b->prefix],
                   prefix_of(o, b->prefix), p->text, xr_error_last()->message);
  p->system = b->system;
  p->builtin = true;
  p->ttl_policy = b->ttl;
  p->reader = b->reader;
  p->expect_type = b->type;
  const char *const *runtimes = !strcmp(b->system, "chat")      ? CHAT_RUNTIMES
                                : !strcmp(b->system, "session") ? SESSION_RUNTIMES
                                : !strcmp(b->system, "ayepi")   ? AYEPI_RUNTIMES
                                : !strcmp(b->system, "xp")      ? XP_RUNTIMES
                                                                : CROSSREDIS_RUNTIMES;
  size_t nr = runtimes == CHAT_RUNTIMES ? 3 : runtimes == CROSSREDIS_RUNTIMES ? 1 : 2;
  if (!(p->owner = dup_or_null(b->owner)) || !(p->notes = dup_or_null(b->notes)) || !(p->tier = dup_or_null(b->tier)) ||
      (b->unit && !(p->unit = dup_or_null(b->unit))))
    return xr_fail_nomem();
  if ((rc = dup_list(&p->readers, &p->nreaders, (char *const *)runtimes, nr))) return rc;
  return dup_list(&p->writers, &p->nwriters, (char *const *)runtimes, nr);
}

/* ---- units and their verdict --------------------------------------------------------------------- */

/* A value of class k for trial t: `salt` 0 for a unit's shared fields (the same value in every
 * member), another number for a member's own field. `alpha` picks the alphabet of any and segment
 * values (digits, lower-case, upper-case letters): a pattern whose literal after a field starts
 * with one of them cannot take such a value, and the verdict tries the next. */
static void sample_value(char *buf, size_t size, xr_key_class k, unsigned t, unsigned salt, unsigned alpha) {
  static const char hex[] = "0123456789abcdef";
  switch (k) {
    case XR_KEY_CLASS_UUID:
      snprintf(buf, size, "%08x-0000-4000-8000-%012x", t + 1, salt + 7);
      break;
    case XR_KEY_CLASS_SHA256:
    case XR_KEY_CLASS_HEX32: {
      size_t n = k == XR_KEY_CLASS_SHA256 ? 64 : 32;
      for (size_t i = 0; i < n && i + 1 < size; i++) buf[i] = hex[(i * 7 + t * 3 + salt * 5) % 16];
      buf[n < size ? n : size - 1] = '\0';
      break;
    }
    case XR_KEY_CLASS_NUMBER:
      snprintf(buf, size, "%u%u", 9 + t, salt + 1);
      break;
    default: {
      snprintf(buf, size, "%u%u", 41 + t, salt + 3);
      for (char *c = buf; alpha && *c; c++) *c = (char)((alpha == 1 ? 'g' : 'G') + (*c - '0'));
    }
  }
}

/* The class a unit's shared field has in its first member (the values all members get). */
static xr_key_class shared_class(const xr_inventory_report *r, const inv_unit *u, const char *name) {
  const xr_key_pattern *p0 = r->patterns[u->members[0]].p;
  int i = xr_key_pattern_field_index(p0, name, strlen(name));
  return i < 0 ? XR_KEY_CLASS_ANY : xr_key_pattern_field_class(p0, (size_t)i);
}

static bool unit_has_field(const inv_unit *u, const char *name) {
  for (size_t i = 0; i < u->nshared; i++)
    if (!strcmp(u->shared[i], name)) return true;
  return false;
}

/* Renders member m of u for trial t; its hash span into span (NUL-terminated, truncated). */
static int render_span(const xr_inventory_report *r, const inv_unit *u, size_t m, unsigned t, unsigned alpha,
                       char *span, size_t size) {
  const xr_key_pattern *p = r->patterns[u->members[m]].p;
  size_t n = xr_key_pattern_field_count(p);
  char vals[16][80];
  xr_key_span spans[16];
  if (n > 16) return xr_fail(XR_EINVAL, "inventory: pattern with more than 16 fields");
  for (size_t i = 0; i < n; i++) {
    const char *name = xr_key_pattern_field_name(p, i);
    if (unit_has_field(u, name))
      sample_value(vals[i], sizeof vals[i], shared_class(r, u, name), t, 0, alpha);
    else
      sample_value(vals[i], sizeof vals[i], xr_key_pattern_field_class(p, i), t, (unsigned)(m * 16 + i + 1), alpha);
    spans[i] = (xr_key_span){vals[i], strlen(vals[i])};
  }
  char *key = NULL;
  size_t len = 0;
  int rc = xr_key_pattern_render(p, &key, &len, spans, n);
  if (rc) return rc;
  const char *h;
  size_t hl;
  xr_key_hash_span(&h, &hl, key, len);
  snprintf(span, size, "%.*s", (int)hl, h);
  xr_free(key);
  return XR_OK;
}

/* Whether the members' hash spans part for some trial: the first member that parts from the
 * first one (0: none), or a render failure (the values did not fit). */
static int first_parting(const xr_inventory_report *r, const inv_unit *u, unsigned alpha, size_t *bad) {
  *bad = 0;
  for (unsigned t = 0; t < 3 && !*bad; t++) {
    char a[512], b[512];
    int rc = render_span(r, u, 0, t, alpha, a, sizeof a);
    for (size_t m = 1; !rc && m < u->nmembers && !*bad; m++) {
      if ((rc = render_span(r, u, m, t, alpha, b, sizeof b))) break;
      if (strcmp(a, b)) *bad = m;
    }
    if (rc) return rc;
  }
  return XR_OK;
}

static int unit_verdict(xr_inventory_report *r, inv_unit *u) {
  xr_buf v = {0};
  size_t first_bad = 0;
  int rc = XR_EINVAL;
  for (unsigned alpha = 0; alpha < 3 && rc; alpha++) rc = first_parting(r, u, alpha, &first_bad);
  u->ready = !rc && first_bad == 0;
  u->unknown = rc != XR_OK;
  const char *p0 = r->patterns[u->members[0]].text;
  if (rc) {
    xr_buf_printf(&v, "unknown: its patterns cannot be rendered with one value per shared field (%s)",
                  xr_error_last()->message);
    xr_error_clear();
  } else if (u->nmembers < 2) {
    xr_buf_printf(&v, "ready: one pattern (%s)", p0);
  } else if (u->ready) {
    xr_buf_puts(&v, "ready: the keys of one ");
    for (size_t i = 0; i < u->nshared; i++) xr_buf_printf(&v, "%s<%s>", i ? ", " : "", u->shared[i]);
    if (!u->nshared) xr_buf_puts(&v, "instance");
    xr_buf_puts(&v, " hash to one slot (a shared hash tag)");
  } else {
    const char *pb = r->patterns[u->members[first_bad]].text;
    if (u->nshared == 0) {
      xr_buf_printf(&v, "not Cluster-ready: %s and %s share no field, so no hash tag puts one instance's keys together",
                    p0, pb);
    } else {
      xr_buf_printf(&v, "not Cluster-ready: %s and %s hash to different slots for the same ", p0, pb);
      for (size_t i = 0; i < u->nshared; i++) xr_buf_printf(&v, "%s<%s>", i ? ", " : "", u->shared[i]);
      xr_buf_puts(&v, " (no hash tag holding it)");
    }
  }
  return xr_buf_finish(&v, &u->verdict, NULL);
}

static int unit_fields(inv_unit *u, const xr_inventory_report *r) {
  const xr_key_pattern *p0 = r->patterns[u->members[0]].p;
  size_t n = xr_key_pattern_field_count(p0);
  if (n && !(u->shared = xr_calloc(n, sizeof *u->shared))) return xr_fail_nomem();
  for (size_t i = 0; i < n; i++) {
    const char *name = xr_key_pattern_field_name(p0, i);
    bool all = true;
    for (size_t m = 1; m < u->nmembers && all; m++)
      all = xr_key_pattern_field_index(r->patterns[u->members[m]].p, name, strlen(name)) >= 0;
    if (all && !(u->shared[u->nshared++] = dup_or_null(name))) return xr_fail_nomem();
  }
  return XR_OK;
}

static int build_units(xr_inventory_report *r) {
  if (r->npatterns && !(r->units = xr_calloc(r->npatterns, sizeof *r->units))) return xr_fail_nomem();
  for (size_t i = 0; i < r->npatterns; i++) {
    const char *name = r->patterns[i].unit;
    if (!name || !*name) continue;
    size_t k = 0;
    while (k < r->nunits && strcmp(r->units[k].name, name)) k++;
    inv_unit *u = &r->units[k];
    if (k == r->nunits) {
      r->nunits++;
      if (!(u->name = dup_or_null(name)) || !(u->members = xr_calloc(r->npatterns, sizeof *u->members)))
        return xr_fail_nomem();
    }
    u->members[u->nmembers++] = i;
  }
  for (size_t k = 0; k < r->nunits; k++) {
    int rc = unit_fields(&r->units[k], r);
    if (!rc) rc = unit_verdict(r, &r->units[k]);
    if (rc) return rc;
  }
  return XR_OK;
}

int inv_patterns_build(xr_inventory_report *r, const xr_inventory_options *o) {
  size_t user = o->patterns ? o->patterns->n : 0, nb = sizeof BUILTINS / sizeof BUILTINS[0];
  if (!(r->patterns = xr_calloc(user + nb, sizeof *r->patterns))) return xr_fail_nomem();
  int rc = XR_OK;
  for (size_t i = 0; !rc && i < user; i++, r->npatterns++) rc = pattern_copy(&r->patterns[r->npatterns], &o->patterns->v[i]);
  for (size_t i = 0; !rc && i < nb; i++, r->npatterns++) rc = add_builtin(&r->patterns[r->npatterns], &BUILTINS[i], o);
  if (!rc) rc = build_units(r);
  return rc;
}

long inv_classify(const xr_inventory_report *r, const char *key, size_t len) {
  for (size_t i = 0; i < r->npatterns; i++)
    if (xr_key_pattern_match(r->patterns[i].p, key, len, NULL)) return (long)i;
  return -1;
}
