#!/usr/bin/env node
// TypeScript-runtime driver of the interop contract (interop/CONTRACT.md).
//
//   REDIS_URL=redis://127.0.0.1:PORT node interop/drivers/ts_driver.mjs \
//        --impl ts-node-redis|ts-ioredis|ts-crossredis [--prefix PREFIX] [--layout upstream|tagged]
//
// --layout (ts-crossredis only): the adapter's `layout` option; "tagged" keeps a thread's lock and
// queue under <prefix>:lock:{<id>} and <prefix>:queue:{<id>} (an upstream adapter gets "{<id>}").
//
// The server is $REDIS_URL (the runner passes it there: a command line is visible to ps);
// --url URL is taken too, for a run by hand.
//
// Reads one JSON request per line on stdin, answers one JSON line per request on stdout,
// strictly one at a time and in order. stdout carries protocol lines only; everything else
// (including anything a library prints with console.log) goes to stderr.
//
// Packages are resolved from the crossredis Node package next to this repository
// (../../node/), never from absolute paths:
//   ts-node-redis  -> @chat-adapter/state-redis   createRedisState({url, keyPrefix, logger})
//   ts-ioredis     -> @chat-adapter/state-ioredis createIoRedisState({url, keyPrefix, logger})
//   ts-crossredis  -> crossredis (../../node)     createIoRedisState({url, keyPrefix, logger})
// On a Redis Cluster (REDIS_URL redis+cluster://host:port,...) the upstream adapters get the cluster
// client of their library as `client` (ioredis Cluster, node-redis createCluster; see
// parseClusterUrl), crossredis the URL itself.
// The operations are the core's Chat table, from crossredis's chatOperations() (see
// makeHandlers); `chat.drain_queue` runs the real `chat` core (Chat#drainQueue, see
// CoreQueueReader below).
//
// --system sessions (default: chat, all of the above) drives toolhive's session stores the way the
// Go drivers do (interop/CONTRACT.md, "Go drivers (toolhive sessions)"; the reference is
// interop/drivers/go/lib/sessiondriver):
//
//   REDIS_URL=URL node interop/drivers/ts_driver.mjs --system sessions --impl ts-crossredis \
//        [--prefix P] [--data-prefix P] [--ttl-ms N] [--data-ttl-ms N] [--go 1.26|1.27]
//
// crossredis's RedisStorage (--prefix, default its own: toolhive's thv:proxy:session:, 2 h) and
// RedisSessionDataStorage (--data-prefix, default thv:vmcp:session:, 30 min), writing Go 1.27's bytes
// (--go 1.26: toolhive up to v0.48.0); REDIS_URL (redis://, rediss://, redis+cluster://,
// redis+sentinel://) goes to crossredis as it is. The operations are the rows of session.def from
// the addon's table (crossredis exports none for sessions): "session.<name>" calls the method
// `wire` (data_* rows: RedisSessionDataStorage's, `dataLoad` its `load`), plus
// session.delete_expired {before} (toolhive's no-op). session_json (an object or its text) becomes
// a crossredis Session holding exactly its values (the RFC 3339 texts, the raw data JSON, "data":
// null kept as the JSON null); data_json is an object of strings (or null) or its text; id, owner
// strings. Results: STATUS null, BOOL, SESSION {"id", "type", "created_at", "updated_at", "data"?,
// "metadata"} with the texts the store read and the data's raw JSON, MAP the object (null for a
// stored null). Errors: SessionNotFound, SessionExists (crossredis's SessionNotFoundError,
// SessionExistsError), Error (any other library error, its text), BadRequest, UnknownOp. See
// mainSessions.
//
// --system ayepi drives ayepi's Store, CacheStore and Broker as interop/CONTRACT.md's "ayepi" table
// says, the handlers ayepi_driver.mjs runs over upstream (ayepi_handlers.mjs) over crossredis's own
// factories (redisStore, redisCache, redisBroker of the Node package, impl ts-crossredis):
//
//   REDIS_URL=URL node interop/drivers/ts_driver.mjs --system ayepi --impl ts-crossredis \
//        [--prefix P] [--cache-prefix P] [--channel C]
//
// REDIS_URL goes to createClient as it is (redis://, redis+cluster://, redis+sentinel://). The
// broker's subscriber is a duplicate of the client made by the driver, so that ayepi.subscribe can
// answer once its SUBSCRIBE was; the envelope is the core's writer (xr_ayepi_envelope_write). See
// mainAyepi.
//
// --system xp answers interop/CONTRACT.md's "xp" table (xml-pipeline's RedisBackend) over
// crossredis's XpBackend (impl ts-crossredis):
//
//   REDIS_URL=URL node interop/drivers/ts_driver.mjs --system xp --impl ts-crossredis \
//        [--prefix P] [--ttl SECONDS]
//
// --prefix defaults to xp:, --ttl to 86400 (0: none). The rows of xp.def from the addon's table
// (xr_js_xp_ops) as xp.<name>, each calling the XpBackend method `wire`; the composites
// buffer_list_threads, buffer_clear, registry_list_all, registry_clear, info, slot_json, slot_read
// (the core's JSON slot codec: a pickle is the core's InvalidArgumentError) and slot_pickle
// (Unsupported: Node never pickles). Slots are base64 both ways. See mainXp.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  NODE_PKG_JSON, NODE_PKG_DIR, requireFromNode, findPackageDir, parseClusterUrl, emit, errorKind, errorMessage,
  RequestError, urlSecrets, scrub, withTimeout, eachLine, flushAndExit, handleLine,
} from "./driver_common.mjs";
import { makeAyepiHandlers } from "./ayepi_handlers.mjs";

// Keep stdout for the protocol: a library that logs through console.log/info/debug goes to stderr.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

// ---------------------------------------------------------------------------------------------
// Package resolution. The upstream packages only export an "import" condition, so
// require.resolve(name) refuses them; use the require lookup paths of ../../node/package.json to
// find the package directory, then read its package.json for the ESM entry and the version.

