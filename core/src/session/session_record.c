/* toolhive's session record and vMCP map in Go's bytes (session_record.h): the writers follow
 * json.Marshal of sessionData / map[string]string, the readers json.Unmarshal into them and
 * deserializeSession's type rules, with the error texts of Go 1.26 or Go 1.27. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "codec/json_go_read.h"
#include "codec/json_internal.h"
#include "codec/timestamp_internal.h"
#include "crossredis/alloc.h"
#include "crossredis/json.h"
#include "crossredis/session_record.h"

static int check_go(xr_go_version go, const char *fn) {
  if (go == XR_GO_DEFAULT || go == XR_GO_1_26 || go == XR_GO_1_27) return XR_OK;
  return xr_fail(XR_EINVAL, "%s: go version %d is not XR_GO_1_26 or XR_GO_1_27", fn, (int)go);
}

static int is127(xr_go_version go) { return go != XR_GO_1_26; }

/* ---- writing ---------------------------------------------------------------------------------- */

static void put_string(xr_buf *b, const char *s, size_t n, xr_go_version go) {
  xr_buf_putc(b, '"');
  xr_json_go_string(b, (const unsigned char *)s, n, 1, is127(go));
  xr_buf_putc(b, '"');
}

static int by_key(const void *x, const void *y) {
  const xr_session_pair *a = *(const xr_session_pair *const *)x, *b = *(const xr_session_pair *const *)y;
  size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  int c = n ? memcmp(a->key, b->key, n) : 0;
  if (c) return c;
  if (a->key_len != b->key_len) return a->key_len < b->key_len ? -1 : 1;
  return a < b ? -1 : a > b; /* equal keys keep their order: the last one wins below */
}

/* The pairs sorted by key bytes, the last of equal keys kept: *count_out of them. */
static int sorted_pairs(const xr_session_pair *pairs, size_t count, const xr_session_pair ***out, size_t *count_out) {
  *out = NULL;
  *count_out = 0;
  if (count == 0) return XR_OK;
  if (!pairs) return xr_fail(XR_EINVAL, "session: the metadata pairs are NULL with a count of %zu", count);
  for (size_t i = 0; i < count; i++)
    if ((!pairs[i].key && pairs[i].key_len) || (!pairs[i].value && pairs[i].value_len))
      return xr_fail(XR_EINVAL, "session: metadata pair %zu has a NULL span with a length", i);
  const xr_session_pair **p = xr_malloc(count * sizeof *p);
  if (!p) return xr_fail_nomem();
  for (size_t i = 0; i < count; i++) p[i] = &pairs[i];
  qsort(p, count, sizeof *p, by_key);
  size_t w = 0;
  for (size_t i = 0; i < count; i++) {
    if (w && p[w - 1]->key_len == p[i]->key_len && (!p[i]->key_len || !memcmp(p[w - 1]->key, p[i]->key, p[i]->key_len)))
      p[w - 1] = p[i];
    else
      p[w++] = p[i];
  }
  *out = p;
  *count_out = w;
  return XR_OK;
}

static void put_map(xr_buf *b, const xr_session_pair *const *p, size_t n, xr_go_version go) {
  xr_buf_putc(b, '{');
  for (size_t i = 0; i < n; i++) {
    if (i) xr_buf_putc(b, ',');
    put_string(b, p[i]->key, p[i]->key_len, go);
    xr_buf_putc(b, ':');
    put_string(b, p[i]->value, p[i]->value_len, go);
  }
  xr_buf_putc(b, '}');
}

/* A time as MarshalJSON writes it, or Go's refusal: the year of the time as shown (with its
 * offset) first, then the offset's hours. */
