/* The key positions of commands (command_keys.h). Shapes, as Redis's key specs describe them:
 *   ONE        argv[1]                           GET, SET, HSET, EXPIRE, ...
 *   ALL        argv[1..]                         DEL, EXISTS, MGET, WATCH, SINTER, ...
 *   PAIRS      argv[1], argv[3], ...             MSET, MSETNX
 *   TWO        argv[1..2]                        RENAME, LMOVE, COPY, SMOVE, ...
 *   ALL_BUT_1  argv[1..argc-2] (last: timeout)   BLPOP, BRPOP, BZPOPMIN, BZPOPMAX
 *   NUMKEYS    argv[2] keys from argv[3]         EVAL, EVALSHA, FCALL, ZUNION, LMPOP, ...
 *   STORE_NUM  argv[1], argv[3] keys from [4]    ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE
 *   AT2        argv[2]                           OBJECT ENCODING k, MEMORY USAGE k, XINFO STREAM k
 *   STREAMS    after STREAMS, the first half     XREAD, XREADGROUP
 * PUBLISH's channel is no key, and a Redis Cluster delivers a PUBLISH on any node everywhere; routed
 * by the channel's slot, one client's messages on one channel take one node, so they arrive in the
 * order they were sent (a random node each time would let two of them overtake each other). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/internal.h"
#include "codec/command_keys.h"
#include "crossredis/keys.h"

enum shape { ONE, ALL, PAIRS, TWO, ALL_BUT_1, NUMKEYS, STORE_NUM, AT2, STREAMS };

typedef struct spec {
  const char *name; /* upper case, sorted (strcmp) */
  unsigned char shape, readonly;
} spec;

#define R 1 /* reads only: a replica may answer */
#define W 0

