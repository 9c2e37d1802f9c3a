/* The one MONITOR normaliser of the test suites: the C tests call it directly, the Python and Node
 * tests through xr-monitor-normalize (monitor_main.c), so a captured vector and what a client sent
 * are compared by the same rules in every runtime.
 *
 *   <ts> [0 127.0.0.1:39152] "SET" "k" "v"   ->  client "SET" "k" "v"
 *   <ts> [0 lua] "pexpire" "k" "30000"       ->  lua "PEXPIRE" "k" "30000"
 *
 * Command names are upper-cased (ioredis sends them lower-case). A client EVAL or EVALSHA loses
 * its script or digest (runtimes differ in the script's white space, SPEC.md 1.2: the keys,
 * arguments and the [0 lua] effects are what must match), and an EVALSHA refused with NOSCRIPT,
 * which shows as the same line directly followed by its EVAL, is counted once. Arguments keep
 * MONITOR's escaping (\" \\ \xNN), which is the same on both sides. Optional masks for what
 * differs run to run: XRT_MASK_TOKENS turns <prefix>_<13 digits>_<suffix> into
 * <prefix>_<MS>_<SFX>; XRT_MASK_MS turns any other 13-digit number into <MS>. */
#ifndef XR_TEST_MONITOR_H
#define XR_TEST_MONITOR_H

#include <stddef.h>

enum { XRT_MASK_TOKENS = 1u << 0, XRT_MASK_MS = 1u << 1 };

/* One line (as the server sends it, without '+' and CRLF, or as redis-cli prints it, maybe after
 * an annotation column such as "[setup]": the "[<db> <client>]" is the first '[' followed by a
 * digit) normalized, malloc'd; NULL when it is not a command line ("OK", a comment, nothing). *bad (may be NULL) is set to 1 when the
 * line looks like a command but an argument is unterminated (also NULL then). */
char *xrt_monitor_normalize(const char *line, unsigned flags, int *bad);

/* The masks alone, over a normalized line; malloc'd. */
char *xrt_monitor_mask(const char *s, unsigned flags);

/* Normalizes n lines into out (malloc'd strings, *out_n of them, in order; the array malloc'd),
 * counting a NOSCRIPT EVALSHA and its EVAL once. Returns 0, or -1 when a line was bad (its index
 * in *bad_line) or memory ran out (*bad_line = n). */
int xrt_monitor_normalize_lines(char *const *lines, size_t n, unsigned flags, char ***out, size_t *out_n,
                                size_t *bad_line);

#endif
