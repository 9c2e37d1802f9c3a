/* Key families: an old and a new shape with the same fields (crossredis/family.h). */
#include <stdio.h>
#include <string.h>

#include "base/internal.h"
#include "crossredis/family.h"
#include "crossredis/json.h"

struct xr_family {
  char *name;
  char *notes;
  xr_key_pattern *old_p;
  xr_key_pattern *new_p;
  size_t nfields;
  size_t *to_new; /* field i of the old shape is field to_new[i] of the new one */
};

void xr_family_free(xr_family *f) {
  if (!f) return;
  xr_free(f->name);
  xr_free(f->notes);
  xr_key_pattern_free(f->old_p);
  xr_key_pattern_free(f->new_p);
  xr_free(f->to_new);
  xr_free(f);
}

/* The field names of both shapes are one set; to_new maps old field indexes to new ones. */
static int match_fields(xr_family *f) {
  size_t n = xr_key_pattern_field_count(f->old_p);
  f->nfields = n;
  f->to_new = xr_calloc(n ? n : 1, sizeof *f->to_new);
  if (!f->to_new) return xr_fail_nomem();
  for (size_t i = 0; i < n; i++) {
    const char *name = xr_key_pattern_field_name(f->old_p, i);
    int j = xr_key_pattern_field_index(f->new_p, name, strlen(name));
    if (j < 0) return xr_fail(XR_EINVAL, "family %s: field '%s' is in the old shape only", f->name, name);
    f->to_new[i] = (size_t)j;
  }
  size_t m = xr_key_pattern_field_count(f->new_p);
  for (size_t j = 0; j < m; j++) {
    const char *name = xr_key_pattern_field_name(f->new_p, j);
    if (xr_key_pattern_field_index(f->old_p, name, strlen(name)) < 0)
      return xr_fail(XR_EINVAL, "family %s: field '%s' is in the new shape only", f->name, name);
  }
  return XR_OK;
}

static int parse_shape(xr_key_pattern **out, const char *family, const char *which, const char *text, size_t len) {
  int rc = xr_key_pattern_parse(out, text, len);
  if (rc) return xr_fail(rc, "family %s: the %s shape: %s", family, which, xr_error_last()->message);
  return XR_OK;
}

static int family_make(xr_family **out, const char *name, const char *notes, const char *old_pattern, size_t old_len,
                       const char *new_pattern, size_t new_len) {
  if (!out) return xr_fail(XR_EINVAL, "family: out is NULL");
  *out = NULL;
  if (!name || !*name) return xr_fail(XR_EINVAL, "family: the name is empty");
  if (!old_pattern || !new_pattern) return xr_fail(XR_EINVAL, "family %s: a shape is NULL", name);
  xr_family *f = xr_calloc(1, sizeof *f);
  if (!f) return xr_fail_nomem();
  int rc = XR_OK;
  f->name = xr_strndup(name, strlen(name));
  f->notes = xr_strndup(notes ? notes : "", notes ? strlen(notes) : 0);
  if (!f->name || !f->notes) rc = xr_fail_nomem();
  if (!rc) rc = parse_shape(&f->old_p, name, "old", old_pattern, old_len);
  if (!rc) rc = parse_shape(&f->new_p, name, "new", new_pattern, new_len);
  if (!rc) rc = match_fields(f);
  if (!rc) {
    char *witness = NULL;
    size_t witness_len = 0;
    if (xr_key_pattern_overlap(f->old_p, f->new_p, &witness, &witness_len)) {
      rc = xr_fail(XR_EINVAL, "family %s: the old and new shapes collide: key '%.*s' has both", name,
                   (int)witness_len, witness ? witness : "");
      xr_free(witness);
    }
  }
  if (rc) {
    xr_family_free(f);
    return rc;
  }
  *out = f;
  return XR_OK;
}

int xr_family_new(xr_family **out, const char *name, const char *old_pattern, size_t old_len, const char *new_pattern,
                  size_t new_len) {
  return family_make(out, name, NULL, old_pattern, old_len, new_pattern, new_len);
}

