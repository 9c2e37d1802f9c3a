/* The keyspace inventory: which keys a deployment holds, by declared pattern, read-only and at a
 * bounded rate so it can run against production. `crossredis inventory` is its command.
 *
 *   SCAN on every master (scan.h) page by page; per page one pipeline with, per key, TYPE, PTTL,
 *   MEMORY USAGE and, for the keys of patterns whose value tells the owner runtime, one read:
 *   GET of a Chat SDK lock (the token's origin, chat_origin.h), GET of a toolhive session (the
 *   record's type, session_record.h), LINDEX 0 of a Chat SDK queue or processing list (the
 *   entry's spelling: TS, Python or both). Nothing else is ever sent: no write, no KEYS.
 *
 * Each key is classified by the first pattern (key_pattern.h) that matches it: the user's patterns
 * (xr_inventory_patterns_load) before the built-in ones of every system crossredis knows (Chat SDK
 * upstream and tagged layouts, toolhive proxy and vMCP sessions, ayepi's work engine store and
 * cache, xp's buffers and registry), each with owner, readers, writers, TTL policy, tier (MPP's R0
 * coordination .. R4 queue-like), notes and unit. A key no pattern matches is generalised per ':'
 * segment (a uuid becomes {uuid}, 64 hex digits {sha256}, 32 {hex32}, digits {number}) and counted
 * under that shape.
 *
 * The aggregation streams: per pattern and per shape a fixed set of counters, a bounded number of
 * samples and a slot bitmap; at most max_shapes distinct shapes (then "(other)"); per unit at most
 * XR_INVENTORY_UNIT_INSTANCES_MAX instances remembered for the observed slot check. Memory does not
 * grow with the number of keys.
 *
 * Cluster readiness, per unit (the patterns one operation touches together, e.g. a Chat thread's
 * lock, queue and processing list): its patterns are rendered with the same field values and their
 * hash spans (keys.h) compared; equal for every value (a hash tag holding the shared field) is
 * "ready", else "not ready" naming the patterns. Observed: keys of one unit instance (the same
 * shared field values) seen on different slots.
 *
 * Rate: `rate` bounds the commands sent per second (SCAN included): a pipeline of k commands
 * starts no sooner than the previous one's start plus its k / rate seconds, and the run ends no
 * sooner than the last one's (idle time is not saved up), so a run of N commands takes at least
 * N / rate seconds. A page's keys go in pipelines of about a tenth of a second's commands at the
 * rate (rate / 40 keys, 3 or 4 commands each), so no burst is bigger than that.
 *
 * MEMORY USAGE refused (an ACL without it: NOPERM; a server without the command) is not a failure:
 * memory is reported "unknown", one warning says why, and the command is not sent again.
 *
 * Thread rules: xr_inventory_run blocks the calling thread (each pipeline waits at most the
 * client's command timeout) and calls the progress callback on it. Patterns and reports are
 * immutable once made: any thread may read them. */
#ifndef CROSSREDIS_INVENTORY_H
#define CROSSREDIS_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the user's patterns --------------------------------------------------------------------- */

typedef struct xr_inventory_patterns xr_inventory_patterns;

/* Reads a patterns file:
 *   {"patterns":[{"pattern":"mpp:browser:session:<id:uuid>","owner":"mpp","readers":["api"],
 *     "writers":["api"],"ttl_policy":"required","tier":"R1","notes":"...","unit":"browser"}]}
 * "pattern" is required (key_pattern.h's language); the rest is optional: ttl_policy "required"
 * (a key without TTL is a warning), "none" or "any" (the default), tier "R0".."R4", unit names the
 * patterns checked together for Cluster readiness. `name` (the file's, may be NULL) prefixes every
 * message: XR_EINVAL "patterns.json: patterns[2].pattern 'a<b': <the parser's message>", or
 * XR_EPARSE for text that is not JSON. *out is the caller's (xr_inventory_patterns_free). */
XR_API int xr_inventory_patterns_load(xr_inventory_patterns **out, const char *json, size_t len, const char *name);
XR_API void xr_inventory_patterns_free(xr_inventory_patterns *p);
XR_API size_t xr_inventory_patterns_count(const xr_inventory_patterns *p);

/* ---- options --------------------------------------------------------------------------------- */

#define XR_INVENTORY_OPTIONS_VERSION 1
#define XR_INVENTORY_DEFAULT_RATE 10000
#define XR_INVENTORY_UNLIMITED (-1)
#define XR_INVENTORY_UNIT_INSTANCES_MAX 50000

