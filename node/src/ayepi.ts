// ayepi's Redis pieces (@ayepi/redis 0.4, SPEC.md 3) over a crossredis client, with upstream's
// names, options and shapes: the work engine's Store (redisStore), the response cache's CacheStore
// (redisCache) and the pub/sub Broker (redisBroker, redisPubSub). The Store and the CacheStore are
// the rows of ayepi.def run by the C core (core/include/crossredis/ayepi.h), which makes the keys,
// commands and bytes and checks every value; the calls of one event-loop turn go to the core as one
// batch (one pipeline per store). The retry policy is the core's (xr_ayepi_retry_next), applied
// here with timers: a repeat only where it cannot change the outcome, setIfNotExists reads a lost
// claim back, increment is never sent twice. clear and invalidate are the core's sweep (every
// master of a Cluster, the prefix escaped, one DEL per key), a page at a time on the thread pool
// and the predicate here between pages.
//
// The broker is built on the structural client interfaces (RedisLike), as upstream's is; a
// crossredis Client is one (its subscribe() drives the core's subscriber from the event loop), and
// so is any client with those methods. The crossredis Client satisfies RedisCommandClient too, so
// upstream's own factories run on it.
import { native, type Handle, type OpInfo } from "./native";
import { Client } from "./client";
import { ClientClosedError } from "./errors";
import { Pipeline } from "./pipeline";
import { int64, text } from "./check";

/** The command client @ayepi/redis's store and cache take (ioredis's Redis and Cluster are ones,
 * and so is a crossredis Client). */
export interface RedisCommandClient {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<unknown>;
  set(key: string, value: string, condition: "NX"): Promise<"OK" | null>;
  set(key: string, value: string, expiry: "PX", ms: number): Promise<unknown>;
  set(key: string, value: string, expiry: "PX", ms: number, condition: "NX"): Promise<"OK" | null>;
  del(...keys: string[]): Promise<number>;
  incrby(key: string, by: number): Promise<number>;
  pexpire(key: string, ms: number): Promise<number>;
  scan(cursor: string | number, ...args: (string | number)[]): Promise<[string, string[]]>;
}

/** The pub/sub client @ayepi/redis's broker takes. */
export interface RedisLike {
  publish(channel: string, message: string): Promise<number>;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  duplicate(): RedisLike;
  on(event: "message", listener: (channel: string, message: string) => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
}

/** @ayepi/core's retry options (absent: 3 attempts, 1000 ms doubling to 30000, jitter 0.5). */
export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts?: number;
  /** ms before the first repeat. */
  base?: number;
  factor?: number;
  /** ms at most between tries. */
  max?: number;
  /** 0..1: each wait is cut by up to this share, at random. */
  jitter?: number;
}

export interface RedisStoreOptions {
  /** Before every key (default ""). */
  prefix?: string;
  retry?: RetryOptions;
  /** Called once when a call finally fails (a throwing onError is ignored; the call rejects). */
  onError?: (err: unknown) => void;
}

export interface RedisCacheOptions extends RedisStoreOptions {
  /** Default "ayepi:cache:". */
  prefix?: string;
  /** The clock of the entries' PX (staleUntil - now), ms since the epoch (default Date.now). */
  now?: () => number;
}

/** The work engine's Store. */
export interface Store {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<void>;
  setIfNotExists(key: string, value: string, ttlMs?: number): Promise<boolean>;
  increment(key: string, by: number, ttlMs?: number): Promise<number>;
}

/** A response cache entry as @ayepi/cache stores it (JSON.stringify in this key order). */
export interface CacheEntry {
  body: string;
  status: number;
  headers: [string, string][];
  storedAt: number;
  expires: number;
  staleUntil: number;
  bytes: number;
  method: string;
  path: string;
  key: string;
}

/** What invalidate's predicate sees of an entry. */
export type CacheEntryInfo = Pick<CacheEntry, "key" | "method" | "path" | "storedAt" | "expires" | "staleUntil" | "bytes">;

export interface CacheStore {
  get(key: string): Promise<CacheEntry | undefined>;
  set(key: string, entry: CacheEntry): Promise<void>;
  delete(key: string): Promise<boolean>;
  clear(): Promise<void>;
  invalidate(predicate: (entry: CacheEntryInfo) => boolean): Promise<number>;
}

export interface RedisBrokerOptions {
  /** Default "ayepi". */
  channel?: string;
  /** The client that subscribes (default: client.duplicate(), made now). */
  subscriber?: RedisLike;
  /** Hears publish failures, listeners that throw, and the clients' errors. */
  onError?: (err: unknown) => void;
}

export interface Broker {
  /** PUBLISH on the command client; never rejects (a failure goes to onError). */
  publish(message: string): Promise<void>;
  /** Adds a listener of the channel's messages (the first one SUBSCRIBEs); returns its removal. */
  subscribe(listener: (message: string) => void): () => void;
}

const DEFAULT_RETRY = { attempts: 3, base: 1000, factor: 2, max: 30000, jitter: 0.5 };

