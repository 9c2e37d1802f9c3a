/* Which commands the pooled command API refuses, and why: a pooled connection serves whichever
 * call takes it next, so a command that changes the connection's state (its database, its user,
 * its reply mode, a subscription, an open transaction) would silently change what later calls
 * do: replies shifted by one, writes landing in another database. */
#include <strings.h>

#include "net/client_internal.h"

typedef struct guarded {
  const char *name;  /* the command */
  const char *sub;   /* its subcommand, or NULL for every use of the command */
  int txn;           /* a transaction command: allowed in a batch that closes it */
  const char *instead;
} guarded;

static const guarded table[] = {
    {"SELECT", NULL, 0, "choose the database in the URL (redis://host:6379/2) or the db option"},
    {"SWAPDB", NULL, 0, NULL},
    {"AUTH", NULL, 0, "give the username and password in the URL or the options"},
    {"HELLO", NULL, 0, "the client speaks RESP2 and authenticates from its options"},
    {"RESET", NULL, 0, "close the client and open another"},
    {"QUIT", NULL, 0, "close the client"},
    {"MONITOR", NULL, 0, "MONITOR needs a connection of its own (redis-cli monitor)"},
    {"SUBSCRIBE", NULL, 0, "pub/sub needs a connection of its own: a subscriber API (the ayepi broker) is planned"},
    {"PSUBSCRIBE", NULL, 0, "pub/sub needs a connection of its own: a subscriber API (the ayepi broker) is planned"},
    {"SSUBSCRIBE", NULL, 0, "pub/sub needs a connection of its own: a subscriber API (the ayepi broker) is planned"},
    {"UNSUBSCRIBE", NULL, 0, "pub/sub needs a connection of its own"},
    {"PUNSUBSCRIBE", NULL, 0, "pub/sub needs a connection of its own"},
    {"SUNSUBSCRIBE", NULL, 0, "pub/sub needs a connection of its own"},
    {"CLIENT", "REPLY", 0, "every command's reply is read; send the commands whose replies you do not need in a batch"},
    {"CLIENT", "TRACKING", 0, "client-side caching needs a connection of its own"},
    {"CLIENT", "CACHING", 0, "client-side caching needs a connection of its own"},
    {"CLIENT", "SETNAME", 0, "set client_name in the URL or the options"},
    {"CLIENT", "SETINFO", 0, NULL},
    {"CLIENT", "NO-EVICT", 0, NULL},
    {"CLIENT", "NO-TOUCH", 0, NULL},
    {"READONLY", NULL, 0, NULL},
    {"READWRITE", NULL, 0, NULL},
    {"MULTI", NULL, 1, "put MULTI ... EXEC in one batch, which runs on one connection"},
    {"EXEC", NULL, 1, "put MULTI ... EXEC in one batch, which runs on one connection"},
    {"DISCARD", NULL, 1, "put MULTI ... DISCARD in one batch, which runs on one connection"},
    {"WATCH", NULL, 1, "put WATCH, MULTI ... EXEC in one batch, which runs on one connection"},
    {"UNWATCH", NULL, 1, "put WATCH ... UNWATCH in one batch, which runs on one connection"},
};

static int is(const char *want, const char *p, size_t n) {
  size_t i = 0;
  for (; i < n && want[i]; i++)
    if ((p[i] & ~0x20) != want[i] && p[i] != want[i]) return 0;
  return i == n && want[i] == '\0';
}

/* Follows MULTI/EXEC/DISCARD/WATCH/UNWATCH through a batch. */
static void track(xr_txn *t, const char *name) {
  if (!strcasecmp(name, "MULTI")) t->in_multi = 1;
  else if (!strcasecmp(name, "EXEC") || !strcasecmp(name, "DISCARD")) t->in_multi = 0, t->watching = 0;
  else if (!strcasecmp(name, "WATCH")) t->watching = 1;
  else if (!strcasecmp(name, "UNWATCH") && !t->in_multi) t->watching = 0;
}

int xr_check_pooled_command(const char *fn, const char *name, size_t len, const char *sub, size_t sublen,
                            xr_txn *txn) {
  if (len < 4 || len > 12) return XR_OK; /* the shortest and longest names in the table */
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    const guarded *g = &table[i];
    if (!is(g->name, name, len)) continue;
    if (g->sub && !(sub && is(g->sub, sub, sublen))) continue;
    if (g->txn && txn) {
      track(txn, g->name);
      return XR_OK;
    }
    XR_UNUSED(fn);
    return xr_fail(XR_EINVAL, "%s%s%s changes the state of a pooled connection, which later calls would inherit%s%s",
                   g->name, g->sub ? " " : "", g->sub ? g->sub : "", g->instead ? ": " : "",
                   g->instead ? g->instead : "");
  }
  return XR_OK;
}

int xr_txn_check_closed(const xr_txn *t, const char *fn) {
  if (t->in_multi) return xr_fail(XR_EINVAL, "%s: the batch ends inside MULTI: add EXEC or DISCARD", fn);
  if (t->watching) return xr_fail(XR_EINVAL, "%s: the batch ends with keys still WATCHed: add MULTI ... EXEC or UNWATCH", fn);
  return XR_OK;
}
