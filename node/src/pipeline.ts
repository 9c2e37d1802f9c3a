// One event-loop turn's operations as one call: what callers push while the loop runs is sent
// together when the turn ends (setImmediate), as one pipeline; while a call is in flight the next
// operations wait and go together after it, so their order on the server is the order they were
// pushed (one connection's order, as with node-redis or ioredis). A call carries at most
// MAX_BATCH operations, so turning a flood of operations into and out of JS values is done in
// slices between which the event loop runs.

const MAX_BATCH = 512;

type Settle = { resolve: (v: unknown) => void; reject: (e: unknown) => void };

export class Pipeline<Op> {
  #ops: Op[] = [];
  #settle: Settle[] = [];
  #scheduled = false;
  #running = false;
  #idle: (() => void)[] = [];

  /** run sends the operations; onFailure hears of a call that failed whole, onError of each
   * operation's error result (one per call: the first). */
  constructor(private readonly run: (ops: Op[]) => Promise<unknown[]>, private readonly onFailure?: (e: unknown) => void,
    private readonly onError?: (e: Error) => unknown) {}

  /** Queues an operation; the Promise settles with its own result (an Error result rejects). */
  push(op: Op): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#ops.push(op);
      this.#settle.push({ resolve, reject });
      if (!this.#scheduled && !this.#running) {
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (!this.#running && this.#ops.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  get pending(): number {
    return this.#ops.length + (this.#running ? 1 : 0);
  }

  #flush = (): void => {
    this.#scheduled = false;
    if (this.#running) return;
    if (this.#ops.length === 0) {
      this.#wakeIdle();
      return;
    }
    let ops = this.#ops;
    let settle = this.#settle;
    if (ops.length > MAX_BATCH) {
      this.#ops = ops.slice(MAX_BATCH);
      this.#settle = settle.slice(MAX_BATCH);
      ops = ops.slice(0, MAX_BATCH);
      settle = settle.slice(0, MAX_BATCH);
    } else {
      this.#ops = [];
      this.#settle = [];
    }
    this.#running = true;
    let started: Promise<unknown[]>;
    try {
      started = this.run(ops);
    } catch (e) {
      started = Promise.reject(e);
    }
    started.then(
      (results) => {
        let heard = false;
        for (let i = 0; i < settle.length; i++) {
          const r = results[i];
          if (r instanceof Error) {
            if (!heard && this.onError) heard = this.onError(r) === true;
            settle[i].reject(r);
          } else {
            settle[i].resolve(r);
          }
        }
        this.#done();
      },
      (e: unknown) => {
        this.onFailure?.(e);
        for (const s of settle) s.reject(e);
        this.#done();
      },
    );
  };

  /* The call is over: the operations pushed meanwhile go next (their callers' continuations,
   * queued as microtasks by the settling above, run first and may add more). */
  #done(): void {
    this.#running = false;
    if (this.#ops.length === 0) {
      this.#wakeIdle();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  #wakeIdle(): void {
    const w = this.#idle;
    this.#idle = [];
    for (const f of w) f();
  }
}