function esmEntry(pkg) {
  let e = pkg.exports;
  if (e && typeof e === "object" && "." in e) e = e["."];
  while (e && typeof e === "object") {
    e = e.import ?? e.default ?? e.node ?? null;
  }
  return typeof e === "string" ? e : pkg.module ?? pkg.main ?? "index.js";
}

async function importPackage(name) {
  const dir = findPackageDir(name);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const mod = await import(pathToFileURL(join(dir, esmEntry(pkg))).href);
  return { mod, library: `${pkg.name}@${pkg.version}` };
}

const IMPLS = {
  "ts-node-redis": { pkg: "@chat-adapter/state-redis", factory: "createRedisState", cluster: nodeRedisCluster },
  "ts-ioredis": { pkg: "@chat-adapter/state-ioredis", factory: "createIoRedisState", cluster: ioredisCluster },
  "ts-crossredis": { pkg: "crossredis", factory: "createIoRedisState", cluster: null },
};

// ---------------------------------------------------------------------------------------------
// Redis Cluster. REDIS_URL may be redis+cluster://[user[:password]@]host:port,host:port,... (the
// seeds; crossredis's own URL). crossredis takes that URL as it is; an upstream adapter cannot (its
// `url` is one server), so the driver makes the cluster client its library documents and hands it
// over as `client`, as a user of that adapter would: ioredis's `Cluster` for state-ioredis,
// node-redis's `createCluster` (connected first: an adapter never connects a client it does not
// own) for state-redis. The adapter does not own such a client, so the driver closes it.

async function ioredisCluster(c) {
  const Redis = requireFromNode("ioredis");
  const client = new Redis.Cluster(c.nodes, { redisOptions: { username: c.username, password: c.password } });
  const { version } = JSON.parse(readFileSync(join(findPackageDir("ioredis"), "package.json"), "utf8"));
  return { client, library: `ioredis@${version} Cluster`, close: () => client.quit() };
}

async function nodeRedisCluster(c) {
  const { createCluster } = requireFromNode("redis");
  const client = createCluster({
    rootNodes: c.nodes.map(({ host, port }) => ({ socket: { host, port } })),
    defaults: { username: c.username, password: c.password },
  });
  client.on("error", (err) => { if (DEBUG) console.error("node-redis cluster error:", err); });
  await client.connect();
  const { version } = JSON.parse(readFileSync(join(findPackageDir("redis"), "package.json"), "utf8"));
  return { client, library: `redis@${version} createCluster`, close: () => client.close() };
}

// ---------------------------------------------------------------------------------------------
// Logging: the adapters and the Chat core get a silent logger. The core's logger additionally
// counts the "message-expired" events drainQueue emits (that is how chat.drain_queue learns how
// many entries the core itself dropped as expired, without re-implementing the check).

const DEBUG = !!process.env.TS_DRIVER_DEBUG;

function makeLogger(onEvent) {
  const logger = {
    child: () => logger,
    debug: () => {},
    error: (msg, ...a) => { if (DEBUG) console.error("[error]", msg, ...a); },
    warn: (msg, ...a) => { if (DEBUG) console.error("[warn]", msg, ...a); },
    info: (msg, ...a) => {
      if (onEvent) onEvent(msg, a[0]);
      if (DEBUG) console.error("[info]", msg, ...a);
    },
  };
  return logger;
}

// ---------------------------------------------------------------------------------------------
// Arguments.

const SESSION_FLAGS = { "--data-prefix": "dataPrefix", "--ttl-ms": "ttlMs", "--data-ttl-ms": "dataTtlMs", "--go": "go" };
const AYEPI_FLAGS = { "--cache-prefix": "cachePrefix", "--channel": "channel" };
const XP_FLAGS = { "--ttl": "ttl" };

function parseArgv(argv) {
  const out = { system: "chat", url: process.env.REDIS_URL || undefined };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let value;
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) [a, value] = [a.slice(0, eq), a.slice(eq + 1)];
    const take = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === "--impl") out.impl = take();
    else if (a === "--url") out.url = take();
    else if (a === "--prefix") out.prefix = take();
    else if (a === "--system") out.system = take();
    else if (a === "--layout") out.layout = take();
    else if (Object.hasOwn(SESSION_FLAGS, a)) out[SESSION_FLAGS[a]] = take();
    else if (Object.hasOwn(AYEPI_FLAGS, a)) out[AYEPI_FLAGS[a]] = take();
    else if (Object.hasOwn(XP_FLAGS, a)) out[XP_FLAGS[a]] = take();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.impl) throw new Error("--impl is required");
  const ayepiFlag = Object.keys(AYEPI_FLAGS).find((f) => out[AYEPI_FLAGS[f]] !== undefined);
  if (ayepiFlag && out.system !== "ayepi") throw new Error(`${ayepiFlag} is for --system ayepi`);
  if (out.ttl !== undefined && out.system !== "xp") throw new Error("--ttl is for --system xp");
  if (out.layout !== undefined && (out.system !== "chat" || out.impl !== "ts-crossredis")) {
    throw new Error("--layout is for --system chat --impl ts-crossredis (an upstream adapter has one layout: give it {<id>})");
  }
  if (out.system === "xp") {
    if (out.impl !== "ts-crossredis") throw new Error(`unknown xp impl ${out.impl} (ts-crossredis)`);
    const extra = Object.keys(SESSION_FLAGS).find((f) => out[SESSION_FLAGS[f]] !== undefined);
    if (extra) throw new Error(`${extra} is for --system sessions`);
    if (out.ttl !== undefined && !/^\d+$/.test(out.ttl)) throw new Error("--ttl must be a number of seconds");
    out.ttl = out.ttl === undefined ? undefined : Number(out.ttl);
  } else if (out.system === "ayepi") {
    if (out.impl !== "ts-crossredis") throw new Error(`unknown ayepi impl ${out.impl} (ts-crossredis)`);
    const extra = Object.keys(SESSION_FLAGS).find((f) => out[SESSION_FLAGS[f]] !== undefined);
    if (extra) throw new Error(`${extra} is for --system sessions`);
    out.prefix ??= "";
    out.cachePrefix ??= "ayepi:cache:";
    out.channel ??= "ayepi";
  } else if (out.system === "sessions") {
    if (!SESSION_IMPLS.has(out.impl)) throw new Error(`unknown sessions impl ${out.impl} (${[...SESSION_IMPLS].join(", ")})`);
    out.sessionPrefix = out.prefix; // undefined: the store's default, toolhive's
    for (const k of ["ttlMs", "dataTtlMs"]) {
      if (out[k] !== undefined) {
        if (!/^\d+$/.test(out[k])) throw new Error(`--${k === "ttlMs" ? "ttl-ms" : "data-ttl-ms"} must be a number of ms`);
        out[k] = Number(out[k]);
      }
    }
  } else if (out.system === "chat") {
    const extra = Object.keys(SESSION_FLAGS).find((f) => out[SESSION_FLAGS[f]] !== undefined);
    if (extra) throw new Error(`${extra} is for --system sessions`);
    out.prefix ??= "chat-sdk";
    if (!IMPLS[out.impl]) throw new Error(`unknown impl ${out.impl} (${Object.keys(IMPLS).join(", ")})`);
  } else {
    throw new Error(`unknown system ${out.system} (chat, sessions, ayepi, xp)`);
  }
  if (!out.url) throw new Error("no server: set REDIS_URL (or pass --url)");
  return out;
}