int xr_family_copy(xr_family **out, const xr_family *f) {
  if (!f) return xr_fail(XR_EINVAL, "family: NULL");
  size_t old_len, new_len;
  const char *old_text = xr_key_pattern_text(f->old_p, &old_len);
  const char *new_text = xr_key_pattern_text(f->new_p, &new_len);
  return family_make(out, f->name, f->notes, old_text, old_len, new_text, new_len);
}

const char *xr_family_name(const xr_family *f) { return f->name; }
const char *xr_family_notes(const xr_family *f) { return f->notes; }
const xr_key_pattern *xr_family_old_pattern(const xr_family *f) { return f->old_p; }
const xr_key_pattern *xr_family_new_pattern(const xr_family *f) { return f->new_p; }
size_t xr_family_field_count(const xr_family *f) { return f->nfields; }
const char *xr_family_field_name(const xr_family *f, size_t i) {
  return i < f->nfields ? xr_key_pattern_field_name(f->old_p, i) : NULL;
}

/* Renders one shape, its failure named by the family and the shape. */
static int render(const xr_family *f, const char *which, const xr_key_pattern *p, char **out, size_t *len,
                  const xr_key_span *values, size_t n) {
  size_t ignored;
  int rc = xr_key_pattern_render(p, out, len ? len : &ignored, values, n);
  if (rc) return xr_fail(rc, "family %s: the %s key: %s", f->name, which, xr_error_last()->message);
  return XR_OK;
}

/* The new shape's keys from values in the old shape's order. */
static int render_new(const xr_family *f, char **out, size_t *len, const xr_key_span *values) {
  xr_key_span small[8];
  xr_key_span *reordered = f->nfields <= 8 ? small : xr_calloc(f->nfields, sizeof *reordered);
  if (!reordered) return xr_fail_nomem();
  for (size_t i = 0; i < f->nfields; i++) reordered[f->to_new[i]] = values[i];
  int rc = render(f, "new", f->new_p, out, len, reordered, f->nfields);
  if (reordered != small) xr_free(reordered);
  return rc;
}

int xr_family_keys(const xr_family *f, char **old_key, size_t *old_len, char **new_key, size_t *new_len,
                   const xr_key_span *values, size_t n) {
  if (!f) return xr_fail(XR_EINVAL, "family: NULL");
  if (n != f->nfields)
    return xr_fail(XR_EINVAL, "family %s: %zu field values given, the family has %zu", f->name, n, f->nfields);
  if (n && !values) return xr_fail(XR_EINVAL, "family %s: values is NULL", f->name);
  for (size_t i = 0; i < n; i++)
    if (!values[i].ptr && values[i].len)
      return xr_fail(XR_EINVAL, "family %s: field '%s' has a NULL value", f->name, xr_family_field_name(f, i));
  char *o = NULL;
  int rc = XR_OK;
  if (old_key) rc = render(f, "old", f->old_p, &o, old_len, values, n);
  if (!rc && new_key) rc = render_new(f, new_key, new_len, values);
  if (rc) {
    xr_free(o);
    return rc;
  }
  if (old_key) *old_key = o;
  return XR_OK;
}

int xr_family_new_key_of(const xr_family *f, char **new_key, size_t *new_len, const char *old_key, size_t old_len) {
  if (!f || !new_key) return xr_fail(XR_EINVAL, "family: NULL argument");
  xr_key_span small[8];
  xr_key_span *values = f->nfields <= 8 ? small : xr_calloc(f->nfields, sizeof *values);
  if (!values) return xr_fail_nomem();
  int rc;
  if (!xr_key_pattern_match(f->old_p, old_key, old_len, values))
    rc = XR_ENOTFOUND;
  else
    rc = render_new(f, new_key, new_len, values);
  if (values != small) xr_free(values);
  return rc;
}

/* ---- the family file ----------------------------------------------------------------------------- */

void xr_family_list_free(xr_family **list, size_t n) {
  if (!list) return;
  for (size_t i = 0; i < n; i++) xr_family_free(list[i]);
  xr_free(list);
}

/* A string member of families[i]; NULL (with the error recorded) when missing or not a string,
 * unless optional. */