static int put_time(xr_buf *b, const xr_time *t, xr_go_version go) {
  char text[XR_RFC3339_MAX];
  int64_t local = t->sec + t->offset_sec;
  const char *what = NULL;
  if (local < INT64_C(-62167219200) || local > INT64_C(253402300799)) what = "year outside of range [0,9999]";
  else if (t->offset_sec <= -86400 || t->offset_sec >= 86400) what = "timezone hour outside of range [0,23]";
  int n = what ? -1 : xr_time_format_rfc3339(text, t);
  if (n >= 0) {
    xr_buf_putc(b, '"');
    xr_buf_append(b, text, (size_t)n);
    xr_buf_putc(b, '"');
    return XR_OK;
  }
  if (!what) return n; /* nsec or offset not a time at all: xr_time_format_rfc3339's XR_EINVAL */
  return xr_fail(XR_ERANGE, is127(go) ? "json: error calling MarshalJSON for type *time.Time: %s"
                                      : "json: error calling MarshalJSON for type time.Time: Time.MarshalJSON: %s",
                 what);
}

int xr_session_write(char **out, size_t *out_len, const xr_session *s, xr_go_version go) {
  if (!out || !s) return xr_fail(XR_EINVAL, "xr_session_write: out and the session are required");
  *out = NULL;
  if (out_len) *out_len = 0;
  int rc = check_go(go, "xr_session_write");
  if (rc) return rc;
  if ((!s->id && s->id_len) || (!s->type && s->type_len))
    return xr_fail(XR_EINVAL, "xr_session_write: the id or the type is NULL with a length");
  xr_buf b = XR_BUF_INIT; /* the fields in Go's order: the first failure is Go's */
  xr_buf_puts(&b, "{\"id\":");
  put_string(&b, s->id, s->id_len, go);
  xr_buf_puts(&b, ",\"type\":");
  put_string(&b, s->type, s->type_len, go);
  xr_buf_puts(&b, ",\"created_at\":");
  rc = put_time(&b, &s->created_at, go);
  if (!rc) {
    xr_buf_puts(&b, ",\"updated_at\":");
    rc = put_time(&b, &s->updated_at, go);
  }
  if (rc) {
    xr_buf_free(&b);
    return rc;
  }
  char *data = NULL;
  size_t data_len = 0;
  if (s->data && s->data_len) {
    if (xr_go_json_check(s->data, s->data_len, is127(go) ? 2 : 0)) {
      char why[400];
      snprintf(why, sizeof why, "%s", xr_error_last()->message);
      xr_buf_free(&b);
      return xr_fail(XR_EPARSE, "json: error calling MarshalJSON for type %s: %s",
                     is127(go) ? "*jsontext.Value" : "json.RawMessage", why);
    }
    if ((rc = xr_json_go_compact(&data, &data_len, s->data, s->data_len, 0))) {
      xr_buf_free(&b);
      return rc;
    }
  }
  const xr_session_pair **pairs;
  size_t npairs;
  if ((rc = sorted_pairs(s->metadata, s->metadata_count, &pairs, &npairs))) {
    xr_free(data);
    xr_buf_free(&b);
    return rc;
  }
  if (data) {
    xr_buf_puts(&b, ",\"data\":");
    xr_buf_append(&b, data, data_len);
  }
  if (npairs) {
    xr_buf_puts(&b, ",\"metadata\":");
    put_map(&b, pairs, npairs, go);
  }
  xr_buf_putc(&b, '}');
  xr_free(data);
  xr_free(pairs);
  return xr_buf_finish(&b, out, out_len);
}

int xr_session_map_write(char **out, size_t *out_len, const xr_session_pair *pairs, size_t count, xr_go_version go) {
  if (!out) return xr_fail(XR_EINVAL, "xr_session_map_write: out is required");
  *out = NULL;
  if (out_len) *out_len = 0;
  int rc = check_go(go, "xr_session_map_write");
  if (rc) return rc;
  const xr_session_pair **p;
  size_t n;
  if ((rc = sorted_pairs(pairs, count, &p, &n))) return rc;
  xr_buf b = XR_BUF_INIT;
  put_map(&b, p, n, go);
  xr_free(p);
  return xr_buf_finish(&b, out, out_len);
}

