/* Key patterns (key_pattern.h): literal bytes and typed fields, matched anchored and without
 * backtracking; the SCAN glob of a shape; whether two shapes share a key (a product of two small
 * automata, searched breadth first for the shortest witness). */
#include "crossredis/key_pattern.h"

#include <stdint.h>
#include <string.h>

#include "../base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/error.h"
#include "crossredis/keys.h"

typedef struct kp_item {
  bool field;
  size_t off, len; /* a literal: its bytes in p->lit */
  size_t index;    /* a field: its index in p->names */
  int stop;        /* a field of class any or segment: the byte that ends it (the next literal's first), or -1 */
} kp_item;

struct xr_key_pattern {
  char *text;
  size_t text_len;
  char *lit; /* the literal bytes, unescaped */
  kp_item *items;
  size_t n_items;
  char **names;
  xr_key_class *classes;
  size_t n_fields;
};

static const char *const class_names[] = {"any", "segment", "uuid", "sha256", "hex32", "number", "rest"};
#define N_CLASSES (sizeof class_names / sizeof class_names[0])

static bool is_hex(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_name_start(unsigned char c) { return c == '_' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }
static bool is_name_char(unsigned char c) { return is_name_start(c) || is_digit(c); }
static bool is_fixed(xr_key_class k) { return k == XR_KEY_CLASS_UUID || k == XR_KEY_CLASS_SHA256 || k == XR_KEY_CLASS_HEX32; }

/* The length of a fixed class, 0 for the others. */
static size_t fixed_len(xr_key_class k) {
  return k == XR_KEY_CLASS_UUID ? 36 : k == XR_KEY_CLASS_SHA256 ? 64 : k == XR_KEY_CLASS_HEX32 ? 32 : 0;
}

/* Whether byte c may stand at position pos of a value of class k whose field ends at `stop`. */
static bool class_allows(xr_key_class k, int stop, size_t pos, unsigned char c) {
  switch (k) {
  case XR_KEY_CLASS_ANY:
    return c != '{' && c != '}' && (int)c != stop;
  case XR_KEY_CLASS_SEGMENT:
    return c != ':' && c != '{' && c != '}' && (int)c != stop;
  case XR_KEY_CLASS_NUMBER:
    return is_digit(c);
  case XR_KEY_CLASS_REST:
    return true;
  case XR_KEY_CLASS_UUID:
    return (pos == 8 || pos == 13 || pos == 18 || pos == 23) ? c == '-' : is_hex(c);
  default:
    return is_hex(c);
  }
}

void xr_key_pattern_free(xr_key_pattern *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n_fields; i++) xr_free(p->names[i]);
  xr_free(p->names);
  xr_free(p->classes);
  xr_free(p->items);
  xr_free(p->lit);
  xr_free(p->text);
  xr_free(p);
}

static int parse_fail(xr_key_pattern *p, size_t at, const char *what) {
  int rc = xr_fail(XR_EINVAL, "key pattern '%.*s': %s at byte %zu", (int)p->text_len, p->text, what, at);
  xr_key_pattern_free(p);
  return rc;
}

/* Adds field `name` (or finds it): its index, or -1 when it was declared with another class. */
static long add_field(xr_key_pattern *p, const char *name, size_t name_len, xr_key_class k) {
  for (size_t i = 0; i < p->n_fields; i++)
    if (strlen(p->names[i]) == name_len && !memcmp(p->names[i], name, name_len)) return p->classes[i] == k ? (long)i : -1;
  p->names[p->n_fields] = xr_strndup(name, name_len);
  if (!p->names[p->n_fields]) return -2;
  p->classes[p->n_fields] = k;
  return (long)p->n_fields++;
}

