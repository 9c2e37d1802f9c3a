#!/usr/bin/env node
// TypeScript-runtime driver of the interop contract (interop/CONTRACT.md).
//
//   REDIS_URL=redis://127.0.0.1:PORT node interop/drivers/ts_driver.mjs \
//        --impl ts-node-redis|ts-ioredis|ts-crossredis [--prefix PREFIX]
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

import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createInterface } from "node:readline";

// Keep stdout for the protocol: a library that logs through console.log/info/debug goes to stderr.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

const NODE_PKG_JSON = fileURLToPath(new URL("../../node/package.json", import.meta.url));
const NODE_PKG_DIR = dirname(NODE_PKG_JSON);
const requireFromNode = createRequire(NODE_PKG_JSON);

// ---------------------------------------------------------------------------------------------
// Package resolution. The upstream packages only export an "import" condition, so
// require.resolve(name) refuses them; use the require lookup paths of ../../node/package.json to
// find the package directory, then read its package.json for the ESM entry and the version.

function findPackageDir(name) {
  if (name === "crossredis") return NODE_PKG_DIR; // the package that ../../node/ itself is
  for (const base of requireFromNode.resolve.paths(name) ?? []) {
    const dir = join(base, name);
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  throw new Error(`package ${name} not found from ${NODE_PKG_DIR}`);
}

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

/** The seeds and credentials of a redis+cluster:// URL, or null for any other URL. */
function parseClusterUrl(url) {
  const m = /^(rediss?)\+cluster:\/\/(?:([^@/?#]*)@)?([^/?#]+)/.exec(url);
  if (!m) return null;
  if (m[1] === "rediss") throw new Error("rediss+cluster:// is not supported by the upstream drivers (plain TCP only)");
  let username;
  let password;
  if (m[2] !== undefined) {
    const i = m[2].indexOf(":");
    username = decodeURIComponent(i < 0 ? m[2] : m[2].slice(0, i)) || undefined;
    password = i < 0 ? undefined : decodeURIComponent(m[2].slice(i + 1));
  }
  const nodes = m[3].split(",").filter(Boolean).map((hp) => {
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hp);
    const [host, port] = v6 ? [v6[1], v6[2]] : [hp.replace(/:\d+$/, ""), /:(\d+)$/.exec(hp)?.[1]];
    return { host, port: port ? Number(port) : 6379 };
  });
  return { username, password, nodes };
}

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

function parseArgv(argv) {
  const out = { prefix: "chat-sdk", url: process.env.REDIS_URL || undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const take = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === "--impl") out.impl = take();
    else if (a === "--url") out.url = take();
    else if (a === "--prefix") out.prefix = take();
    else if (a.startsWith("--impl=")) out.impl = a.slice(7);
    else if (a.startsWith("--url=")) out.url = a.slice(6);
    else if (a.startsWith("--prefix=")) out.prefix = a.slice(9);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.impl) throw new Error("--impl is required");
  if (!IMPLS[out.impl]) throw new Error(`unknown impl ${out.impl} (${Object.keys(IMPLS).join(", ")})`);
  if (!out.url) throw new Error("no server: set REDIS_URL (or pass --url)");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output.

function jsonReplacer(_k, v) {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v === undefined) return null;
  return v;
}

function emit(obj) {
  let line;
  try {
    line = JSON.stringify(obj, jsonReplacer);
  } catch (err) {
    line = JSON.stringify({
      id: obj?.id ?? null,
      ok: false,
      error: { kind: "DriverError", message: `unserializable result: ${err?.message ?? err}` },
    });
  }
  process.stdout.write(line + "\n");
}

function errorKind(err) {
  if (err === null || err === undefined) return "Error";
  if (typeof err === "object" || typeof err === "function") {
    const ctor = err.constructor?.name;
    if (ctor && ctor !== "Object") return ctor;
    if (typeof err.name === "string" && err.name) return err.name;
    return "Error";
  }
  return typeof err;
}

function errorMessage(err) {
  if (err && typeof err === "object" && "message" in err) return String(err.message);
  return String(err);
}

class RequestError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
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

async function handleLine(line, handlers) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    emit({ id: null, ok: false, error: { kind: "BadRequest", message: `not JSON: ${errorMessage(err)}` } });
    return;
  }
  const id = req && typeof req === "object" && "id" in req ? req.id : null;
  try {
    if (!req || typeof req !== "object" || Array.isArray(req)) {
      throw new RequestError("BadRequest", "a request must be a JSON object");
    }
    const op = req.op;
    const fn = typeof op === "string" && Object.hasOwn(handlers, op) ? handlers[op] : null;
    if (!fn) throw new RequestError("UnknownOp", `unknown op ${JSON.stringify(op)}`);
    const args = req.args ?? {};
    if (typeof args !== "object" || Array.isArray(args)) {
      throw new RequestError("BadRequest", "args must be a JSON object");
    }
    const result = await fn(args);
    emit({ id, ok: true, result: result === undefined ? null : result });
  } catch (err) {
    const kind = err instanceof RequestError ? err.kind : errorKind(err);
    if (DEBUG) console.error(err);
    emit({ id, ok: false, error: { kind, message: errorMessage(err) } });
  }
}

// ---------------------------------------------------------------------------------------------
// Main.

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function flushAndExit(code) {
  process.stdout.write("", () => process.exit(code));
}

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
      state = factory({ url: opts.url, keyPrefix: opts.prefix, logger: makeLogger() });
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

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  for await (const raw of rl) {
    const line = raw.trim();
    if (!line) continue;
    await handleLine(line, handlers);
  }
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