// ---------------------------------------------------------------------------------------------
// chat.drain_queue: the TS Chat core's real reader.
//
// Where the core drains a thread's queue (chat@4.41.1, node_modules/chat/dist/index.js, class
// Chat): handleQueueOrDebounce() with strategy "queue" takes the lock, and inside withHeldLock()
// runs the handler for the incoming message, then drainQueue(heartbeat, adapter, lockKey).
// drainQueue loops: it checks heartbeat.isOwnershipLost(), then calls state.dequeue(lockKey) until
// it returns null; every entry goes through rehydrateMessage(entry.message, adapter) first (before
// any expiry check, so an entry whose message is not a serialized Message can throw there), then
// the entry is kept only when `Date.now()` is less than or equal to `entry.expiresAt`; otherwise
// it logs "message-expired" and drops it. The comparison is a plain relational one, so an entry
// without `expiresAt` (undefined -> NaN) is never kept: it is counted as expired. If something
// was kept, the last kept message is dispatched to the handlers with context.skipped = the
// earlier kept ones whose threadId equals the last one's (others are dropped silently), and the
// loop dequeues again; an empty round ends the drain. (debounceLoop, the "debounce" strategy,
// uses the same dequeue/compare step.)
//
// This driver calls that very method, Chat#drainQueue, on a real `Chat` configured with
// concurrency "queue", a stub platform adapter and the driver's state adapter. It does not run
// the lock acquisition/trigger-message part (handleQueueOrDebounce): locks are the scenario's
// business through the chat.*_lock ops, and a lock held by another driver would otherwise make
// the core enqueue the trigger message instead of reading. The heartbeat handed to drainQueue never
// reports lost ownership. Date.now is pinned to args.now_ms for the duration of drainQueue (the
// core has no clock parameter) and restored in a finally block. What the handlers receive
// (context.skipped followed by the message) is reported, in that order, as the plain JSON that
// was dequeued (entry.message, snapshotted before the core rehydrates it); the expired count is
// the number of "message-expired" events the core logged. Entries the core popped but neither
// delivered nor counted as expired (the threadId filter) are reported as an extra "dropped": n,
// present only when n > 0.

function makeStubPlatformAdapter(name, userName) {
  return {
    name,
    userName,
    lockScope: "thread",
    persistThreadHistory: false,
    persistMessageHistory: false,
    supportsTurnCancellation: false,
    channelIdFromThreadId(threadId) {
      const s = String(threadId ?? "");
      const i = s.lastIndexOf(":");
      return i > 0 ? s.slice(0, i) : s;
    },
    isDM: () => false,
    async initialize() {},
    async postMessage() { return { id: "stub", threadId: "stub", raw: null }; },
    async editMessage() { return { id: "stub", threadId: "stub", raw: null }; },
    async deleteMessage() {},
    async addReaction() {},
    async removeReaction() {},
    async startTyping() {},
    async fetchMessages() { return { messages: [] }; },
    async fetchThread(threadId) { return { id: threadId, channelId: this.channelIdFromThreadId(threadId), metadata: {} }; },
    encodeThreadId: (d) => String(d),
    decodeThreadId: (id) => id,
    parseMessage: (raw) => raw,
    renderFormatted: () => "",
    async handleWebhook() { return new Response("ok"); },
  };
}

class CoreQueueReader {
  constructor(chatMod, state) {
    this.chatMod = chatMod;
    this.state = state;
    this.expired = 0;
    this.round = null; // { delivered: [] } while a read runs
    this.origin = new WeakMap(); // rehydrated Message -> snapshot of the dequeued entry.message
    this.platform = makeStubPlatformAdapter("interop", "interop-bot");
    const logger = makeLogger((event) => {
      if (event === "message-expired" && this.round) this.expired++;
    });
    const chat = new chatMod.Chat({
      userName: "interop-bot",
      adapters: { interop: this.platform },
      state,
      concurrency: "queue",
      logger,
    });
    const record = async (_thread, message, context) => {
      if (!this.round) return;
      for (const m of [...(context?.skipped ?? []), message]) {
        this.round.delivered.push(this.origin.has(m) ? this.origin.get(m) : JSON.parse(JSON.stringify(m)));
      }
    };
    chat.onSubscribedMessage(record);
    chat.onNewMention(record);
    chat.onNewMessage(/[\s\S]*/, record);
    // Observe (not alter) the core's rehydration so a delivered Message can be reported as the
    // JSON it was dequeued as. The snapshot is taken before the original method runs.
    const original = chat.rehydrateMessage;
    if (typeof original !== "function" || typeof chat.drainQueue !== "function") {
      throw new Error("chat core has no rehydrateMessage/drainQueue: the queue reader needs updating");
    }
    const origin = this.origin;
    const self = this;
    let depth = 0; // rehydrateMessage recurses for replyTo: count top-level calls only
    chat.rehydrateMessage = function (raw, adapter) {
      if (depth === 0 && self.round) self.round.dequeued++;
      let snap;
      if (raw !== null && typeof raw === "object") {
        try { snap = structuredClone(raw); } catch { snap = undefined; }
      } else {
        snap = raw;
      }
      depth++;
      let msg;
      try {
        msg = original.call(this, raw, adapter);
      } finally {
        depth--;
      }
      if (msg && typeof msg === "object" && !origin.has(msg)) origin.set(msg, snap);
      return msg;
    };
    this.chat = chat;
  }

