/* Small things every subcommand uses: allocation that cannot fail, the monotonic clock, seconds
 * written for people. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void out_of_memory(size_t size) {
  fprintf(stderr, "crossredis: out of memory (%zu bytes)\n", size);
  abort();
}

void *cli_xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p) out_of_memory(size);
  return p;
}

void *cli_xrealloc(void *p, size_t size) {
  void *q = realloc(p, size ? size : 1);
  if (!q) out_of_memory(size);
  return q;
}

double cli_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

const char *cli_format_seconds(char *buf, size_t size, double seconds) {
  snprintf(buf, size, "%.1f", seconds);
  size_t n = strlen(buf);
  if (n > 2 && !strcmp(buf + n - 2, ".0")) buf[n - 2] = '\0';
  return buf;
}
