// One event-loop turn's operations as one call: what callers push while the loop runs is sent
// together when the turn ends (setImmediate), as one pipeline; while a call is in flight the next
// operations wait and go together after it, so their order on the server is the order they were
// pushed (one connection's order, as with node-redis or ioredis). A call carries at most
// MAX_BATCH operations, so turning a flood of operations into and out of JS values is done in
// slices between which the event loop runs.
//
// Lanes: on a Redis Cluster the operations are sorted by the node their key is on (lanesOf), and
// each lane has its own call in flight, on its own connection: a node that answers first gets its
// next operations at once rather than waiting for the slowest node, as node-redis and ioredis keep
// one connection per node. Order still holds per lane, so per key (a key moved by a resharding may
// change lanes, as it changes connections in those clients). Without lanesOf, or when it answers
// undefined (standalone, Sentinel), there is one lane. One operation while nothing runs goes as
// lane AUTO without asking lanesOf (run finds its lane: a sequential caller pays for nothing), and
// holds the others back until it is done (they may be on its lane).

const MAX_BATCH = 512;
/** The lane run is given for one operation sent while nothing else runs: its own key's. */
export const AUTO_LANE = -1;

type Settle = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
type Lane<Op> = { ops: Op[]; settle: Settle[]; running: boolean };

export class Pipeline<Op> {
  #ops: Op[] = []; // pushed, not yet sorted into lanes
  #settle: Settle[] = [];
  #lanes: Lane<Op>[] = [];
  #auto: Lane<Op> = { ops: [], settle: [], running: false }; // AUTO_LANE's call
  #scheduled = false;
  #running = 0; // calls in flight
  #idle: (() => void)[] = [];

  /** run sends the operations (on lane `lane`); onFailure hears of a call that failed whole, onError
   * of each operation's error result (one per call: the first); lanesOf gives the lane every
   * operation shares (a number), or each operation's lane (small integers), or undefined for one
   * lane. */
  constructor(private readonly run: (ops: Op[], lane: number) => Promise<unknown[]>, private readonly onFailure?: (e: unknown) => void,
    private readonly onError?: (e: Error) => unknown, private readonly lanesOf?: (ops: Op[]) => ArrayLike<number> | number | undefined) {}

  /** Queues an operation; the Promise settles with its own result (an Error result rejects). */
  push(op: Op): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#ops.push(op);
      this.#settle.push({ resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.#quiet()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  get pending(): number {
    let n = this.#ops.length + this.#running;
    for (const lane of this.#lanes) if (lane) n += lane.ops.length;
    return n;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  #waiting(): boolean {
    return this.#ops.length > 0 || this.#lanesWaiting();
  }

  #lanesWaiting(): boolean {
    for (const lane of this.#lanes) if (lane && lane.ops.length > 0) return true;
    return false;
  }

  #quiet(): boolean {
    return this.#running === 0 && !this.#waiting();
  }

  #flush = (): void => {
    this.#scheduled = false;
    if (this.#auto.running) return; // what waits goes once it is done
    if (this.#running === 0 && this.#ops.length === 1 && this.lanesOf && !this.#lanesWaiting()) {
      this.#auto.ops = this.#ops;
      this.#auto.settle = this.#settle;
      this.#ops = [];
      this.#settle = [];
      this.#start(this.#auto, AUTO_LANE);
      return;
    }
    if (this.#ops.length > 0) this.#sort();
    for (let l = 0; l < this.#lanes.length; l++) {
      const lane = this.#lanes[l];
      if (lane && !lane.running && lane.ops.length > 0) this.#start(lane, l);
    }
    if (this.#quiet()) this.#wakeIdle();
  };

  /* The pushed operations into their lanes, in push order. */
  #sort(): void {
    const ops = this.#ops;
    const settle = this.#settle;
    this.#ops = [];
    this.#settle = [];
    let lanes: ArrayLike<number> | number | undefined;
    try {
      lanes = this.lanesOf?.(ops);
    } catch {
      lanes = undefined; // one lane: running them says what is wrong
    }
    if (lanes === undefined || typeof lanes === "number") {
      const lane = (this.#lanes[lanes ?? 0] ??= { ops: [], settle: [], running: false });
      if (lane.ops.length === 0) {
        lane.ops = ops;
        lane.settle = settle;
      } else {
        for (let i = 0; i < ops.length; i++) lane.ops.push(ops[i]), lane.settle.push(settle[i]);
      }
      return;
    }
    for (let i = 0; i < ops.length; i++) {
      const l = lanes ? lanes[i] : 0;
      const lane = (this.#lanes[l] ??= { ops: [], settle: [], running: false });
      lane.ops.push(ops[i]);
      lane.settle.push(settle[i]);
    }
  }

  #start(lane: Lane<Op>, l: number): void {
    let ops = lane.ops;
    let settle = lane.settle;
    if (ops.length > MAX_BATCH) {
      lane.ops = ops.slice(MAX_BATCH);
      lane.settle = settle.slice(MAX_BATCH);
      ops = ops.slice(0, MAX_BATCH);
      settle = settle.slice(0, MAX_BATCH);
    } else {
      lane.ops = [];
      lane.settle = [];
    }
    lane.running = true;
    this.#running++;
    let started: Promise<unknown[]>;
    try {
      started = this.run(ops, l);
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
        this.#done(lane);
      },
      (e: unknown) => {
        this.onFailure?.(e);
        for (const s of settle) s.reject(e);
        this.#done(lane);
      },
    );
  }

  /* A call is over: what waits goes next, after this turn (the callers' continuations, queued as
   * microtasks by the settling above, run first and may add more). */
  #done(lane: Lane<Op>): void {
    lane.running = false;
    this.#running--;
    if (this.#waiting()) this.#schedule();
    else if (this.#running === 0) this.#wakeIdle();
  }

  #wakeIdle(): void {
    const w = this.#idle;
    this.#idle = [];
    for (const f of w) f();
  }
}