  async read(threadId, now) {
    const lockKey = await this.chat.getLockKey(this.platform, threadId);
    const heartbeat = { isOwnershipLost: () => false, stop: async () => {} };
    this.expired = 0;
    this.round = { delivered: [], dequeued: 0 };
    const realNow = Date.now;
    const pin = Number.isFinite(now);
    if (pin) Date.now = () => now;
    try {
      await this.chat.drainQueue(heartbeat, this.platform, lockKey);
      const { delivered, dequeued } = this.round;
      const result = { delivered, expired: this.expired };
      // Entries the core popped and neither handed to a handler nor logged as expired (the
      // threadId filter on context.skipped). Reported only when there are any, so the
      // contract's two-field shape holds in the usual case.
      const dropped = dequeued - delivered.length - this.expired;
      if (dropped > 0) result.dropped = dropped;
      return result;
    } finally {
      if (pin) Date.now = realNow;
      this.round = null;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Requests.

// The operations: the rows of the core's Chat table, from the crossredis package
// (chatOperations(): whichever library is under test, the table is what defines the operations).
// Op "chat.<name>" calls the state adapter's method `wire` (the upstream StateAdapter's name,
// which crossredis's adapter shares) with the table's arguments in its order, and reports its
// result by the row's result kind; a new row needs no code here. The one composite op is
// chat.drain_queue (the TS core's reader, above).

const isJsonArg = (name) => name === "json" || name.endsWith("_json");
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

// How the upstream StateAdapter interface (chat@4.41) takes the table's arguments, by their names
// (never by operation): thread_id and token are a Lock (expiresAt is client-side bookkeeping,
// never sent), a message with its times a QueueEntry, an entry's stored bytes the
// ReliableQueueEntry that crossredis's ack takes.
const GROUPS = [
  { names: ["thread_id", "token"], make: (threadId, token) => ({ threadId, token, expiresAt: 0 }) },
  {
    names: ["message_json", "enqueued_at_ms", "expires_at_ms"],
    make: (message, enqueuedAt, expiresAt) => ({ message, enqueuedAt, expiresAt }),
  },
  { names: ["raw"], make: (raw) => ({ raw: Buffer.from(raw, "utf8") }) },
];

// The request's arguments for a row, as the method's parameters. Each is required (any JSON for
// a JSON argument, a string for text and bytes, a number for int), except the int arguments
// after `json`: a stored value's options (ttl_ms, max_length), absent, null or 0 meaning none
// (undefined), as upstream's optional parameters: one is positional (set(key, value, ttlMs?)),
// several are one options object with their camelCase names (appendToList(key, value,
// {maxLength?, ttlMs?})).
function badRequest(message) {
  return new RequestError("BadRequest", message);
}

function parameters(row, a) {
  const values = [];
  const options = [];
  let afterValue = false;
  for (const { name, kind } of row.args) {
    const v = a[name];
    if (afterValue && kind === "int") {
      if (v !== undefined && v !== null && typeof v !== "number") throw badRequest(`args.${name} must be a number`);
      options.push([camel(name), v > 0 ? v : undefined]);
      continue;
    }
    if (!(name in a)) throw badRequest(`args.${name} is required`);
    if (isJsonArg(name)) afterValue = name === "json";
    else if (kind === "int" && typeof v !== "number") throw badRequest(`args.${name} must be a number`);
    else if (kind !== "int" && typeof v !== "string") throw badRequest(`args.${name} must be a string`);
    values.push([name, v]);
  }
  const out = [];
  for (let i = 0; i < values.length;) {
    const g = GROUPS.find((g) => g.names.every((n, j) => values[i + j]?.[0] === n));
    if (g) {
      out.push(g.make(...values.slice(i, i + g.names.length).map(([, v]) => v)));
      i += g.names.length;
    } else {
      out.push(values[i++][1]);
    }
  }
  if (options.length === 1) out.push(options[0][1]);
  else if (options.length > 1) out.push(Object.fromEntries(options.filter(([, v]) => v !== undefined)));
  return out;
}

// What the method returned, as JSON by the row's result kind (interop/CONTRACT.md). A method that
// returns nothing (releaseLock is Promise<void> upstream and in crossredis) gives null.
function resultJson(kind, v) {
  if (kind === "status" || v === undefined || v === null) return null;
  switch (kind) {
    case "bool":
      return !!v;
    case "lock":
      return { token: v.token, expires_at: v.expiresAt };
    case "entry": {
      const out = { message: v.message, enqueued_at: v.enqueuedAt ?? null, expires_at: v.expiresAt ?? null };
      if (Buffer.isBuffer(v.raw)) out.raw = v.raw.toString("utf8"); // crossredis's dequeueReliable
      return out;
    }
    default:
      return v; // integer, value, list: as the library returned them
  }
}

function makeHandlers(state, reader, operations, library) {
  const handlers = {};
  for (const row of operations) {
    handlers[`chat.${row.name}`] = async (a) => {
      if (typeof state[row.wire] !== "function") {
        throw new RequestError("Unsupported", `${library} has no method ${row.wire}`);
      }
      return resultJson(row.result, await state[row.wire](...parameters(row, a)));
    };
  }
  const composite = {
    async "chat.drain_queue"(a) {
      if (typeof a.thread_id !== "string") throw badRequest("args.thread_id must be a string");
      const now = a.now_ms ?? Date.now();
      if (typeof now !== "number") throw badRequest("args.now_ms must be a number");
      return await reader.read(a.thread_id, now);
    },
  };
  for (const name of Object.keys(composite)) {
    if (Object.hasOwn(handlers, name)) throw new Error(`composite op ${name} is a row of the Chat table`);
  }
  return { ...handlers, ...composite };
}

// ---------------------------------------------------------------------------------------------
// toolhive sessions (--system sessions): the protocol of the Go drivers (interop/CONTRACT.md, "Go
// drivers (toolhive sessions)"; interop/drivers/go/lib/sessiondriver). The rows of session.def from
// the table the crossredis addon exposes (xr_js_session_ops, which sessions.ts runs too), as
// "session.<name>", each calling crossredis's RedisStorage method `wire` (data_* rows: the
// RedisSessionDataStorage method, `dataLoad` is its `load`), plus session.delete_expired
// (toolhive's no-op). Arguments by name: session_json (a session: an object or its text),
// data_json (an object of strings or its text), before (RFC 3339), any other a string.

const SESSION_IMPLS = new Set(["ts-crossredis"]);
const SESSION_COMPOSITE = "session.delete_expired";
const SESSION_FIELDS = ["id", "type", "created_at", "updated_at", "data", "metadata"];
// Go's time.RFC3339Nano as time.Parse reads it (a fraction of any length).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;
const RAW_MARK = `xr-raw-${Math.random().toString(36).slice(2)}`;

/** JSON text written into the response as it is (a session's data: the raw JSON the store read,
 * so a number keeps its digits, as the Go drivers' json.RawMessage). */
class RawJson {
  constructor(text) {
    this.text = compact(text);
  }
}

/** JSON text without the whitespace between its tokens (Go's json.Compact, HTML escaping aside). */
function compact(text) {
  let out = "";
  let inString = false;
  let escaped = false;
  for (const ch of text) {
    if (inString) {
      out += ch;
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
      out += ch;
    } else if (!" \t\n\r".includes(ch)) {
      out += ch;
    }
  }
  return out;
}

const skipWs = (s, i) => {
  while (i < s.length && " \t\n\r".includes(s[i])) i++;
  return i;
};

/** Where the JSON value starting at s[i] ends (s is known to be JSON). */
function valueEnd(s, i) {
  if (s[i] === '"') {
    for (i++; s[i] !== '"'; i += s[i] === "\\" ? 2 : 1);
    return i + 1;
  }
  if (s[i] === "{" || s[i] === "[") {
    for (let depth = 0; ; i++) {
      const c = s[i];
      if (c === '"') i = valueEnd(s, i) - 1;
      else if (c === "{" || c === "[") depth++;
      else if ((c === "}" || c === "]") && --depth === 0) return i + 1;
    }
  }
  let j = i;
  while (j < s.length && !",}] \t\n\r".includes(s[j])) j++;
  return j;
}

/** The members of the JSON object `text` by name, each { value, text } (its exact text), the last
 * of a repeated name (as Go's decoder); null when `text` is JSON but no object. Throws a
 * SyntaxError when it is not JSON. */
function members(text) {
  JSON.parse(text);
  let i = skipWs(text, 0);
  if (text[i] !== "{") return null;
  const out = new Map();
  i = skipWs(text, i + 1);
  while (text[i] !== "}") {
    const keyEnd = valueEnd(text, i);
    const name = JSON.parse(text.slice(i, keyEnd));
    i = skipWs(text, skipWs(text, keyEnd) + 1); // past ':'
    const end = valueEnd(text, i);
    out.set(name, { value: JSON.parse(text.slice(i, end)), text: text.slice(i, end) });
    i = skipWs(text, end);
    if (text[i] === ",") i = skipWs(text, i + 1);
  }
  return out;
}

/** RFC 3339 text as Go's time.Parse(time.RFC3339Nano) takes it (ranges checked as Go does). */
function rfc3339(op, name, text) {
  const m = RFC3339.exec(text);
  let bad = m ? null : "not RFC 3339 text (2006-01-02T15:04:05.999999999Z07:00)";
  if (m) {
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if (month < 1 || month > 12) bad = "month out of range";
    else if (day < 1 || day > days[month - 1]) bad = "day out of range";
    else if (hour > 23 || minute > 59 || second > 59) bad = "time out of range";
    else if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) bad = "time zone offset out of range";
  }
  if (bad) throw badRequest(`${op}: ${name}: parsing time ${JSON.stringify(text)}: ${bad}`);
  return text;
}

const stringMap = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string");

/** A request's arguments by session.def's names, each read by the kind its name tells (as the Go
 * drivers). */
class SessionArgs {
  constructor(op, args, Session) {
    this.op = op;
    this.args = args;
    this.Session = Session;
  }

  value(name) {
    if (name === "session_json") return this.session(name);
    if (name === "data_json") return this.stringMap(name);
    if (name === "before") return new Date(rfc3339(this.op, name, this.text(name)));
    return this.text(name);
  }

  text(name) {
    const v = this.args.get(name)?.value;
    if (typeof v !== "string") throw badRequest(`${this.op}: argument ${JSON.stringify(name)} must be a string`);
    return v;
  }

  /** A JSON argument: the value itself or a string holding its text; { value, text }. */
  jsonArg(name) {
    const a = this.args.get(name);
    if (!a) throw badRequest(`${this.op}: argument ${JSON.stringify(name)} is missing`);
    if (typeof a.value !== "string") return a;
    try {
      return { value: JSON.parse(a.value), text: a.value };
    } catch (err) {
      throw badRequest(`${this.op}: ${name}: not JSON: ${errorMessage(err)}`);
    }
  }

  stringMap(name) {
    const { value } = this.jsonArg(name);
    if (value !== null && !stringMap(value)) throw badRequest(`${this.op}: ${name} must be a JSON object of strings (or null)`);
    return value;
  }

  /** crossredis's Session holding exactly the given values: the times as their RFC 3339 text
   * (nanoseconds, offset), the raw data JSON ("data" absent: none; null: the JSON null), the
   * metadata (null or absent: none). */
  session(name) {
    const given = members(this.jsonArg(name).text);
    if (!given) throw badRequest(`${this.op}: ${name} must be a JSON object`);
    const fields = new Map();
    for (const [k, v] of given) { // Go's decoder: an exact name, else one equal but for case
      const field = SESSION_FIELDS.includes(k) ? k : k.toLowerCase();
      if (!SESSION_FIELDS.includes(field)) throw badRequest(`${this.op}: ${name}: unknown field ${JSON.stringify(k)}`);
      fields.set(field, v);
    }
    const got = (k) => fields.get(k)?.value;
    for (const k of SESSION_FIELDS.slice(0, 4)) {
      if (typeof got(k) !== "string") {
        throw badRequest(`${this.op}: ${name}: a session needs "id", "type", "created_at" and "updated_at" (strings); ${k} is ${got(k) === null ? "null" : typeof got(k)}`);
      }
    }
    const meta = got("metadata");
    if (meta !== undefined && meta !== null && !stringMap(meta)) {
      throw badRequest(`${this.op}: ${name}: metadata must be an object of strings (or null)`);
    }
    return new this.Session({
      id: got("id"),
      type: got("type"),
      createdAt: rfc3339(this.op, `${name}: created_at`, got("created_at")),
      updatedAt: rfc3339(this.op, `${name}: updated_at`, got("updated_at")),
      dataText: fields.get("data")?.text,
      metadata: { ...(meta ?? {}) },
    });
  }
}

/** A loaded Session as the Go drivers answer it: the times as the exact texts the store read (Go's
 * Format(time.RFC3339Nano) when Go wrote them), "data" only when the session holds some (a stored
 * null included), "metadata" always an object. */
function sessionOut(s) {
  const out = { id: s.id, type: s.type, created_at: s.createdAtText, updated_at: s.updatedAtText };
  const data = s.dataText;
  if (data !== undefined) out.data = new RawJson(data);
  out.metadata = { ...(s.metadata ?? {}) };
  return out;
}

/** The session operations over crossredis's two stores, from the addon's table of session.def. */
function sessionHandlers(crossredis, native, storage, data) {
  const kinds = new Map(["status", "bool", "session", "map"].map((k) => [native[`XR_RESULT_${k.toUpperCase()}`], k]));
  const handlers = {};
  for (const row of native.xr_js_session_ops(null)) {
    const kind = kinds.get(row.result);
    if (!kind) throw new Error(`session.def row ${row.name}: result kind ${row.result} unknown to the driver`);
    const [store, method] = row.name.startsWith("data_")
      ? [data, row.wire.slice(4, 5).toLowerCase() + row.wire.slice(5)]
      : [storage, row.wire];
    if (typeof store[method] !== "function") throw new Error(`crossredis has no ${store.constructor.name}.${method} (session.def row ${row.name})`);
    handlers[`session.${row.name}`] = async (a) => {
      const v = await store[method](...row.args.map(({ name }) => a.value(name)));
      if (kind === "status") return null;
      if (kind === "bool") return !!v;
      if (kind === "session") return sessionOut(v);
      return v; // map: the object, null for Go's nil map
    };
  }
  if (Object.hasOwn(handlers, SESSION_COMPOSITE)) throw new Error(`${SESSION_COMPOSITE} is a row of session.def`);
  handlers[SESSION_COMPOSITE] = async (a) => {
    await storage.deleteExpired(a.value("before")); // toolhive's no-op
    return null;
  };
  return handlers;
}

/** emit() for a response that may hold RawJson (written into the line as it is). */
function emitRaw(obj) {
  const raws = [];
  const line = JSON.stringify(obj, (_k, v) => {
    if (!(v instanceof RawJson)) return v;
    raws.push(v.text);
    return `${RAW_MARK}-${raws.length - 1}`;
  });
  process.stdout.write(raws.reduce((l, text, i) => l.replace(JSON.stringify(`${RAW_MARK}-${i}`), () => text), line) + "\n");
}

async function handleSessionLine(line, handlers, crossredis, secrets) {
  let id = null;
  try {
    let req;
    try {
      req = members(line);
    } catch (err) {
      throw badRequest(`not a JSON request: ${errorMessage(err)}`);
    }
    if (!req) throw badRequest("not a JSON request: a request is a JSON object");
    id = req.get("id")?.value ?? null;
    const op = req.get("op")?.value ?? "";
    if (typeof op !== "string") throw badRequest("not a JSON request: op must be a string");
    const args = req.get("args") ?? { value: null, text: "null" };
    if (args.value !== null && (typeof args.value !== "object" || Array.isArray(args.value))) {
      throw badRequest("not a JSON request: args must be a JSON object");
    }
    const fn = Object.hasOwn(handlers, op) ? handlers[op] : null;
    if (!fn) throw new RequestError("UnknownOp", `unknown op ${JSON.stringify(op)}`);
    const result = await fn(new SessionArgs(op, members(args.text) ?? new Map(), crossredis.Session));
    emitRaw({ id, ok: true, result });
  } catch (err) {
    let kind = "Error";
    if (err instanceof RequestError) kind = err.kind;
    else if (err instanceof crossredis.SessionNotFoundError) kind = "SessionNotFound";
    else if (err instanceof crossredis.SessionExistsError) kind = "SessionExists";
    if (DEBUG) console.error(err);
    emitRaw({ id, ok: false, error: { kind, message: scrub(errorMessage(err), secrets) } });
  }
}

async function mainSessions(opts) {
  const secrets = urlSecrets(opts.url);
  let storage;
  let data;
  let handlers;
  let crossredis;
  try {
    ({ mod: crossredis } = await importPackage("crossredis"));
    // the addon's table of session.def (crossredis exports no session table of its own)
    const { native } = requireFromNode("./dist/cjs/native.js");
    const common = { url: opts.url, go: opts.go };
    storage = new crossredis.RedisStorage({ ...common, keyPrefix: opts.sessionPrefix, ttlMs: opts.ttlMs });
    data = new crossredis.RedisSessionDataStorage({ ...common, keyPrefix: opts.dataPrefix, ttlMs: opts.dataTtlMs });
    handlers = sessionHandlers(crossredis, native, storage, data);
    await withTimeout(Promise.all([storage.connect(), data.connect()]), 10000, "connect");
    const { version } = JSON.parse(readFileSync(NODE_PKG_JSON, "utf8"));
    emit({ ready: true, impl: opts.impl, runtime: "typescript",
      library: `crossredis@${version} (node ${process.versions.node}, Go ${storage.go} bytes)` });
  } catch (err) {
    emit({ ready: false, impl: opts.impl, error: scrub(`${errorKind(err)}: ${errorMessage(err)}`, secrets) });
    for (const s of [storage, data]) {
      try { await withTimeout(Promise.resolve(s?.close()), 2000, "close"); } catch {}
    }
    flushAndExit(1);
    return;
  }
  await eachLine((line) => handleSessionLine(line, handlers, crossredis, secrets));
  try {
    await withTimeout(Promise.all([storage.close(), data.close()]), 5000, "close");
  } catch (err) {
    console.error("close failed:", scrub(errorMessage(err), secrets));
  }
  flushAndExit(0);
}

// ---------------------------------------------------------------------------------------------
// ayepi (--system ayepi): CONTRACT.md's "ayepi" operations over crossredis's factories.

async function mainAyepi(opts) {
  const secrets = urlSecrets(opts.url);
  const log = (what, err) => { if (DEBUG) console.error(`${what}:`, scrub(errorMessage(err), secrets)); };
  let client;
  let subscriber;
  let handlers;
  try {
    const { mod: crossredis } = await importPackage("crossredis");
    const { native } = requireFromNode("./dist/cjs/native.js");
    client = crossredis.createClient(opts.url);
    await withTimeout(client.connect(), 10000, "connect");
    // the broker's subscriber, watched for its SUBSCRIBE's answer
    subscriber = client.duplicate();
    const subscribing = new WeakMap();
    const watched = { on: (...a) => subscriber.on(...a), subscribe: (...ch) => subscriber.subscribe(...ch),
      unsubscribe: (...ch) => subscriber.unsubscribe(...ch), duplicate: () => subscriber.duplicate(), publish: (...a) => subscriber.publish(...a) };
    const factories = {
      redisStore: crossredis.redisStore,
      redisCache: crossredis.redisCache,
      redisBroker: (c, o) => {
        let answered;
        const b = crossredis.redisBroker(c, { ...o, subscriber: { ...watched, subscribe: (...ch) => (answered = watched.subscribe(...ch)) } });
        subscribing.set(b, () => answered);
        return b;
      },
      subscribed: async (b) => {
        for (let i = 0; i < 100 && !subscribing.get(b)(); i++) await new Promise((r) => setTimeout(r, 5)); // subscribe() wires on a microtask
        return subscribing.get(b)().then(() => true, () => false);
      },
      envelope: (ch, params, data) => {
        const [, text] = native.xr_ayepi_envelope_write(ch, JSON.stringify(params ?? {}), JSON.stringify(data));
        return text.toString("utf8");
      },
    };
    handlers = makeAyepiHandlers(factories, client, opts, log);
    const { version } = JSON.parse(readFileSync(NODE_PKG_JSON, "utf8"));
    emit({ ready: true, impl: opts.impl, runtime: "typescript", library: `crossredis@${version} (node ${process.versions.node})` });
  } catch (err) {
    emit({ ready: false, impl: opts.impl, error: scrub(`${errorKind(err)}: ${errorMessage(err)}`, secrets) });
    try { await withTimeout(Promise.resolve(client?.close()), 2000, "close"); } catch {}
    flushAndExit(1);
    return;
  }
  await eachLine((line) => handleLine(line, handlers, { secrets, debug: DEBUG }));
  try {
    await withTimeout(Promise.all([client.close(), subscriber.close()]), 5000, "close");
  } catch (err) {
    log("close failed", err);
  }
  flushAndExit(0);
}

// ---------------------------------------------------------------------------------------------
// xp (--system xp): CONTRACT.md's "xp" operations over crossredis's XpBackend.

const XP_COMPOSITES = ["buffer_list_threads", "buffer_clear", "registry_list_all", "registry_clear", "info", "slot_json",
  "slot_pickle", "slot_read"];
// the fields of a slot, as the contract names them, and XpSlotMetadata's names
const XP_FIELDS = { thread_id: "threadId", from_id: "fromId", to_id: "toId", slot_index: "slotIndex", timestamp: "timestamp",
  payload_type: "payloadType", own_name: "ownName", is_self_call: "isSelfCall", usage_instructions: "usageInstructions" };
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function b64Arg(a, name) {
  const v = a[name];
  if (typeof v !== "string" || !BASE64.test(v)) throw badRequest(`args.${name} must be base64 (RFC 4648, padded)`);
  return Buffer.from(v, "base64");
}

const b64 = (v) => (Buffer.isBuffer(v) ? v.toString("base64") : Array.isArray(v) ? v.map(b64) : v);

/** The handlers of the xp table over `backend`, the rows from the addon's table of xp.def. */
function xpHandlers(crossredis, native, backend) {
  const handlers = {};
  for (const row of native.xr_js_xp_ops(null)) {
    if (typeof backend[row.wire] !== "function") throw new Error(`crossredis has no XpBackend.${row.wire} (xp.def row ${row.name})`);
    handlers[`xp.${row.name}`] = async (a) => {
      const values = row.args.map(({ name, kind }) => {
        if (!(name in a)) throw badRequest(`args.${name} is required`);
        if (kind === native.XR_ARG_BYTES) return b64Arg(a, name);
        if (kind === native.XR_ARG_INT) {
          if (!Number.isInteger(a[name])) throw badRequest(`args.${name} must be an integer`);
          return a[name];
        }
        if (typeof a[name] !== "string") throw badRequest(`args.${name} must be a string`);
        return a[name];
      });
      const v = await backend[row.wire](...values);
      return v === undefined ? null : b64(v);
    };
  }
  const slotOf = (a) => {
    const f = a.fields;
    if (typeof f !== "object" || f === null || Array.isArray(f) || !("payload" in f)) {
      throw badRequest("args.fields must be an object with the slot's fields and payload");
    }
    const unknown = Object.keys(f).find((k) => k !== "payload" && !Object.hasOwn(XP_FIELDS, k));
    if (unknown) throw badRequest(`args.fields.${unknown} is not a slot field`);
    const metadata = {};
    for (const [k, camel] of Object.entries(XP_FIELDS)) if (k in f) metadata[camel] = f[k];
    return { payload: f.payload, metadata };
  };
  const composites = {
    buffer_list_threads: () => backend.bufferListThreads(),
    buffer_clear: () => backend.bufferClear().then(() => null),
    registry_list_all: async () => Object.fromEntries(Object.entries(await backend.registryListAll())
      .sort(([x], [y]) => Buffer.compare(Buffer.from(x), Buffer.from(y)))),
    registry_clear: () => backend.registryClear().then(() => null),
    info: async () => {
      const i = await backend.info();
      return { buffer_threads: i.bufferThreads, registry_entries: i.registryEntries, ttl_seconds: i.ttlSeconds };
    },
    slot_json: async (a) => crossredis.encodeJsonSlot(slotOf(a)).toString("base64"),
    slot_pickle: async () => { throw new RequestError("Unsupported", "ts-crossredis writes no pickles (Node never pickles)"); },
    slot_read: async (a) => {
      const { payload, metadata } = crossredis.decodeJsonSlot(b64Arg(a, "slot"));
      const out = {};
      for (const [k, camel] of Object.entries(XP_FIELDS)) out[k] = metadata[camel];
      return { ...out, payload };
    },
  };
  for (const name of XP_COMPOSITES) {
    if (Object.hasOwn(handlers, `xp.${name}`)) throw new Error(`the composite xp.${name} names a row of xp.def`);
    handlers[`xp.${name}`] = composites[name];
  }
  return handlers;
}

async function mainXp(opts) {
  const secrets = urlSecrets(opts.url);
  let backend;
  let handlers;
  try {
    const { mod: crossredis } = await importPackage("crossredis");
    const { native } = requireFromNode("./dist/cjs/native.js");
    backend = crossredis.createXpBackend(opts.url, { prefix: opts.prefix, ttl: opts.ttl });
    handlers = xpHandlers(crossredis, native, backend);
    await withTimeout(backend.connect(), 10000, "connect");
    const { version } = JSON.parse(readFileSync(NODE_PKG_JSON, "utf8"));
    emit({ ready: true, impl: opts.impl, runtime: "typescript", library: `crossredis@${version} (node ${process.versions.node})` });
  } catch (err) {
    emit({ ready: false, impl: opts.impl, error: scrub(`${errorKind(err)}: ${errorMessage(err)}`, secrets) });
    try { await withTimeout(Promise.resolve(backend?.close()), 2000, "close"); } catch {}
    flushAndExit(1);
    return;
  }
  await eachLine((line) => handleLine(line, handlers, { secrets, debug: DEBUG }));
  try {
    await withTimeout(backend.close(), 5000, "close");
  } catch (err) {
    console.error("close failed:", scrub(errorMessage(err), secrets));
  }
  flushAndExit(0);
}

// ---------------------------------------------------------------------------------------------
// Main.

async function main() {
  // Never die on a stray rejection or exception from a library's background work.
  process.on("unhandledRejection", (err) => console.error("unhandledRejection:", err));
  process.on("uncaughtException", (err) => console.error("uncaughtException:", err));
  process.stdout.on("error", () => process.exit(0)); // reader went away

  let opts;
  let state;
  let cluster = null; // { client, library, close } when an upstream adapter runs on a cluster client
  let impl = null;
  let handlers;
  try {
    opts = parseArgv(process.argv.slice(2));
    impl = opts.impl;
    if (opts.system === "sessions") return await mainSessions(opts);
    if (opts.system === "ayepi") return await mainAyepi(opts);
    if (opts.system === "xp") return await mainXp(opts);
    const spec = IMPLS[opts.impl];
    const { mod, library } = await importPackage(spec.pkg);
    const { mod: chatMod } = await importPackage("chat");
    const { mod: crossredis } = await importPackage("crossredis");
    const factory = mod[spec.factory];
    if (typeof factory !== "function") throw new Error(`${spec.pkg} has no ${spec.factory}`);
    const clusterUrl = parseClusterUrl(opts.url);
    let shown = library;
    if (clusterUrl && spec.cluster) {
      cluster = await withTimeout(spec.cluster(clusterUrl), 10000, "cluster client connect");
      shown = `${library} over ${cluster.library}`;
      state = factory({ client: cluster.client, keyPrefix: opts.prefix, logger: makeLogger() });
    } else {
      const layout = opts.layout === undefined ? {} : { layout: opts.layout };
      state = factory({ url: opts.url, keyPrefix: opts.prefix, logger: makeLogger(), ...layout });
    }
    await withTimeout(state.connect(), clusterUrl ? 5000 : 10000, "connect");
    const reader = new CoreQueueReader(chatMod, state);
    handlers = makeHandlers(state, reader, crossredis.chatOperations(), library);
    emit({ ready: true, impl: opts.impl, runtime: "typescript", library: shown });
  } catch (err) {
    emit({ ready: false, impl, error: `${errorKind(err)}: ${errorMessage(err)}` });
    try { await withTimeout(Promise.resolve(state?.disconnect?.()), 2000, "disconnect"); } catch {}
    try { await withTimeout(Promise.resolve(cluster?.close()), 2000, "cluster client close"); } catch {}
    flushAndExit(1);
    return;
  }

  await eachLine((line) => handleLine(line, handlers, { debug: DEBUG }));
  try {
    await withTimeout(Promise.resolve(state.disconnect()), 5000, "disconnect");
    if (cluster) await withTimeout(Promise.resolve(cluster.close()), 5000, "cluster client close");
  } catch (err) {
    console.error("disconnect failed:", err);
  }
  flushAndExit(0);
}

main().catch((err) => {
  console.error("fatal:", err);
  flushAndExit(1);
});