/** Each row of ayepi.def by its wire name ("get", "cacheGet", ...). */
const OPS: ReadonlyMap<string, OpInfo> = new Map(native.xr_js_ayepi_ops(null).map((row) => [row.wire, row]));

function row(wire: string): OpInfo {
  const op = OPS.get(wire);
  if (!op) throw new Error(`crossredis: the native addon has no ayepi operation ${wire}`);
  return op;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  t.unref(); // as upstream's: a wait never keeps the process alive
});

const ttl = (v: unknown): number => (v === undefined ? 0 : int64("ttl_ms", v, "ttlMs"));

/** One store of the core over a crossredis client (the Store's or the cache's), made on the first
 * call: its pipeline, the retry policy's loop and the final report. */
class AyepiStore {
  #client: Client;
  #options: { keyPrefix?: string; cache: boolean; attempts: number; base: number; factor: number; max: number; jitter: number };
  #onError: ((err: unknown) => void) | undefined;
  #store: Handle | null = null;
  #pipeline = new Pipeline<unknown[]>((ops) => this.#run(ops));

  constructor(client: unknown, what: string, cache: boolean, opts: RedisStoreOptions) {
    if (!(client instanceof Client)) throw new TypeError(`${what}: client must be a crossredis Client (createClient)`);
    if (typeof opts !== "object" || opts === null) throw new TypeError(`${what}: options must be an object`);
    const retry = { ...DEFAULT_RETRY };
    for (const [k, v] of Object.entries(opts.retry ?? {})) if (v !== undefined && k in retry) (retry as Record<string, unknown>)[k] = v;
    this.#client = client;
    this.#options = { keyPrefix: opts.prefix === undefined ? undefined : text("key_prefix", opts.prefix, "prefix"), cache, ...retry };
    this.#onError = opts.onError;
  }

  /** Row `wire` with `args`, under the retry policy; `claim` (setIfNotExists): the key and value
   * a lost reply is read back for. */
  async call(wire: string, args: unknown[], claim?: [string, string]): Promise<unknown> {
    const op = row(wire);
    let store: Handle;
    try {
      store = await this.#handle();
    } catch (e) {
      throw this.report(e);
    }
    for (let attempt = 1; ; attempt++) {
      let failure: unknown;
      try {
        return await this.#pipeline.push([op.code, ...args]);
      } catch (e) {
        failure = e;
      }
      const code = (failure as { code?: unknown })?.code;
      if (typeof code !== "number") throw this.report(failure); // not the core's: a TypeError of a value
      const [next, delay] = native.xr_js_ayepi_retry_next(store, op.code, code, attempt);
      if (next === native.XR_AYEPI_TRY_AGAIN) {
        await sleep(delay);
        continue;
      }
      if (next !== native.XR_AYEPI_READ_BACK || !claim) throw this.report(failure);
      let held: unknown;
      try {
        held = await this.#pipeline.push([row("get").code, claim[0]]);
      } catch {
        throw this.report(failure); // cannot tell: the claim's own failure is the answer
      }
      if (held === claim[1]) return true; // the caller's own claim, whose reply was lost
      if (held !== null) return false; // another's
      if (delay < 0) throw this.report(failure);
      await sleep(delay);
    }
  }

  /** A sweep of the cache's keys, one page at a time; `choose` picks the keys of a page to delete
   * (absent: every key). How many were deleted. */
  async sweep(choose?: (keys: string[], entries: (string | null)[]) => number[]): Promise<number> {
    let sweep: Handle;
    try {
      sweep = native.xr_js_ayepi_sweep_new(await this.#handle(), choose !== undefined);
    } catch (e) {
      throw this.report(e);
    }
    let removed = 0;
    try {
      let chosen: number[] = [];
      for (;;) {
        const page = await this.#client.track(() => native.xr_js_ayepi_sweep_step(sweep, chosen));
        removed += page.removed;
        if (page.done) return removed;
        chosen = choose ? choose(page.keys, page.entries) : [];
      }
    } catch (e) {
      throw this.report(e);
    } finally {
      native.xr_js_ayepi_sweep_close(sweep);
    }
  }

  /** f's Promise; what f throws before it made one (a value of the wrong type) rejects, reported. */
  guard<T>(f: () => Promise<T>): Promise<T> {
    try {
      return f();
    } catch (e) {
      return Promise.reject(this.report(e));
    }
  }

  /** Tells onError of a final failure (once; a throwing onError is ignored); returns the error. */
  report(err: unknown): unknown {
    try {
      this.#onError?.(err);
    } catch {
      // reporting never masks the error
    }
    return err;
  }

  async #handle(): Promise<Handle> {
    if (this.#store) return this.#store;
    const handle = await this.#client.handle();
    this.#store ??= native.xr_js_ayepi_new(handle, this.#options);
    return this.#store;
  }

  #run(ops: unknown[][]): Promise<unknown[]> {
    const store = this.#store;
    if (!store) return Promise.reject(new ClientClosedError("the ayepi store is closed"));
    return this.#client.track(() => native.xr_js_ayepi_run(store, ops));
  }
}

