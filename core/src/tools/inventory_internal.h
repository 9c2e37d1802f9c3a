/* The inventory's parts (inventory.h): the pattern set (inventory_patterns.c), the streaming
 * counters and the report texts (inventory_report.c), the run (inventory.c). */
#ifndef CROSSREDIS_TOOLS_INVENTORY_INTERNAL_H
#define CROSSREDIS_TOOLS_INVENTORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crossredis/inventory.h"
#include "crossredis/key_pattern.h"

enum { INV_SLOTS = 16384, INV_OWNERS_MAX = 16, INV_SOME_SLOTS = 8, INV_EXAMPLES = 3 };

typedef enum inv_type { INV_STRING, INV_LIST, INV_SET, INV_ZSET, INV_HASH, INV_STREAM, INV_OTHER, INV_TYPES } inv_type;

extern const char *const inv_type_names[INV_TYPES];

typedef enum inv_ttl_policy { INV_TTL_ANY, INV_TTL_REQUIRED, INV_TTL_NONE } inv_ttl_policy;

/* What a pattern's value tells about its owner, and which read finds it out. */
typedef enum inv_reader {
  INV_READ_NONE,
  INV_READ_CHAT_LOCK,    /* GET: the token's origin */
  INV_READ_SESSION,      /* GET: the record's type */
  INV_READ_CHAT_QUEUE    /* LINDEX 0: the entry's spelling */
} inv_reader;

typedef struct inv_owner_count {
  char *name;
  uint64_t n;
} inv_owner_count;

/* The counters of one pattern or shape. */
typedef struct inv_stats {
  uint64_t count;
  uint64_t types[INV_TYPES];
  uint64_t with_ttl, without_ttl;
  int64_t ttl_min, ttl_max;
  uint64_t mem_total, mem_max;
  char **samples;
  size_t *sample_lens;
  size_t nsamples;
  uint8_t *slots;      /* INV_SLOTS bits, allocated with the first key */
  inv_owner_count owners[INV_OWNERS_MAX];
  size_t nowners;
  uint64_t owners_other;
} inv_stats;

typedef struct inv_pattern {
  xr_key_pattern *p;
  char *text;
  const char *system;  /* "chat", ... or "file" */
  bool builtin;
  char *owner, *notes, *unit, *tier;
  char **readers, **writers;
  size_t nreaders, nwriters;
  inv_ttl_policy ttl_policy;
  inv_reader reader;
  int expect_type;     /* an inv_type the system writes, -1 any */
  inv_stats st;
} inv_pattern;

struct xr_inventory_patterns {
  inv_pattern *v;
  size_t n;
};

/* One unit instance remembered for the observed check: its shared field values and its slot. */
typedef struct inv_instance {
  char *id;
  size_t id_len;
  int slot;            /* -1: an empty bucket */
  bool split;
} inv_instance;

typedef struct inv_unit {
  char *name;
  size_t *members;     /* indexes into the report's patterns */
  size_t nmembers;
  char **shared;       /* field names every member has */
  size_t nshared;
  bool ready;
  bool unknown;        /* the patterns could not be rendered: no verdict */
  char *verdict;
  bool seen;           /* a key of the unit was counted */
  inv_instance *table; /* open addressing, cap entries */
  size_t cap, used;
  uint64_t instances, split;
  char *examples[INV_EXAMPLES];
  size_t nexamples;
} inv_unit;

typedef struct inv_shape {
  char *shape;         /* NULL: an empty bucket */
  size_t len;
  inv_stats st;
} inv_shape;

struct xr_inventory_report {
  inv_pattern *patterns; /* the user's copies then the built-ins (owned) */
  size_t npatterns;
  inv_unit *units;
  size_t nunits;
  inv_shape *shapes;     /* open addressing */
  size_t shape_cap, nshapes, max_shapes;
  inv_stats other;       /* shapes past max_shapes */
  int samples;
  uint64_t keys, scanned, vanished, classified, commands;
  size_t nodes;
  double elapsed_ms;
  long rate;
  bool truncated, memory_unknown;
  char *match;
  char **warnings;
  size_t nwarnings;
};

/* ---- patterns (inventory_patterns.c) ---- */
/* Adds the user's patterns (copies) then the built-ins (with o's prefixes) to r, then its units. */
int inv_patterns_build(xr_inventory_report *r, const xr_inventory_options *o);
void inv_pattern_clear(inv_pattern *p);
/* The first pattern of r that matches key: its index, or -1. */
long inv_classify(const xr_inventory_report *r, const char *key, size_t len);

/* ---- counters and texts (inventory_report.c) ---- */
int inv_stats_add(inv_stats *s, int samples, const char *key, size_t len, int type, int64_t ttl_ms, int64_t mem);
int inv_stats_owner(inv_stats *s, const char *name);
void inv_stats_clear(inv_stats *s);
/* The shape of an unclassified key and its counters (or the "(other)" ones). */
int inv_count_unclassified(xr_inventory_report *r, const char *key, size_t len, int type, int64_t ttl_ms,
                           int64_t mem);
/* The unit instance of a key of pattern i (for the observed check). */
int inv_unit_observe(xr_inventory_report *r, size_t i, const char *key, size_t len);
int inv_warn(xr_inventory_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int inv_type_of(const char *name, size_t len);

#endif
