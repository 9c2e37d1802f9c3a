// The Chat SDK state adapters: RedisStateAdapter and IoRedisStateAdapter have the names, options
// and methods of @chat-adapter/state-redis and @chat-adapter/state-ioredis 4.41 (the StateAdapter
// interface of chat@4.41), so either can be handed to the TypeScript Chat core; the keys,
// commands and bytes are theirs (SPEC.md 1). The calls of one event-loop turn go to the C core as
// one batch (one pipeline), run off the JS thread.
import { inspect } from "node:util";
import { native, type Handle } from "./native";
import { Client, type ClientOptions } from "./client";
import { ClientClosedError, ConnectionError, NoReplicasError } from "./errors";
import { Pipeline } from "./pipeline";
import { cText, int64, optInt32, optInt64, text } from "./check";
import { ConsoleErrorLogger } from "./logger";

/** chat's Lock. */
export interface Lock {
  threadId: string;
  token: string;
  expiresAt: number;
}

/** Beyond upstream: an entry dequeueReliable returned; `raw` (its bytes in Redis) is what ack
 * removes from the processing list. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface ReliableQueueEntry<M = any> extends QueueEntry<M> {
  raw: Buffer;
}

/** chat's QueueEntry: the message (any JSON-serializable value; the chat core's Message, whose
 * type this package does not import: hence `any`) and times. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface QueueEntry<M = any> {
  message: M;
  enqueuedAt: number;
  expiresAt: number;
}

/** chat's Logger. */
export interface Logger {
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
  child(prefix: string): Logger;
}

/** Options beyond upstream's, each defaulting to the upstream adapter's wire. */
export interface WireOptions {
  /** Token prefix: "redis" (RedisStateAdapter) or "ioredis" (IoRedisStateAdapter) by default. */
  tokenPrefix?: string;
  /** Token suffix: "base36" (the TS adapters' shape, default) or "hex32" (the Python port's). */
  tokenSuffix?: "base36" | "hex32";
  /** How values are written: "js" (JSON.stringify's bytes, default) or "python" (json.dumps). */
  json?: "js" | "python";
  /** How queue entries are spelled: "ts" (default), "python", or "both" (read by both runtimes). */
  queueEntries?: "ts" | "python" | "both";
  /** Keep an empty keyPrefix as "" (the Python port) instead of "chat-sdk" (the TS adapters). */
  keepEmptyPrefix?: boolean;
  /** Beyond upstream: a lock counts as acquired or extended only once this many replicas
   * acknowledged the write (WAIT on the same connection); fewer reject with NoReplicasError, and
   * an acquired lock is given back first. 0 (default): off. What this does and does not
   * guarantee across a failover: README, "Locks across a failover". */
  minReplicas?: number;
  /** How long WAIT waits for those replicas, in ms (0, default: 1000); must stay below the
   * client's commandTimeoutMs. */
  minReplicasTimeoutMs?: number;
  /** Beyond upstream: where a thread's lock, queue and processing list live. "upstream"
   * (default): `<prefix>:lock:<threadId>`, as every upstream runtime; "tagged":
   * `<prefix>:lock:{<threadId>}`, `:queue:{<threadId>}`, `:queue-processing:{<threadId>}`, one
   * Redis Cluster slot per thread, so releaseLockIfQueueEmpty and dequeueReliable run on a
   * Cluster; "bridge": both at once, one script per operation (what a deployment runs while it
   * moves from one to the other without two holders of a thread; one node only): README, "Chat SDK
   * tagged layout". */
  layout?: "upstream" | "tagged" | "bridge";
  /** Options of the client made from `url` (timeouts, pool, ACL, TLS). */
  clientOptions?: Omit<ClientOptions, "url">;
}

