/* crossredis migrate plan|copy|verify: a key family's old-shape keys moved to the new shape
 * (crossredis/migrate.h), as a table or JSON. */
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <time.h>

#include "cli.h"
#include "crossredis/alloc.h"
#include "crossredis/error.h"
#include "crossredis/family.h"
#include "crossredis/migrate.h"
#include "crossredis/keys.h"
#include "crossredis/timestamp.h"
#include "crossredis/tls.h"
#include "crossredis/window.h"

static void migrate_usage(FILE *f) {
  fprintf(f,
          "usage: crossredis migrate plan|copy|verify --family FILE [--name NAME] [--url URL]\n"
          "                          [--rate OPS/S] [--count N] [--json] [--apply] [--all]\n"
          "\n"
          "Moves a key family from its old shape to its new one (a migration window, window.h, reads\n"
          "and writes both meanwhile). FILE is JSON: {\"families\": [{\"name\", \"old\", \"new\", \"notes\"}]}\n"
          "with key patterns (\"mpp:browser:session:<id:uuid>\" -> \"mpp:browser:session:{session:<id:uuid>}\").\n"
          "\n"
          "  plan     read-only: old-shape keys left, with and without a TTL, when the last one with a\n"
          "           TTL expires, and how many have their new key already\n"
          "  copy     moves the old keys without a TTL (--all: every one): DUMP + PEXPIRETIME, RESTORE\n"
          "           of the new key with its expiry (ABSTTL), never over a present new key (newer:\n"
          "           then the old one is only deleted), the old key deleted only when unchanged; a\n"
          "           dry run unless --apply; run it again to finish what changed meanwhile\n"
          "  verify   exit 0 when no old-shape key is left, 1 listing some\n"
          "\n"
          "  --family FILE  the family file; --name NAME picks one when it holds several\n"
          "  --url URL      the server (default $REDIS_URL, else redis://127.0.0.1:6379): redis://,\n"
          "                 rediss://, unix://, redis+sentinel://, redis+cluster://\n"
          "  --rate OPS/S   Redis commands per second at most (default 10000; 0: no bound)\n"
          "  --count N      SCAN COUNT hint (default 1000)\n"
          "  --apply        copy: write (without it, copy only counts what it would do)\n"
          "  --all          copy: keys with a TTL too\n"
          "  --json         one JSON object: {\"command\", \"family\", \"old\", \"new\", \"apply\", \"all\",\n"
          "                 \"scanned\", \"with_ttl\", \"without_ttl\", \"vanished\", \"last_expiry_ms\" (unix\n"
          "                 ms, 0: none), \"new_present\", \"chosen\", \"copied\", \"kept_newer\", \"deleted\",\n"
          "                 \"changed\", \"examples\": [key]}\n"
          "\n"
          "Progress goes to stderr. Exit status: 0 done (verify: nothing left), 1 failed (verify: keys\n"
          "left), 2 wrong command line or family file.\n");
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = cli_xmalloc(cap);
  for (size_t got; (got = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) buf = cli_xrealloc(buf, cap *= 2);
  }
  fclose(f);
  *len = n;
  return buf;
}

typedef struct progress_state {
  const char *what;
  double last_ms;
  size_t last_scanned;
} progress_state;

static void on_progress(void *ctx, const xr_migrate_stats *s) {
  progress_state *p = ctx;
  double now = cli_monotonic_ms();
  if (s->scanned - p->last_scanned < 10000 && now - p->last_ms < 1000) return;
  p->last_ms = now;
  p->last_scanned = s->scanned;
  fprintf(stderr, "migrate %s: %zu old-shape keys scanned", p->what, s->scanned);
  if (s->copied || s->deleted) fprintf(stderr, ", %zu copied, %zu deleted", s->copied, s->deleted);
  fputc('\n', stderr);
}

