/* The crossredis command: one source per subcommand, dispatched by main.c. */
#ifndef CROSSREDIS_CLI_H
#define CROSSREDIS_CLI_H

/* Exit statuses: 0 done, 1 the work failed, 2 the command line was wrong. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

int cli_demo(int argc, char **argv);

/* Prints "crossredis: <what>: <last error message>" on stderr and returns CLI_FAILED. */
int cli_fail(const char *what);

#endif