int xr_key_pattern_parse(xr_key_pattern **out, const char *text, size_t len) {
  if (!out) return xr_fail(XR_EINVAL, "xr_key_pattern_parse: out is NULL");
  *out = NULL;
  if (!text && len) return xr_fail(XR_EINVAL, "xr_key_pattern_parse: text is NULL");
  if (len == 0) return xr_fail(XR_EINVAL, "key pattern '': a pattern cannot be empty");
  xr_key_pattern *p = xr_calloc(1, sizeof *p);
  if (!p) return xr_fail_nomem();
  /* At most one item per byte; at most one field per three bytes ("<a>"). */
  p->text = xr_strndup(text, len);
  p->text_len = len;
  p->lit = xr_malloc(len);
  p->items = xr_calloc(len, sizeof *p->items);
  p->names = xr_calloc(len / 3 + 1, sizeof *p->names);
  p->classes = xr_calloc(len / 3 + 1, sizeof *p->classes);
  if (!p->text || !p->lit || !p->items || !p->names || !p->classes) {
    xr_key_pattern_free(p);
    return xr_fail_nomem();
  }
  size_t n_lit = 0;
  for (size_t i = 0; i < len;) {
    unsigned char c = (unsigned char)text[i];
    if (c == '<') {
      size_t start = ++i;
      if (i >= len || !is_name_start((unsigned char)text[i])) return parse_fail(p, start - 1, "'<' must start a field <name> or <name:class> (write a literal '<' as \\<)");
      while (i < len && is_name_char((unsigned char)text[i])) i++;
      size_t name_len = i - start;
      const char *cls = text + start;
      size_t cls_len = name_len;
      if (i < len && text[i] == ':') {
        cls = text + ++i;
        while (i < len && is_name_char((unsigned char)text[i])) i++;
        cls_len = (size_t)(text + i - cls);
      }
      if (i >= len || text[i] != '>') return parse_fail(p, start - 1, "the field has no closing '>'");
      i++;
      int k = cls == text + start ? XR_KEY_CLASS_ANY : -1;
      for (size_t j = 0; j < N_CLASSES; j++)
        if (strlen(class_names[j]) == cls_len && !memcmp(class_names[j], cls, cls_len)) k = (int)j;
      if (k < 0) return parse_fail(p, (size_t)(cls - text), "unknown field class (any, segment, uuid, sha256, hex32, number, rest)");
      if (k == XR_KEY_CLASS_REST && i < len) return parse_fail(p, start - 1, "a field of class rest must end the pattern");
      long idx = add_field(p, text + start, name_len, (xr_key_class)k);
      if (idx == -2) {
        xr_key_pattern_free(p);
        return xr_fail_nomem();
      }
      if (idx < 0) return parse_fail(p, start - 1, "a field name used again with another class");
      kp_item *it = &p->items[p->n_items++];
      it->field = true;
      it->index = (size_t)idx;
      it->stop = -1;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= len || (text[i + 1] != '<' && text[i + 1] != '\\'))
        return parse_fail(p, i, "'\\' must be followed by '<' or '\\'");
      c = (unsigned char)text[++i];
    }
    if (p->n_items == 0 || p->items[p->n_items - 1].field) {
      kp_item *it = &p->items[p->n_items++];
      it->off = n_lit;
      it->len = 0;
    }
    p->lit[n_lit++] = (char)c;
    p->items[p->n_items - 1].len++;
    i++;
  }
  /* Each variable-length field must be ended by a literal that cannot continue it. */
  for (size_t i = 0; i < p->n_items; i++) {
    kp_item *it = &p->items[i];
    if (!it->field) continue;
    xr_key_class k = p->classes[it->index];
    if (is_fixed(k) || i + 1 == p->n_items) continue;
    const kp_item *next = &p->items[i + 1];
    if (next->field)
      return parse_fail(p, 0, "a field of class any, segment or number is followed directly by another field: "
                              "their values could not be told apart (put a literal between them)");
    unsigned char first = (unsigned char)p->lit[next->off];
    if (k == XR_KEY_CLASS_NUMBER && is_digit(first))
      return parse_fail(p, 0, "a number field is followed by a literal digit: where the number ends could not be told");
    if (k != XR_KEY_CLASS_NUMBER) it->stop = first;
  }
  *out = p;
  return XR_OK;
}

const char *xr_key_pattern_text(const xr_key_pattern *p, size_t *len) {
  if (len) *len = p ? p->text_len : 0;
  return p ? p->text : NULL;
}

size_t xr_key_pattern_field_count(const xr_key_pattern *p) { return p ? p->n_fields : 0; }

const char *xr_key_pattern_field_name(const xr_key_pattern *p, size_t i) {
  return p && i < p->n_fields ? p->names[i] : NULL;
}

xr_key_class xr_key_pattern_field_class(const xr_key_pattern *p, size_t i) {
  return p && i < p->n_fields ? p->classes[i] : XR_KEY_CLASS_ANY;
}

int xr_key_pattern_field_index(const xr_key_pattern *p, const char *name, size_t name_len) {
  if (!p || !name) return -1;
  for (size_t i = 0; i < p->n_fields; i++)
    if (strlen(p->names[i]) == name_len && !memcmp(p->names[i], name, name_len)) return (int)i;
  return -1;
}

