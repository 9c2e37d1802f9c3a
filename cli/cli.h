/* The crossredis command: one source per subcommand, dispatched by main.c, and the helpers they
 * share (command line, connecting, showing bytes). */
#ifndef CROSSREDIS_CLI_H
#define CROSSREDIS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "crossredis/client.h"

#ifndef CROSSREDIS_VERSION
#define CROSSREDIS_VERSION "0.1.0"
#endif

/* Exit statuses: 0 done, 1 the work failed, 2 the command line was wrong. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

/* The subcommands: argv[0] is the subcommand's name. */
int cli_demo(int argc, char **argv);
int cli_locks(int argc, char **argv);
int cli_drain(int argc, char **argv);
int cli_driver(int argc, char **argv);
int cli_interop(int argc, char **argv);

/* Prints "crossredis: <what>: <last error message>" on stderr and returns CLI_FAILED. */
int cli_fail(const char *what);

/* ---- the command line (args.c) ---------------------------------------------------------------- */

/* $REDIS_URL when set and not empty, else redis://127.0.0.1:6379. */
const char *cli_default_url(void);

/* Whether argv[*i] is --help or -h. */
bool cli_is_help(const char *arg);

/* Matches "--name VALUE" or "--name=VALUE" at argv[*i]. Returns 1 when it matched (*value set,
 * *i moved to the last argument used), 0 when argv[*i] is another argument, -1 when the value is
 * missing (the message is printed, naming the command `cmd`). */
int cli_flag_value(int argc, char **argv, int *i, const char *name, const char **value, const char *cmd);

/* Prints "crossredis <cmd>: <message>", a blank line and the usage on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, void (*usage)(FILE *), const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses a whole decimal integer in [min, max]; false when `text` is anything else. */
bool cli_parse_long(const char *text, long min, long max, long *out);
/* Parses a decimal number of seconds (fractions allowed) in [0, max]. */
bool cli_parse_seconds(const char *text, double max, double *out);

/* Opens a client from `url` (redis://, rediss:// with ca_file, cert_file, key_file, server_name,
 * insecure, unix://) and checks it with a PING. NULL after printing
 * "crossredis: <cmd>: <why>" (cannot connect, authentication failed, TLS, a bad URL). */
xr_client *cli_connect(const char *cmd, const char *url);

/* Monotonic milliseconds, for durations. */
double cli_monotonic_ms(void);

/* "2.4" or "60": seconds with one decimal, without a trailing ".0", into buf. */
const char *cli_format_seconds(char *buf, size_t size, double seconds);

/* ---- bytes shown to people and in JSON (text.c) ------------------------------------------------ */

/* A NUL-terminated copy of `s` for a terminal: printable ASCII and valid UTF-8 as they are,
 * a backslash as "\\", every other byte as "\xNN". Never NULL (aborts when out of memory). */
char *cli_text_escape(const char *s, size_t len);

/* A JSON string of `s`: valid UTF-8 as it is, each invalid byte as U+FFFD (JSON holds text only).
 * NUL bytes are kept (written as \u0000). A new reference; never NULL. */
json_t *cli_json_string(const char *s, size_t len);

/* Allocation that aborts with a message when memory runs out (the command has no way to go on). */
void *cli_xmalloc(size_t size);
void *cli_xrealloc(void *p, size_t size);

/* ---- the interop runner (interop.c) ----------------------------------------------------------- */

/* Runs interop/run.py with `args` (nargs of them, passed through) plus "--crossredis <this
 * program>", waiting for it (fork, exec, waitpid), and returns its exit status (CLI_FAILED when it
 * was killed or could not be started, after saying why). `cmd` names the caller in messages. */
int cli_interop_run(const char *cmd, const char *const *args, int nargs);

#endif
