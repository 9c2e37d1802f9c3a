/* Chat SDK load for the topology tests that break things under it (test_failover_load.c,
 * test_reshard_load.c): LOAD_THREADS threads share one client and one adapter, each repeating
 *   - a lock cycle on a thread id of its own: acquire, extend, release;
 *   - one try at a lock every thread contends for (the same thread id), extended and released
 *     when taken;
 *   - an enqueue of an entry no other enqueue writes ("<thread>-<n>") and a dequeue, on a queue
 *     all threads share,
 * until told to stop. What it records, and what load_check asserts:
 *   - every call's outcome: 0, or an XR_E* code with a message (counted by code; a code that
 *     means a bug here, such as XR_EINVAL or XR_EPARSE, fails the test, and so does an empty
 *     message);
 *   - how long each call took (a call longer than LOAD_HANG_MS is a hang);
 *   - each acknowledged acquire's holding interval, from the acquire's return to the earliest of
 *     the holder's next sign of loss (an extend that says no), the release's start, and the TTL
 *     counted from the last acknowledged write's start: two intervals of one lock that overlap are
 *     two holders;
 *   - every dequeued entry: one dequeued twice is a duplicate;
 *   - the longest time no call of any thread succeeded.
 * An uncoordinated failover loses writes the servers acknowledged (load_loss_window): the double
 * holders and duplicates that begin in such a window are counted and printed, not failed; any
 * other fails the test. No timing is asserted beyond the hang bound. */
#ifndef XR_TOPOLOGY_LOAD_H
#define XR_TOPOLOGY_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "crossredis/chat.h"
#include "itest.h"

#define LOAD_THREADS 4
#define LOAD_TTL_MS 3000       /* lock TTL */
#define LOAD_HANG_MS 20000     /* a call that takes longer hangs (the command timeout is 3 s) */
#define LOAD_MAX_CYCLES 200000 /* per thread: entries are numbered below this */
#define LOAD_MAX_INTERVALS 400000
#define LOAD_CODES 32

typedef struct load_interval {
  long long start, end; /* load_now_us */
  int lock;   /* 0..LOAD_THREADS-1: a thread's own lock; LOAD_THREADS: the shared one */
  int thread;
  int how;    /* load_how */
} load_interval;

typedef struct load {
  xr_chat *s;
  char prefix[96];
  atomic_int stop;
  atomic_int done; /* threads that ended */
  long long started_ms, started_us;
  pthread_t th[LOAD_THREADS];
  int index[LOAD_THREADS];
  pthread_mutex_t mu;
  /* under mu */
  long long calls, ok, errors[LOAD_CODES];
  char first_message[LOAD_CODES][300];
  long long last_ok_ms, longest_gap_ms, gap_from_ms, slowest_call_ms;
  char slowest_call[300];
  load_interval *intervals;
  size_t nintervals;
  long long acquired, refused_busy, enqueued, dequeued, duplicates, bad_codes;
  char bad[300];
  unsigned char *seen; /* [thread][n]: how often entry n of a thread was dequeued */
  long long dup_ms[64]; /* when (ms after the start) the first duplicates were dequeued */
  /* windows in which a failover may lose acknowledged writes (load_loss_window) */
  long long loss_from[4], loss_to[4];
  int nloss;
} load;

/* Counts a call's outcome: 0 or a code, and how long it took. */
static inline int load_note(load *l, const char *what, int rc, long long t0) {
  long long now = itest_now_ms(), took = now - t0;
  pthread_mutex_lock(&l->mu);
  l->calls++;
  if (took > l->slowest_call_ms) {
    l->slowest_call_ms = took;
    snprintf(l->slowest_call, sizeof l->slowest_call, "%s: %s", what, rc ? xr_error_last()->message : "ok");
  }
  if (rc == 0) {
    l->ok++;
    if (l->last_ok_ms && now - l->last_ok_ms > l->longest_gap_ms) {
      l->longest_gap_ms = now - l->last_ok_ms;
      l->gap_from_ms = l->last_ok_ms;
    }
    l->last_ok_ms = now;
  } else {
    int i = -rc < LOAD_CODES && rc < 0 ? -rc : 0;
    const char *m = xr_error_last()->message;
    if (!l->errors[i]++) snprintf(l->first_message[i], sizeof l->first_message[i], "%s: %s", what, m);
    /* a bug, not the topology: bad arguments, data the client cannot read, no message */
    int bug = rc == XR_EINVAL || rc == XR_ENOMEM || rc == XR_EPARSE || rc == XR_EPROTOCOL || rc == XR_EWRONGTYPE ||
              rc == XR_ECROSSSLOT || rc == XR_EREDIRECTS || i == 0 || !m || !m[0];
    if (bug && !l->bad_codes++) snprintf(l->bad, sizeof l->bad, "%s: %s (%d): %s", what, xr_error_name(rc), rc, m ? m : "");
  }
  pthread_mutex_unlock(&l->mu);
  return rc;
}