/* How many bytes of s[0..n) field item `it` takes (0: none fits). */
static size_t field_take(const xr_key_pattern *p, const kp_item *it, const char *s, size_t n) {
  xr_key_class k = p->classes[it->index];
  size_t want = fixed_len(k);
  if (want) {
    if (n < want) return 0;
    for (size_t i = 0; i < want; i++)
      if (!class_allows(k, it->stop, i, (unsigned char)s[i])) return 0;
    return want;
  }
  size_t i = 0;
  while (i < n && class_allows(k, it->stop, i, (unsigned char)s[i])) i++;
  return i;
}

bool xr_key_pattern_match(const xr_key_pattern *p, const char *key, size_t len, xr_key_span *values) {
  if (!p || (!key && len)) return false;
  xr_key_span local[16], *got = p->n_fields <= 16 ? local : values;
  bool *seen = NULL, seen_local[16] = {0};
  if (p->n_fields > 16 && !values) return false; /* the repeat check needs the values */
  if (p->n_fields <= 16) seen = seen_local;
  else if (!(seen = xr_calloc(p->n_fields, sizeof *seen)))
    return false;
  size_t at = 0;
  bool ok = true;
  for (size_t i = 0; ok && i < p->n_items; i++) {
    const kp_item *it = &p->items[i];
    if (!it->field) {
      ok = len - at >= it->len && !memcmp(key + at, p->lit + it->off, it->len);
      at += ok ? it->len : 0;
      continue;
    }
    size_t take = field_take(p, it, key + at, len - at);
    if (take == 0) {
      ok = false;
      break;
    }
    xr_key_span *v = &got[it->index];
    if (seen[it->index]) ok = v->len == take && !memcmp(v->ptr, key + at, take);
    v->ptr = key + at;
    v->len = take;
    seen[it->index] = true;
    at += take;
  }
  ok = ok && at == len;
  if (seen != seen_local) xr_free(seen);
  if (ok && values && got != values) memcpy(values, got, p->n_fields * sizeof *values);
  return ok;
}

int xr_key_pattern_render(const xr_key_pattern *p, char **out, size_t *out_len, const xr_key_span *values, size_t n) {
  if (!out) return xr_fail(XR_EINVAL, "xr_key_pattern_render: out is NULL");
  *out = NULL;
  if (out_len) *out_len = 0;
  if (!p) return xr_fail(XR_EINVAL, "xr_key_pattern_render: pattern is NULL");
  if (n != p->n_fields)
    return xr_fail(XR_EINVAL, "key pattern '%s' has %zu field%s, got %zu value%s", p->text, p->n_fields,
                   p->n_fields == 1 ? "" : "s", n, n == 1 ? "" : "s");
  if (n && !values) return xr_fail(XR_EINVAL, "xr_key_pattern_render: values is NULL");
  xr_buf b = XR_BUF_INIT;
  for (size_t i = 0; i < p->n_items; i++) {
    const kp_item *it = &p->items[i];
    if (!it->field) {
      xr_buf_append(&b, p->lit + it->off, it->len);
      continue;
    }
    const xr_key_span *v = &values[it->index];
    if (!v->ptr && v->len) {
      xr_buf_free(&b);
      return xr_fail(XR_EINVAL, "key pattern '%s': the value of field %s is NULL", p->text, p->names[it->index]);
    }
    if (v->len == 0 || field_take(p, it, v->ptr, v->len) != v->len) {
      xr_key_class k = p->classes[it->index];
      int rc = xr_fail(XR_EINVAL, "key pattern '%s': field %s (%s) cannot hold '%.*s'%s%s%s", p->text,
                       p->names[it->index], class_names[k], (int)(v->len > 200 ? 200 : v->len), v->ptr ? v->ptr : "",
                       v->len == 0 ? ": a value cannot be empty" : "",
                       k == XR_KEY_CLASS_ANY || k == XR_KEY_CLASS_SEGMENT ? ": no '{' or '}'" : "",
                       it->stop >= 0 ? ", and not the byte that follows the field" : "");
      xr_buf_free(&b);
      return rc;
    }
    xr_buf_append(&b, v->ptr, v->len);
  }
  return xr_buf_finish(&b, out, out_len);
}