export interface RedisStateAdapterUrlOptions extends WireOptions {
  /** Key prefix for all Redis keys (default: "chat-sdk") */
  keyPrefix?: string;
  /** Logger instance for error reporting */
  logger?: Logger;
  /** Redis connection URL (e.g., redis://localhost:6379). Defaults to REDIS_URL env var. */
  url?: string;
}

export interface RedisStateAdapterClientOptions extends WireOptions {
  /** An existing crossredis client (createClient); the adapter does not close it. */
  client: Client;
  keyPrefix?: string;
  logger?: Logger;
}

export type RedisStateAdapterOptions = RedisStateAdapterUrlOptions | RedisStateAdapterClientOptions;
/** @deprecated upstream's old name */
export type RedisStateClientOptions = RedisStateAdapterClientOptions;
/** @deprecated upstream's old name */
export type CreateRedisStateOptions = RedisStateAdapterOptions;

export interface IoRedisStateAdapterUrlOptions extends RedisStateAdapterUrlOptions {
  url: string;
}
export type IoRedisStateAdapterClientOptions = RedisStateAdapterClientOptions;
export type IoRedisStateAdapterOptions = IoRedisStateAdapterUrlOptions | IoRedisStateAdapterClientOptions;
/** @deprecated upstream's old name */
export type IoRedisStateClientOptions = IoRedisStateAdapterClientOptions;

/** The upstream names of the core's Chat operations (the rows of chat.def) this layer calls. */
const WIRE = ["subscribe", "unsubscribe", "isSubscribed", "acquireLock", "releaseLock", "extendLock",
  "forceReleaseLock", "get", "set", "setIfNotExists", "delete", "appendToList", "getList", "enqueue", "dequeue",
  "queueDepth", "dequeueReliable", "ack", "requeueProcessing"] as const;

/** Each operation's code, read from the core's table (never a copy of its numbers). */
const Op = ((): Readonly<Record<(typeof WIRE)[number], number>> => {
  const rows = new Map(native.xr_js_chat_ops(null).map((o) => [o.wire, o.code]));
  return Object.freeze(Object.fromEntries(WIRE.map((w) => {
    const code = rows.get(w);
    if (code === undefined) throw new Error(`crossredis: the native addon has no Chat operation ${w}`);
    return [w, code];
  })) as Record<(typeof WIRE)[number], number>);
})();

/** createRedisState's mark on options whose url it read from the environment. */
const URL_FROM_ENV = Symbol("crossredis.urlFromEnv");

// Node's names of the core's enums, their values from its headers (token.h, json.h, chat.h)
const SUFFIX: Readonly<Record<string, number>> = { base36: native.XR_TOKEN_BASE36, hex32: native.XR_TOKEN_HEX32 };
const JSON_DIALECT: Readonly<Record<string, number>> = { js: native.XR_JSON_JS, python: native.XR_JSON_PYTHON };
const QUEUE: Readonly<Record<string, number>> = {
  ts: native.XR_CHAT_QUEUE_TS, python: native.XR_CHAT_QUEUE_PYTHON, both: native.XR_CHAT_QUEUE_BOTH,
};
const has = (table: object, name: unknown): boolean => typeof name === "string" && Object.hasOwn(table, name);

function json(name: string, v: unknown): string {
  const s = JSON.stringify(v);
  if (typeof s !== "string") throw new TypeError(`${name} is not JSON-serializable (${typeof v})`);
  return s;
}

function lockArg(lock: unknown): Lock {
  if (typeof lock !== "object" || lock === null) throw new TypeError("lock must be a Lock object");
  const l = lock as Lock;
  text("thread_id", l.threadId, "lock.threadId");
  text("token", l.token, "lock.token");
  return l;
}

const nothing = (): void => undefined;
const LANES: number = native.XR_JS_LANES; // xr_js_chat_lanes' "they differ"

/** The core's words for a batched acquire that too few replicas acknowledged (chat.c, unacked). */
const UNACKED = /not held; release it \(token ([A-Za-z0-9_-]+)\) or let it expire/;

