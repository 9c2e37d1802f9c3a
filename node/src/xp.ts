// xml-pipeline's shared context buffer and thread registry (Python xml_pipeline's RedisBackend,
// SPEC.md 4) from Node, with its keys and values, so Node programs share them with xml-pipeline's
// handlers and with crossredis's Python (crossredis.xp) and C: `<prefix>buffer:<threadId>` lists of
// slots, `<prefix>chain:<chain>` -> uuid and `<prefix>uuid:<uuid>` -> chain, each key with `ttl`
// seconds (0: none). The methods are the Python class's in camelCase. The C core
// (core/include/crossredis/xp.h) owns the wire and every check (an empty id: InvalidArgumentError
// naming it; a key of another type: WrongTypeError naming the key, nothing changed) and fixes
// upstream's defects (SCAN with the prefix escaped, ids not keys from the listing, the append and its
// TTL in one step with the index from RPUSH's reply, no stale reverse mapping, no CROSSSLOT on a
// Cluster, get-or-create that never mints two uuids).
//
// The calls of one event-loop turn go to the core as one batch (one pipeline per backend), except
// the registry's several-step rows on a Cluster (set, getChain, getOrCreate, delete: xp.h's
// protocol, which a batch refuses there), each run alone on the thread pool, and the scans
// (listings, clears, info, ping), also on the pool. Slots are opaque Buffers (upstream pickles its
// BufferSlot there: never unpickled here); encodeJsonSlot / decodeJsonSlot are the neutral JSON slot
// C and Python read and write too.
import { inspect } from "node:util";
import { native, type Handle, type OpInfo } from "./native";
import { Client, type ClientOptions } from "./client";
import { ClientClosedError } from "./errors";
import { Pipeline } from "./pipeline";
import { cText, int64, text } from "./check";

/** What createXpBackend and XpBackend take: the client (given, or made from `url` and the client
 * options, as createClient takes them), the key prefix and the TTL. */
export interface XpBackendOptions extends Omit<ClientOptions, "url"> {
  /** Redis URL (as createClient: default REDIS_URL, else redis://127.0.0.1:6379). */
  url?: string;
  /** An existing crossredis client (createClient); the backend does not close it. */
  client?: Client;
  /** Before every key (default "xp:"; glob characters are escaped where a SCAN pattern is made). */
  prefix?: string;
  /** Seconds on every key written (default 86400; 0: none). */
  ttl?: number;
}

/** What info() reports (upstream's info(), its keys in camelCase). */
export interface XpInfo {
  /** Buffer threads under the prefix (as bufferListThreads counts them). */
  bufferThreads: number;
  /** Registry pairs that map both ways (as registryListAll counts them). */
  registryEntries: number;
  /** The TTL in seconds, 0 when there is none. */
  ttlSeconds: number;
}

/** xml-pipeline's SlotMetadata, its fields in camelCase. */
export interface XpSlotMetadata {
  threadId: string;
  fromId: string;
  toId: string;
  /** 0 .. 2^53-1. */
  slotIndex: number;
  /** ISO 8601 as upstream writes it (not parsed). */
  timestamp: string;
  payloadType: string;
  /** Absent or null: none. */
  ownName?: string | null;
  /** Absent: false. */
  isSelfCall?: boolean;
  /** Absent: "". */
  usageInstructions?: string;
}

/** xml-pipeline's BufferSlot: any JSON value as the payload, and its metadata. */
export interface XpSlot<P = unknown> {
  payload: P;
  metadata: XpSlotMetadata;
}

/** A slot as decodeJsonSlot gives it: every metadata field present. */
export interface XpDecodedSlot<P = unknown> extends XpSlot<P> {
  metadata: Required<XpSlotMetadata>;
}

type Wire = "bufferAppend" | "bufferGetThread" | "bufferGetSlot" | "bufferThreadLen" | "bufferThreadExists" |
  "bufferDeleteThread" | "registrySet" | "registryGetUuid" | "registryGetChain" | "registryGetOrCreate" | "registryDelete";

