/* xp's neutral JSON slot (xp.h): upstream's BufferSlot fields as one JSON object every runtime
 * reads, written canonically (JSON.stringify's bytes in the documented member order). */
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/json.h"
#include "crossredis/xp.h"

#define SAFE_INT INT64_C(9007199254740991) /* 2^53-1: exact in every runtime (JavaScript's numbers) */

enum kind { STR, OPT_STR, INT, BOOL, ANY };

/* The members in their written order; `optional`: may be absent when read (upstream's default). */
static const struct {
  const char *name;
  enum kind kind;
  bool optional;
} members[] = {
    {"xp_slot", INT, false},       {"thread_id", STR, false},          {"from_id", STR, false},
    {"to_id", STR, false},         {"slot_index", INT, false},         {"timestamp", STR, false},
    {"payload_type", STR, false},  {"own_name", OPT_STR, true},        {"is_self_call", BOOL, true},
    {"usage_instructions", STR, true}, {"payload", ANY, false},
};
#define NMEMBERS (sizeof members / sizeof members[0])
enum { M_VERSION, M_THREAD_ID, M_FROM_ID, M_TO_ID, M_SLOT_INDEX, M_TIMESTAMP, M_PAYLOAD_TYPE, M_OWN_NAME,
       M_IS_SELF_CALL, M_USAGE, M_PAYLOAD };

static const char *kind_text(enum kind k) {
  return k == STR ? "a string" : k == OPT_STR ? "a string or null" : k == INT ? "an integer" : k == BOOL ? "a boolean" : "JSON";
}

/* The first integer of v (at any depth) past +-(2^53-1), or NULL. */
static const json_t *unsafe_int(const json_t *v) {
  if (json_is_integer(v)) {
    json_int_t n = json_integer_value(v);
    return n > SAFE_INT || n < -SAFE_INT ? v : NULL;
  }
  size_t i;
  const char *k;
  json_t *x;
  const json_t *bad = NULL;
  if (json_is_array(v)) {
    json_array_foreach(v, i, x) if ((bad = unsafe_int(x))) return bad;
  } else if (json_is_object(v)) {
    json_object_foreach((json_t *)v, k, x) if ((bad = unsafe_int(x))) return bad;
  }
  return NULL;
}

static int check_payload(const json_t *p) {
  const json_t *bad = unsafe_int(p);
  if (!bad) return XR_OK;
  return xr_fail(XR_EINVAL, "xp slot: payload holds the integer %lld, past +-(2^53-1) (not exact in JavaScript)",
                 (long long)json_integer_value(bad));
}

static int check_index(int64_t i) {
  if (i >= 0 && i <= SAFE_INT) return XR_OK;
  return xr_fail(XR_EINVAL, "xp slot: slot_index must be 0 to 9007199254740991, got %lld", (long long)i);
}

/* ---- writing ------------------------------------------------------------------------------------ */

static int add_str(json_t *o, const char *name, const char *s, size_t len) {
  if (!s && len) return xr_fail(XR_EINVAL, "xp slot: %s is NULL with a length of %zu", name, len);
  return json_object_set_new_nocheck(o, name, json_stringn_nocheck(s ? s : "", len)) ? xr_fail_nomem() : XR_OK;
}

int xr_xp_slot_write(char **out, size_t *out_len, const xr_xp_slot *s) {
  if (!out || !s) return xr_fail(XR_EINVAL, "xr_xp_slot_write: out and the slot are required");
  *out = NULL;
  if (out_len) *out_len = 0;
  if (!s->payload_json) return xr_fail(XR_EINVAL, "xp slot: payload is required (JSON text; \"null\" for none)");
  int rc = check_index(s->slot_index);
  if (rc) return rc;
  json_t *payload = NULL;
  if (xr_json_parse(&payload, s->payload_json, s->payload_json_len))
    return xr_fail(XR_EINVAL, "xp slot: payload is not JSON: %s", xr_error_last()->message);
  json_t *o = json_object();
  if (!o) rc = xr_fail_nomem();
  if (!rc) rc = check_payload(payload);
  if (!rc && json_object_set_new_nocheck(o, "xp_slot", json_integer(XR_XP_SLOT_VERSION))) rc = xr_fail_nomem();
  if (!rc) rc = add_str(o, "thread_id", s->thread_id, s->thread_id_len);
  if (!rc) rc = add_str(o, "from_id", s->from_id, s->from_id_len);
  if (!rc) rc = add_str(o, "to_id", s->to_id, s->to_id_len);
  if (!rc && json_object_set_new_nocheck(o, "slot_index", json_integer(s->slot_index))) rc = xr_fail_nomem();
  if (!rc) rc = add_str(o, "timestamp", s->timestamp, s->timestamp_len);
  if (!rc) rc = add_str(o, "payload_type", s->payload_type, s->payload_type_len);
  if (!rc && s->own_name) rc = add_str(o, "own_name", s->own_name, s->own_name_len);
  if (!rc && !s->own_name && json_object_set_new_nocheck(o, "own_name", json_null())) rc = xr_fail_nomem();
  if (!rc && json_object_set_new_nocheck(o, "is_self_call", json_boolean(s->is_self_call))) rc = xr_fail_nomem();
  if (!rc) rc = add_str(o, "usage_instructions", s->usage_instructions, s->usage_instructions_len);
  if (!rc && json_object_set_nocheck(o, "payload", payload)) rc = xr_fail_nomem();
  if (!rc) {
    rc = xr_json_write(out, out_len, o, XR_JSON_JS, 0);
    if (rc) rc = xr_fail(rc, "xp slot: %s", xr_error_last()->message); /* invalid UTF-8: where */
  }
  json_decref(o);
  json_decref(payload);
  return rc;
}

