/* Migration windows (window.h) on a standalone server, the run's Sentinel set and its Cluster
 * (where the old and new keys of a member live on different slots): every value type read
 * through the window from the old shape, copied forward with its expiry, written to both shapes;
 * brand-new keys never create old-shape ones; deletes remove both and a delete's marker keeps
 * copies forward away; close refused while old-shape keys remain, then the old shape untouched;
 * bad input. The load test (writers and readers while `crossredis migrate copy` runs) is in
 * test_window_load.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itest.h"
#include "topotest.h"
#include "crossredis/family.h"
#include "crossredis/window.h"

/* This test's family: old "<prefix>:sess:<id>", new "<prefix>:sess:{s:<id>}". */
static xr_family *family_here(void) {
  char old_p[256], new_p[256];
  snprintf(old_p, sizeof old_p, "%s:sess:<id:segment>", tt.prefix);
  snprintf(new_p, sizeof new_p, "%s:sess:{s:<id:segment>}", tt.prefix);
  xr_family *f = NULL;
  XR_OK(xr_family_new(&f, "sessions", old_p, strlen(old_p), new_p, strlen(new_p)));
  return f;
}

static const char *old_key(const char *id) {
  static char b[4][256];
  static unsigned turn;
  char *k = b[turn++ % 4];
  snprintf(k, sizeof b[0], "%s:sess:%s", tt.prefix, id);
  return k;
}

static const char *new_key(const char *id) {
  static char b[4][256];
  static unsigned turn;
  char *k = b[turn++ % 4];
  snprintf(k, sizeof b[0], "%s:sess:{s:%s}", tt.prefix, id);
  return k;
}

static xr_window *window_here(xr_client *c, int copy_forward) {
  xr_family *f = family_here();
  xr_window_options o = XR_WINDOW_OPTIONS_INIT;
  o.copy_forward = copy_forward;
  xr_window *w = NULL;
  XR_OK(xr_window_new(&w, c, f, &o));
  xr_family_free(f); /* the window keeps its own copy */
  return w;
}

static xr_client *open_client(void) {
  xr_client_options o = tt_options();
  xr_client *c = NULL;
  XR_OK(xr_client_open(&c, &o));
  return c;
}

/* A reply flattened to "a,b,c" (nil: "(nil)"), so replies of every type compare as text. */
static void flatten(const xr_reply *r, char *out, size_t size) {
  size_t at = strlen(out);
  switch (xr_reply_kind(r)) {
    case XR_REPLY_NIL:
      snprintf(out + at, size - at, "(nil)");
      return;
    case XR_REPLY_INTEGER:
      snprintf(out + at, size - at, "%lld", xr_reply_integer(r));
      return;
    case XR_REPLY_ARRAY:
    case XR_REPLY_MAP:
    case XR_REPLY_SET:
      snprintf(out + at, size - at, "[");
      for (size_t i = 0; i < xr_reply_count(r); i++) {
        if (i) strncat(out, ",", size - strlen(out) - 1);
        flatten(xr_reply_at(r, i), out, size);
      }
      strncat(out, "]", size - strlen(out) - 1);
      return;
    default: {
      size_t len = 0;
      const char *s = xr_reply_str(r, &len);
      snprintf(out + at, size - at, "%.*s", (int)len, s ? s : "?");
    }
  }
}

static void take_flat(xr_reply *r, char *out, size_t size) {
  out[0] = '\0';
  flatten(r, out, size);
  xr_reply_free(r);
}

/* A command on a key through the checker, its reply flattened. */
static void chk_read(const char *cmd, const char *key, const char *a1, const char *a2, const char *a3, char *out,
                     size_t size) {
  const char *argv[] = {cmd, key, a1, a2, a3};
  int argc = 2 + (a1 != NULL) + (a2 != NULL) + (a3 != NULL);
  xr_reply *r = NULL;
  XR_OK(xr_client_command(tt.chk, &r, argc, argv, NULL));
  take_flat(r, out, size);
}

static long long pexpiretime(const char *key) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(tt.chk, &r, "PEXPIRETIME", key, NULL));
  long long v = xr_reply_integer(r);
  xr_reply_free(r);
  return v;
}

static long long exists(const char *key) {
  xr_reply *r = NULL;
  XR_OK(itest_cmd(tt.chk, &r, "EXISTS", key, NULL));
  long long v = xr_reply_integer(r);
  xr_reply_free(r);
  return v;
}

/* The index of the first MONITOR line naming `quoted` (a key with its quotes), or -1. */
static long line_naming(const itest_lines *l, const char *quoted) {
  for (size_t i = 0; i < l->n; i++)
    if (strstr(l->v[i], quoted)) return (long)i;
  return -1;
}