/* Microseconds on the monotonic clock: the holding intervals' clock (milliseconds would tie, and a
 * tie sorts either way). */
static inline long long load_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void load_hold(load *l, int lock, int thread, long long start, long long end, int how) {
  pthread_mutex_lock(&l->mu);
  if (l->nintervals < LOAD_MAX_INTERVALS) l->intervals[l->nintervals++] = (load_interval){start, end, lock, thread, how};
  l->acquired++;
  pthread_mutex_unlock(&l->mu);
}

/* acquire, extend, release of `id`; an acquire that finds the lock taken counts as refused. */
static inline void load_lock_cycle(load *l, int lock, int thread, const char *id) {
  size_t len = strlen(id);
  xr_chat_lock lk;
  bool got = false, ok = false;
  long long t0 = itest_now_ms(), t0_us = load_now_us();
  if (load_note(l, "acquire_lock", xr_chat_acquire_lock(l->s, &got, &lk, id, len, LOAD_TTL_MS), t0) || !got) {
    if (got == false) {
      pthread_mutex_lock(&l->mu);
      l->refused_busy++;
      pthread_mutex_unlock(&l->mu);
    }
    return;
  }
  long long start = load_now_us(), valid_until = t0_us + LOAD_TTL_MS * 1000LL, end;
  int how = 0;
  long long t1 = itest_now_ms(), t1_us = load_now_us();
  int rc = load_note(l, "extend_lock", xr_chat_extend_lock(l->s, &ok, id, len, lk.token, lk.token_len, LOAD_TTL_MS), t1);
  if (rc == 0 && ok) valid_until = t1_us + LOAD_TTL_MS * 1000LL;
  if (rc == 0 && !ok) {
    end = t1_us; /* told it is lost: the holder stops here */
    how = 2;
  } else {
    long long t2_us = load_now_us(), t2 = itest_now_ms();
    end = t2_us < valid_until ? t2_us : valid_until;
    rc = load_note(l, "release_lock", xr_chat_release_lock(l->s, &ok, id, len, lk.token, lk.token_len), t2);
    how = rc ? 3 : ok ? 0 : 1;
  }
  load_hold(l, lock, thread, start, end, how);
}

static inline void load_queue_step(load *l, int thread, int n) {
  char msg[64];
  snprintf(msg, sizeof msg, "{\"id\":\"%d-%d\"}", thread, n);
  long long now_wall = itest_wall_ms(), t0 = itest_now_ms();
  if (load_note(l, "enqueue", xr_chat_enqueue(l->s, NULL, "q", 1, msg, strlen(msg), now_wall, now_wall + 600000, 0), t0) == 0) {
    pthread_mutex_lock(&l->mu);
    l->enqueued++;
    pthread_mutex_unlock(&l->mu);
  }
  bool found = false;
  xr_chat_queue_entry e;
  memset(&e, 0, sizeof e);
  t0 = itest_now_ms();
  if (load_note(l, "dequeue", xr_chat_dequeue(l->s, &found, &e, "q", 1), t0) == 0 && found) {
    int th = -1, k = -1;
    if (sscanf(e.message, "{\"id\":\"%d-%d\"}", &th, &k) == 2 && th >= 0 && th < LOAD_THREADS && k >= 0 && k < LOAD_MAX_CYCLES) {
      pthread_mutex_lock(&l->mu);
      l->dequeued++;
      if (l->seen[th * LOAD_MAX_CYCLES + k]++) {
        if (l->duplicates < 64) l->dup_ms[l->duplicates] = itest_now_ms() - l->started_ms;
        if (l->duplicates++ < 8)
          print_message("        entry %d-%d dequeued again %lld ms after the load started\n", th, k, itest_now_ms() - l->started_ms);
      }
      pthread_mutex_unlock(&l->mu);
    }
  }
  xr_chat_queue_entry_clear(&e);
}

