/* Pub/sub on every topology: a subscriber keeps the connections its channels need and hands the
 * messages to the caller, driven as a pollable (loop.h) by the caller's event loop, with no thread
 * of its own.
 *
 *   standalone   one connection: SUBSCRIBE
 *   Sentinel     one connection to the master; when the master changes (a failover the client
 *                learned of: a +switch-master, a READONLY, a re-check) it moves to the new one and
 *                subscribes again
 *   Cluster      plain: SUBSCRIBE on one master (a Redis Cluster delivers a PUBLISH on any node to
 *                every node's subscribers); sharded (options.sharded): SSUBSCRIBE of each channel
 *                on the master of its slot, one connection per such master, following a MOVED
 *                answer and the SUNSUBSCRIBE a node sends when the slot migrates away
 *
 * A connection that breaks is opened again after a backoff (10 ms doubling to 1 s) and subscribes
 * to its channels again; messages published while it was down are lost (pub/sub keeps nothing).
 * Publishing goes through the client: xr_client_command(c, ..., "PUBLISH"/"SPUBLISH", ...).
 *
 * The pollable:
 *   fd        an epoll descriptor standing for every connection of the subscriber (-1 when none
 *             is open yet)
 *   events    XR_WAIT_READ
 *   deadline  when a broken connection is due to be opened again; -1 otherwise
 *   process   reads what arrived, opens connections that are due (blocking, bounded by the
 *             connect timeout, as opening a loop connection is), and returns XR_POLL_DONE when
 *             messages wait in xr_subscriber_next, XR_POLL_RUNNING while a connection is down,
 *             XR_POLL_IDLE otherwise, a negative code for a failure that stops the subscriber
 *             (out of memory)
 *
 * Thread rules: a subscriber and its pollable belong to one thread at a time; its client may be
 * shared. Free it before its client. */
#ifndef CROSSREDIS_SUBSCRIBER_H
#define CROSSREDIS_SUBSCRIBER_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "export.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_subscriber xr_subscriber;

#define XR_SUBSCRIBER_OPTIONS_VERSION 1

typedef struct xr_subscriber_options {
  unsigned version; /* XR_SUBSCRIBER_OPTIONS_VERSION */
  int sharded;      /* 1: SSUBSCRIBE on the channel's slot (Redis 7; Cluster: per master) */
} xr_subscriber_options;

#define XR_SUBSCRIBER_OPTIONS_INIT {XR_SUBSCRIBER_OPTIONS_VERSION, 0}

/* Makes a subscriber of `c` (borrowed: it must outlive the subscriber). Nothing connects yet.
 * opts may be NULL. */
XR_API int xr_subscriber_new(xr_subscriber **out, xr_client *c, const xr_subscriber_options *opts);
XR_API void xr_subscriber_free(xr_subscriber *s);

/* Adds a channel (binary-safe; 1..65536 bytes): the subscription is sent at once when its
 * connection is up (connecting it first, blocking, when it is new), else when it comes back.
 * Subscribing twice is one subscription. */
XR_API int xr_subscriber_subscribe(xr_subscriber *s, const char *channel, size_t len);
/* Removes a channel; unknown channels are ignored. */
XR_API int xr_subscriber_unsubscribe(xr_subscriber *s, const char *channel, size_t len);

XR_API xr_pollable *xr_subscriber_pollable(xr_subscriber *s);

/* The oldest message not yet taken: 1 with channel and payload set (borrowed until the next call
 * of any subscriber function), 0 when none waits. */
XR_API int xr_subscriber_next(xr_subscriber *s, const char **channel, size_t *channel_len, const char **payload,
                              size_t *payload_len);

/* How many times channels were subscribed again after their connection broke or their node changed
 * (a failover, a slot migration), for logs and tests. */
XR_API uint64_t xr_subscriber_reconnects(const xr_subscriber *s);
/* Subscriptions the servers have confirmed, for tests and readiness checks. */
XR_API size_t xr_subscriber_confirmed(const xr_subscriber *s);

#ifdef __cplusplus
}
#endif
#endif