/* One value type: how the old key is made, how it is read, one write and what both keys then hold. */
typedef struct type_case {
  const char *name;
  const char *make[5];  /* the command on the old key (the key goes after the name) */
  const char *read[4];  /* read without the key */
  int read_argc;
  const char *before;   /* the read's reply, flattened */
  const char *write[4]; /* a write without the key */
  int write_argc;
  const char *after;    /* the read's reply after the write */
} type_case;

static const type_case TYPES[] = {
    {"string", {"SET", "v1", NULL}, {"GET"}, 1, "v1", {"APPEND", "+w"}, 2, "v1+w"},
    {"list", {"RPUSH", "a", "b", NULL}, {"LRANGE", "0", "-1"}, 3, "[a,b]", {"RPUSH", "c"}, 2, "[a,b,c]"},
    {"set", {"SADD", "1", "2", NULL}, {"SMEMBERS"}, 1, "[1,2]", {"SADD", "3"}, 2, "[1,2,3]"},
    {"hash", {"HSET", "f1", "v1", NULL}, {"HGETALL"}, 1, "[f1,v1]", {"HSET", "f2", "v2"}, 3, "[f1,v1,f2,v2]"},
    {"zset", {"ZADD", "1", "a", NULL}, {"ZRANGE", "0", "-1", "WITHSCORES"}, 4, "[a,1]", {"ZADD", "2", "b"}, 3,
     "[a,1,b,2]"},
};

static void make_old(const type_case *t, const char *key) {
  const char *argv[8];
  int argc = 0;
  argv[argc++] = t->make[0];
  argv[argc++] = key;
  for (int i = 1; t->make[i]; i++) argv[argc++] = t->make[i];
  XR_OK(xr_client_command(tt.chk, NULL, argc, argv, NULL));
  XR_OK(itest_cmd(tt.chk, NULL, "PEXPIRE", key, "60000", NULL));
}

static void read_direct(const type_case *t, const char *key, char *out, size_t size) {
  const char *argv[6] = {t->read[0], key};
  for (int i = 1; i < t->read_argc; i++) argv[i + 1] = t->read[i];
  xr_reply *r = NULL;
  XR_OK(xr_client_command(tt.chk, &r, t->read_argc + 1, argv, NULL));
  take_flat(r, out, size);
}

/* Every type: read from old (copied forward with its expiry), written to both, read from new. */
static void test_every_type_read_copy_write(void **state) {
  (void)state;
  xr_client *c = open_client();
  xr_window *w = window_here(c, 1);
  for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
    const type_case *t = &TYPES[i];
    char id[32], got[512];
    snprintf(id, sizeof id, "u-%s", t->name);
    xr_key_span v = {id, strlen(id)};
    make_old(t, old_key(id));
    long long expiry = pexpiretime(old_key(id));
    assert_true(expiry > 0);
    assert_int_equal(exists(new_key(id)), 0);
    /* read: new is missing, old answers, and is copied forward with its absolute expiry */
    xr_reply *r = NULL;
    XR_OK(xr_window_read(w, &r, &v, 1, t->read_argc, t->read, NULL));
    take_flat(r, got, sizeof got);
    if (strcmp(got, t->before)) fail_msg("%s: read %s, expected %s", t->name, got, t->before);
    assert_int_equal(exists(new_key(id)), 1);
    assert_int_equal(pexpiretime(new_key(id)), expiry);
    read_direct(t, new_key(id), got, sizeof got);
    assert_string_equal(got, t->before);
    /* write: both shapes */
    XR_OK(xr_window_write(w, &r, &v, 1, t->write_argc, t->write, NULL));
    xr_reply_free(r);
    read_direct(t, new_key(id), got, sizeof got);
    if (strcmp(got, t->after)) fail_msg("%s: new holds %s, expected %s", t->name, got, t->after);
    read_direct(t, old_key(id), got, sizeof got);
    if (strcmp(got, t->after)) fail_msg("%s: old holds %s, expected %s", t->name, got, t->after);
    /* read: from new now */
    XR_OK(xr_window_read(w, &r, &v, 1, t->read_argc, t->read, NULL));
    take_flat(r, got, sizeof got);
    assert_string_equal(got, t->after);
    /* the expiry is still the old key's on both */
    assert_int_equal(pexpiretime(new_key(id)), expiry);
    assert_int_equal(pexpiretime(old_key(id)), expiry);
  }
  xr_window_free(w);
  xr_client_close(c);
}

