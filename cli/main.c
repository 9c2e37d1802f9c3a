#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "crossredis/error.h"

/* A command without a summary is internal (the interop driver): it works and has --help, but the
 * usage does not list it. */
static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"locks", cli_locks, "list the Chat SDK locks with their TTL and the runtime that took each"},
    {"drain", cli_drain, "wait until no lock taken by a given runtime remains"},
    {"inventory", cli_inventory, "list the keys by declared pattern: owners, TTLs, memory, Cluster readiness"},
    {"sessions", cli_sessions, "list toolhive's transport sessions by type, with TTL, age and owner"},
    {"migrate", cli_migrate, "move a key family to its new shape: plan, copy (resumable), verify"},
    {"interop", cli_interop, "run the cross-runtime interop matrix (interop/run.py) on a server"},
    {"demo", cli_demo, "show the client at work on a throwaway local redis-server (or --url)"},
    {"driver", cli_driver, NULL},
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: crossredis <command> [options]\n"
          "\n"
          "Redis state shared by TypeScript, Python and Go programs, written byte for byte as each\n"
          "runtime's library writes it.\n"
          "\n"
          "commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (commands[i].summary) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n'crossredis <command> --help' tells more; 'crossredis --version' the version.\n");
}

int cli_fail(const char *what) {
  fprintf(stderr, "crossredis: %s: ", what);
  cli_print_redacted(stderr, xr_error_last()->message);
  fputc('\n', stderr);
  return CLI_FAILED;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return CLI_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("crossredis %s\n", CROSSREDIS_VERSION);
    return CLI_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fputs("crossredis: unknown command '", stderr);
  cli_print_redacted(stderr, argv[1]);
  fputs("'\n\n", stderr);
  usage(stderr);
  return CLI_USAGE;
}