typedef struct load_arg {
  load *l;
  int thread;
} load_arg;

static inline void *load_run_thread(void *arg) {
  load_arg *a = arg;
  load *l = a->l;
  char own[32];
  snprintf(own, sizeof own, "own-%d", a->thread);
  for (int n = 0; n < LOAD_MAX_CYCLES && !atomic_load(&l->stop); n++) {
    load_lock_cycle(l, a->thread, a->thread, own);
    load_lock_cycle(l, LOAD_THREADS, a->thread, "shared");
    load_queue_step(l, a->thread, n);
  }
  free(a);
  atomic_fetch_add(&l->done, 1);
  return NULL;
}

/* Starts the threads on adapter s (the caller keeps it). */
static inline void load_start(load *l, xr_chat *s) {
  memset(l, 0, sizeof *l);
  l->s = s;
  l->started_ms = itest_now_ms();
  l->started_us = load_now_us();
  pthread_mutex_init(&l->mu, NULL);
  l->intervals = calloc(LOAD_MAX_INTERVALS, sizeof *l->intervals);
  l->seen = calloc((size_t)LOAD_THREADS * LOAD_MAX_CYCLES, 1);
  assert_non_null(l->intervals);
  assert_non_null(l->seen);
  for (int i = 0; i < LOAD_THREADS; i++) {
    load_arg *a = malloc(sizeof *a);
    assert_non_null(a);
    *a = (load_arg){l, i};
    assert_int_equal(pthread_create(&l->th[i], NULL, load_run_thread, a), 0);
  }
}

/* Stops the threads (each must end within LOAD_HANG_MS: a call of theirs may be running). */
static inline void load_stop(load *l) {
  atomic_store(&l->stop, 1);
  long long end = itest_now_ms() + LOAD_HANG_MS;
  while (atomic_load(&l->done) < LOAD_THREADS && itest_now_ms() < end) xrt_sleep_ms(10);
  if (atomic_load(&l->done) < LOAD_THREADS)
    fail_msg("%d load threads did not stop within %d ms: a hang", LOAD_THREADS - atomic_load(&l->done), LOAD_HANG_MS);
  for (int i = 0; i < LOAD_THREADS; i++) pthread_join(l->th[i], NULL);
}

static const char *const load_how[] = {"released", "its release found it gone", "its extend found it gone",
                                       "its release failed"};

static int load_by_start(const void *a, const void *b) {
  const load_interval *x = a, *y = b;
  if (x->lock != y->lock) return x->lock - y->lock;
  return (x->start > y->start) - (x->start < y->start);
}

/* From `from_ms` (itest_now_ms clock) to `to_ms` plus a lock TTL, a failover may lose writes the
 * servers acknowledged: replication is asynchronous, and an uncoordinated failover (SENTINEL
 * FAILOVER leaves the old master writable until it is demoted; kill -9 loses what the replicas had
 * not received) promotes a node without them. An acquire or a dequeue lost that way is granted or
 * dequeued again: README, "Locks across a failover". A coordinated failover (CLUSTER FAILOVER:
 * the master pauses its clients until the replica caught up) loses nothing and gets no window. */
static inline void load_loss_window(load *l, long long from_ms, long long to_ms) {
  if (l->nloss < 4) {
    l->loss_from[l->nloss] = from_ms - l->started_ms;
    l->loss_to[l->nloss++] = to_ms - l->started_ms + LOAD_TTL_MS;
  }
}

static inline int load_in_loss_window(const load *l, long long ms) {
  for (int i = 0; i < l->nloss; i++)
    if (ms >= l->loss_from[i] && ms <= l->loss_to[i]) return 1;
  return 0;
}

/* Two holders of one lock at once: intervals of a lock that overlap. Counts those that began in a
 * loss window (*in_window) and those that did not (returned; the first described in `first`). */
