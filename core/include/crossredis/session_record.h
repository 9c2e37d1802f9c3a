/* toolhive's transport-session record and vMCP session-data map, read and written exactly as Go's
 * encoding/json does in toolhive's pkg/transport/session (SPEC.md 2.1, 2.2): no I/O.
 *
 *   record  {"id":…,"type":…,"created_at":…,"updated_at":…[,"data":…][,"metadata":{…}]}
 *           (serializeSession: json.Marshal of sessionData; deserializeSession)
 *   map     a JSON object of strings, keys sorted (RedisSessionDataStorage: json.Marshal of a
 *           map[string]string; json.Unmarshal into one)
 *
 * Writers produce Go's bytes: compact, strings escaped as Go escapes them ('<' '>' '&' as \u003c
 * \u003e \u0026, U+2028/U+2029 as \u2028/\u2029, \b \f \n \r \t, other control bytes as \u00xx),
 * map keys sorted by their bytes, times as time.Time's MarshalJSON (RFC 3339 with nanoseconds, the
 * fraction's trailing zeros removed, "Z" or ±hh:mm), `data` as a json.RawMessage is marshalled
 * (compacted, HTML characters escaped, nothing else changed). Invalid UTF-8 in a string depends on
 * the Go toolchain that built the program whose bytes are matched (SPEC.md 2.4): Go 1.26 writes
 * \ufffd per bad byte, Go 1.27 the raw bytes EF BF BD.
 *
 * Readers accept what Go's json.Unmarshal accepts into those types and refuse what it refuses:
 * field names matched case-insensitively (an exact match first), the last of duplicate members
 * wins (a duplicate `metadata` object is merged into the first, as Go decodes into the same map),
 * unknown members ignored, null leaves a field as it was (`"metadata":null`: no metadata; a null
 * map value: ""), a non-string metadata value is an error. Their failures are XR_EPARSE whose
 * message (xr_error_last) is Go's error text for that toolchain, without toolhive's wrapping:
 * "invalid character 'b' looking for beginning of object key string", "unexpected end of JSON
 * input", "json: cannot unmarshal number into Go struct field sessionData.metadata of type string"
 * (Go 1.26; Go 1.27 names sessionData.metadata.<key>), "parsing time \"x\" as
 * \"2006-01-02T15:04:05Z07:00\": cannot parse \"x\" as \"2006\"". Both toolchains' texts are
 * checked against Go itself (tests/unit/test_session_record.c); the one difference: a NUL byte that
 * Go 1.27 puts in a message (a map key's) shows as \x00, a message being a C string.
 *
 * Strings are byte spans (they may hold NUL and invalid UTF-8). Thread safety: reentrant. */
#ifndef CROSSREDIS_SESSION_RECORD_H
#define CROSSREDIS_SESSION_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "export.h"
#include "timestamp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The Go toolchain whose encoding/json is matched (SPEC.md 2.4). */
typedef enum xr_go_version {
  XR_GO_DEFAULT = 0, /* the newest: XR_GO_1_27 (toolhive v0.50.0 and later are built with it) */
  XR_GO_1_26 = 126,  /* toolhive up to v0.48.0 */
  XR_GO_1_27 = 127
} xr_go_version;

/* One string -> string entry. */
typedef struct xr_session_pair {
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
} xr_session_pair;

/* A session as the record holds it. Spans are borrowed (the caller's when writing; the decoded
 * record's buffer when read). */
typedef struct xr_session {
  const char *id;
  size_t id_len;
  const char *type;            /* "mcp", "sse", "streamable", or any other text, kept as it is */
  size_t type_len;
  xr_time created_at;          /* with the UTC offset it is shown in; Go's zero time is
                                * {XR_TIME_ZERO_SEC, 0, 0} */
  xr_time updated_at;
  const char *data;            /* one JSON value (json.RawMessage); NULL: none, "data" omitted */
  size_t data_len;
  const xr_session_pair *metadata; /* any order; written sorted by key bytes; of duplicate keys the
                                    * last wins */
  size_t metadata_count;
} xr_session;

/* What a reader returns: the session (its spans point into buf) and whether `metadata` was
 * present and not null (Go's map is nil otherwise: LoadMetadata's result is then null). */
typedef struct xr_session_record {
  xr_session s;
  bool metadata_present;
  xr_session_pair *pairs_;     /* private */
  char *buf_;                  /* private */
} xr_session_record;

/* A decoded map (map[string]string), pairs sorted by key bytes. is_nil: the text was `null`. */
typedef struct xr_session_map {
  const xr_session_pair *pairs;
  size_t count;
  bool is_nil;
  xr_session_pair *pairs_;     /* private */
  char *buf_;                  /* private */
} xr_session_map;

/* Writes `s` as toolhive's serializeSession does (json.Marshal of sessionData): *out allocated
 * (xr_free), NUL-terminated, *out_len its length. The caller's type is kept; data, when given,
 * must be one JSON value (Go's grammar) and is written as Go marshals a json.RawMessage.
 * Errors: XR_EINVAL for NULL arguments, a metadata pair with a NULL span of non-zero length, or
 * an unknown Go version; XR_EPARSE for data that is not one JSON value ("json: error calling
 * MarshalJSON for type json.RawMessage: invalid character ..."), XR_ERANGE for a time Go refuses
 * to marshal (year outside 0..9999, offset of 24 h or more: "json: error calling MarshalJSON for
 * type time.Time: Time.MarshalJSON: year outside of range [0,9999]"). Empty ids are the store's
 * business, not the writer's. */
XR_API int xr_session_write(char **out, size_t *out_len, const xr_session *s, xr_go_version go);

/* Reads a stored record as toolhive's deserializeSession does: json.Unmarshal into sessionData
 * (see the top of this file), then the session type's rules: a "streamable" session has no data
 * (StreamableSession drops it), and data that is absent or empty is none (`"data":null` is kept:
 * Go keeps the RawMessage "null" and writes it back). Empty text: XR_EPARSE "cannot deserialize
 * empty data". On success *out owns its memory (xr_session_record_clear). */
XR_API int xr_session_read(xr_session_record *out, const char *text, size_t len, xr_go_version go);
XR_API void xr_session_record_clear(xr_session_record *r);

/* Writes a map[string]string as json.Marshal does (keys sorted by bytes; of duplicate keys the
 * last wins; no pairs: "{}"). Errors: XR_EINVAL for NULL arguments or an unknown Go version. */
XR_API int xr_session_map_write(char **out, size_t *out_len, const xr_session_pair *pairs, size_t count,
                                xr_go_version go);

/* Reads a map[string]string as json.Unmarshal does (null: is_nil; a null value: ""; duplicates:
 * the last wins; a non-string value: XR_EPARSE with Go's text). On success *out owns its memory
 * (xr_session_map_clear). */
XR_API int xr_session_map_read(xr_session_map *out, const char *text, size_t len, xr_go_version go);
XR_API void xr_session_map_clear(xr_session_map *m);

#ifdef __cplusplus
}
#endif
#endif
