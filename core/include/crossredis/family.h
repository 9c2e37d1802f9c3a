/* Key families: one logical kind of key declared by two shapes, the old one a deployment writes
 * today and the new one it moves to (usually the same key with a Cluster hash tag, MPP's
 * convention: `mpp:browser:session:<id:uuid>` -> `mpp:browser:session:{session:<id:uuid>}`).
 * A family is what a migration window (window.h) and `crossredis migrate` (migrate.h) work on.
 *
 * Both shapes are key patterns (key_pattern.h) with the same set of field names (classes may
 * differ only where the values still fit both), so a key of one shape names exactly one key of the
 * other: the field values are taken from one and rendered into the other. The two shapes must not
 * overlap: a key that has both shapes would be its own old and new key.
 *
 * The family file (`crossredis migrate --family FILE`, the bindings' Family.load):
 *
 *   {"families": [
 *     {"name": "browser-session",
 *      "old": "mpp:browser:session:<id:uuid>",
 *      "new": "mpp:browser:session:{session:<id:uuid>}",
 *      "notes": "what the operator should know (optional)"}
 *   ]}
 *
 * A single family object without the list is accepted too. Unknown members are ignored.
 *
 * Pure functions: no I/O. A family is immutable once made: any number of threads may read it. */
#ifndef CROSSREDIS_FAMILY_H
#define CROSSREDIS_FAMILY_H

#include <stddef.h>

#include "export.h"
#include "key_pattern.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_family xr_family;

/* Makes a family named `name` (NUL-terminated, not empty) from the old and the new shape's
 * pattern texts. Errors, all XR_EINVAL with the family's name in the message:
 *   - either pattern does not parse (the parser's message, saying old or new);
 *   - the field names differ ("family X: field 'id' is in the old shape only");
 *   - the shapes collide: "family X: the old and new shapes collide: key '...' has both"
 *     (the witness from xr_key_pattern_overlap).
 * *out is freed with xr_family_free. */
XR_API int xr_family_new(xr_family **out, const char *name, const char *old_pattern, size_t old_len,
                         const char *new_pattern, size_t new_len);
XR_API void xr_family_free(xr_family *f);

/* Reads a family file (text[0..len), JSON as above) into a list of families, in file order:
 * *out an array of *n families (xr_family_list_free). XR_EPARSE for text that is not JSON or not
 * of that form (naming the member: "families[2].old: missing"); XR_EINVAL from xr_family_new
 * (with "families[i]" in front); XR_EINVAL for two families with the same name; XR_EINVAL for a
 * file without any family. */
XR_API int xr_family_load_json(xr_family ***out, size_t *n, const char *text, size_t len);
XR_API void xr_family_list_free(xr_family **list, size_t n);

/* The one family of a family file named `name` (NULL: the file must hold exactly one family, else
 * XR_EINVAL listing the names). XR_ENOTFOUND when no family has that name (the message lists the
 * names there are). Errors of xr_family_load_json as they are. *out: xr_family_free. */
XR_API int xr_family_load_json_named(xr_family **out, const char *text, size_t len, const char *name);

/* Another family with the same name and shapes (for a holder that must own its copy). */
XR_API int xr_family_copy(xr_family **out, const xr_family *f);

/* The family's name and notes (NUL-terminated, owned by f; notes "" when the file had none). */
XR_API const char *xr_family_name(const xr_family *f);
XR_API const char *xr_family_notes(const xr_family *f);

/* The two shapes (owned by f). */
XR_API const xr_key_pattern *xr_family_old_pattern(const xr_family *f);
XR_API const xr_key_pattern *xr_family_new_pattern(const xr_family *f);

/* The fields, in the old shape's order: this order is the one every `values` argument below (and
 * in window.h) follows. Name owned by f. */
XR_API size_t xr_family_field_count(const xr_family *f);
XR_API const char *xr_family_field_name(const xr_family *f, size_t i);

/* The old and the new key of one member of the family: values[i] is field i's value (n ==
 * xr_family_field_count). XR_EINVAL when n is wrong or a value does not fit its field's class
 * in either shape (naming the field and the value). Each key is allocated and NUL-terminated
 * (xr_free); old_key or new_key may be NULL when the caller does not want that one. */
XR_API int xr_family_keys(const xr_family *f, char **old_key, size_t *old_len, char **new_key, size_t *new_len,
                          const xr_key_span *values, size_t n);

/* The new key for an old-shape key: XR_ENOTFOUND (no message noise: a normal outcome) when
 * old_key[0..old_len) does not have the old shape; XR_EINVAL when its values do not fit the new
 * shape. *new_key allocated (xr_free), NUL-terminated. */
XR_API int xr_family_new_key_of(const xr_family *f, char **new_key, size_t *new_len, const char *old_key,
                                size_t old_len);

#ifdef __cplusplus
}
#endif
#endif
