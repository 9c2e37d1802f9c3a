/* What the C benchmarks share (lock_cycle.c, session_cycle.c): failing with the program's name,
 * the clock, option numbers, the client timeouts both sides use, and the worker loop that
 * bench/sessions/suite.py drives. Header-only: each benchmark is one source file. */
#ifndef XR_BENCH_UTIL_H
#define XR_BENCH_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <crossredis/error.h>

/* crossredis's defaults, set on every client of a benchmark (hiredis contexts and go-redis too). */
enum { BENCH_CONNECT_TIMEOUT_MS = 5000, BENCH_COMMAND_TIMEOUT_MS = 3000 };

static const char *bench_prog = "bench"; /* the program's name in its messages */

static void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn, unused));
static void bench_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", bench_prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* A crossredis call that must succeed: its message and code otherwise. */
static __attribute__((unused)) void bench_check(int rc, const char *what) {
  if (rc != 0) bench_fail("%s: %s (%s)", what, xr_error_last()->message, xr_error_name(rc));
}

static __attribute__((unused)) double bench_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A decimal option value >= min; usage() (which exits) otherwise. */
static __attribute__((unused)) long bench_parse_long(const char *s, long min, void (*usage)(void)) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min) usage();
  return v;
}

/* The process's CPU time (user + system, every thread), in seconds. */
static __attribute__((unused)) double bench_cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* The worker protocol of bench/sessions/suite.py: "ready VERSIONS" (a JSON object), then per stdin
 * line "MODE N" one run of about N cycles by run(ctx, MODE, &cycles) (which sets the cycles it did
 * and returns the seconds they took), answered "MODE CYCLES SECONDS CPU_SECONDS" (the process's
 * CPU time during the run); returns at the end of stdin. */
static __attribute__((unused)) void bench_worker(void *ctx, const char *versions,
                                                 double (*run)(void *ctx, const char *mode, long *cycles)) {
  char line[256], name[64];
  long n;
  printf("ready %s\n", versions);
  fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {
    if (strspn(line, " \t\r\n") == strlen(line)) continue;
    if (sscanf(line, "%63s %ld", name, &n) != 2 || n < 1) bench_fail("worker: want \"MODE N\", got %s", line);
    double cpu = bench_cpu_s();
    double s = run(ctx, name, &n);
    printf("%s %ld %.9f %.6f\n", name, n, s, bench_cpu_s() - cpu);
    fflush(stdout);
  }
}

#endif