/* A write whose new key is missing copies old forward first: the write lands on the whole value. */
static void test_write_copies_forward_first(void **state) {
  (void)state;
  xr_client *c = open_client();
  xr_window *w = window_here(c, 0);
  for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
    const type_case *t = &TYPES[i];
    char id[32], got[512];
    snprintf(id, sizeof id, "w-%s", t->name);
    xr_key_span v = {id, strlen(id)};
    make_old(t, old_key(id));
    long long expiry = pexpiretime(old_key(id));
    XR_OK(xr_window_write(w, NULL, &v, 1, t->write_argc, t->write, NULL));
    read_direct(t, new_key(id), got, sizeof got);
    if (strcmp(got, t->after)) fail_msg("%s: new holds %s, expected %s", t->name, got, t->after);
    read_direct(t, old_key(id), got, sizeof got);
    assert_string_equal(got, t->after);
    assert_int_equal(pexpiretime(new_key(id)), expiry);
  }
  /* without copy_forward a read of an old-only key leaves the new shape alone */
  xr_key_span v = {"r-only", 6};
  XR_OK(itest_cmd(tt.chk, NULL, "SET", old_key("r-only"), "x", NULL));
  const char *get[] = {"GET"};
  xr_reply *r = NULL;
  XR_OK(xr_window_read(w, &r, &v, 1, 1, get, NULL));
  assert_string_equal(xr_reply_str(r, NULL), "x");
  xr_reply_free(r);
  assert_int_equal(exists(new_key("r-only")), 0);
  xr_window_free(w);
  xr_client_close(c);
}

/* A member new to both shapes is written to the new shape only (EXISTING), or to both (ALWAYS). */
static void test_new_members_and_old_writes(void **state) {
  (void)state;
  xr_client *c = open_client();
  xr_window *w = window_here(c, 1);
  xr_key_span v = {"fresh", 5};
  const char *set[] = {"SET", "v", "PX", "60000"};
  XR_OK(xr_window_write(w, NULL, &v, 1, 4, set, NULL));
  itest_assert_get(tt.chk, new_key("fresh"), "v");
  assert_int_equal(exists(old_key("fresh")), 0);
  /* the old key vanished (expired, copied) after the member moved: a write does not bring it back */
  xr_key_span g = {"gone", 4};
  XR_OK(itest_cmd(tt.chk, NULL, "RPUSH", old_key("gone"), "a", NULL));
  const char *push[] = {"RPUSH", "b"};
  XR_OK(xr_window_write(w, NULL, &g, 1, 2, push, NULL));
  XR_OK(itest_cmd(tt.chk, NULL, "DEL", old_key("gone"), NULL));
  XR_OK(xr_window_write(w, NULL, &g, 1, 2, push, NULL));
  assert_int_equal(exists(old_key("gone")), 0);
  char got[256];
  chk_read("LRANGE", new_key("gone"), "0", "-1", NULL, got, sizeof got);
  assert_string_equal(got, "[a,b,b]");
  xr_window_free(w);
  /* ALWAYS: old-shape readers see brand-new members too */
  xr_family *f = family_here();
  xr_window_options o = XR_WINDOW_OPTIONS_INIT;
  o.old_writes = XR_WINDOW_OLD_WRITES_ALWAYS;
  XR_OK(xr_window_new(&w, c, f, &o));
  xr_family_free(f);
  xr_key_span b = {"both", 4};
  XR_OK(xr_window_write(w, NULL, &b, 1, 4, set, NULL));
  itest_assert_get(tt.chk, new_key("both"), "v");
  itest_assert_get(tt.chk, old_key("both"), "v");
  xr_window_free(w);
  xr_client_close(c);
}