/* ---- reading ------------------------------------------------------------------------------------ */

static bool has_kind(const json_t *v, enum kind k) {
  switch (k) {
    case STR: return json_is_string(v);
    case OPT_STR: return json_is_string(v) || json_is_null(v);
    case INT: return json_is_integer(v);
    case BOOL: return json_is_boolean(v);
    case ANY: return true;
  }
  return false;
}

static void take_str(const json_t *v, const char **s, size_t *len) {
  *s = v && json_is_string(v) ? json_string_value(v) : "";
  *len = v && json_is_string(v) ? json_string_length(v) : 0;
}

/* What xr_xp_slot_read keeps alive: the parsed object and the payload's canonical text. */
typedef struct slot_doc {
  json_t *root;
  char *payload;
} slot_doc;

void xr_xp_slot_clear(xr_xp_slot *s) {
  if (!s) return;
  slot_doc *d = s->doc_;
  if (d) {
    json_decref(d->root);
    xr_free(d->payload);
    xr_free(d);
  }
  memset(s, 0, sizeof *s);
}

static int read_members(json_t *root, const json_t *got[NMEMBERS]) {
  if (!json_is_object(root)) return xr_fail(XR_EINVAL, "xp slot: not a JSON object");
  const char *k;
  json_t *v;
  json_object_foreach(root, k, v) {
    size_t i = 0;
    while (i < NMEMBERS && strcmp(members[i].name, k) != 0) i++;
    if (i == NMEMBERS) return xr_fail(XR_EINVAL, "xp slot: unknown member \"%.100s\"", k);
  }
  const json_t *version = json_object_get(root, "xp_slot");
  if (!version) return xr_fail(XR_EINVAL, "xp slot: not an xp JSON slot (no \"xp_slot\" member)");
  if (!json_is_integer(version) || json_integer_value(version) != XR_XP_SLOT_VERSION)
    return xr_fail(XR_EINVAL, "xp slot: \"xp_slot\" must be %d (the version this reader knows)", XR_XP_SLOT_VERSION);
  for (size_t i = 0; i < NMEMBERS; i++) {
    got[i] = json_object_get(root, members[i].name);
    if (!got[i] && !members[i].optional) return xr_fail(XR_EINVAL, "xp slot: \"%s\" is missing", members[i].name);
    if (got[i] && !has_kind(got[i], members[i].kind))
      return xr_fail(XR_EINVAL, "xp slot: \"%s\" must be %s", members[i].name, kind_text(members[i].kind));
  }
  int rc = check_index(json_integer_value(got[M_SLOT_INDEX]));
  return rc ? rc : check_payload(got[M_PAYLOAD]);
}

int xr_xp_slot_read(xr_xp_slot *out, const char *data, size_t len) {
  if (!out) return xr_fail(XR_EINVAL, "xr_xp_slot_read: out is required");
  memset(out, 0, sizeof *out);
  if (!data && len) return xr_fail(XR_EINVAL, "xr_xp_slot_read: data is NULL with a length of %zu", len);
  if (!len || (unsigned char)data[0] == 0x80)
    return xr_fail(XR_EINVAL, "xp slot: not a JSON slot (%s)", len ? "a Python pickle" : "empty");
  slot_doc *d = xr_calloc(1, sizeof *d);
  if (!d) return xr_fail_nomem();
  out->doc_ = d;
  if (xr_json_parse(&d->root, data, len)) return xr_fail(XR_EINVAL, "xp slot: not JSON: %s", xr_error_last()->message);
  const json_t *got[NMEMBERS];
  int rc = read_members(d->root, got);
  if (!rc) rc = xr_json_write(&d->payload, &out->payload_json_len, got[M_PAYLOAD], XR_JSON_JS, 0);
  if (rc) return rc;
  out->payload_json = d->payload;
  take_str(got[M_THREAD_ID], &out->thread_id, &out->thread_id_len);
  take_str(got[M_FROM_ID], &out->from_id, &out->from_id_len);
  take_str(got[M_TO_ID], &out->to_id, &out->to_id_len);
  out->slot_index = json_integer_value(got[M_SLOT_INDEX]);
  take_str(got[M_TIMESTAMP], &out->timestamp, &out->timestamp_len);
  take_str(got[M_PAYLOAD_TYPE], &out->payload_type, &out->payload_type_len);
  if (got[M_OWN_NAME] && json_is_string(got[M_OWN_NAME])) take_str(got[M_OWN_NAME], &out->own_name, &out->own_name_len);
  out->is_self_call = got[M_IS_SELF_CALL] && json_is_true(got[M_IS_SELF_CALL]);
  take_str(got[M_USAGE], &out->usage_instructions, &out->usage_instructions_len);
  return XR_OK;
}