static const spec specs[] = {
    {"APPEND", ONE, W},        {"BITCOUNT", ONE, R},        {"BITFIELD", ONE, W},
    {"BITFIELD_RO", ONE, R},   {"BITPOS", ONE, R},          {"BLMOVE", TWO, W},
    {"BLMPOP", NUMKEYS, W},    {"BLPOP", ALL_BUT_1, W},     {"BRPOP", ALL_BUT_1, W},
    {"BRPOPLPUSH", TWO, W},    {"BZMPOP", NUMKEYS, W},      {"BZPOPMAX", ALL_BUT_1, W},
    {"BZPOPMIN", ALL_BUT_1, W}, {"COPY", TWO, W},           {"DECR", ONE, W},
    {"DECRBY", ONE, W},        {"DEL", ALL, W},             {"DUMP", ONE, R},
    {"EVAL", NUMKEYS, W},      {"EVALSHA", NUMKEYS, W},     {"EVALSHA_RO", NUMKEYS, R},
    {"EVAL_RO", NUMKEYS, R},   {"EXISTS", ALL, R},          {"EXPIRE", ONE, W},
    {"EXPIREAT", ONE, W},      {"EXPIRETIME", ONE, R},      {"FCALL", NUMKEYS, W},
    {"FCALL_RO", NUMKEYS, R},  {"GEOADD", ONE, W},          {"GEODIST", ONE, R},
    {"GEOHASH", ONE, R},       {"GEOPOS", ONE, R},          {"GEOSEARCH", ONE, R},
    {"GEOSEARCHSTORE", TWO, W}, {"GET", ONE, R},            {"GETBIT", ONE, R},
    {"GETDEL", ONE, W},        {"GETEX", ONE, W},           {"GETRANGE", ONE, R},
    {"GETSET", ONE, W},        {"HDEL", ONE, W},            {"HEXISTS", ONE, R},
    {"HGET", ONE, R},          {"HGETALL", ONE, R},         {"HINCRBY", ONE, W},
    {"HINCRBYFLOAT", ONE, W},  {"HKEYS", ONE, R},           {"HLEN", ONE, R},
    {"HMGET", ONE, R},         {"HMSET", ONE, W},           {"HRANDFIELD", ONE, R},
    {"HSCAN", ONE, R},         {"HSET", ONE, W},            {"HSETNX", ONE, W},
    {"HSTRLEN", ONE, R},       {"HVALS", ONE, R},           {"INCR", ONE, W},
    {"INCRBY", ONE, W},        {"INCRBYFLOAT", ONE, W},     {"LINDEX", ONE, R},
    {"LINSERT", ONE, W},       {"LLEN", ONE, R},            {"LMOVE", TWO, W},
    {"LMPOP", NUMKEYS, W},     {"LPOP", ONE, W},            {"LPOS", ONE, R},
    {"LPUSH", ONE, W},         {"LPUSHX", ONE, W},          {"LRANGE", ONE, R},
    {"LREM", ONE, W},          {"LSET", ONE, W},            {"LTRIM", ONE, W},
    {"MGET", ALL, R},          {"MSET", PAIRS, W},          {"MSETNX", PAIRS, W},
    {"PERSIST", ONE, W},       {"PEXPIRE", ONE, W},         {"PEXPIREAT", ONE, W},
    {"PEXPIRETIME", ONE, R},   {"PFADD", ONE, W},           {"PFCOUNT", ALL, R},
    {"PFMERGE", ALL, W},       {"PSETEX", ONE, W},          {"PTTL", ONE, R},
    {"PUBLISH", ONE, W}, /* its channel: see the note above */
    {"RENAME", TWO, W},        {"RENAMENX", TWO, W},        {"RESTORE", ONE, W},
    {"RPOP", ONE, W},          {"RPOPLPUSH", TWO, W},       {"RPUSH", ONE, W},
    {"RPUSHX", ONE, W},        {"SADD", ONE, W},            {"SCARD", ONE, R},
    {"SDIFF", ALL, R},         {"SDIFFSTORE", ALL, W},      {"SET", ONE, W},
    {"SETBIT", ONE, W},        {"SETEX", ONE, W},           {"SETNX", ONE, W},
    {"SETRANGE", ONE, W},      {"SINTER", ALL, R},          {"SINTERCARD", NUMKEYS, R},
    {"SINTERSTORE", ALL, W},   {"SISMEMBER", ONE, R},       {"SMEMBERS", ONE, R},
    {"SMISMEMBER", ONE, R},    {"SMOVE", TWO, W},           {"SORT", ONE, W},
    {"SORT_RO", ONE, R},       {"SPOP", ONE, W},            {"SPUBLISH", ONE, W},
    {"SRANDMEMBER", ONE, R},   {"SREM", ONE, W},            {"SSCAN", ONE, R},
    {"STRLEN", ONE, R},        {"SUNION", ALL, R},          {"SUNIONSTORE", ALL, W},
    {"TOUCH", ALL, R},         {"TTL", ONE, R},             {"TYPE", ONE, R},
    {"UNLINK", ALL, W},        {"WATCH", ALL, R},           {"XACK", ONE, W},
    {"XADD", ONE, W},          {"XAUTOCLAIM", ONE, W},      {"XCLAIM", ONE, W},
    {"XDEL", ONE, W},          {"XGROUP", AT2, W},          {"XINFO", AT2, R},
    {"XLEN", ONE, R},          {"XPENDING", ONE, R},        {"XRANGE", ONE, R},
    {"XREAD", STREAMS, R},     {"XREADGROUP", STREAMS, W},  {"XREVRANGE", ONE, R},
    {"XSETID", ONE, W},        {"XTRIM", ONE, W},           {"ZADD", ONE, W},
    {"ZCARD", ONE, R},         {"ZCOUNT", ONE, R},          {"ZDIFF", NUMKEYS, R},
    {"ZDIFFSTORE", STORE_NUM, W}, {"ZINCRBY", ONE, W},      {"ZINTER", NUMKEYS, R},
    {"ZINTERCARD", NUMKEYS, R}, {"ZINTERSTORE", STORE_NUM, W}, {"ZLEXCOUNT", ONE, R},
    {"ZMPOP", NUMKEYS, W},     {"ZMSCORE", ONE, R},         {"ZPOPMAX", ONE, W},
    {"ZPOPMIN", ONE, W},       {"ZRANDMEMBER", ONE, R},     {"ZRANGE", ONE, R},
    {"ZRANGEBYLEX", ONE, R},   {"ZRANGEBYSCORE", ONE, R},   {"ZRANGESTORE", TWO, W},
    {"ZRANK", ONE, R},         {"ZREM", ONE, W},            {"ZREMRANGEBYLEX", ONE, W},
    {"ZREMRANGEBYRANK", ONE, W}, {"ZREMRANGEBYSCORE", ONE, W}, {"ZREVRANGE", ONE, R},
    {"ZREVRANGEBYLEX", ONE, R}, {"ZREVRANGEBYSCORE", ONE, R}, {"ZREVRANK", ONE, R},
    {"ZSCAN", ONE, R},         {"ZSCORE", ONE, R},          {"ZUNION", NUMKEYS, R},
    {"ZUNIONSTORE", STORE_NUM, W},
};