/* Deletes remove both shapes; the marker keeps a copy forward from bringing the value back. */
static void test_delete_both_and_the_marker(void **state) {
  (void)state;
  xr_client *c = open_client();
  xr_family *f = family_here();
  xr_window_options o = XR_WINDOW_OPTIONS_INIT;
  o.copy_forward = 1;
  o.delete_guard_ms = 1500;
  xr_window *w = NULL;
  XR_OK(xr_window_new(&w, c, f, &o));
  xr_family_free(f);
  xr_key_span v = {"d1", 2};
  XR_OK(itest_cmd(tt.chk, NULL, "HSET", old_key("d1"), "f", "v", NULL));
  const char *hset[] = {"HSET", "g", "w"};
  XR_OK(xr_window_write(w, NULL, &v, 1, 3, hset, NULL)); /* both exist now */
  assert_int_equal(exists(old_key("d1")), 1);
  assert_int_equal(exists(new_key("d1")), 1);
  int deleted = -1;
  tt_monitor tm;
  tt_monitor_open(&tm);
  XR_OK(xr_window_delete(w, &deleted, &v, 1));
  itest_lines lines = {0};
  tt_monitor_take(&tm, &lines);
  tt_monitor_close(&tm);
  assert_int_equal(deleted, 2);
  /* old first, then new (MONITOR shows the prefix as chat-sdk on every topology) */
  long del_old = line_naming(&lines, "\"DEL\" \"chat-sdk:sess:d1\""),
       del_new = line_naming(&lines, "\"chat-sdk:sess:{s:d1}\"");
  if (del_old < 0 || del_new < 0 || del_old > del_new)
    fail_msg("DEL of the old key at line %ld, the new key first named at line %ld", del_old, del_new);
  itest_lines_free(&lines);
  assert_int_equal(exists(old_key("d1")), 0);
  assert_int_equal(exists(new_key("d1")), 0);
  XR_OK(xr_window_delete(w, &deleted, &v, 1));
  assert_int_equal(deleted, 0);
  /* a reader that took old's value before the delete restores after it: refused while the
   * marker lives (the old key is put back here to stand for that reader's DUMP) */
  XR_OK(itest_cmd(tt.chk, NULL, "HSET", old_key("d1"), "f", "stale", NULL));
  const char *hgetall[] = {"HGETALL"};
  xr_reply *r = NULL;
  XR_OK(xr_window_read(w, &r, &v, 1, 1, hgetall, NULL));
  char got[256];
  take_flat(r, got, sizeof got);
  assert_string_equal(got, "[f,stale]");
  assert_int_equal(exists(new_key("d1")), 0);
  /* after the guard the copy forward works again */
  usleep(1700 * 1000);
  XR_OK(xr_window_read(w, &r, &v, 1, 1, hgetall, NULL));
  xr_reply_free(r);
  assert_int_equal(exists(new_key("d1")), 1);
  xr_window_free(w);
  xr_client_close(c);
}

