/* xr-monitor-normalize: MONITOR lines on stdin, the normalized lines on stdout (monitor.h), for the
 * Python and Node test suites, which must compare by the same rules as the C tests.
 * Usage: xr-monitor-normalize [--mask | --no-mask]   (--mask, the default: both masks) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.h"

int main(int argc, char **argv) {
  unsigned flags = XRT_MASK_TOKENS | XRT_MASK_MS;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--no-mask") == 0) flags = 0;
    else if (strcmp(argv[i], "--mask") == 0) flags = XRT_MASK_TOKENS | XRT_MASK_MS;
    else {
      fprintf(stderr, "usage: xr-monitor-normalize [--mask | --no-mask] < lines\n");
      return 2;
    }
  }
  char **lines = NULL, **out = NULL, *line = NULL;
  size_t n = 0, cap = 0, lcap = 0, out_n = 0, bad;
  int status = 1; /* everything is freed on every path: sanitizer builds report a leak as an error */
  ssize_t len;
  while ((len = getline(&line, &lcap, stdin)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    if (n == cap) {
      char **grown = realloc(lines, (cap = cap ? cap * 2 : 64) * sizeof *lines);
      if (!grown) goto out_of_memory;
      lines = grown;
    }
    if (!(lines[n] = strdup(line))) goto out_of_memory;
    n++;
  }
  if (xrt_monitor_normalize_lines(lines, n, flags, &out, &out_n, &bad) != 0) {
    if (bad >= n) goto out_of_memory;
    fprintf(stderr, "xr-monitor-normalize: line %zu: unterminated argument: %s\n", bad + 1, lines[bad]);
    goto done;
  }
  for (size_t i = 0; i < out_n; i++) puts(out[i]);
  status = fflush(stdout) == 0 ? 0 : 1;
  goto done;
out_of_memory:
  fprintf(stderr, "xr-monitor-normalize: out of memory\n");
done:
  for (size_t i = 0; i < out_n; i++) free(out[i]);
  free(out);
  for (size_t i = 0; i < n; i++) free(lines[i]);
  free(lines);
  free(line);
  return status;
}
