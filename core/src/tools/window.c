/* Migration windows (crossredis/window.h): writes to both shapes, reads new then old, deletes old
 * then new, and the close once the old shape is empty. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/internal.h"
#include "crossredis/keys.h"
#include "crossredis/scan.h"
#include "crossredis/timestamp.h"
#include "crossredis/window.h"
#include "net/batch_internal.h"
#include "tools/window_internal.h"

enum { SLOTS = 16384, SMALL_ARGS = 16, DEFAULT_GUARD_MS = 10000 };

struct xr_window {
  xr_client *c;
  xr_family *f;
  xr_window_options opts;
  atomic_int closed;
  xr_script *restore;     /* KEYS new, marker; ARGV abs ttl, dump */
  xr_script *mirror;      /* KEYS old; ARGV the command without its key */
  xr_script *del_new;     /* KEYS new, marker; ARGV guard ms */
  xr_script *del_if_same; /* KEYS old; ARGV dump */
  uint32_t slot_tag[SLOTS]; /* a number whose decimal text hashes to the slot */
};

/* The copy forward: never over a new key, never while a delete's marker says the key was deleted. */
static const char RESTORE_LUA[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end\n"
    "redis.call('RESTORE', KEYS[1], ARGV[1], ARGV[2], 'ABSTTL')\n"
    "return redis.call('EXISTS', KEYS[1])\n";
/* The old key's write, only where it still exists (the window never creates an old-shape key). */
static const char MIRROR_LUA[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "redis.call(ARGV[1], KEYS[1], unpack(ARGV, 2))\n"
    "return 1\n";
static const char DEL_NEW_LUA[] =
    "local n = redis.call('DEL', KEYS[1])\n"
    "redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])\n"
    "return n\n";
static const char DEL_IF_SAME_LUA[] =
    "if redis.call('DUMP', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

void xr_window_free(xr_window *w) {
  if (!w) return;
  xr_family_free(w->f);
  xr_script_free(w->restore);
  xr_script_free(w->mirror);
  xr_script_free(w->del_new);
  xr_script_free(w->del_if_same);
  xr_free(w);
}

int xr_window_old_writes_parse(const char *name) {
  if (!name || strcmp(name, "existing") == 0) return XR_WINDOW_OLD_WRITES_EXISTING;
  if (strcmp(name, "always") == 0) return XR_WINDOW_OLD_WRITES_ALWAYS;
  return xr_fail(XR_EINVAL, "old_writes must be 'existing' or 'always', got '%.64s'", name);
}

static void fill_slot_tags(xr_window *w) {
  size_t filled = 0;
  for (uint32_t i = 0; filled < SLOTS; i++) {
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%u", i);
    unsigned slot = xr_key_slot(buf, (size_t)n);
    if (!w->slot_tag[slot]) {
      w->slot_tag[slot] = i + 1; /* 0: not yet */
      filled++;
    }
  }
}

int xr_window_new(xr_window **out, xr_client *client, const xr_family *family, const xr_window_options *opts) {
  if (!out) return xr_fail(XR_EINVAL, "window: out is NULL");
  *out = NULL;
  if (!client || !family) return xr_fail(XR_EINVAL, "window: the client and the family are required");
  xr_window_options o = XR_WINDOW_OPTIONS_INIT;
  if (opts) {
    if (opts->version < 1 || opts->version > XR_WINDOW_OPTIONS_VERSION)
      return xr_fail(XR_EINVAL, "window: options version %u is not 1..%d", opts->version, XR_WINDOW_OPTIONS_VERSION);
    o = *opts;
  }
  const char *name = xr_family_name(family);
  if (o.close_after_ms < 0)
    return xr_fail(XR_EINVAL, "window %s: close_after_ms must be >= 0 (0: never), got %lld", name,
                   (long long)o.close_after_ms);
  if (o.delete_guard_ms < 0 || o.delete_guard_ms > XR_TTL_MAX_MS)
    return xr_fail(XR_EINVAL, "window %s: delete_guard_ms must be 0 (10000) to %lld, got %lld", name,
                   (long long)XR_TTL_MAX_MS, (long long)o.delete_guard_ms);
  if (o.old_writes != XR_WINDOW_OLD_WRITES_EXISTING && o.old_writes != XR_WINDOW_OLD_WRITES_ALWAYS)
    return xr_fail(XR_EINVAL, "window %s: old_writes must be EXISTING (0) or ALWAYS (1), got %d", name,
                   (int)o.old_writes);
  if (!o.delete_guard_ms) o.delete_guard_ms = DEFAULT_GUARD_MS;
  o.version = XR_WINDOW_OPTIONS_VERSION;
  xr_window *w = xr_calloc(1, sizeof *w);
  if (!w) return xr_fail_nomem();
  w->c = client;
  w->opts = o;
  atomic_init(&w->closed, 0);
  int rc = xr_family_copy(&w->f, family);
  if (!rc) rc = xr_script_new(&w->restore, RESTORE_LUA, sizeof RESTORE_LUA - 1);
  if (!rc) rc = xr_script_new(&w->mirror, MIRROR_LUA, sizeof MIRROR_LUA - 1);
  if (!rc) rc = xr_script_new(&w->del_new, DEL_NEW_LUA, sizeof DEL_NEW_LUA - 1);
  if (!rc) rc = xr_script_new(&w->del_if_same, DEL_IF_SAME_LUA, sizeof DEL_IF_SAME_LUA - 1);
  if (rc) {
    xr_window_free(w);
    return rc;
  }
  fill_slot_tags(w);
  *out = w;
  return XR_OK;
}

const xr_family *xr_window_family(const xr_window *w) { return w ? w->f : NULL; }

bool xr_window_is_closed(const xr_window *w) {
  if (!w) return false;
  if (atomic_load(&w->closed)) return true;
  return w->opts.close_after_ms > 0 && xr_time_now_ms() >= w->opts.close_after_ms;
}

/* ---- one member's keys and commands ------------------------------------------------------------ */

typedef struct member {
  char *old_key, *new_key;
  size_t old_len, new_len;
} member;

static void member_free(member *m) {
  xr_free(m->old_key);
  xr_free(m->new_key);
}

static int member_of(const xr_window *w, member *m, const xr_key_span *values, size_t n) {
  memset(m, 0, sizeof *m);
  return xr_family_keys(w->f, &m->old_key, &m->old_len, &m->new_key, &m->new_len, values, n);
}

/* A command with its key put in: [name, key, args...], or [key, name, args...] for the mirror
 * script (its KEYS[1] first, then ARGV). */
typedef struct keyed {
  const char **argv;
  size_t *lens;
  int argc;
  const char *small_argv[SMALL_ARGS];
  size_t small_lens[SMALL_ARGS];
} keyed;

static void keyed_free(keyed *k) {
  if (k->argv != k->small_argv) xr_free(k->argv);
  if (k->lens != k->small_lens) xr_free(k->lens);
}

static int keyed_make(keyed *k, int key_first, const char *key, size_t key_len, int argc, const char *const *argv,
                      const size_t *lens) {
  k->argc = argc + 1;
  k->argv = k->small_argv;
  k->lens = k->small_lens;
  if (k->argc > SMALL_ARGS) {
    k->argv = xr_calloc((size_t)k->argc, sizeof *k->argv);
    k->lens = xr_calloc((size_t)k->argc, sizeof *k->lens);
    if (!k->argv || !k->lens) {
      keyed_free(k);
      return xr_fail_nomem();
    }
  }
  size_t at = 0;
  for (int i = 0; i < argc; i++) {
    if (i == (key_first ? 0 : 1)) {
      k->argv[at] = key;
      k->lens[at++] = key_len;
    }
    k->argv[at] = argv[i];
    k->lens[at++] = lens ? lens[i] : strlen(argv[i]);
  }
  if (at < (size_t)k->argc) { /* the command name alone: the key goes last */
    k->argv[at] = key;
    k->lens[at] = key_len;
  }
  return XR_OK;
}

static int check_command(const xr_window *w, const char *fn, int argc, const char *const *argv, const size_t *lens) {
  if (argc < 1 || !argv) return xr_fail(XR_EINVAL, "window %s: %s: the command is empty", xr_family_name(w->f), fn);
  for (int i = 0; i < argc; i++)
    if (!argv[i]) return xr_fail(XR_EINVAL, "window %s: %s: argument %d is NULL", xr_family_name(w->f), fn, i);
  if (!(lens ? lens[0] : strlen(argv[0])))
    return xr_fail(XR_EINVAL, "window %s: %s: the command name is empty", xr_family_name(w->f), fn);
  return XR_OK;
}

/* Runs the command on one key; *reply owned by the caller (reply may be NULL). */
static int run_on(xr_window *w, xr_reply **reply, const char *key, size_t key_len, int argc, const char *const *argv,
                  const size_t *lens) {
  keyed k;
  int rc = keyed_make(&k, 0, key, key_len, argc, argv, lens);
  if (rc) return rc;
  rc = xr_client_command(w->c, reply, k.argc, k.argv, k.lens);
  keyed_free(&k);
  return rc;
}

/* The delete marker of a new key: on its slot, whatever its bytes. *out: xr_free. */
static int marker_of(const xr_window *w, char **out, size_t *out_len, const char *new_key, size_t new_len) {
  xr_buf b = XR_BUF_INIT;
  xr_buf_printf(&b, "xr:window:deleted:{%u}:", w->slot_tag[xr_key_slot(new_key, new_len)] - 1);
  xr_buf_append(&b, new_key, new_len);
  return xr_buf_finish(&b, out, out_len);
}

int xr_window_add_restore(xr_window *w, xr_batch *b, const char *new_key, size_t new_len, const char *dump,
                          size_t dump_len, long long pexpiretime) {
  char *marker;
  size_t marker_len;
  int rc = marker_of(w, &marker, &marker_len, new_key, new_len);
  if (rc) return rc;
  char ttl[24];
  int ttl_len = snprintf(ttl, sizeof ttl, "%lld", pexpiretime > 0 ? pexpiretime : 0LL);
  const char *argv[] = {new_key, marker, ttl, dump};
  size_t lens[] = {new_len, marker_len, (size_t)ttl_len, dump_len};
  rc = xr_batch_add_eval(b, w->restore, 2, 4, argv, lens);
  xr_free(marker);
  return rc;
}

int xr_window_add_delete_if_same(xr_window *w, xr_batch *b, const char *old_key, size_t old_len, const char *dump,
                                 size_t dump_len) {
  const char *argv[] = {old_key, dump};
  size_t lens[] = {old_len, dump_len};
  return xr_batch_add_eval(b, w->del_if_same, 1, 2, argv, lens);
}

int xr_window_restore(xr_window *w, int *restored, const char *new_key, size_t new_len, const char *dump,
                      size_t dump_len, long long pexpiretime) {
  *restored = 0;
  if (pexpiretime == -2) return XR_OK; /* gone meanwhile */
  xr_batch *b;
  int rc = xr_batch_new(&b);
  if (rc) return rc;
  int at = rc = xr_window_add_restore(w, b, new_key, new_len, dump, dump_len, pexpiretime);
  if (rc >= 0) rc = xr_client_exec(w->c, b);
  const xr_reply *r = NULL;
  const char *why = NULL;
  if (!rc) rc = xr_batch_result(b, (size_t)at, &r, &why);
  if (rc) rc = xr_fail(rc, "window %s: copying forward to the new shape: %s", xr_family_name(w->f),
                       why ? why : xr_error_last()->message);
  else *restored = xr_reply_integer(r) == 1;
  xr_batch_free(b);
  return rc;
}

/* Adds DUMP and PEXPIRETIME of key to b (at index *first and *first + 1). */
static int add_dump(xr_batch *b, int *first, const char *key, size_t key_len) {
  const char *dump[] = {"DUMP", key}, *pexp[] = {"PEXPIRETIME", key};
  size_t dlens[] = {4, key_len}, plens[] = {11, key_len};
  int rc = *first = xr_batch_add(b, 2, dump, dlens);
  if (rc >= 0) rc = xr_batch_add(b, 2, pexp, plens);
  return rc < 0 ? rc : XR_OK;
}

/* Restores from the DUMP + PEXPIRETIME results at b[first], [first + 1]. */
static int restore_from(xr_window *w, const xr_batch *b, int first, const member *m) {
  const xr_reply *dump, *pexp;
  const char *why;
  int rc = xr_batch_result(b, (size_t)first, &dump, &why);
  if (!rc) rc = xr_batch_result(b, (size_t)first + 1, &pexp, &why);
  if (rc) return xr_fail(rc, "window %s: reading the old key: %s", xr_family_name(w->f), why);
  size_t dump_len;
  const char *bytes = xr_reply_str(dump, &dump_len);
  if (!bytes) return XR_OK; /* gone meanwhile */
  int restored;
  return xr_window_restore(w, &restored, m->new_key, m->new_len, bytes, dump_len, xr_reply_integer(pexp));
}

static int add_exists(xr_batch *b, const char *key, size_t key_len) {
  const char *argv[] = {"EXISTS", key};
  size_t lens[] = {6, key_len};
  return xr_batch_add(b, 2, argv, lens);
}

/* EXISTS result i of b: 0 or 1, or the failure. */
static int exists_at(const xr_batch *b, int i, int *exists) {
  const xr_reply *r;
  const char *why;
  int rc = xr_batch_result(b, (size_t)i, &r, &why);
  if (rc) return xr_fail(rc, "%s", why ? why : xr_strerror(rc));
  *exists = xr_reply_integer(r) > 0;
  return XR_OK;
}

/* ---- write ------------------------------------------------------------------------------------- */

static int mirror_old(xr_window *w, const member *m, int argc, const char *const *argv, const size_t *lens) {
  int rc;
  if (w->opts.old_writes == XR_WINDOW_OLD_WRITES_ALWAYS) {
    rc = run_on(w, NULL, m->old_key, m->old_len, argc, argv, lens);
  } else {
    keyed k;
    if ((rc = keyed_make(&k, 1, m->old_key, m->old_len, argc, argv, lens))) return rc;
    rc = xr_client_eval(w->c, NULL, w->mirror, 1, k.argc, k.argv, k.lens);
    keyed_free(&k);
  }
  if (rc) return xr_fail(rc, "window %s: the old shape's write: %s", xr_family_name(w->f), xr_error_last()->message);
  return XR_OK;
}

static int write_open(xr_window *w, xr_reply **reply, const member *m, int argc, const char *const *argv,
                      const size_t *lens) {
  xr_batch *b;
  int rc = xr_batch_new(&b);
  if (rc) return rc;
  int new_exists = 0, old_exists = 0, ie = add_exists(b, m->new_key, m->new_len);
  int io = ie < 0 ? ie : add_exists(b, m->old_key, m->old_len);
  rc = io < 0 ? io : xr_client_exec(w->c, b);
  if (!rc) rc = exists_at(b, ie, &new_exists);
  if (!rc) rc = exists_at(b, io, &old_exists);
  if (!rc && !new_exists && old_exists) {
    xr_batch_clear(b);
    int first;
    rc = add_dump(b, &first, m->old_key, m->old_len);
    if (!rc) rc = xr_client_exec(w->c, b);
    if (!rc) rc = restore_from(w, b, first, m);
  }
  xr_batch_free(b);
  if (rc) return rc;
  xr_reply *r = NULL;
  rc = run_on(w, &r, m->new_key, m->new_len, argc, argv, lens);
  if (!rc && (old_exists || w->opts.old_writes == XR_WINDOW_OLD_WRITES_ALWAYS)) rc = mirror_old(w, m, argc, argv, lens);
  if (rc) {
    xr_reply_free(r);
    return rc;
  }
  if (reply) *reply = r;
  else xr_reply_free(r);
  return XR_OK;
}

int xr_window_write(xr_window *w, xr_reply **reply, const xr_key_span *values, size_t n, int argc,
                    const char *const *argv, const size_t *lens) {
  if (reply) *reply = NULL;
  if (!w) return xr_fail(XR_EINVAL, "window: NULL");
  int rc = check_command(w, "write", argc, argv, lens);
  if (rc) return rc;
  member m;
  if ((rc = member_of(w, &m, values, n))) return rc;
  if (xr_window_is_closed(w))
    rc = run_on(w, reply, m.new_key, m.new_len, argc, argv, lens);
  else
    rc = write_open(w, reply, &m, argc, argv, lens);
  member_free(&m);
  return rc;
}

/* ---- read -------------------------------------------------------------------------------------- */

/* The command on key added to b: its index. */
static int add_keyed(xr_batch *b, const char *key, size_t key_len, int argc, const char *const *argv,
                     const size_t *lens) {
  keyed k;
  int rc = keyed_make(&k, 0, key, key_len, argc, argv, lens);
  if (rc) return rc;
  rc = xr_batch_add(b, k.argc, k.argv, k.lens);
  keyed_free(&k);
  return rc;
}

/* The old key's turn: the command, DUMP + PEXPIRETIME with copy_forward, then EXISTS (after the
 * command: an old key is never created while the window is open, so when it still exists the
 * command saw it). When it is gone, the value may have moved to the new key meanwhile (a copy
 * forward, `migrate copy`): the command runs on the new key once more, so no read misses it. */
static int read_old(xr_window *w, xr_reply **reply, const member *m, int argc, const char *const *argv,
                    const size_t *lens) {
  xr_batch *b;
  int rc = xr_batch_new(&b);
  if (rc) return rc;
  int old_exists = 0, first = -1, ie = -1;
  int cmd_at = rc = add_keyed(b, m->old_key, m->old_len, argc, argv, lens);
  if (rc >= 0 && w->opts.copy_forward) rc = add_dump(b, &first, m->old_key, m->old_len);
  if (rc >= 0) rc = ie = add_exists(b, m->old_key, m->old_len);
  if (rc >= 0) rc = xr_client_exec(w->c, b);
  if (!rc) rc = exists_at(b, ie, &old_exists);
  if (!rc && !old_exists) rc = run_on(w, reply, m->new_key, m->new_len, argc, argv, lens);
  else if (!rc) {
    rc = xr_batch_take_reply(b, (size_t)cmd_at, reply);
    if (!rc && first >= 0) rc = restore_from(w, b, first, m);
    if (rc) {
      xr_reply_free(*reply);
      *reply = NULL;
    }
  }
  xr_batch_free(b);
  return rc;
}

int xr_window_read(xr_window *w, xr_reply **reply, const xr_key_span *values, size_t n, int argc,
                   const char *const *argv, const size_t *lens) {
  xr_reply *ignored = NULL;
  if (!reply) reply = &ignored;
  *reply = NULL;
  if (!w) return xr_fail(XR_EINVAL, "window: NULL");
  int rc = check_command(w, "read", argc, argv, lens);
  if (rc) return rc;
  member m;
  if ((rc = member_of(w, &m, values, n))) return rc;
  xr_batch *b = NULL;
  int exists = 0, cmd_at = 0;
  rc = xr_batch_new(&b);
  /* EXISTS before the command: when it says the key exists, the command ran on it (unless a
   * delete or an expiry came in between: then the empty reply is right) */
  int ie = rc ? rc : add_exists(b, m.new_key, m.new_len);
  if (ie < 0) rc = ie;
  else cmd_at = rc = add_keyed(b, m.new_key, m.new_len, argc, argv, lens);
  if (rc >= 0) rc = xr_client_exec(w->c, b);
  if (!rc) rc = exists_at(b, ie, &exists);
  if (!rc) {
    if (exists || xr_window_is_closed(w))
      rc = xr_batch_take_reply(b, (size_t)cmd_at, reply);
    else
      rc = read_old(w, reply, &m, argc, argv, lens);
  }
  xr_batch_free(b);
  member_free(&m);
  xr_reply_free(ignored);
  return rc;
}

/* ---- delete ------------------------------------------------------------------------------------ */

int xr_window_delete(xr_window *w, int *deleted, const xr_key_span *values, size_t n) {
  if (deleted) *deleted = 0;
  if (!w) return xr_fail(XR_EINVAL, "window: NULL");
  member m;
  int rc = member_of(w, &m, values, n);
  if (rc) return rc;
  long long count = 0;
  xr_reply *r = NULL;
  if (xr_window_is_closed(w)) {
    const char *argv[] = {"DEL", m.new_key};
    size_t lens[] = {3, m.new_len};
    rc = xr_client_command(w->c, &r, 2, argv, lens);
    if (!rc) count = xr_reply_integer(r);
  } else {
    const char *argv[] = {"DEL", m.old_key};
    size_t lens[] = {3, m.old_len};
    rc = xr_client_command(w->c, &r, 2, argv, lens);
    if (!rc) count = xr_reply_integer(r);
    xr_reply_free(r);
    r = NULL;
    char *marker = NULL;
    size_t marker_len = 0;
    if (!rc) rc = marker_of(w, &marker, &marker_len, m.new_key, m.new_len);
    if (!rc) {
      char guard[24];
      int guard_len = snprintf(guard, sizeof guard, "%lld", (long long)w->opts.delete_guard_ms);
      const char *eargv[] = {m.new_key, marker, guard};
      size_t elens[] = {m.new_len, marker_len, (size_t)guard_len};
      rc = xr_client_eval(w->c, &r, w->del_new, 2, 3, eargv, elens);
      if (!rc) count += xr_reply_integer(r);
    }
    xr_free(marker);
  }
  xr_reply_free(r);
  member_free(&m);
  if (!rc && deleted) *deleted = (int)count;
  return rc;
}

/* ---- the old shape's scan and the close -------------------------------------------------------- */

int xr_family_scan_old(xr_client *c, const xr_family *f, int count, xr_family_page_fn fn, void *ctx) {
  const xr_key_pattern *p = xr_family_old_pattern(f);
  char *glob;
  size_t glob_len;
  int rc = xr_key_pattern_glob(p, &glob, &glob_len);
  if (rc) return rc;
  xr_scan_options so = XR_SCAN_OPTIONS_INIT;
  so.match = glob;
  so.match_len = glob_len;
  so.count = count;
  xr_scan *s = NULL;
  xr_batch *b = NULL;
  const char **keys = NULL;
  size_t *lens = NULL, cap = 0;
  rc = xr_scan_new(&s, c, &so);
  if (!rc) rc = xr_batch_new(&b);
  for (int done = 0; !rc && !done;) {
    xr_batch_clear(b);
    int i = xr_scan_add(s, b);
    rc = i < 0 ? i : xr_client_exec(c, b);
    const xr_reply *page = NULL;
    if (!rc) rc = xr_scan_take(s, b, (size_t)i, &page, &done);
    size_t n = rc ? 0 : xr_reply_count(page), kept = 0;
    if (n > cap) {
      xr_free(keys);
      xr_free(lens);
      cap = n;
      keys = xr_calloc(cap, sizeof *keys);
      lens = xr_calloc(cap, sizeof *lens);
      if (!keys || !lens) rc = xr_fail_nomem();
    }
    for (size_t k = 0; !rc && k < n; k++) {
      const char *key = xr_reply_str(xr_reply_at(page, k), &lens[kept]);
      if (!key) rc = xr_fail(XR_EPROTOCOL, "SCAN answered a key that is not a string");
      else if (xr_key_pattern_match(p, key, lens[kept], NULL)) keys[kept++] = key;
    }
    if (!rc) rc = fn(ctx, keys, lens, kept);
  }
  xr_free(keys);
  xr_free(lens);
  xr_batch_free(b);
  xr_scan_free(s);
  xr_free(glob);
  return rc;
}

typedef struct remaining_count {
  size_t n;
  char *example;
  size_t example_len;
} remaining_count;

static int count_page(void *ctx, const char *const *keys, const size_t *lens, size_t n) {
  remaining_count *rc = ctx;
  if (n && !rc->example) {
    rc->example = xr_strndup(keys[0], lens[0]);
    rc->example_len = lens[0];
  }
  rc->n += n;
  return XR_OK;
}

int xr_window_close(xr_window *w, size_t *remaining) {
  if (remaining) *remaining = 0;
  if (!w) return xr_fail(XR_EINVAL, "window: NULL");
  if (atomic_load(&w->closed)) return XR_OK;
  remaining_count count = {0, NULL, 0};
  int rc = xr_family_scan_old(w->c, w->f, 0, count_page, &count);
  if (!rc && count.n) {
    rc = xr_fail(XR_EEXISTS,
                 "window %s: %zu old-shape key%s (e.g. '%.*s'): copy them with `crossredis migrate copy` or "
                 "wait for their TTL",
                 xr_family_name(w->f), count.n, count.n == 1 ? " remains" : "s remain", (int)count.example_len,
                 count.example ? count.example : "");
  }
  if (!rc) atomic_store(&w->closed, 1);
  if (remaining) *remaining = count.n;
  xr_free(count.example);
  return rc;
}