/** @ayepi/redis's redisStore: the work engine's Store over a crossredis client. */
export function redisStore(client: Client, opts: RedisStoreOptions = {}): Store {
  const s = new AyepiStore(client, "redisStore", false, opts);
  const key = (k: unknown): string => text("key", k);
  const value = (v: unknown): string => text("value", v);
  return {
    get: (k) => s.guard(() => s.call("get", [key(k)]).then((v) => (v as string | null) ?? undefined)),
    set: (k, v, ttlMs) => s.guard(() => s.call("set", [key(k), value(v), ttl(ttlMs)]).then(() => undefined)),
    delete: (k) => s.guard(() => s.call("delete", [key(k)]).then(() => undefined)),
    setIfNotExists: (k, v, ttlMs) => s.guard(() => {
      const args: [string, string, number] = [key(k), value(v), ttl(ttlMs)];
      return s.call("setIfNotExists", args, [args[0], args[1]]) as Promise<boolean>;
    }),
    increment: (k, by, ttlMs) => s.guard(() => s.call("increment", [key(k), int64("by", by), ttl(ttlMs)]) as Promise<number>),
  };
}

/** @ayepi/redis's redisCache: the response cache's CacheStore over a crossredis client. */
export function redisCache(client: Client, opts: RedisCacheOptions = {}): CacheStore {
  const s = new AyepiStore(client, "redisCache", true, opts);
  const now = opts.now;
  const key = (k: unknown): string => text("key", k);
  return {
    get: (k) => s.guard(() => s.call("cacheGet", [key(k)]).then((raw) => (raw ? (JSON.parse(raw as string) as CacheEntry) : undefined))),
    set: (k, entry) => s.guard(() => {
      const json = JSON.stringify(entry);
      if (typeof json !== "string") throw new TypeError("entry must be a cache entry object");
      return s.call("cacheSet", [key(k), json, now ? int64("now_ms", now(), "now()") : 0]).then(() => undefined);
    }),
    delete: (k) => s.guard(() => s.call("cacheDelete", [key(k)]) as Promise<boolean>),
    clear: () => s.sweep().then(() => undefined),
    invalidate: (predicate) => s.guard(() => {
      if (typeof predicate !== "function") throw new TypeError("predicate must be a function");
      return s.sweep((_keys, entries) => {
        const chosen: number[] = [];
        entries.forEach((raw, i) => {
          if (raw === null) return;
          let e: CacheEntry;
          try {
            e = JSON.parse(raw) as CacheEntry;
          } catch {
            return; // not an entry: left alone
          }
          const info: CacheEntryInfo = { key: e.key, method: e.method, path: e.path, storedAt: e.storedAt, expires: e.expires,
            staleUntil: e.staleUntil, bytes: e.bytes };
          if (predicate(info)) chosen.push(i);
        });
        return chosen;
      });
    }),
  };
}

/** @ayepi/redis's redisBroker: PUBLISH on `client`, one SUBSCRIBE of the channel on the subscriber
 * at the first subscribe(), each message of exactly that channel to every listener (one that
 * throws goes to onError; the others still hear it). A crossredis Client or any RedisLike client.
 * Beyond upstream: close(), which unsubscribes and closes the subscriber when the broker made it. */
export function redisBroker(client: RedisLike, opts: RedisBrokerOptions = {}): Broker & { close(): Promise<void> } {
  const channel = opts.channel ?? "ayepi";
  if (typeof channel !== "string") throw new TypeError("channel must be a string");
  const made = opts.subscriber === undefined;
  const sub = opts.subscriber ?? client.duplicate();
  const onError = opts.onError;
  const tell = (err: unknown): void => {
    try {
      onError?.(err);
    } catch {
      // an onError that throws changes nothing
    }
  };
  const listeners = new Set<(message: string) => void>();
  let wired = false;
  const wire = (): void => {
    if (wired) return;
    wired = true;
    sub.on("message", (ch: string, message: string) => {
      if (ch !== channel) return;
      for (const listener of [...listeners]) {
        try {
          listener(message);
        } catch (e) {
          tell(e);
        }
      }
    });
    if (onError) {
      sub.on("error", tell);
      client.on("error", tell);
    }
    Promise.resolve().then(() => sub.subscribe(channel)).catch(tell); // once: the client subscribes again after a reconnect
  };
  return {
    publish: (message) => Promise.resolve().then(() => client.publish(channel, message)).then(() => undefined, tell),
    subscribe(listener) {
      if (typeof listener !== "function") throw new TypeError("listener must be a function");
      wire();
      const own = (m: string): void => listener(m); // the same function twice is two listeners
      listeners.add(own);
      return () => {
        listeners.delete(own);
      };
    },
    async close() {
      listeners.clear();
      if (!made) return;
      if (sub instanceof Client) await sub.close();
      else await sub.unsubscribe(channel);
    },
  };
}

/** The broker under the work port's name. */
export const redisPubSub = redisBroker;
