/* ayepi's broker messages (SPEC.md 3): the core's event envelope and the work engine's
 * notifications, as JSON.stringify writes them. */
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "crossredis/json.h"

/* JSON text as a value, XR_EINVAL naming `what` when it is not JSON. */
static int parsed(json_t **out, const char *what, const char *text, size_t len) {
  if (xr_json_parse(out, text, len)) return xr_fail(XR_EINVAL, "ayepi envelope: %s is not JSON: %s", what, xr_error_last()->message);
  return XR_OK;
}

/* `o` written as JSON.stringify writes it; `o` released. */
static int written(char **out, size_t *out_len, json_t *o) {
  int rc = o ? xr_json_write(out, out_len, o, XR_JSON_JS, 0) : xr_fail_nomem();
  json_decref(o);
  return rc;
}

int xr_ayepi_envelope_write(char **out, size_t *out_len, const char *ch, size_t ch_len, const char *params_json,
                            size_t params_len, const char *data_json, size_t data_len) {
  if (!out || (!ch && ch_len)) return xr_fail(XR_EINVAL, "xr_ayepi_envelope_write: out and ch are required");
  *out = NULL;
  json_t *params = NULL, *data = NULL;
  int rc = params_json ? parsed(&params, "params", params_json, params_len) : ((params = json_object()) ? 0 : xr_fail_nomem());
  if (!rc && !json_is_object(params)) rc = xr_fail(XR_EINVAL, "ayepi envelope: params must be a JSON object");
  if (!rc && data_json) rc = parsed(&data, "data", data_json, data_len);
  json_t *o = rc ? NULL : json_pack("{s:s#,s:O}", "ch", ch ? ch : "", ch_len, "params", params);
  if (o && data) json_object_set(o, "data", data);
  json_decref(params);
  json_decref(data);
  return rc ? rc : written(out, out_len, o);
}

int xr_ayepi_done_write(char **out, size_t *out_len, const char *id, size_t id_len, const char *group_id,
                        size_t group_id_len, const char *error, size_t error_len) {
  if (!out || (!id && id_len) || (!group_id && group_id_len))
    return xr_fail(XR_EINVAL, "xr_ayepi_done_write: out, id and group_id are required");
  *out = NULL;
  json_t *o = json_pack("{s:s,s:s#,s:s#}", "kind", "done", "id", id ? id : "", id_len, "groupId",
                        group_id ? group_id : "", group_id_len);
  if (o && error) json_object_set_new(o, "error", json_stringn_nocheck(error, error_len));
  return written(out, out_len, o);
}

int xr_ayepi_group_done_write(char **out, size_t *out_len, const char *group_id, size_t group_id_len) {
  if (!out || (!group_id && group_id_len)) return xr_fail(XR_EINVAL, "xr_ayepi_group_done_write: out and group_id are required");
  *out = NULL;
  return written(out, out_len, json_pack("{s:s,s:s#}", "kind", "group-done", "groupId", group_id ? group_id : "", group_id_len));
}
