/* ayepi's broker (SPEC.md 3, ayepi.h): publish on the command client, a subscriber of its own
 * driven by the caller's event loop; and its messages, the core's event envelope and the work
 * engine's notifications, as JSON.stringify writes them. */
#include <string.h>

#include "base/internal.h"
#include "crossredis/alloc.h"
#include "crossredis/ayepi.h"
#include "crossredis/json.h"
#include "crossredis/subscriber.h"

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

/* ---- the broker ------------------------------------------------------------------------------------ */

struct xr_ayepi_broker {
  xr_client *client;
  char *channel;
  size_t channel_len;
  xr_subscriber *sub;
  int listening;
};

int xr_ayepi_broker_new(xr_ayepi_broker **out, xr_client *client, const xr_ayepi_broker_options *o) {
  if (!out || !client) return xr_fail(XR_EINVAL, "xr_ayepi_broker_new: out and client are required");
  *out = NULL;
  if (o && o->version != XR_AYEPI_BROKER_OPTIONS_VERSION)
    return xr_fail(XR_EINVAL, "xr_ayepi_broker_new: options version %u, expected %u (use XR_AYEPI_BROKER_OPTIONS_INIT)",
                   o->version, XR_AYEPI_BROKER_OPTIONS_VERSION);
  const char *channel = o && o->channel ? o->channel : XR_AYEPI_CHANNEL;
  if (!*channel) return xr_fail(XR_EINVAL, "xr_ayepi_broker_new: the channel is empty");
  xr_ayepi_broker *b = xr_calloc(1, sizeof *b);
  if (!b) return xr_fail_nomem();
  b->client = client;
  b->channel_len = strlen(channel);
  int rc = (b->channel = xr_strndup(channel, b->channel_len)) ? XR_OK : xr_fail_nomem();
  if (!rc) rc = xr_subscriber_new(&b->sub, client, NULL);
  if (rc) {
    xr_ayepi_broker_free(b);
    return rc;
  }
  *out = b;
  return XR_OK;
}

void xr_ayepi_broker_free(xr_ayepi_broker *b) {
  if (!b) return;
  xr_subscriber_free(b->sub);
  xr_free(b->channel);
  xr_free(b);
}

int xr_ayepi_broker_publish(xr_ayepi_broker *b, const char *message, size_t len, int64_t *receivers) {
  if (receivers) *receivers = 0;
  if (!b || (!message && len)) return xr_fail(XR_EINVAL, "xr_ayepi_broker_publish: the broker and the message are required");
  const char *argv[] = {"publish", b->channel, message ? message : ""};
  size_t lens[] = {7, b->channel_len, len};
  xr_reply *r = NULL;
  int rc = xr_client_command(b->client, &r, 3, argv, lens);
  if (!rc && receivers) *receivers = xr_reply_integer(r);
  xr_reply_free(r);
  return rc;
}

int xr_ayepi_broker_listen(xr_ayepi_broker *b) {
  if (!b) return xr_fail(XR_EINVAL, "xr_ayepi_broker_listen: the broker is NULL");
  if (b->listening) return XR_OK;
  int rc = xr_subscriber_subscribe(b->sub, b->channel, b->channel_len);
  if (!rc) b->listening = 1;
  return rc;
}

xr_pollable *xr_ayepi_broker_pollable(xr_ayepi_broker *b) { return b ? xr_subscriber_pollable(b->sub) : NULL; }

int xr_ayepi_broker_next(xr_ayepi_broker *b, const char **message, size_t *len) {
  if (!b || !message || !len) return xr_fail(XR_EINVAL, "xr_ayepi_broker_next: the broker, message and len are required");
  const char *ch, *payload;
  size_t clen, plen;
  int got;
  while ((got = xr_subscriber_next(b->sub, &ch, &clen, &payload, &plen)) == 1) {
    if (clen == b->channel_len && !memcmp(ch, b->channel, clen)) { /* the exact channel only */
      *message = payload;
      *len = plen;
      return 1;
    }
  }
  return got;
}

size_t xr_ayepi_broker_listening(const xr_ayepi_broker *b) { return b ? xr_subscriber_confirmed(b->sub) : 0; }
uint64_t xr_ayepi_broker_reconnects(const xr_ayepi_broker *b) { return b ? xr_subscriber_reconnects(b->sub) : 0; }