static const char *member(const json_t *obj, size_t i, const char *key, size_t *len, int optional, int *rc) {
  json_t *v = json_object_get(obj, key);
  if (!v) {
    if (!optional) *rc = xr_fail(XR_EPARSE, "family file: families[%zu].%s: missing", i, key);
    return NULL;
  }
  if (!json_is_string(v)) {
    *rc = xr_fail(XR_EPARSE, "family file: families[%zu].%s: not a string", i, key);
    return NULL;
  }
  *len = json_string_length(v);
  return json_string_value(v);
}

static int load_one(xr_family **out, const json_t *obj, size_t i) {
  if (!json_is_object(obj)) return xr_fail(XR_EPARSE, "family file: families[%zu]: not an object", i);
  int rc = XR_OK;
  size_t name_len = 0, old_len = 0, new_len = 0, notes_len = 0;
  const char *name = member(obj, i, "name", &name_len, 0, &rc);
  const char *old_p = rc ? NULL : member(obj, i, "old", &old_len, 0, &rc);
  const char *new_p = rc ? NULL : member(obj, i, "new", &new_len, 0, &rc);
  const char *notes = rc ? NULL : member(obj, i, "notes", &notes_len, 1, &rc);
  if (rc) return rc;
  if (strlen(name) != name_len || (notes && strlen(notes) != notes_len))
    return xr_fail(XR_EPARSE, "family file: families[%zu]: a name or notes with a NUL byte", i);
  rc = family_make(out, name, notes, old_p, old_len, new_p, new_len);
  if (rc) return xr_fail(rc, "family file: families[%zu]: %s", i, xr_error_last()->message);
  return XR_OK;
}

int xr_family_load_json(xr_family ***out, size_t *n, const char *text, size_t len) {
  if (!out || !n) return xr_fail(XR_EINVAL, "family file: NULL argument");
  *out = NULL;
  *n = 0;
  json_t *root = NULL;
  int rc = xr_json_parse(&root, text, len);
  if (rc) return xr_fail(rc, "family file: %s", xr_error_last()->message);
  const json_t *list = json_is_object(root) ? json_object_get(root, "families") : NULL;
  size_t count = list ? json_array_size(list) : 1;
  if (!json_is_object(root)) rc = xr_fail(XR_EPARSE, "family file: not a JSON object");
  else if (list && !json_is_array(list)) rc = xr_fail(XR_EPARSE, "family file: families: not a list");
  else if (count == 0) rc = xr_fail(XR_EINVAL, "family file: no family in the list");
  xr_family **fams = rc ? NULL : xr_calloc(count, sizeof *fams);
  if (!rc && !fams) rc = xr_fail_nomem();
  for (size_t i = 0; !rc && i < count; i++) {
    rc = load_one(&fams[i], list ? json_array_get(list, i) : root, i);
    for (size_t j = 0; !rc && j < i; j++)
      if (!strcmp(fams[j]->name, fams[i]->name))
        rc = xr_fail(XR_EINVAL, "family file: families[%zu] and [%zu] are both named '%s'", j, i, fams[j]->name);
  }
  json_decref(root);
  if (rc) {
    xr_family_list_free(fams, fams ? count : 0);
    return rc;
  }
  *out = fams;
  *n = count;
  return XR_OK;
}

int xr_family_load_json_named(xr_family **out, const char *text, size_t len, const char *name) {
  if (!out) return xr_fail(XR_EINVAL, "family file: out is NULL");
  *out = NULL;
  xr_family **fams;
  size_t n;
  int rc = xr_family_load_json(&fams, &n, text, len);
  if (rc) return rc;
  size_t pick = n;
  for (size_t i = 0; name && i < n; i++)
    if (!strcmp(fams[i]->name, name)) pick = i;
  if (!name && n == 1) pick = 0;
  if (pick == n) {
    xr_buf names = XR_BUF_INIT;
    for (size_t i = 0; i < n; i++) xr_buf_printf(&names, "%s'%s'", i ? ", " : "", fams[i]->name);
    if (name)
      rc = xr_fail(XR_ENOTFOUND, "family file: no family named '%s' (there are %s)", name,
                   names.data ? names.data : "");
    else
      rc = xr_fail(XR_EINVAL, "family file: %zu families (%s): name the one to use", n, names.data ? names.data : "");
    xr_buf_free(&names);
  } else {
    *out = fams[pick];
    fams[pick] = NULL;
  }
  xr_family_list_free(fams, n);
  return rc;
}