typedef struct xr_inventory_progress {
  uint64_t scanned;     /* keys SCAN returned so far (repeats included) */
  uint64_t classified;  /* of them, keys a pattern matched */
  uint64_t commands;    /* commands sent so far */
  size_t node, nodes;   /* the master being scanned (0-based) and how many */
  double elapsed_s;
} xr_inventory_progress;

typedef struct xr_inventory_options {
  unsigned version;        /* XR_INVENTORY_OPTIONS_VERSION */
  const char *match;       /* SCAN MATCH glob as it is; NULL: every key */
  const xr_inventory_patterns *patterns; /* the user's (borrowed for the run); NULL: none */
  uint64_t max_keys;       /* stop after this many keys; 0: every key */
  long rate;               /* commands per second; 0: XR_INVENTORY_DEFAULT_RATE;
                              XR_INVENTORY_UNLIMITED: no bound */
  int count;               /* SCAN COUNT hint; 0: 1000 */
  int samples;             /* sample keys kept per pattern and shape; 0: 3; -1: none */
  size_t max_shapes;       /* distinct unclassified shapes kept; 0: 1000 (then "(other)") */
  /* The systems' key prefixes the built-in patterns use; NULL: the system's default. */
  const char *chat_prefix;        /* "chat-sdk" (keys "<prefix>:lock:...") */
  const char *session_prefix;     /* "thv:proxy:session:" */
  const char *vmcp_prefix;        /* "thv:vmcp:session:" */
  const char *ayepi_prefix;       /* "" (the work engine's keys "<prefix>work:...") */
  const char *ayepi_cache_prefix; /* "ayepi:cache:" */
  const char *xp_prefix;          /* "xp:" */
  /* Called every 10,000 keys scanned and at the end; may be NULL. */
  void (*progress)(void *ctx, const xr_inventory_progress *p);
  void *progress_ctx;
} xr_inventory_options;

#define XR_INVENTORY_OPTIONS_INIT                                                                  \
  {XR_INVENTORY_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
   NULL}

/* ---- the run and its report ------------------------------------------------------------------ */

typedef struct xr_inventory_report xr_inventory_report;

/* Inventories c's keyspace (every master of a Cluster, the one server otherwise). XR_EINVAL for
 * bad options (a prefix that makes an invalid pattern names it); a server or connection failure as
 * it came (a SCAN, TYPE or PTTL refused fails the run; MEMORY USAGE refused does not, see above).
 * *out is the caller's (xr_inventory_report_free). */
XR_API int xr_inventory_run(xr_inventory_report **out, xr_client *c, const xr_inventory_options *options);
XR_API void xr_inventory_report_free(xr_inventory_report *r);

/* The report as one JSON object (compact, one line, no trailing newline), *out allocated (xr_free):
 *   {"keys": classified + unclassified keys counted, "scanned": keys SCAN returned (repeats and
 *    keys gone before they were read included), "vanished", "nodes": masters scanned,
 *    "commands": commands sent, "elapsed_ms", "rate": the bound (0: none), "truncated": whether
 *    max_keys stopped it, "match", "memory": "measured" or "unknown",
 *    "patterns": [ per pattern with keys, in declaration order (the user's first):
 *      {"pattern", "source": "builtin"|"file", "system", "owner", "readers", "writers",
 *       "ttl_policy", "tier", "unit", "notes", "count", "types": {type: count},
 *       "ttl": {"min_ms", "max_ms" (null without any TTL), "without_expiry"},
 *       "memory": {"total_bytes", "max_bytes"} or null when unknown,
 *       "samples": [key...], "slots": {"distinct", "some": [slot...] (up to 8)},
 *       "owners": {runtime: count} (only where the value tells), "warnings": [text...]}],
 *    "unclassified": [ the same counters per generalised shape, most keys first:
 *      {"shape", "count", "types", "ttl", "memory", "samples", "slots"} ] ("(other)" last),
 *    "units": [ per unit with keys: {"unit", "patterns": [...], "ready": bool (null when its
 *      patterns cannot be rendered with one value per shared field: no verdict), "verdict": text,
 *      "observed": {"instances", "split", "examples": [instance...]}} ],
 *    "warnings": [text...]}
 * Keys and samples are text: bytes that are not UTF-8 show as U+FFFD. */
XR_API int xr_inventory_report_json(const xr_inventory_report *r, char **out, size_t *out_len);

/* The report as a table for people (several lines, newline-terminated), *out allocated (xr_free). */
XR_API int xr_inventory_report_table(const xr_inventory_report *r, char **out, size_t *out_len);

/* A few numbers for callers and tests. */
XR_API uint64_t xr_inventory_report_keys(const xr_inventory_report *r);
XR_API uint64_t xr_inventory_report_commands(const xr_inventory_report *r);

#ifdef __cplusplus
}
#endif
#endif