int xr_key_pattern_glob(const xr_key_pattern *p, char **out, size_t *out_len) {
  if (!out) return xr_fail(XR_EINVAL, "xr_key_pattern_glob: out is NULL");
  *out = NULL;
  if (out_len) *out_len = 0;
  if (!p) return xr_fail(XR_EINVAL, "xr_key_pattern_glob: pattern is NULL");
  xr_buf b = XR_BUF_INIT;
  for (size_t i = 0; i < p->n_items; i++) {
    const kp_item *it = &p->items[i];
    if (it->field) {
      if (i == 0 || !p->items[i - 1].field) xr_buf_putc(&b, '*'); /* side by side fields: one '*' */
      continue;
    }
    for (size_t j = 0; j < it->len; j++) {
      char c = p->lit[it->off + j];
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') xr_buf_putc(&b, '\\');
      xr_buf_putc(&b, c);
    }
  }
  return xr_buf_finish(&b, out, out_len);
}

/* ---- overlap: each pattern as a row of atoms (a byte set repeated min..max times) ------------- */

typedef struct kp_atom {
  uint8_t set[32];
  size_t min, max; /* max SIZE_MAX: unbounded */
} kp_atom;

typedef struct kp_nfa {
  kp_atom *atoms;
  size_t n;
  size_t *first;   /* first[i]: the state number of (atom i, count 0); first[n]: the end state */
  size_t *atom_of; /* atom_of[s]: the atom of state s (n for the end state) */
  size_t states;
} kp_nfa;

static bool atom_has(const kp_atom *a, unsigned c) { return a->set[c >> 3] & (1u << (c & 7)); }

/* A count past min no longer matters for an unbounded atom: counts saturate there. */
static size_t atom_cap(const kp_atom *a) { return a->max == SIZE_MAX ? a->min : a->max; }

static int nfa_build(kp_nfa *m, const xr_key_pattern *p) {
  size_t n = 0;
  for (size_t i = 0; i < p->n_items; i++) {
    const kp_item *it = &p->items[i];
    n += !it->field ? it->len : p->classes[it->index] == XR_KEY_CLASS_UUID ? 36 : 1;
  }
  m->atoms = xr_calloc(n + 1, sizeof *m->atoms);
  m->first = xr_calloc(n + 1, sizeof *m->first);
  if (!m->atoms || !m->first) return xr_fail_nomem();
  m->n = 0;
  for (size_t i = 0; i < p->n_items; i++) {
    const kp_item *it = &p->items[i];
    if (!it->field) {
      for (size_t j = 0; j < it->len; j++) {
        kp_atom *a = &m->atoms[m->n++];
        unsigned c = (unsigned char)p->lit[it->off + j];
        a->set[c >> 3] |= (uint8_t)(1u << (c & 7));
        a->min = a->max = 1;
      }
      continue;
    }
    xr_key_class k = p->classes[it->index];
    size_t reps = k == XR_KEY_CLASS_UUID ? 36 : 1;
    for (size_t r = 0; r < reps; r++) {
      kp_atom *a = &m->atoms[m->n++];
      for (unsigned c = 0; c < 256; c++)
        if (class_allows(k, it->stop, r, (unsigned char)c)) a->set[c >> 3] |= (uint8_t)(1u << (c & 7));
      size_t fl = fixed_len(k);
      a->min = k == XR_KEY_CLASS_UUID ? 1 : fl ? fl : 1;
      a->max = k == XR_KEY_CLASS_UUID ? 1 : fl ? fl : SIZE_MAX;
    }
  }
  m->states = 0;
  for (size_t i = 0; i < m->n; i++) {
    m->first[i] = m->states;
    m->states += atom_cap(&m->atoms[i]) + 1;
  }
  m->first[m->n] = m->states++;
  if (!(m->atom_of = xr_malloc(m->states * sizeof *m->atom_of))) return xr_fail_nomem();
  for (size_t i = 0; i <= m->n; i++)
    for (size_t s = m->first[i]; s < (i < m->n ? m->first[i + 1] : m->states); s++) m->atom_of[s] = i;
  return XR_OK;
}

/* State s of m as (atom, count). */
static void nfa_at(const kp_nfa *m, size_t s, size_t *atom, size_t *count) {
  *atom = m->atom_of[s];
  *count = s - m->first[*atom];
}

/* The state after reading byte c in state s, or SIZE_MAX. */
static size_t nfa_step(const kp_nfa *m, size_t s, unsigned c) {
  size_t i, k;
  nfa_at(m, s, &i, &k);
  if (i == m->n) return SIZE_MAX;
  const kp_atom *a = &m->atoms[i];
  if (!atom_has(a, c) || (a->max != SIZE_MAX && k >= a->max)) return SIZE_MAX;
  size_t cap = atom_cap(a);
  return m->first[i] + (k + 1 < cap ? k + 1 : cap);
}