static inline long long load_double_holders(load *l, long long *in_window, char *first, size_t size) {
  qsort(l->intervals, l->nintervals, sizeof *l->intervals, load_by_start);
  long long outside = 0, latest_end = 0;
  int latest_thread = -1, latest_how = 0;
  first[0] = '\0';
  *in_window = 0;
  for (size_t i = 0; i < l->nintervals; i++) {
    const load_interval *q = &l->intervals[i];
    if (i == 0 || l->intervals[i - 1].lock != q->lock) latest_end = 0, latest_thread = -1;
    if (q->start < latest_end) {
      long long at_ms = (q->start - l->started_us) / 1000;
      int excused = load_in_loss_window(l, at_ms);
      if (!excused && !outside)
        snprintf(first, size, "lock %d: thread %d held it until %lld us, thread %d from %lld us (after the load started)",
                 q->lock, latest_thread, latest_end - l->started_us, q->thread, q->start - l->started_us);
      if (*in_window + outside < 8)
        print_message("        two holders of lock %d%s: thread %d until %lld us (%s), thread %d from %lld to %lld us (%s)\n",
                      q->lock, excused ? " (in a loss window)" : "", latest_thread, latest_end - l->started_us,
                      load_how[latest_how], q->thread, q->start - l->started_us, q->end - l->started_us, load_how[q->how]);
      if (excused)
        ++*in_window;
      else
        outside++;
    }
    if (q->end > latest_end) latest_end = q->end, latest_thread = q->thread, latest_how = q->how;
  }
  return outside;
}

/* Prints the figures (prefixed by `what`) and asserts: no bug codes, no call past the hang bound,
 * no double holder and no entry dequeued twice outside the loss windows, and (when `no_errors`)
 * no failed call at all. */
static inline void load_report(load *l, const char *what, int no_errors) {
  char first[300];
  long long doubles_excused, doubles = load_double_holders(l, &doubles_excused, first, sizeof first);
  long long dups_excused = 0, dups = 0;
  for (long long i = 0; i < l->duplicates && i < 64; i++) {
    if (load_in_loss_window(l, l->dup_ms[i]))
      dups_excused++;
    else
      dups++;
  }
  if (l->duplicates > 64) dups += l->duplicates - 64;
  print_message("      %s: %lld calls, %lld ok; %lld acquires held (%lld found the lock taken), %lld enqueued, %lld dequeued\n",
                what, l->calls, l->ok, l->acquired, l->refused_busy, l->enqueued, l->dequeued);
  long long failed = 0;
  for (int i = 0; i < LOAD_CODES; i++) {
    if (!l->errors[i]) continue;
    failed += l->errors[i];
    print_message("      %s:   %-14s %6lld  first: %s\n", what, i ? xr_error_name(-i) : "?", l->errors[i], l->first_message[i]);
  }
  print_message("      %s: longest time without a successful call %lld ms; slowest call %lld ms (%s)\n", what,
                l->longest_gap_ms, l->slowest_call_ms, l->slowest_call);
  print_message("      %s: two holders of one lock: %lld, entries dequeued twice: %lld (writes lost by asynchronous "
                "replication in an uncoordinated failover); outside those windows: %lld and %lld\n",
                what, doubles_excused, dups_excused, doubles, dups);
  if (l->bad_codes) fail_msg("%s: %lld calls failed with a code that means a bug; first: %s", what, l->bad_codes, l->bad);
  if (l->slowest_call_ms > LOAD_HANG_MS) fail_msg("%s: a call took %lld ms (%s)", what, l->slowest_call_ms, l->slowest_call);
  if (doubles) fail_msg("%s: %lld times two holders of one lock; first: %s", what, doubles, first);
  if (dups) fail_msg("%s: %lld entries dequeued twice outside a loss window", what, dups);
  if (no_errors && failed) fail_msg("%s: %lld calls failed", what, failed);
  if (l->ok == 0 || l->acquired == 0 || l->dequeued == 0) fail_msg("%s: the load did nothing", what);
}

static inline void load_free(load *l) {
  free(l->intervals);
  free(l->seen);
  pthread_mutex_destroy(&l->mu);
}

#endif