/** Each row of xp.def by its wire name. */
const OPS: ReadonlyMap<string, OpInfo> = new Map(native.xr_js_xp_ops(null).map((row) => [row.wire, row]));
// On a Cluster these rows are several steps (xp.h's protocol): never in a batch, run alone
const SEVERAL_STEPS: ReadonlySet<string> = new Set(["registrySet", "registryGetChain", "registryGetOrCreate", "registryDelete"]);

// xr_js_xp_job's scans (bridge.h)
const JOB = { listThreads: 0, bufferClear: 1, listAll: 2, registryClear: 3, info: 4, ping: 5 } as const;

// ids as the core stored them, decoded as Python's decode("utf-8", "replace") does (U+FFFD)
const str = (b: unknown): string | null => (b === null ? null : (b as Buffer).toString("utf8"));

function slotBytes(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError(`slot must be a Buffer, got ${v === null ? "null" : Array.isArray(v) ? "an Array" : typeof v}`);
}

/** The buffer and registry of xml-pipeline over a crossredis client. Connects at the first call
 * (or `await connect()`, which also pings); usable from many callers at once; `close()` waits for
 * the calls in flight. */
export class XpBackend {
  readonly prefix: string;
  /** Seconds on every key written; 0: none. */
  readonly ttl: number;
  #client: Client;
  #ownsClient: boolean;
  #store: Handle | null = null; // the native store (freed by the addon once closed and unused)
  #cluster = false;
  #connecting: Promise<void> | null = null;
  #closed = false;
  #alone = new Set<Promise<unknown>>(); // calls in flight outside the pipeline (alone, scans)
  #pipeline = new Pipeline<unknown[]>((ops) => this.#run(ops));