/* The state after leaving state s's atom without reading (its count reached min), or SIZE_MAX. */
static size_t nfa_skip(const kp_nfa *m, size_t s) {
  size_t i, k;
  nfa_at(m, s, &i, &k);
  if (i == m->n || k < m->atoms[i].min) return SIZE_MAX;
  return m->first[i + 1];
}

bool xr_key_pattern_overlap(const xr_key_pattern *a, const xr_key_pattern *b, char **witness, size_t *witness_len) {
  if (witness) *witness = NULL;
  if (witness_len) *witness_len = 0;
  if (!a || !b) return false;
  kp_nfa ma = {0}, mb = {0};
  bool found = false;
  size_t *parent = NULL;
  int16_t *via = NULL;
  size_t *queue = NULL;
  if (nfa_build(&ma, a) || nfa_build(&mb, b)) goto done;
  size_t total = ma.states * mb.states;
  parent = xr_malloc(total * sizeof *parent);
  via = xr_malloc(total * sizeof *via);
  queue = xr_malloc(total * sizeof *queue);
  if (!parent || !via || !queue) goto done;
  for (size_t i = 0; i < total; i++) parent[i] = SIZE_MAX;
  /* Bytes in the order a witness should prefer them: readable first. */
  static const char readable[] = "abcdef0123456789-ghijklmnopqrstuvwxyz:._ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  unsigned order[256];
  bool listed[256] = {0};
  size_t n_order = 0;
  for (size_t i = 0; readable[i]; i++) listed[(unsigned char)readable[i]] = true, order[n_order++] = (unsigned char)readable[i];
  for (unsigned c = 0; c < 256; c++)
    if (!listed[c]) order[n_order++] = c;
  size_t head = 0, tail = 0, end = (ma.states - 1) * mb.states + (mb.states - 1);
  parent[0] = 0;
  via[0] = -1;
  queue[tail++] = 0;
  while (head < tail && !found) {
    size_t cur = queue[head++], sa = cur / mb.states, sb = cur % mb.states;
    if (cur == end) {
      found = true;
      break;
    }
    size_t next[2 + 256];
    int16_t by[2 + 256];
    size_t nn = 0;
    size_t ka = nfa_skip(&ma, sa), kb = nfa_skip(&mb, sb);
    if (ka != SIZE_MAX) next[nn] = ka * mb.states + sb, by[nn++] = -1;
    if (kb != SIZE_MAX) next[nn] = sa * mb.states + kb, by[nn++] = -1;
    /* Only the bytes both atoms take can move both automata. */
    size_t ia = ma.atom_of[sa], ib = mb.atom_of[sb];
    uint8_t both[32] = {0};
    bool any = false;
    if (ia < ma.n && ib < mb.n)
      for (size_t k = 0; k < 32; k++) any |= (both[k] = ma.atoms[ia].set[k] & mb.atoms[ib].set[k]) != 0;
    for (size_t o = 0; any && o < n_order; o++) {
      if (!(both[order[o] >> 3] & (1u << (order[o] & 7)))) continue;
      size_t ta = nfa_step(&ma, sa, order[o]);
      if (ta == SIZE_MAX) continue;
      size_t tb = nfa_step(&mb, sb, order[o]);
      if (tb == SIZE_MAX) continue;
      next[nn] = ta * mb.states + tb, by[nn++] = (int16_t)order[o];
    }
    for (size_t i = 0; i < nn; i++) {
      if (parent[next[i]] != SIZE_MAX) continue;
      parent[next[i]] = cur;
      via[next[i]] = by[i];
      queue[tail++] = next[i];
    }
  }
  if (found && witness) {
    xr_buf w = XR_BUF_INIT;
    for (size_t s = end; s != 0; s = parent[s])
      if (via[s] >= 0) xr_buf_putc(&w, (char)via[s]);
    for (size_t i = 0; i < w.len / 2; i++) {
      char t = w.data[i];
      w.data[i] = w.data[w.len - 1 - i];
      w.data[w.len - 1 - i] = t;
    }
    if (xr_buf_finish(&w, witness, witness_len)) *witness = NULL;
  }
done:
  xr_free(parent);
  xr_free(via);
  xr_free(queue);
  xr_free(ma.atoms);
  xr_free(ma.first);
  xr_free(ma.atom_of);
  xr_free(mb.atoms);
  xr_free(mb.first);
  xr_free(mb.atom_of);
  return found;
}
