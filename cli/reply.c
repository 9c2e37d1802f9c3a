/* Reading what servers answer about themselves: a field of INFO text, a field of a flat map
 * (SENTINEL MASTER and CLUSTER SHARDS answer arrays of names and values in RESP2, maps in RESP3). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

bool cli_info_field(const char *info, const char *name, char *out, size_t size) {
  size_t n = strlen(name);
  for (const char *line = info; line && *line;) {
    if (!strncmp(line, name, n) && line[n] == ':') {
      const char *v = line + n + 1;
      snprintf(out, size, "%.*s", (int)strcspn(v, "\r\n"), v);
      return true;
    }
    line = strchr(line, '\n');
    if (line) line++;
  }
  return false;
}

const xr_reply *cli_map_value(const xr_reply *map, const char *name) {
  size_t n = map ? xr_reply_count(map) : 0;
  for (size_t i = 0; i + 1 < n; i += 2) {
    const char *key = xr_reply_str(xr_reply_at(map, i), NULL);
    if (key && !strcmp(key, name)) return xr_reply_at(map, i + 1);
  }
  return NULL;
}

const char *cli_map_text(const xr_reply *map, const char *name) {
  const xr_reply *r = cli_map_value(map, name);
  const char *v = r ? xr_reply_str(r, NULL) : NULL;
  return v ? v : "";
}
