/* The demo's inventory step: a Chat SDK thread in the upstream layout (a lock and a queue entry,
 * through the core) and one in the tagged layout, inventoried read-only under the demo's prefix;
 * the owners the values tell and each layout's Cluster readiness verdict. Keys deleted after. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "crossredis/alloc.h"
#include "crossredis/chat.h"
#include "crossredis/error.h"
#include "crossredis/inventory.h"
#include "crossredis/keys.h"
#include "crossredis/timestamp.h"

/* Writes the two threads' keys under `chat_prefix`; the keys written into keys[] (up to 4). */
static int write_threads(xr_client *c, const char *chat_prefix, char keys[][224], size_t *nkeys) {
  xr_chat_options o = XR_CHAT_OPTIONS_INIT;
  o.key_prefix = chat_prefix;
  xr_chat *chat = NULL;
  if (xr_chat_new(&chat, c, &o)) return -1;
  static const char thread[] = "slack:C123:1700000000.000100";
  bool got = false;
  xr_chat_lock lock;
  int64_t now = xr_time_now_ms();
  int rc = xr_chat_acquire_lock(chat, &got, &lock, thread, sizeof thread - 1, 30000);
  if (!rc) rc = xr_chat_enqueue(chat, NULL, thread, sizeof thread - 1, "{\"text\":\"hi\"}", 13, now, now + 90000, 10);
  xr_chat_free(chat);
  snprintf(keys[0], sizeof keys[0], "%.128s:lock:%s", chat_prefix, thread);
  snprintf(keys[1], sizeof keys[1], "%.128s:queue:%s", chat_prefix, thread);
  /* the tagged layout: the thread id inside braces, so lock and queue share a slot */
  snprintf(keys[2], sizeof keys[2], "%.128s:lock:{%s}", chat_prefix, thread);
  snprintf(keys[3], sizeof keys[3], "%.128s:queue:{%s}", chat_prefix, thread);
  *nkeys = 4;
  char *entry = NULL;
  size_t entry_len = 0;
  if (!rc) rc = xr_chat_encode_queue_entry(&entry, &entry_len, "{\"text\":\"hi\"}", 13, now, now + 90000,
                                           XR_CHAT_QUEUE_PYTHON, XR_JSON_PYTHON);
  if (!rc) {
    const char *set[] = {"SET", keys[2], "ioredis_1795298445821_605290f06e43cd9c42a41d407ba4e551", "PX", "30000"};
    const char *push[] = {"RPUSH", keys[3], entry};
    size_t push_lens[] = {5, strlen(keys[3]), entry_len};
    rc = xr_client_command(c, NULL, 5, set, NULL);
    if (!rc) rc = xr_client_command(c, NULL, 3, push, push_lens);
  }
  xr_free(entry);
  return rc;
}

static const json_t *find_by(const json_t *list, const char *member, const char *value) {
  for (size_t i = 0; i < json_array_size(list); i++) {
    const char *s = json_string_value(json_object_get(json_array_get(list, i), member));
    if (s && !strcmp(s, value)) return json_array_get(list, i);
  }
  return NULL;
}

/* "crossredis or ts-node-redis 1" from a pattern's owners. */
static void owners_text(const json_t *pattern, char *out, size_t size) {
  const char *name;
  json_t *n;
  size_t at = 0;
  out[0] = '\0';
  json_object_foreach(json_object_get(pattern, "owners"), name, n) {
    int w = snprintf(out + at, size - at, "%s%s %lld", at ? ", " : "", name, (long long)json_integer_value(n));
    if (w < 0 || (size_t)w >= size - at) break;
    at += (size_t)w;
  }
}

static void show_report(const json_t *j, const char *chat_prefix) {
  cli_demo_row("inventory under the demo's prefix", "%lld keys, %lld commands (SCAN, TYPE, PTTL, MEMORY USAGE, GET, "
               "LINDEX): read-only, at most %lld/s",
               (long long)json_integer_value(json_object_get(j, "keys")),
               (long long)json_integer_value(json_object_get(j, "commands")),
               (long long)json_integer_value(json_object_get(j, "rate")));
  static const char *const rests[] = {":lock:<thread>", ":queue:<thread>", ":lock:{<thread>}", ":queue:{<thread>}"};
  for (size_t i = 0; i < 4; i++) {
    char text[256], owners[256];
    snprintf(text, sizeof text, "%s%s", chat_prefix, rests[i]);
    const json_t *p = find_by(json_object_get(j, "patterns"), "pattern", text);
    if (!p) continue;
    owners_text(p, owners, sizeof owners);
    snprintf(text, sizeof text, "chat-sdk%s", rests[i]); /* the demo's prefix is long: shown as the default */
    cli_demo_row(text, "%lld key, owner %s", (long long)json_integer_value(json_object_get(p, "count")), owners);
  }
  static const char *const units[] = {"chat-thread", "chat-thread-tagged"};
  for (size_t i = 0; i < 2; i++) {
    const json_t *u = find_by(json_object_get(j, "units"), "unit", units[i]);
    if (!u) continue;
    char what[64];
    snprintf(what, sizeof what, "Cluster readiness: %s", units[i]);
    const char *v = json_string_value(json_object_get(u, "verdict"));
    const char *colon = v ? strchr(v, ':') : NULL;
    cli_demo_row(what, "%s (%lld of %lld threads split across slots)",
                 json_is_true(json_object_get(u, "ready")) ? "READY" : "NOT READY",
                 (long long)json_integer_value(json_object_get(json_object_get(u, "observed"), "split")),
                 (long long)json_integer_value(json_object_get(json_object_get(u, "observed"), "instances")));
    if (!colon) continue;
    char shown[512]; /* the demo's prefix shown as the default, as in the rows above */
    size_t at = 0, pl = strlen(chat_prefix);
    for (const char *q = colon + 2; *q && at + 9 < sizeof shown;) {
      if (!strncmp(q, chat_prefix, pl)) {
        memcpy(shown + at, "chat-sdk", 8);
        at += 8;
        q += pl;
      } else {
        shown[at++] = *q++;
      }
    }
    shown[at] = '\0';
    cli_demo_row("", "%s", shown);
  }
}

int cli_demo_inventory(xr_client *c, const char *prefix) {
  char chat_prefix[128], match[160], keys[4][224];
  size_t nkeys = 0;
  snprintf(chat_prefix, sizeof chat_prefix, "%schat-sdk", prefix);
  char *esc = NULL;
  size_t esc_len = 0;
  if (xr_key_escape_glob(&esc, &esc_len, prefix, strlen(prefix))) return cli_fail("inventory");
  snprintf(match, sizeof match, "%.*s*", (int)esc_len, esc);
  xr_free(esc);
  int status = CLI_OK;
  xr_inventory_report *r = NULL;
  char *text = NULL;
  size_t len = 0;
  xr_inventory_options o = XR_INVENTORY_OPTIONS_INIT;
  o.match = match;
  o.chat_prefix = chat_prefix;
  if (write_threads(c, chat_prefix, keys, &nkeys) || xr_inventory_run(&r, c, &o) ||
      xr_inventory_report_json(r, &text, &len)) {
    status = cli_fail("inventory");
  } else {
    json_t *j = json_loadb(text, len, 0, NULL);
    if (j) show_report(j, chat_prefix);
    json_decref(j);
  }
  for (size_t i = 0; i < nkeys; i++) {
    const char *del[] = {"DEL", keys[i]};
    xr_client_command(c, NULL, 2, del, NULL);
  }
  xr_free(text);
  xr_inventory_report_free(r);
  return status;
}