static int by_name(const void *k, const void *e) { return strcmp(k, ((const spec *)e)->name); }

static const spec *find(const char *name, size_t len) {
  char up[24];
  if (len == 0 || len >= sizeof up) return NULL;
  for (size_t i = 0; i < len; i++) up[i] = (char)toupper((unsigned char)name[i]);
  up[len] = '\0';
  return bsearch(up, specs, sizeof specs / sizeof specs[0], sizeof specs[0], by_name);
}

#define LEN(i) (lens ? lens[i] : strlen(argv[i]))

/* A decimal count in argv[i] (0 when it is not one: the server will refuse the command). */
static int count_at(int argc, const char *const *argv, const size_t *lens, int i) {
  if (i >= argc) return 0;
  size_t n = LEN(i);
  long v = 0;
  for (size_t k = 0; k < n && k < 10; k++) {
    if (!isdigit((unsigned char)argv[i][k])) return 0;
    v = v * 10 + (argv[i][k] - '0');
  }
  return n > 0 && n < 10 ? (int)v : 0;
}

/* Folds key argv[i] into the shared slot; XR_ECROSSSLOT on the first key of another slot. */
static int fold(const char *what, const char *const *argv, const size_t *lens, int i, int *slot, int *first) {
  size_t n = LEN(i);
  int s = (int)xr_key_slot(argv[i], n);
  if (*slot < 0) {
    *slot = s;
    *first = i;
    return XR_OK;
  }
  if (s == *slot) return XR_OK;
  size_t fn = LEN(*first);
  return xr_fail(XR_ECROSSSLOT,
                 "%s: keys in different Cluster slots: '%.*s' (slot %d) and '%.*s' (slot %d); give keys that must "
                 "go together one hash tag, e.g. {tag}:a and {tag}:b",
                 what, (int)(fn > 120 ? 120 : fn), argv[*first], *slot, (int)(n > 120 ? 120 : n), argv[i], s);
}

int xr_keys_slot(const char *what, int n, const char *const *keys, const size_t *lens, int *slot) {
  *slot = -1;
  int first = 0;
  for (int i = 0; i < n; i++) {
    int rc = fold(what, keys, lens, i, slot, &first);
    if (rc) return rc;
  }
  return XR_OK;
}

int xr_command_slot(int argc, const char *const *argv, const size_t *lens, int *slot, int *readonly) {
  *slot = -1;
  if (readonly) *readonly = 0;
  if (argc < 1) return XR_OK;
  const spec *sp = find(argv[0], LEN(0));
  if (!sp) return XR_OK;
  if (readonly) *readonly = sp->readonly;
  int from = 1, to = argc - 1, step = 1, extra = -1;
  switch (sp->shape) {
    case ONE: to = 1; break;
    case ALL: break;
    case PAIRS: step = 2; break;
    case TWO: to = 2; break;
    case ALL_BUT_1: to = argc - 2; break;
    case NUMKEYS: from = 3, to = 2 + count_at(argc, argv, lens, 2); break;
    case STORE_NUM: extra = 1, from = 3, to = 2 + count_at(argc, argv, lens, 2); break;
    case AT2: from = to = 2; break;
    case STREAMS: {
      from = argc; /* no STREAMS keyword: no key (the server refuses it) */
      for (int i = 1; i < argc; i++) {
        if (LEN(i) == 7 && !strncasecmp(argv[i], "STREAMS", 7)) {
          from = i + 1;
          to = from + (argc - from) / 2 - 1;
          break;
        }
      }
      break;
    }
  }
  if (to > argc - 1) to = argc - 1;
  int first = 0;
  if (extra > 0 && extra < argc) {
    int rc = fold(sp->name, argv, lens, extra, slot, &first);
    if (rc) return rc;
  }
  for (int i = from; i <= to; i += step) {
    int rc = fold(sp->name, argv, lens, i, slot, &first);
    if (rc) return rc;
  }
  return XR_OK;
}