/**
 * Redis state adapter (node-redis flavour: `redis_` tokens): subscriptions, distributed locks,
 * cache, lists and queues, over crossredis's C core.
 */
export class RedisStateAdapter {
  protected readonly client: Client;
  protected readonly keyPrefix: string;
  protected readonly logger: Logger;
  protected readonly ownsClient: boolean;
  #wire: Required<Omit<WireOptions, "clientOptions">>;
  #layout: number; // #wire.layout's value (xr_chat_layout)
  #chat: Handle | null = null; // the native adapter (freed by the addon once closed and unused)
  #connecting: Promise<void> | null = null;
  #disconnecting = false;
  #inflight = new Set<Promise<unknown>>(); // this adapter's calls outside the pipeline
  #pipeline: Pipeline<unknown[]>;
  #laneBuffer = new Uint8Array(64);

  constructor(options: RedisStateAdapterOptions, flavour: { token: string; logName: string } = { token: "redis", logName: "redis" }) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    if ("client" in options && options.client !== undefined) {
      if (!(options.client instanceof Client)) throw new TypeError("client must be a crossredis Client (createClient)");
      this.client = options.client;
      this.ownsClient = false;
    } else {
      const url = (options as RedisStateAdapterUrlOptions).url;
      if (!url) throw new Error("Redis url is required. Set REDIS_URL or provide url in options.");
      if (typeof url !== "string") throw new TypeError("url must be a string");
      const from = (options as { [URL_FROM_ENV]?: string })[URL_FROM_ENV] ?? null;
      this.client = new Client({ ...(options.clientOptions ?? {}), url }, from);
      this.ownsClient = true;
    }
    if (options.keyPrefix !== undefined) cText("key_prefix", options.keyPrefix, "keyPrefix");
    const keep = options.keepEmptyPrefix === true;
    this.keyPrefix = options.keyPrefix === "" && keep ? "" : options.keyPrefix || "chat-sdk";
    this.logger = options.logger ?? new ConsoleErrorLogger(`chat-sdk:${flavour.logName}`);
    const suffix = options.tokenSuffix ?? "base36";
    const dialect = options.json ?? "js";
    const queue = options.queueEntries ?? "ts";
    if (!has(SUFFIX, suffix)) throw new TypeError(`tokenSuffix must be "base36" or "hex32", got ${String(suffix)}`);
    if (!has(JSON_DIALECT, dialect)) throw new TypeError(`json must be "js" or "python", got ${String(dialect)}`);
    if (!has(QUEUE, queue)) throw new TypeError(`queueEntries must be "ts", "python" or "both", got ${String(queue)}`);
    // a C string: no NUL, no lone surrogate; what it may hold is the core's rule
    const tokenPrefix = cText("token_prefix", options.tokenPrefix ?? flavour.token, "tokenPrefix");
    const minReplicas = optInt32("min_replicas", options.minReplicas, "minReplicas", 0);
    const minReplicasTimeoutMs = optInt32("min_replicas_timeout_ms", options.minReplicasTimeoutMs, "minReplicasTimeoutMs", 0);
    // the layout's names are the core's (xr_chat_layout_parse)
    const layoutName = cText("layout", options.layout ?? "upstream", "layout");
    const layout = native.xr_chat_layout_parse(layoutName);
    this.#wire = { tokenPrefix, tokenSuffix: suffix, json: dialect, queueEntries: queue, keepEmptyPrefix: keep, minReplicas,
      minReplicasTimeoutMs, layout: layoutName as "upstream" | "tagged" | "bridge" };
    this.#layout = layout;
    // the core's checks of the options (glob characters in the key prefix, the token prefix's
    // length and characters, min_replicas' range), now rather than at connect()
    native.xr_binding_chat_check(this.keyPrefix, this.#emptyPrefix(), tokenPrefix, SUFFIX[suffix], JSON_DIALECT[dialect], QUEUE[queue],
      minReplicas, minReplicasTimeoutMs, layout);
    this.#pipeline = new Pipeline<unknown[]>((ops, lane) => this.#run(ops, lane), (e) => this.#failed(e),
      (r) => r instanceof ConnectionError && this.#failed(r), (ops) => this.#lanesOf(ops));
  }

  /** Where a thread's keys live: "upstream" (`<prefix>:lock:<id>`), "tagged" (`<prefix>:lock:{<id>}`) or "bridge". */
  get layout(): "upstream" | "tagged" | "bridge" {
    return this.#wire.layout;
  }

  /** Connects the client (unless given one already connected) and makes the core's adapter. */
  async connect(): Promise<void> {
    if (this.#chat) return;
    if (!this.#connecting) {
      const connecting = (async () => {
        const client = await this.client.handle();
        this.#chat = native.xr_js_chat_new(client, {
          keyPrefix: this.keyPrefix, emptyPrefix: this.#emptyPrefix(), tokenPrefix: this.#wire.tokenPrefix,
          tokenSuffix: SUFFIX[this.#wire.tokenSuffix], json: JSON_DIALECT[this.#wire.json], queue: QUEUE[this.#wire.queueEntries],
          minReplicas: this.#wire.minReplicas, minReplicasTimeoutMs: this.#wire.minReplicasTimeoutMs,
          layout: this.#layout,
        });
        this.#disconnecting = false;
      })();
      this.#connecting = connecting;
      connecting.then(() => { this.#connecting = null; }, (e) => {
        this.#connecting = null;
        this.logger.error("Redis client error", { error: e });
      });
    }
    await this.#connecting;
  }

  /** Waits for the calls in flight (an acquireLockWait stops waiting at once and rejects with
   * ClientClosedError), frees the adapter and closes the client it made. */
  async disconnect(): Promise<void> {
    const chat = this.#chat;
    if (!chat || this.#disconnecting) return;
    this.#disconnecting = true;
    native.xr_js_chat_cancel(chat);
    await this.#pipeline.idle();
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    this.#chat = null;
    native.xr_js_chat_close(chat);
    if (this.ownsClient) await this.client.close();
  }

  subscribe(threadId: string): Promise<void> {
    return this.#op(() => [Op.subscribe, text("thread_id", threadId, "threadId")]).then(nothing);
  }

  unsubscribe(threadId: string): Promise<void> {
    return this.#op(() => [Op.unsubscribe, text("thread_id", threadId, "threadId")]).then(nothing);
  }

  isSubscribed(threadId: string): Promise<boolean> {
    return this.#op(() => [Op.isSubscribed, text("thread_id", threadId, "threadId")]) as Promise<boolean>;
  }

  /** SET <prefix>:lock:<threadId> <token> PX ttlMs NX: the Lock, or null when another holds it.
   * With minReplicas, NoReplicasError when too few replicas acknowledged it (given back first). */
  acquireLock(threadId: string, ttlMs: number): Promise<Lock | null> {
    return this.#op(() => [Op.acquireLock, text("thread_id", threadId, "threadId"), int64("ttl_ms", ttlMs, "ttlMs")]).then((r) =>
      r ? { threadId, token: (r as [string, number])[0], expiresAt: (r as [string, number])[1] } : null,
    (e: unknown) => this.#giveBackUnacknowledged(threadId, e));
  }

  forceReleaseLock(threadId: string): Promise<void> {
    return this.#op(() => [Op.forceReleaseLock, text("thread_id", threadId, "threadId")]).then(nothing);
  }

  /** Deletes the lock when it still holds lock.token (a wrong or expired token changes nothing). */
  releaseLock(lock: Lock): Promise<void> {
    return this.#op(() => {
      const l = lockArg(lock);
      return [Op.releaseLock, l.threadId, l.token];
    }).then(nothing);
  }

  /** Sets the lock's TTL when it still holds lock.token; never re-creates a missing lock. */
  extendLock(lock: Lock, ttlMs: number): Promise<boolean> {
    return this.#op(() => {
      const l = lockArg(lock);
      return [Op.extendLock, l.threadId, l.token, int64("ttl_ms", ttlMs, "ttlMs")];
    }) as Promise<boolean>;
  }

  /** The value, JSON-parsed; a stored text that is not JSON comes back as the string; null when missing. */
  async get<T = unknown>(key: string): Promise<T | null> {
    const v = (await this.#op(() => [Op.get, text("key", key)])) as string | null;
    if (v === null) return null;
    try {
      return JSON.parse(v) as T;
    } catch {
      return v as T;
    }
  }

  /** SET with PX ttlMs when ttlMs > 0, else without a TTL (clearing one). */
  set<T = unknown>(key: string, value: T, ttlMs?: number): Promise<void> {
    return this.#op(() => [Op.set, text("key", key), json("value", value), optInt64("ttl_ms", ttlMs, "ttlMs", 0)]).then(nothing);
  }

  setIfNotExists(key: string, value: unknown, ttlMs?: number): Promise<boolean> {
    return this.#op(() => [Op.setIfNotExists, text("key", key), json("value", value), optInt64("ttl_ms", ttlMs, "ttlMs", 0)]) as Promise<boolean>;
  }

  delete(key: string): Promise<void> {
    return this.#op(() => [Op.delete, text("key", key)]).then(nothing);
  }

  /** RPUSH, then keep the newest maxLength, then PEXPIRE ttlMs (one script). */
  async appendToList(key: string, value: unknown, options?: { maxLength?: number; ttlMs?: number }): Promise<void> {
    await this.#op(() => {
      if (options !== undefined && (typeof options !== "object" || options === null)) throw new TypeError("options must be an object");
      return [Op.appendToList, text("key", key), json("value", value), optInt64("max_length", options?.maxLength, "maxLength", 0),
        optInt64("ttl_ms", options?.ttlMs, "ttlMs", 0)];
    });
  }

  /** Appends the entry (dropping the oldest past maxSize) and returns the queue's length. */
  enqueue(threadId: string, entry: QueueEntry, maxSize: number): Promise<number> {
    return this.#op(() => {
      if (typeof entry !== "object" || entry === null) throw new TypeError("entry must be a QueueEntry object");
      return [Op.enqueue, text("thread_id", threadId, "threadId"), json("entry.message", entry.message),
        int64("enqueued_at_ms", entry.enqueuedAt, "entry.enqueuedAt"), int64("expires_at_ms", entry.expiresAt, "entry.expiresAt"),
        int64("max_size", maxSize, "maxSize")];
    }) as Promise<number>;
  }

  /** The oldest entry (FIFO), of either runtime's spelling; expiry is the caller's to check. */
  async dequeue(threadId: string): Promise<QueueEntry | null> {
    const r = (await this.#op(() => [Op.dequeue, text("thread_id", threadId, "threadId")])) as [string, number | undefined, number] | null;
    if (r === null) return null;
    const entry: QueueEntry = { message: JSON.parse(r[0]) as unknown, enqueuedAt: r[1] as number, expiresAt: r[2] };
    if (r[1] === undefined) delete (entry as Partial<QueueEntry>).enqueuedAt;
    return entry;
  }

  /** Beyond upstream: dequeue() that loses nothing. The entry moves (one script) from the queue's
   * head to `<prefix>:queue-processing:<threadId>` and stays there until ack(threadId, entry); if
   * the consumer dies or the reply is lost, requeueProcessing(threadId) puts the unacknowledged
   * entries back at the queue's head, in order. Upstream readers see only the queue. Two keys:
   * standalone and Sentinel, not Cluster (CROSSSLOT). */
  async dequeueReliable(threadId: string): Promise<ReliableQueueEntry | null> {
    const r = (await this.#op(() => [Op.dequeueReliable, text("thread_id", threadId, "threadId")])) as
      [string, number | undefined, number, Buffer] | null;
    if (r === null) return null;
    const entry: ReliableQueueEntry = { message: JSON.parse(r[0]) as unknown, enqueuedAt: r[1] as number, expiresAt: r[2], raw: r[3] };
    if (r[1] === undefined) delete (entry as Partial<ReliableQueueEntry>).enqueuedAt;
    return entry;
  }

  /** Beyond upstream: removes an entry dequeueReliable returned from the processing list once it
   * was handled; whether it was still there. */
  ack(threadId: string, entry: ReliableQueueEntry): Promise<boolean> {
    return this.#op(() => {
      const raw = (entry as Partial<ReliableQueueEntry> | null)?.raw;
      if (!Buffer.isBuffer(raw)) throw new TypeError("entry must be what dequeueReliable returned (its raw Buffer is missing)");
      return [Op.ack, text("thread_id", threadId, "threadId"), raw];
    }) as Promise<boolean>;
  }

  /** Beyond upstream: moves every unacknowledged entry back to the head of the queue, oldest
   * first; how many. */
  requeueProcessing(threadId: string): Promise<number> {
    return this.#op(() => [Op.requeueProcessing, text("thread_id", threadId, "threadId")]) as Promise<number>;
  }

  queueDepth(threadId: string): Promise<number> {
    return this.#op(() => [Op.queueDepth, text("thread_id", threadId, "threadId")]) as Promise<number>;
  }

  async getList<T = unknown>(key: string): Promise<T[]> {
    const items = (await this.#op(() => [Op.getList, text("key", key)])) as string[];
    return items.map((v) => JSON.parse(v) as T);
  }

  /** Beyond upstream: tries to acquire until it succeeds or waitMs passed (backoff with jitter),
   * off the JS thread. disconnect() or closing the client ends the wait at once with
   * ClientClosedError. */
  async acquireLockWait(threadId: string, ttlMs: number, waitMs: number): Promise<Lock | null> {
    const chat = this.#connected();
    const id = text("thread_id", threadId, "threadId");
    const ttl = int64("ttl_ms", ttlMs, "ttlMs");
    const wait = int64("wait_ms", waitMs, "waitMs");
    const r = await this.#track(() => native.xr_js_chat_acquire_wait(chat, id, ttl, wait));
    return r ? { threadId, token: r[0], expiresAt: r[1] } : null;
  }

  /** Beyond upstream (vercel/chat #928): deletes the lock only if it holds lock.token and the
   * thread's queue is empty, atomically (standalone and Sentinel; CROSSSLOT on a Cluster).
   * `depth` is the queue's length (-1 when the token no longer held the lock). */
  async releaseLockIfQueueEmpty(lock: Lock): Promise<{ released: boolean; depth: number }> {
    const chat = this.#connected();
    const l = lockArg(lock);
    const [released, depth] = await this.#track(() => native.xr_js_chat_release_if_queue_empty(chat, l.threadId, l.token));
    return { released, depth };
  }

  /** The crossredis client underneath. */
  getClient(): Client {
    return this.client;
  }

  toString(): string {
    return `${this.constructor.name}(${this.client.url}, keyPrefix ${JSON.stringify(this.keyPrefix)})`;
  }

  toJSON(): { keyPrefix: string; client: ReturnType<Client["toJSON"]>; connected: boolean } {
    return { keyPrefix: this.keyPrefix, client: this.client.toJSON(), connected: this.#chat !== null };
  }

  [inspect.custom](depth: number, opts: object): string {
    return `${this.constructor.name} ${inspect(this.toJSON(), opts)}`;
  }

  /** An acquire the master granted but fewer than minReplicas replicas acknowledged: from inside a
   * batch the core cannot send more, so it names the token, and the lock is given back here
   * (token-checked); then the caller hears NoReplicasError in the words of the core's sequential
   * acquire, which gives it back itself. Any other error passes as it is. */
  async #giveBackUnacknowledged(threadId: string, e: unknown): Promise<never> {
    const found = e instanceof NoReplicasError ? UNACKED.exec(e.message) : null;
    if (!found) throw e;
    let outcome = "released, not held";
    try {
      await this.#op(() => [Op.releaseLock, threadId, found[1]]);
    } catch {
      outcome = "not held, and releasing it failed (it expires with its TTL)";
    }
    const m = (e as Error).message;
    throw new NoReplicasError(m.slice(0, found.index) + outcome + m.slice(found.index + found[0].length));
  }

  /** The core's rule for an empty keyPrefix (xr_chat_empty_prefix), its value from the header. */
  #emptyPrefix(): number {
    return this.#wire.keepEmptyPrefix ? native.XR_CHAT_EMPTY_PREFIX_KEEP : native.XR_CHAT_EMPTY_PREFIX_DEFAULT;
  }

  #connected(): Handle {
    if (!this.#chat) throw new Error(`${this.constructor.name} is not connected. Call connect() first.`);
    if (this.#disconnecting) throw new ClientClosedError(`${this.constructor.name} is disconnecting`);
    return this.#chat;
  }

  /** A call outside the pipeline: disconnect() waits for it, closing the client too. */
  #track<T>(call: () => Promise<T>): Promise<T> {
    const p = this.client.track(call);
    this.#inflight.add(p);
    const done = (): void => { this.#inflight.delete(p); };
    p.then(done, done);
    return p;
  }

  #op(build: () => unknown[]): Promise<unknown> {
    try {
      this.#connected();
      return this.#pipeline.push(build());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /* The lane every operation shares, or each one's (Cluster: the node its key is on); undefined:
   * one lane (standalone, Sentinel). */
  #lanesOf(ops: unknown[][]): Uint8Array | number | undefined {
    if (!this.#chat) return undefined;
    if (this.#laneBuffer.length < ops.length) this.#laneBuffer = new Uint8Array(Math.max(ops.length, 2 * this.#laneBuffer.length));
    const shared = native.xr_js_chat_lanes(this.#chat, ops, this.#laneBuffer);
    if (shared < 0) return undefined;
    return shared < LANES ? shared : this.#laneBuffer;
  }

  #run(ops: unknown[][], lane: number): Promise<unknown[]> {
    const chat = this.#chat;
    if (!chat) return Promise.reject(new ClientClosedError(`${this.constructor.name} was disconnected`));
    return this.client.track(() => native.xr_js_chat_run(chat, ops, lane));
  }

  #failed(e: unknown): void {
    this.logger.error("Redis client error", { error: e });
  }
}

/** The ioredis flavour: `ioredis_` tokens; otherwise the same. */
export class IoRedisStateAdapter extends RedisStateAdapter {
  constructor(options: IoRedisStateAdapterOptions) {
    super(options, { token: "ioredis", logName: "ioredis" });
  }
}

/** Like @chat-adapter/state-redis's createRedisState: url (default REDIS_URL) or client. */
export function createRedisState(options: RedisStateAdapterOptions = {}): RedisStateAdapter {
  if ("client" in options && options.client) return new RedisStateAdapter(options);
  const given = (options as RedisStateAdapterUrlOptions).url;
  const url = given ?? process.env.REDIS_URL;
  if (!url) throw new Error("Redis url is required. Set REDIS_URL or provide url in options.");
  return new RedisStateAdapter({ ...options, url, ...(given === undefined ? { [URL_FROM_ENV]: "REDIS_URL" } : {}) });
}

/** Like @chat-adapter/state-ioredis's createIoRedisState. */
export function createIoRedisState(options: IoRedisStateAdapterOptions): IoRedisStateAdapter {
  return new IoRedisStateAdapter(options);
}