static void expiry_text(char *buf, size_t size, int64_t at_ms) {
  time_t t = (time_t)(at_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  double in_s = (double)(at_ms - xr_time_now_ms()) / 1000.0;
  snprintf(buf, size, "%s (in %.0f s)", when, in_s < 0 ? 0 : in_s);
}

static void print_examples(const xr_migrate_stats *s, const char *title) {
  if (!s->n_examples) return;
  printf("%s\n", title);
  for (size_t i = 0; i < s->n_examples; i++) {
    char *k = cli_text_escape(s->examples[i], s->example_lens[i]);
    printf("  %s\n", k);
    free(k);
  }
}

static void print_table(const char *cmd, const xr_family *f, const xr_migrate_stats *s, bool apply, bool all) {
  size_t ol, nl;
  const char *old_p = xr_key_pattern_text(xr_family_old_pattern(f), &ol);
  const char *new_p = xr_key_pattern_text(xr_family_new_pattern(f), &nl);
  char *o = cli_text_escape(old_p, ol), *n = cli_text_escape(new_p, nl);
  printf("family %s: %s -> %s\n", xr_family_name(f), o, n);
  free(o);
  free(n);
  if (!strcmp(cmd, "verify")) {
    if (!s->scanned) printf("no old-shape key left: the window may close\n");
    else printf("%zu old-shape %s left\n", s->scanned, cli_plural(s->scanned, "key", "keys"));
    print_examples(s, "some of them:");
    return;
  }
  char exp[64] = "";
  if (s->last_expiry_ms) expiry_text(exp, sizeof exp, s->last_expiry_ms);
  size_t left = s->with_ttl + s->without_ttl;
  printf("  old-shape keys          %6zu\n", left);
  printf("    with a TTL            %6zu%s%s\n", s->with_ttl, s->with_ttl ? "   the last expires " : "", exp);
  printf("    without a TTL         %6zu%s\n", s->without_ttl,
         s->without_ttl ? "   never expire: `crossredis migrate copy` moves them" : "");
  printf("  new key already there   %6zu\n", s->new_present);
  if (s->vanished) printf("  gone while looked at    %zu\n", s->vanished);
  if (!strcmp(cmd, "plan")) {
    print_examples(s, "some of those without a TTL:");
    return;
  }
  if (!apply) {
    printf("dry run (add --apply to write): would move %zu %s (%s)\n", s->chosen, cli_plural(s->chosen, "key", "keys"),
           all ? "every old-shape key" : "those without a TTL");
    return;
  }
  printf("  copied                  %zu\n", s->copied);
  printf("  new key was newer       %zu   (the old key only deleted)\n", s->kept_newer);
  printf("  old keys deleted        %zu\n", s->deleted);
  if (s->changed)
    printf("  changed meanwhile       %zu   left in place: run copy again\n", s->changed);
  size_t rest = left - s->deleted;
  if (rest) printf("%zu old-shape %s left%s\n", rest, cli_plural(rest, "key", "keys"), all ? "" : " (with a TTL: they expire)");
  else printf("every old-shape key seen was moved: `crossredis migrate verify` proves none is left\n");
}

static int print_json(const char *cmd, const xr_family *f, const xr_migrate_stats *s, bool apply, bool all) {
  size_t ol, nl;
  const char *old_p = xr_key_pattern_text(xr_family_old_pattern(f), &ol);
  const char *new_p = xr_key_pattern_text(xr_family_new_pattern(f), &nl);
  json_t *root = json_object(), *ex = json_array();
  json_object_set_new(root, "command", json_string(cmd));
  json_object_set_new(root, "family", json_string(xr_family_name(f)));
  json_object_set_new(root, "old", cli_json_string(old_p, ol));
  json_object_set_new(root, "new", cli_json_string(new_p, nl));
  json_object_set_new(root, "apply", json_boolean(apply));
  json_object_set_new(root, "all", json_boolean(all));
  static const struct {
    const char *name;
    size_t offset;
  } counts[] = {
      {"scanned", offsetof(xr_migrate_stats, scanned)},         {"with_ttl", offsetof(xr_migrate_stats, with_ttl)},
      {"without_ttl", offsetof(xr_migrate_stats, without_ttl)}, {"vanished", offsetof(xr_migrate_stats, vanished)},
      {"new_present", offsetof(xr_migrate_stats, new_present)}, {"chosen", offsetof(xr_migrate_stats, chosen)},
      {"copied", offsetof(xr_migrate_stats, copied)},           {"kept_newer", offsetof(xr_migrate_stats, kept_newer)},
      {"deleted", offsetof(xr_migrate_stats, deleted)},         {"changed", offsetof(xr_migrate_stats, changed)},
  };
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
    json_object_set_new(root, counts[i].name,
                        json_integer((json_int_t) * (const size_t *)((const char *)s + counts[i].offset)));
  json_object_set_new(root, "last_expiry_ms", json_integer(s->last_expiry_ms));
  for (size_t i = 0; i < s->n_examples; i++) json_array_append_new(ex, cli_json_string(s->examples[i], s->example_lens[i]));
  json_object_set_new(root, "examples", ex);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (!text) return cli_fail("migrate: out of memory");
  puts(text);
  free(text);
  return CLI_OK;
}

int cli_migrate(int argc, char **argv) {
  const char *url_flag = NULL, *url = NULL, *family_path = NULL, *name = NULL, *rate_text = NULL, *count_text = NULL;
  const char *cmd = NULL;
  bool json = false, apply = false, all = false;
  for (int i = 1; i < argc; i++) {
    int m;
    if (cli_is_help(argv[i])) {
      migrate_usage(stdout);
      return CLI_OK;
    } else if ((m = cli_flag_value(argc, argv, &i, "--url", &url_flag, "migrate")) ||
               (m = cli_flag_value(argc, argv, &i, "--family", &family_path, "migrate")) ||
               (m = cli_flag_value(argc, argv, &i, "--name", &name, "migrate")) ||
               (m = cli_flag_value(argc, argv, &i, "--rate", &rate_text, "migrate")) ||
               (m = cli_flag_value(argc, argv, &i, "--count", &count_text, "migrate"))) {
      if (m < 0) return CLI_USAGE;
    } else if (!strcmp(argv[i], "--json")) {
      json = true;
    } else if (!strcmp(argv[i], "--apply")) {
      apply = true;
    } else if (!strcmp(argv[i], "--all")) {
      all = true;
    } else if (!cmd && (!strcmp(argv[i], "plan") || !strcmp(argv[i], "copy") || !strcmp(argv[i], "verify"))) {
      cmd = argv[i];
    } else {
      return cli_usage_error("migrate", migrate_usage, "unexpected argument '%s'", argv[i]);
    }
  }
  if (!cmd) return cli_usage_error("migrate", migrate_usage, "say plan, copy or verify");
  if (cli_server_url("migrate", url_flag, migrate_usage, &url) != CLI_OK) return CLI_USAGE;
  if (!family_path) return cli_usage_error("migrate", migrate_usage, "--family FILE is required");
  if ((apply || all) && strcmp(cmd, "copy"))
    return cli_usage_error("migrate", migrate_usage, "--apply and --all are for copy, not %s", cmd);
  long rate = 10000, count = 1000;
  if (rate_text && !cli_parse_long(rate_text, 0, 1000000000L, &rate))
    return cli_usage_error("migrate", migrate_usage, "--rate wants a whole number from 0 up, not '%s'", rate_text);
  if (count_text && !cli_parse_long(count_text, 1, 1000000000L, &count))
    return cli_usage_error("migrate", migrate_usage, "--count wants a whole number from 1 up, not '%s'", count_text);
  size_t len = 0;
  char *text = read_file(family_path, &len);
  if (!text) {
    fprintf(stderr, "crossredis migrate: cannot read the family file %s\n", family_path);
    return CLI_USAGE;
  }
  xr_family *f = NULL;
  int rc = xr_family_load_json_named(&f, text, len, name);
  free(text);
  if (rc) {
    fprintf(stderr, "crossredis migrate: %s: %s\n", family_path, xr_error_last()->message);
    return CLI_USAGE;
  }
  xr_client *c = cli_connect("migrate", url);
  if (!c) {
    xr_family_free(f);
    return CLI_FAILED;
  }
  progress_state ps = {cmd, cli_monotonic_ms(), 0};
  xr_migrate_options o = XR_MIGRATE_OPTIONS_INIT;
  o.count = (int)count;
  o.rate = rate;
  o.all = all;
  o.apply = apply;
  o.progress = on_progress;
  o.progress_ctx = &ps;
  xr_migrate_stats s;
  if (!strcmp(cmd, "plan")) rc = xr_migrate_plan(c, f, &o, &s);
  else if (!strcmp(cmd, "copy")) rc = xr_migrate_copy(c, f, &o, &s);
  else rc = xr_migrate_verify(c, f, &o, &s);
  int status = CLI_OK;
  if (rc) status = cli_fail("migrate");
  else if (json) status = print_json(cmd, f, &s, apply, all);
  else print_table(cmd, f, &s, apply, all);
  if (!rc && status == CLI_OK && !strcmp(cmd, "verify") && s.scanned) status = CLI_FAILED;
  xr_migrate_stats_clear(&s);
  xr_family_free(f);
  xr_client_close(c);
  return status;
}

/* ---- the demo's migration (demo.c) ------------------------------------------------------------- */

static int demo_failed(xr_client *c, xr_window *w, xr_family *f, const char *what) {
  int status = cli_fail(what);
  xr_window_free(w);
  xr_family_free(f);
  xr_client_close(c);
  return status;
}

int cli_demo_migrate(const char *url, const char *prefix) {
  enum { MEMBERS = 20, WITH_TTL = 12 };
  xr_client *c = NULL;
  xr_family *f = NULL;
  xr_window *w = NULL;
  if (xr_tls_client_open_url(&c, url, NULL) != 0) return demo_failed(c, w, f, "demo: connect");
  char old_p[160], new_p[160], ids[MEMBERS][40];
  snprintf(old_p, sizeof old_p, "%ssession:<id:uuid>", prefix);
  snprintf(new_p, sizeof new_p, "%ssession:{session:<id:uuid>}", prefix);
  if (xr_family_new(&f, "demo-session", old_p, strlen(old_p), new_p, strlen(new_p)))
    return demo_failed(c, w, f, "demo: family");
  cli_demo_row("family: old shape", "%s", old_p);
  cli_demo_row("        new shape", "%s", new_p);
  for (int i = 0; i < MEMBERS; i++) {
    snprintf(ids[i], sizeof ids[i], "0f8fad5b-d9cb-469f-a165-7086772895%02d", i);
    char *k = NULL;
    size_t kl;
    xr_key_span v = {ids[i], strlen(ids[i])};
    if (xr_family_keys(f, &k, &kl, NULL, NULL, &v, 1)) return demo_failed(c, w, f, "demo: keys");
    const char *set[] = {"HSET", k, "user", ids[i], "EXPIRE", k, "600"};
    int rc = xr_client_command(c, NULL, 4, set, NULL);
    if (!rc && i < WITH_TTL) rc = xr_client_command(c, NULL, 3, set + 4, NULL);
    xr_free(k);
    if (rc) return demo_failed(c, w, f, "demo: old-shape keys");
  }
  xr_migrate_stats s;
  xr_migrate_options o = XR_MIGRATE_OPTIONS_INIT;
  if (xr_migrate_plan(c, f, &o, &s)) return demo_failed(c, w, f, "demo: migrate plan");
  cli_demo_row("migrate plan", "%zu old-shape keys: %zu with a TTL, %zu without", s.scanned, s.with_ttl, s.without_ttl);
  xr_migrate_stats_clear(&s);
  char *ok = NULL, *nk = NULL;
  size_t okl, nkl;
  xr_key_span v = {ids[WITH_TTL], strlen(ids[WITH_TTL])}; /* a member without a TTL */
  if (xr_family_keys(f, &ok, &okl, &nk, &nkl, &v, 1)) return demo_failed(c, w, f, "demo: keys");
  cli_demo_row("a member's slots", "old %u, new %u (the tag's)", xr_key_slot(ok, okl), xr_key_slot(nk, nkl));
  const char *hget_new[] = {"HGET", nk, "user"};
  xr_reply *r = NULL;
  int rc = xr_client_command(c, &r, 3, hget_new, NULL);
  cli_demo_row("hard cut-over: HGET of the new key", "%s", !rc && xr_reply_kind(r) == XR_REPLY_NIL
                                                              ? "(nil): the live value is missed"
                                                              : "found");
  xr_reply_free(r);
  xr_window_options wo = XR_WINDOW_OPTIONS_INIT;
  wo.copy_forward = 1;
  if (xr_window_new(&w, c, f, &wo)) rc = -1;
  const char *hget[] = {"HGET", "user"}, *hset[] = {"HSET", "seen", "1"};
  if (!rc) rc = xr_window_read(w, &r, &v, 1, 2, hget, NULL);
  if (!rc) {
    size_t len = 0;
    const char *text = xr_reply_str(r, &len);
    cli_demo_row("window read (copy forward)", "%.*s, from the old key; the new key now exists", (int)len,
                 text ? text : "?");
    xr_reply_free(r);
  }
  if (!rc) rc = xr_window_write(w, NULL, &v, 1, 3, hset, NULL);
  if (!rc) cli_demo_row("window write HSET seen 1", "on the new key and on the old one, which still exists");
  xr_free(ok);
  xr_free(nk);
  if (rc) return demo_failed(c, w, f, "demo: window");
  size_t remaining = 0;
  rc = xr_window_close(w, &remaining);
  cli_demo_row("window close", "refused: %zu old-shape keys remain", remaining);
  o.apply = 1;
  if (xr_migrate_copy(c, f, &o, &s)) return demo_failed(c, w, f, "demo: migrate copy");
  cli_demo_row("migrate copy --apply", "%zu copied, %zu newer kept, %zu old deleted (no TTL)", s.copied, s.kept_newer,
               s.deleted);
  xr_migrate_stats_clear(&s);
  o.all = 1;
  if (xr_migrate_copy(c, f, &o, &s)) return demo_failed(c, w, f, "demo: migrate copy --all");
  cli_demo_row("migrate copy --apply --all", "%zu copied with their expiry, %zu old deleted", s.copied, s.deleted);
  xr_migrate_stats_clear(&s);
  if (xr_migrate_verify(c, f, &o, &s)) return demo_failed(c, w, f, "demo: migrate verify");
  cli_demo_row("migrate verify", "%zu old-shape keys left", s.scanned);
  xr_migrate_stats_clear(&s);
  if (xr_window_close(w, &remaining)) return demo_failed(c, w, f, "demo: window close");
  cli_demo_row("window close", "closed: the old shape is never touched again");
  for (int i = 0; i < MEMBERS; i++) {
    xr_key_span m = {ids[i], strlen(ids[i])};
    if (xr_window_delete(w, NULL, &m, 1)) return demo_failed(c, w, f, "demo: cleanup");
  }
  xr_window_free(w);
  xr_family_free(f);
  xr_client_close(c);
  return CLI_OK;
}