/* Close: refused with the count while old-shape keys remain; then the old shape is left alone. */
static void test_close(void **state) {
  (void)state;
  xr_client *c = open_client();
  xr_window *w = window_here(c, 1);
  XR_OK(itest_cmd(tt.chk, NULL, "SET", old_key("c1"), "a", NULL));
  XR_OK(itest_cmd(tt.chk, NULL, "SET", old_key("c2"), "b", "PX", "60000", NULL));
  XR_OK(itest_cmd(tt.chk, NULL, "SET", new_key("c3"), "n", NULL));
  /* a key that matches the glob but not the shape (segment: no ':') does not count */
  XR_OK(itest_cmd(tt.chk, NULL, "SET", old_key("x:y"), "other", NULL));
  size_t remaining = 0;
  XR_FAILS(xr_window_close(w, &remaining), XR_EEXISTS, "window sessions: 2 old-shape keys remain");
  assert_int_equal(remaining, 2);
  assert_false(xr_window_is_closed(w));
  XR_OK(itest_cmd(tt.chk, NULL, "DEL", old_key("c1"), NULL));
  XR_FAILS(xr_window_close(w, &remaining), XR_EEXISTS, "1 old-shape key remains");
  XR_OK(itest_cmd(tt.chk, NULL, "DEL", old_key("c2"), NULL));
  XR_OK(xr_window_close(w, &remaining));
  assert_int_equal(remaining, 0);
  assert_true(xr_window_is_closed(w));
  XR_OK(xr_window_close(w, &remaining)); /* again: at once */
  /* closed: an old key that shows up is neither read nor written nor deleted (MONITOR: no command
   * names it) */
  XR_OK(itest_cmd(tt.chk, NULL, "SET", old_key("c4"), "old", NULL));
  tt_monitor tm;
  tt_monitor_open(&tm);
  xr_key_span v = {"c4", 2};
  const char *get[] = {"GET"}, *append[] = {"APPEND", "!"};
  xr_reply *r = NULL;
  XR_OK(xr_window_read(w, &r, &v, 1, 1, get, NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_NIL);
  xr_reply_free(r);
  XR_OK(xr_window_write(w, NULL, &v, 1, 2, append, NULL));
  itest_assert_get(tt.chk, new_key("c4"), "!");
  int deleted = 0;
  XR_OK(xr_window_delete(w, &deleted, &v, 1));
  itest_lines lines = {0};
  tt_monitor_take(&tm, &lines);
  tt_monitor_close(&tm);
  assert_true(line_naming(&lines, "\"chat-sdk:sess:{s:c4}\"") >= 0);
  if (line_naming(&lines, "\"chat-sdk:sess:c4\"") >= 0)
    fail_msg("the closed window touched the old key: %s", lines.v[line_naming(&lines, "\"chat-sdk:sess:c4\"")]);
  itest_lines_free(&lines);
  assert_int_equal(deleted, 1);
  itest_assert_get(tt.chk, old_key("c4"), "old");
  xr_window_free(w);
  /* close_after_ms: a window past its agreed time acts closed without a scan */
  xr_family *f = family_here();
  xr_window_options o = XR_WINDOW_OPTIONS_INIT;
  o.close_after_ms = itest_wall_ms() - 1;
  XR_OK(xr_window_new(&w, c, f, &o));
  assert_true(xr_window_is_closed(w));
  XR_OK(xr_window_read(w, &r, &v, 1, 1, get, NULL));
  assert_int_equal(xr_reply_kind(r), XR_REPLY_NIL); /* new was deleted; old is not looked at */
  xr_reply_free(r);
  xr_window_free(w);
  o.close_after_ms = itest_wall_ms() + 60000;
  XR_OK(xr_window_new(&w, c, f, &o));
  assert_false(xr_window_is_closed(w));
  xr_window_free(w);
  xr_family_free(f);
  xr_client_close(c);
}

/* Errors: the server's, and bad arguments. */
static void test_bad_input(void **state) {
  (void)state;
  xr_client *c = open_client();
  xr_window *w = window_here(c, 1);
  xr_key_span v = {"e", 1}, bad = {"a:b", 3};
  const char *get[] = {"GET"}, *empty[] = {""};
  XR_FAILS(xr_window_read(w, NULL, &v, 0, 1, get, NULL), XR_EINVAL, "0 field values given, the family has 1");
  XR_FAILS(xr_window_read(w, NULL, &bad, 1, 1, get, NULL), XR_EINVAL, "family sessions");
  XR_FAILS(xr_window_write(w, NULL, &v, 1, 0, get, NULL), XR_EINVAL, "window sessions: write: the command is empty");
  XR_FAILS(xr_window_write(w, NULL, &v, 1, 1, empty, NULL), XR_EINVAL, "the command name is empty");
  /* the server's error comes back as it is: the old key is a list, GET is WRONGTYPE */
  XR_OK(itest_cmd(tt.chk, NULL, "RPUSH", old_key("e"), "x", NULL));
  XR_FAILS(xr_window_read(w, NULL, &v, 1, 1, get, NULL), XR_EWRONGTYPE, "WRONGTYPE");
  /* the old shape's write failing is said */
  XR_OK(itest_cmd(tt.chk, NULL, "SET", new_key("e"), "s", NULL));
  const char *append[] = {"APPEND", "x"};
  XR_FAILS(xr_window_write(w, NULL, &v, 1, 2, append, NULL), XR_EWRONGTYPE, "the old shape's write");
  xr_window_free(w);
  xr_family *f = family_here();
  xr_window_options o = XR_WINDOW_OPTIONS_INIT;
  o.version = 9;
  XR_FAILS(xr_window_new(&w, c, f, &o), XR_EINVAL, "options version 9");
  o = (xr_window_options)XR_WINDOW_OPTIONS_INIT;
  o.close_after_ms = -1;
  XR_FAILS(xr_window_new(&w, c, f, &o), XR_EINVAL, "close_after_ms must be >= 0");
  o = (xr_window_options)XR_WINDOW_OPTIONS_INIT;
  o.old_writes = (xr_window_old_writes)7;
  XR_FAILS(xr_window_new(&w, c, f, &o), XR_EINVAL, "old_writes");
  /* the names the bindings' option takes */
  assert_int_equal(xr_window_old_writes_parse("existing"), XR_WINDOW_OLD_WRITES_EXISTING);
  assert_int_equal(xr_window_old_writes_parse("always"), XR_WINDOW_OLD_WRITES_ALWAYS);
  assert_int_equal(xr_window_old_writes_parse(NULL), XR_WINDOW_OLD_WRITES_EXISTING);
  XR_FAILS(xr_window_old_writes_parse("sometimes"), XR_EINVAL, "old_writes must be 'existing' or 'always', got 'sometimes'");
  XR_FAILS(xr_window_new(&w, NULL, f, NULL), XR_EINVAL, "required");
  xr_family_free(f);
  xr_client_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      TT_TEST(test_every_type_read_copy_write),
      TT_TEST(test_write_copies_forward_first),
      TT_TEST(test_new_members_and_old_writes),
      TT_TEST(test_delete_both_and_the_marker),
      TT_TEST(test_close),
      TT_TEST(test_bad_input),
  };
  return tt_run("window", tests, sizeof tests / sizeof tests[0], NULL, 0);
}