  constructor(options: XpBackendOptions = {}) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    const { url, client, prefix, ttl, ...clientOptions } = options;
    this.prefix = prefix === undefined ? native.XR_XP_PREFIX : cText("key_prefix", prefix, "prefix");
    this.ttl = ttl === undefined ? native.XR_XP_TTL_S : int64("ttl", ttl);
    if (client !== undefined) {
      if (!(client instanceof Client)) throw new TypeError("client must be a crossredis Client (createClient)");
      if (url !== undefined || Object.values(clientOptions).some((v) => v !== undefined)) {
        throw new TypeError("url and client options apply only without a client");
      }
      this.#client = client;
      this.#ownsClient = false;
    } else {
      this.#client = new Client({ ...clientOptions, url });
      this.#ownsClient = true;
    }
  }

  /** Connects the client (unless given one already connected), makes the core's store (a wrong
   * prefix or ttl fails here with the core's InvalidArgumentError) and pings, as upstream does
   * when made. Calls connect by themselves. */
  async connect(): Promise<void> {
    await this.#handle();
    await this.#job(JOB.ping);
  }

  // -- the buffer --

  /** Appends a slot (opaque bytes): its index, RPUSH's reply - 1 (exact under concurrent
   * writers); the list and its TTL are written in one step. */
  async bufferAppend(threadId: string, slot: Buffer | Uint8Array): Promise<number> {
    return (await this.#call("bufferAppend", [text("thread_id", threadId, "threadId"), slotBytes(slot)])) as number;
  }

  /** The thread's slots, oldest first ([] when there is none). */
  async bufferGetThread(threadId: string): Promise<Buffer[]> {
    return (await this.#call("bufferGetThread", [text("thread_id", threadId, "threadId")])) as Buffer[];
  }

  /** Slot `index` (negative: from the end); null when there is none. */
  async bufferGetSlot(threadId: string, index: number): Promise<Buffer | null> {
    return (await this.#call("bufferGetSlot", [text("thread_id", threadId, "threadId"), int64("index", index)])) as Buffer | null;
  }

  async bufferThreadLen(threadId: string): Promise<number> {
    return (await this.#call("bufferThreadLen", [text("thread_id", threadId, "threadId")])) as number;
  }

  async bufferThreadExists(threadId: string): Promise<boolean> {
    return (await this.#call("bufferThreadExists", [text("thread_id", threadId, "threadId")])) as boolean;
  }

  /** True when there was one. */
  async bufferDeleteThread(threadId: string): Promise<boolean> {
    return (await this.#call("bufferDeleteThread", [text("thread_id", threadId, "threadId")])) as boolean;
  }

  /** The thread ids under the prefix (ids, not keys), sorted: SCAN on every master. */
  async bufferListThreads(): Promise<string[]> {
    return ((await this.#job(JOB.listThreads)) as Buffer[]).map((b) => b.toString("utf8"));
  }

  /** Deletes every thread under the prefix (SCAN, one DEL per key). */
  async bufferClear(): Promise<void> {
    await this.#job(JOB.bufferClear);
  }

  // -- the registry --

  /** Maps chain <-> uuid both ways; the pair's old mappings go. */
  async registrySet(chain: string, uuid: string): Promise<void> {
    await this.#call("registrySet", [text("chain", chain), text("uuid", uuid)]);
  }

  async registryGetUuid(chain: string): Promise<string | null> {
    return str(await this.#call("registryGetUuid", [text("chain", chain)]));
  }

  /** The chain only while it still maps back to this uuid. */
  async registryGetChain(uuid: string): Promise<string | null> {
    return str(await this.#call("registryGetChain", [text("uuid", uuid)]));
  }

  /** The chain's uuid, or a new uuid4 mapped both ways: concurrent callers get one uuid. */
  async registryGetOrCreate(chain: string): Promise<string> {
    return str(await this.#call("registryGetOrCreate", [text("chain", chain)])) as string;
  }

  /** Removes the uuid's mapping; true when its chain mapped to it and is gone. */
  async registryDelete(uuid: string): Promise<boolean> {
    return (await this.#call("registryDelete", [text("uuid", uuid)])) as boolean;
  }

  /** uuid -> chain of the pairs that map both ways. */
  async registryListAll(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [uuid, chain] of (await this.#job(JOB.listAll)) as [Buffer, Buffer][]) out[uuid.toString("utf8")] = chain.toString("utf8");
    return out;
  }

  /** Deletes every chain and uuid key under the prefix. */
  async registryClear(): Promise<void> {
    await this.#job(JOB.registryClear);
  }

  // -- the rest --

  /** PING; false (never a rejection) when it fails or the backend is closed. */
  async ping(): Promise<boolean> {
    try {
      await this.#job(JOB.ping);
      return true;
    } catch {
      return false;
    }
  }

  async info(): Promise<XpInfo> {
    const [bufferThreads, registryEntries, ttlSeconds] = (await this.#job(JOB.info)) as [number, number, number];
    return { bufferThreads, registryEntries, ttlSeconds };
  }

  /** Waits for the calls in flight, frees the store and closes the client it made. Later calls
   * reject with ClientClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#connecting?.catch(() => undefined);
    await Promise.all([this.#pipeline.idle(), ...[...this.#alone].map((p) => p.catch(() => undefined))]);
    const store = this.#store;
    this.#store = null;
    if (store) native.xr_js_xp_close(store);
    if (this.#ownsClient) await this.#client.close();
  }

  /** The crossredis client underneath. */
  getClient(): Client {
    return this.#client;
  }

  toJSON(): { prefix: string; ttl: number; client: ReturnType<Client["toJSON"]> } {
    return { prefix: this.prefix, ttl: this.ttl, client: this.#client.toJSON() };
  }

  [inspect.custom](_depth: number, opts: object): string {
    return `XpBackend ${inspect(this.toJSON(), opts)}`;
  }

  async #handle(): Promise<Handle> {
    if (this.#store) return this.#store;
    if (this.#closed) throw new ClientClosedError("the xp backend is closed");
    if (!this.#connecting) {
      const connecting = (async () => {
        const handle = await this.#client.handle();
        if (this.#closed) throw new ClientClosedError("the xp backend is closed");
        this.#store = native.xr_js_xp_new(handle, { keyPrefix: this.prefix, ttl: this.ttl });
        this.#cluster = native.xr_js_xp_cluster(this.#store);
      })();
      this.#connecting = connecting;
      connecting.then(() => { this.#connecting = null; }, () => { this.#connecting = null; });
    }
    await this.#connecting;
    return this.#store as unknown as Handle;
  }

  /** Row `wire` of xp.def with `args` (its order and kinds): batched, or alone on a Cluster. */
  async #call(wire: Wire, args: unknown[]): Promise<unknown> {
    const op = OPS.get(wire);
    if (!op) throw new Error(`crossredis: the native addon has no xp operation ${wire}`);
    if (this.#closed) throw new ClientClosedError("the xp backend is closed");
    const store = await this.#handle();
    if (this.#cluster && SEVERAL_STEPS.has(wire)) return this.#held(() => native.xr_js_xp_call(store, [op.code, ...args]));
    return this.#pipeline.push([op.code, ...args]);
  }

  async #job(what: number): Promise<unknown> {
    if (this.#closed) throw new ClientClosedError("the xp backend is closed");
    const store = await this.#handle();
    return this.#held(() => native.xr_js_xp_job(store, what));
  }

  /** A call outside the pipeline, which close() waits for. */
  #held(call: () => Promise<unknown>): Promise<unknown> {
    const p = this.#client.track(call);
    this.#alone.add(p);
    const done = (): void => { this.#alone.delete(p); };
    p.then(done, done);
    return p;
  }

  #run(ops: unknown[][]): Promise<unknown[]> {
    const store = this.#store;
    if (!store) return Promise.reject(new ClientClosedError("the xp backend is closed"));
    return this.#client.track(() => native.xr_js_xp_run(store, ops));
  }
}

/** An XpBackend over `client` (a crossredis Client, which it borrows), a Redis URL, or
 * XpBackendOptions; `options` the prefix and the TTL (upstream's RedisBackend(url, prefix, ttl)). */
export function createXpBackend(client: Client | string | XpBackendOptions = {},
  options: { prefix?: string; ttl?: number } = {}): XpBackend {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  if (client instanceof Client) return new XpBackend({ ...options, client });
  if (typeof client === "string") return new XpBackend({ ...options, url: client });
  return new XpBackend({ ...client, ...options });
}

/** The JSON slot (xp.h) of a slot: canonical bytes. The payload is any JSON value (a value
 * JSON.stringify cannot write is a TypeError); every other check is the core's
 * (InvalidArgumentError naming the field). */
export function encodeJsonSlot(slot: XpSlot): Buffer {
  if (typeof slot !== "object" || slot === null || typeof slot.metadata !== "object" || slot.metadata === null || !("payload" in slot)) {
    throw new TypeError("slot must be an object {payload, metadata}");
  }
  const md = slot.metadata;
  const payload = JSON.stringify(slot.payload);
  if (typeof payload !== "string") throw new TypeError("payload must be a JSON value");
  const own = md.ownName ?? null;
  const self = md.isSelfCall ?? false;
  if (typeof self !== "boolean") throw new TypeError(`isSelfCall must be a boolean, got ${typeof self}`);
  return native.xr_js_xp_slot_write([
    text("thread_id", md.threadId, "threadId"), text("from_id", md.fromId, "fromId"), text("to_id", md.toId, "toId"),
    int64("slot_index", md.slotIndex, "slotIndex"), text("timestamp", md.timestamp), text("payload_type", md.payloadType, "payloadType"),
    own === null ? null : text("own_name", own, "ownName"), self, text("usage_instructions", md.usageInstructions ?? "", "usageInstructions"),
    payload,
  ]);
}

/** A JSON slot (xp.h) read and checked by the core (InvalidArgumentError naming what is wrong). */
export function decodeJsonSlot<P = unknown>(data: Buffer | Uint8Array): XpDecodedSlot<P> {
  const [threadId, fromId, toId, slotIndex, timestamp, payloadType, ownName, isSelfCall, usageInstructions, payload] =
    native.xr_js_xp_slot_read(slotBytes(data));
  return {
    payload: JSON.parse(payload) as P,
    metadata: { threadId, fromId, toId, slotIndex, timestamp, payloadType, ownName, isSelfCall, usageInstructions },
  };
}
