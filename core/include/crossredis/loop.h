/* The pollable contract: everything the caller's event loop drives (loop connections today; the
 * ayepi broker's subscriber and the watchdog later) is an xr_pollable, a file descriptor, what to
 * wait for on it, a deadline, and one `process` step. The core has no hidden threads: a host loop
 * watches the descriptor and the deadline and calls xr_pollable_process, through one small adapter
 * per host loop (libuv in the Node addon, asyncio in the Python package), as hiredis has
 * its adapters folder, never glue per object.
 *
 * An adapter's whole job, for any pollable p:
 *   1. watch xr_pollable_fd(p) for xr_pollable_events(p) (XR_WAIT_READ and/or XR_WAIT_WRITE);
 *   2. arm a timer for xr_pollable_deadline(p) (milliseconds on xr_monotonic_ms's clock; -1: none);
 *   3. when the fd is ready or the timer fired, call xr_pollable_process(p, ready, xr_monotonic_ms())
 *      with what the fd is ready for (0 when the timer fired), then read fd, events and deadline
 *      again (any of them may change after a step) and re-arm;
 *   4. when process returns XR_POLL_DONE or a negative code, tell the pollable's owner, which
 *      reads the outcome from its object (a loop connection: the batch's results).
 *
 * Thread rules: a pollable and the object it belongs to are driven from one thread at a time (the
 * loop's thread). Calls never block: process does the I/O the ready descriptor allows and returns.
 */
#ifndef CROSSREDIS_LOOP_H
#define CROSSREDIS_LOOP_H

#include <stdint.h>

#include "client.h"
#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xr_pollable xr_pollable;

#define XR_WAIT_READ 1
#define XR_WAIT_WRITE 2

/* What xr_pollable_process returns besides a negative XR_E* code (the work in progress failed). */
#define XR_POLL_IDLE 0    /* nothing ran to an end in this step, and nothing is in progress */
#define XR_POLL_RUNNING 1 /* work is in progress: keep watching */
#define XR_POLL_DONE 2    /* the work in progress finished in this step: its owner reads the outcome */

/* Milliseconds on a monotonic clock (CLOCK_MONOTONIC): the clock of every deadline. */
XR_API int64_t xr_monotonic_ms(void);

/* The descriptor to watch; -1 when there is none (closed or broken, or p is NULL). */
XR_API int xr_pollable_fd(const xr_pollable *p);

/* XR_WAIT_READ | XR_WAIT_WRITE: what to wait for on the descriptor now; 0: nothing (or p NULL). */
XR_API int xr_pollable_events(const xr_pollable *p);

/* When to call process even if the descriptor stays quiet (xr_monotonic_ms clock); -1: never. */
XR_API int64_t xr_pollable_deadline(const xr_pollable *p);

/* One step: `ready` is what the descriptor is ready for (XR_WAIT_READ | XR_WAIT_WRITE; an error or
 * hang-up on it: the events watched, and the I/O says what went wrong), 0 when the deadline
 * passed. Returns XR_POLL_IDLE, XR_POLL_RUNNING, XR_POLL_DONE or a negative code with the last
 * error recorded (XR_EINVAL for a NULL p or other bits in `ready`). */
XR_API int xr_pollable_process(xr_pollable *p, int ready, int64_t now_ms);

/* ---- loop connections: batches driven by an event loop ---------------------------------------
 * A connection of its own, outside the pool, whose socket is non-blocking, driven as a pollable:
 * start a batch (xr_loop_conn_start, or a system's batch start such as xr_chat_batch_start), then
 * the adapter runs it to XR_POLL_DONE (results readable as after xr_client_exec) or a negative
 * code (the batch's unanswered operations carry it). A start whose *wait is 0 finished already
 * (an empty batch): no step reports it.
 *   events: XR_WAIT_READ while idle (so a server that closes the connection is noticed: process
 *           returns XR_EIO) and while a batch runs, plus XR_WAIT_WRITE while the pipeline has
 *           bytes left to send; 0 once broken.
 *   deadline: while a batch runs, the client's command timeout after the batch started or last
 *           moved bytes (as each read of a blocking call waits at most the command timeout);
 *           -1 while idle or without a command timeout. process with ready 0 at or after it
 *           fails the unanswered operations with XR_ETIMEOUT ("timeout after N ms waiting for a
 *           reply from host:port"); before it, it does nothing (XR_POLL_RUNNING).
 *   process: XR_POLL_RUNNING while the batch runs, XR_POLL_DONE when it finished in this step,
 *           XR_POLL_IDLE when idle and nothing happened, a negative code when the batch failed,
 *           the idle connection broke, or the connection was broken already (XR_ECLOSED).
 * A connection that failed (lost, timed out, cancelled) stays broken: close it and open another.
 * TCP, unix sockets and TLS (OpenSSL's WANT_READ/WANT_WRITE become XR_WAIT_READ/XR_WAIT_WRITE).
 * Close every loop connection before its client. */

typedef struct xr_loop_conn xr_loop_conn;

/* Connects (blocking, as the pool's connections do: TLS handshake, AUTH, SELECT, CLIENT SETNAME). */
XR_API int xr_loop_conn_open(xr_loop_conn **out, xr_client *c);
/* The same, its first connection to the node serving `slot` (-1: a master taken at random) on a
 * Cluster: a host keeping one loop connection per node (xr_client_node_of_slot) opens each where
 * its batches go. Standalone and Sentinel clients ignore the slot. */
XR_API int xr_loop_conn_open_at(xr_loop_conn **out, xr_client *c, int slot);
XR_API void xr_loop_conn_close(xr_loop_conn *lc);

/* The connection as a pollable (borrowed: it lives as long as lc; NULL for NULL). */
XR_API xr_pollable *xr_loop_conn_pollable(xr_loop_conn *lc);

XR_API int xr_loop_conn_fd(const xr_loop_conn *lc);
/* 1 once the connection failed; 1 for NULL. */
XR_API int xr_loop_conn_broken(const xr_loop_conn *lc);
/* 1 while a batch runs on it. */
XR_API int xr_loop_conn_busy(const xr_loop_conn *lc);

/* Sends b as far as the socket takes it. *wait: XR_WAIT_WRITE or XR_WAIT_READ (call
 * xr_loop_conn_continue, or process the pollable, once the fd is ready that way), or 0 when the
 * batch finished already. Returns like xr_client_exec (XR_EINVAL while another batch runs,
 * XR_ECLOSED when broken). */
XR_API int xr_loop_conn_start(xr_loop_conn *lc, xr_batch *b, int *wait);

/* Does the I/O the ready fd allows. *wait as above; 0 when the batch finished (its results are
 * readable). Called while no batch runs (the fd turned readable when idle), it returns 0 when
 * that was nothing, else XR_EIO (the server closed the connection) and the connection is broken.
 * The loop-connection form of xr_pollable_process (which also keeps the deadline). */
XR_API int xr_loop_conn_continue(xr_loop_conn *lc, int *wait);

/* Abandons the running batch: its operations without a reply fail with `code` (XR_ETIMEOUT:
 * "timeout after N ms waiting for a reply from host:port"), and the connection is broken (a late
 * reply must not reach the next batch). Nothing running: nothing happens. */
XR_API void xr_loop_conn_cancel(xr_loop_conn *lc, int code);

#ifdef __cplusplus
}
#endif
#endif