/* ---- reading ---------------------------------------------------------------------------------- */

/* What a reader collects before it lays the result out: string spans as offsets into `strings`
 * (the unquoted texts), the pairs of the map. */
typedef struct span {
  size_t off, len;
  int set;
} span;

typedef struct kv {
  span key, value;
} kv;

typedef struct reader {
  const char *text;
  size_t len;
  xr_go_version go;
  xr_buf strings;
  kv *pairs;
  size_t npairs, cap;
  int map_set;    /* the map is not nil */
  int type_error; /* Go 1.26: a type error seen, decoding goes on (the first one is kept) */
  char first_error[400];
} reader;

static span unquote(reader *r, size_t i, size_t end) {
  span s = {r->strings.len, 0, 1};
  xr_go_json_unquote(&r->strings, r->text, i, end);
  s.len = r->strings.len - s.off;
  return s;
}

static const char *kind_of(char c) {
  switch (c) {
    case '{': return "object";
    case '[': return "array";
    case '"': return "string";
    case 't':
    case 'f': return "bool";
    default: return "number";
  }
}

/* An UnmarshalTypeError: Go 1.27 stops at it, Go 1.26 keeps the first and goes on. */
static int type_error(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int type_error(reader *r, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (is127(r->go)) return xr_fail(XR_EPARSE, "%s", msg);
  if (!r->type_error) {
    r->type_error = 1;
    snprintf(r->first_error, sizeof r->first_error, "%s", msg);
  }
  return XR_OK;
}

static int add_pair(reader *r, span key, span value) {
  for (size_t k = 0; k < r->npairs; k++) { /* of duplicate keys the last wins, in its first place */
    const kv *p = &r->pairs[k];
    if (p->key.len == key.len && !memcmp(r->strings.data + p->key.off, r->strings.data + key.off, key.len)) {
      r->pairs[k].value = value;
      return XR_OK;
    }
  }
  if (r->npairs == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 8;
    kv *p = xr_realloc(r->pairs, cap * sizeof *p);
    if (!p) return xr_fail_nomem();
    r->pairs = p;
    r->cap = cap;
  }
  r->pairs[r->npairs++] = (kv){key, value};
  return XR_OK;
}

/* A map[string]string at text[i] (an object or null; anything else is a type error). `field`:
 * where it sits, for Go's messages ("sessionData.metadata"; NULL: the top-level value). */
static int read_map(reader *r, size_t i, const char *field) {
  char c = r->text[i];
  if (c == 'n') { /* null: the map becomes nil */
    r->map_set = 0;
    r->npairs = 0;
    return XR_OK;
  }
  if (c != '{') {
    if (field)
      return type_error(r, "json: cannot unmarshal %s into Go struct field %s of type map[string]string", kind_of(c),
                        field);
    return type_error(r, "json: cannot unmarshal %s into Go value of type map[string]string", kind_of(c));
  }
  r->map_set = 1;
  i = xr_go_json_skip_space(r->text, r->len, i + 1);
  while (r->text[i] != '}') {
    size_t kend = xr_go_json_value_end(r->text, r->len, i);
    span key = unquote(r, i, kend);
    i = xr_go_json_skip_space(r->text, r->len, kend) + 1; /* past ':' */
    i = xr_go_json_skip_space(r->text, r->len, i);
    size_t vend = xr_go_json_value_end(r->text, r->len, i);
    char v = r->text[i];
    int rc = XR_OK;
    if (v == '"') rc = add_pair(r, key, unquote(r, i, vend));
    else if (v == 'n') rc = add_pair(r, key, (span){r->strings.len, 0, 1});
    else if (is127(r->go) && key.len) { /* json/v2 names the map's key in the path, JSON Pointer style */
      xr_buf path = XR_BUF_INIT;
      for (size_t k = 0; k < key.len; k++) {
        char ch = r->strings.data[key.off + k];
        if (ch == '\0') xr_buf_puts(&path, "\\x00"); /* a message is a C string */
        else if (ch == '~') xr_buf_puts(&path, "~0");
        else if (ch == '/') xr_buf_puts(&path, "~1");
        else xr_buf_putc(&path, ch);
      }
      rc = path.oom ? xr_fail_nomem()
                    : type_error(r, "json: cannot unmarshal %s into Go struct field %s.%.*s of type string", kind_of(v),
                                 field ? field : "", (int)path.len, path.data);
      xr_buf_free(&path);
    }
    else if (field)
      rc = type_error(r, "json: cannot unmarshal %s into Go struct field %s of type string", kind_of(v), field);
    else
      rc = type_error(r, "json: cannot unmarshal %s into Go value of type string", kind_of(v));
    if (rc) return rc;
    i = xr_go_json_skip_space(r->text, r->len, vend);
    if (r->text[i] == ',') i = xr_go_json_skip_space(r->text, r->len, i + 1);
  }
  return XR_OK;
}

enum { F_ID, F_TYPE, F_CREATED, F_UPDATED, F_DATA, F_METADATA, F_COUNT };
static const char *const field_names[F_COUNT] = {"id", "type", "created_at", "updated_at", "data", "metadata"};

/* The field a member's key names: an exact match, else one equal but for ASCII case (Go's rule;
 * the names hold no letter with a non-ASCII fold). -1: none. */
static int field_of(const char *k, size_t n) {
  for (int f = 0; f < F_COUNT; f++)
    if (strlen(field_names[f]) == n && !memcmp(field_names[f], k, n)) return f;
  for (int f = 0; f < F_COUNT; f++) {
    if (strlen(field_names[f]) != n) continue;
    size_t j = 0;
    while (j < n && (k[j] | (k[j] >= 'A' && k[j] <= 'Z' ? 0x20 : 0)) == field_names[f][j]) j++;
    if (j == n) return f;
  }
  return -1;
}

/* A time field (Go's time.Time UnmarshalJSON): null leaves it; a string is RFC 3339 (Go 1.26
 * reads the bytes between the quotes as they are, escapes and all; Go 1.27 the string's value). */
static int read_time(reader *r, size_t i, size_t end, int f, xr_time *t) {
  char c = r->text[i];
  if (c == 'n') return XR_OK;
  if (c != '"') {
    if (is127(r->go))
      return type_error(r, "json: cannot unmarshal %s into Go struct field sessionData.%s of type time.Time", kind_of(c),
                        field_names[f]);
    return xr_fail(XR_EPARSE, "Time.UnmarshalJSON: input is not a JSON string");
  }
  const char *v = r->text + i + 1;
  size_t n = end - i - 2;
  xr_buf tmp = XR_BUF_INIT;
  if (is127(r->go)) {
    xr_go_json_unquote(&tmp, r->text, i, end);
    if (tmp.oom) return xr_buf_free(&tmp), xr_fail_nomem();
    v = tmp.data ? tmp.data : "";
    n = tmp.len;
  }
  int rc = xr_time_parse_rfc3339(t, v, n);
  if (rc == XR_EPARSE) {
    char msg[400];
    xr_time_go_parse_error(msg, sizeof msg, v, n);
    rc = xr_fail(XR_EPARSE, "%s", msg);
  }
  xr_buf_free(&tmp);
  return rc;
}

static void reader_free(reader *r) {
  xr_buf_free(&r->strings);
  xr_free(r->pairs);
}

/* The pairs laid out for the caller: keys and values point into buf. */
static int lay_out_pairs(reader *r, xr_session_pair **out) {
  *out = NULL;
  if (!r->npairs) return XR_OK;
  xr_session_pair *p = xr_malloc(r->npairs * sizeof *p);
  if (!p) return xr_fail_nomem();
  for (size_t k = 0; k < r->npairs; k++) {
    p[k].key = r->strings.data + r->pairs[k].key.off;
    p[k].key_len = r->pairs[k].key.len;
    p[k].value = r->strings.data + r->pairs[k].value.off;
    p[k].value_len = r->pairs[k].value.len;
  }
  *out = p;
  return XR_OK;
}

/* The reader's texts (and `extra` after them: a record's data) copied into one buffer of the
 * caller's, and the pairs laid out over that copy. On failure nothing is left allocated. */
static int take(reader *r, const char *extra, size_t extra_len, char **buf, xr_session_pair **pairs) {
  *pairs = NULL;
  if (r->strings.oom) return *buf = NULL, xr_fail_nomem();
  if (!(*buf = xr_malloc(r->strings.len + extra_len + 1))) return xr_fail_nomem();
  if (r->strings.len) memcpy(*buf, r->strings.data, r->strings.len);
  if (extra_len) memcpy(*buf + r->strings.len, extra, extra_len);
  (*buf)[r->strings.len + extra_len] = '\0';
  char *base = r->strings.data;
  r->strings.data = *buf;
  int rc = lay_out_pairs(r, pairs);
  r->strings.data = base;
  if (rc) {
    xr_free(*buf);
    *buf = NULL;
  }
  return rc;
}

int xr_session_read(xr_session_record *out, const char *text, size_t len, xr_go_version go) {
  if (!out || (!text && len)) return xr_fail(XR_EINVAL, "xr_session_read: out is required and text not NULL with a length");
  memset(out, 0, sizeof *out);
  int rc = check_go(go, "xr_session_read");
  if (rc) return rc;
  if (len == 0) return xr_fail(XR_EPARSE, "cannot deserialize empty data");
  if ((rc = xr_go_json_check(text, len, is127(go)))) return rc;
  reader r = {text, len, go, XR_BUF_INIT, NULL, 0, 0, 0, 0, ""};
  span str[2] = {{0, 0, 0}, {0, 0, 0}};
  size_t data_off = 0, data_len = 0;
  int has_data = 0;
  out->s.created_at = out->s.updated_at = (xr_time){XR_TIME_ZERO_SEC, 0, 0};
  size_t i = xr_go_json_skip_space(text, len, 0);
  char top = text[i];
  if (top != '{' && top != 'n')
    rc = type_error(&r, "json: cannot unmarshal %s into Go value of type session.sessionData", kind_of(top));
  if (top == '{') {
    i = xr_go_json_skip_space(text, len, i + 1);
    while (!rc && text[i] != '}') {
      size_t kend = xr_go_json_value_end(text, len, i);
      xr_buf key = XR_BUF_INIT;
      xr_go_json_unquote(&key, text, i, kend);
      int f = key.oom ? -2 : field_of(key.data ? key.data : "", key.len);
      xr_buf_free(&key);
      if (f == -2) {
        rc = xr_fail_nomem();
        break;
      }
      i = xr_go_json_skip_space(text, len, xr_go_json_skip_space(text, len, kend) + 1);
      size_t vend = xr_go_json_value_end(text, len, i);
      char v = text[i];
      if (f == F_ID || f == F_TYPE) {
        if (v == '"') str[f] = unquote(&r, i, vend);
        else if (v != 'n')
          rc = type_error(&r, "json: cannot unmarshal %s into Go struct field sessionData.%s of type %s", kind_of(v),
                          field_names[f], f == F_ID ? "string" : "session.SessionType");
      } else if (f == F_CREATED || f == F_UPDATED) {
        rc = read_time(&r, i, vend, f, f == F_CREATED ? &out->s.created_at : &out->s.updated_at);
      } else if (f == F_DATA) {
        data_off = i;
        data_len = vend - i;
        has_data = 1;
      } else if (f == F_METADATA) {
        rc = read_map(&r, i, "sessionData.metadata");
      }
      i = xr_go_json_skip_space(text, len, vend);
      if (text[i] == ',') i = xr_go_json_skip_space(text, len, i + 1);
    }
  }
  if (!rc && r.type_error) rc = xr_fail(XR_EPARSE, "%s", r.first_error);
  char *buf = NULL; /* the session: its texts and the data in one buffer of the record's */
  xr_session_pair *pairs = NULL;
  if (!rc) rc = take(&r, text + data_off, data_len, &buf, &pairs);
  if (rc) {
    reader_free(&r);
    return rc;
  }
  out->s.id = str[F_ID].set ? buf + str[F_ID].off : "";
  out->s.id_len = str[F_ID].len;
  out->s.type = str[F_TYPE].set ? buf + str[F_TYPE].off : "";
  out->s.type_len = str[F_TYPE].len;
  /* deserializeSession: a streamable session holds no data; empty data is none */
  int streamable = out->s.type_len == 10 && !memcmp(out->s.type, "streamable", 10);
  if (has_data && data_len && !streamable) {
    out->s.data = buf + r.strings.len;
    out->s.data_len = data_len;
  }
  out->s.metadata = pairs;
  out->s.metadata_count = r.map_set ? r.npairs : 0;
  out->metadata_present = r.map_set;
  out->pairs_ = pairs;
  out->buf_ = buf;
  reader_free(&r);
  return XR_OK;
}

void xr_session_record_clear(xr_session_record *rec) {
  if (!rec) return;
  xr_free(rec->pairs_);
  xr_free(rec->buf_);
  memset(rec, 0, sizeof *rec);
}

int xr_session_map_read(xr_session_map *out, const char *text, size_t len, xr_go_version go) {
  if (!out || (!text && len)) return xr_fail(XR_EINVAL, "xr_session_map_read: out is required and text not NULL with a length");
  memset(out, 0, sizeof *out);
  int rc = check_go(go, "xr_session_map_read");
  if (rc) return rc;
  if ((rc = xr_go_json_check(text ? text : "", len, is127(go)))) return rc;
  reader r = {text, len, go, XR_BUF_INIT, NULL, 0, 0, 0, 0, ""};
  size_t i = xr_go_json_skip_space(text, len, 0);
  rc = read_map(&r, i, NULL);
  if (!rc && r.type_error) rc = xr_fail(XR_EPARSE, "%s", r.first_error);
  char *buf = NULL;
  xr_session_pair *pairs = NULL;
  if (!rc) rc = take(&r, NULL, 0, &buf, &pairs);
  if (rc) {
    reader_free(&r);
    return rc;
  }
  /* Go's map is sorted only when written; callers get the keys in byte order */
  if (r.npairs) {
    const xr_session_pair **p;
    size_t n;
    if ((rc = sorted_pairs(pairs, r.npairs, &p, &n))) {
      xr_free(pairs);
      xr_free(buf);
      reader_free(&r);
      return rc;
    }
    xr_session_pair *s = xr_malloc(n * sizeof *s);
    if (!s) rc = xr_fail_nomem();
    for (size_t k = 0; !rc && k < n; k++) s[k] = *p[k];
    xr_free(p);
    xr_free(pairs);
    pairs = s;
    if (rc) {
      xr_free(buf);
      reader_free(&r);
      return rc;
    }
    r.npairs = n;
  }
  out->pairs = pairs;
  out->count = r.map_set ? r.npairs : 0;
  out->is_nil = !r.map_set;
  out->pairs_ = pairs;
  out->buf_ = buf;
  reader_free(&r);
  return XR_OK;
}

void xr_session_map_clear(xr_session_map *m) {
  if (!m) return;
  xr_free(m->pairs_);
  xr_free(m->buf_);
  memset(m, 0, sizeof *m);
}
