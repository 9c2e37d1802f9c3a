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
// `queue.read` runs the real `chat` core (Chat#drainQueue, see readQueue below).

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
  "ts-node-redis": { pkg: "@chat-adapter/state-redis", factory: "createRedisState" },
  "ts-ioredis": { pkg: "@chat-adapter/state-ioredis", factory: "createIoRedisState" },
  "ts-crossredis": { pkg: "crossredis", factory: "createIoRedisState" },
};

// ---------------------------------------------------------------------------------------------
// Logging: the adapters and the Chat core get a silent logger. The core's logger additionally
// counts the "message-expired" events drainQueue emits (that is how queue.read learns how many
// entries the core itself dropped as expired, without re-implementing the check).

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
// queue.read: the TS Chat core's real reader.
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
// business through the lock.* ops, and a lock held by another driver would otherwise make the
// core enqueue the trigger message instead of reading. The heartbeat handed to drainQueue never
// reports lost ownership. Date.now is pinned to args.now for the duration of drainQueue (the
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

function need(args, name, type) {
  if (!(name in args)) throw new RequestError("BadRequest", `missing args.${name}`);
  const v = args[name];
  if (type === "string" && typeof v !== "string") throw new RequestError("BadRequest", `args.${name} must be a string`);
  if (type === "number" && typeof v !== "number") throw new RequestError("BadRequest", `args.${name} must be a number`);
  return v;
}

function optNum(args, name) {
  const v = args[name];
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number") throw new RequestError("BadRequest", `args.${name} must be a number`);
  return v;
}

function makeHandlers(state, reader) {
  return {
    async "lock.acquire"(a) {
      const lock = await state.acquireLock(need(a, "thread", "string"), need(a, "ttl_ms", "number"));
      if (!lock) return null;
      return { thread: lock.threadId, token: lock.token, expires_at: lock.expiresAt };
    },
    async "lock.release"(a) {
      await state.releaseLock({
        threadId: need(a, "thread", "string"),
        token: need(a, "token", "string"),
        expiresAt: optNum(a, "expires_at"),
      });
      return null;
    },
    async "lock.extend"(a) {
      const lock = {
        threadId: need(a, "thread", "string"),
        token: need(a, "token", "string"),
        expiresAt: optNum(a, "expires_at"),
      };
      return !!(await state.extendLock(lock, need(a, "ttl_ms", "number")));
    },
    async "lock.force_release"(a) {
      await state.forceReleaseLock(need(a, "thread", "string"));
      return null;
    },
    async "cache.set"(a) {
      need(a, "value");
      const ttl = optNum(a, "ttl_ms");
      await state.set(need(a, "key", "string"), a.value, ttl > 0 ? ttl : undefined);
      return null;
    },
    async "cache.get"(a) {
      const v = await state.get(need(a, "key", "string"));
      return v === undefined ? null : v;
    },
    async "cache.set_if_not_exists"(a) {
      need(a, "value");
      const ttl = optNum(a, "ttl_ms");
      return !!(await state.setIfNotExists(need(a, "key", "string"), a.value, ttl > 0 ? ttl : undefined));
    },
    async "cache.delete"(a) {
      await state.delete(need(a, "key", "string"));
      return null;
    },
    async "list.append"(a) {
      need(a, "value");
      const maxLength = optNum(a, "max_length");
      const ttl = optNum(a, "ttl_ms");
      const options = {};
      if (maxLength > 0) options.maxLength = maxLength;
      if (ttl > 0) options.ttlMs = ttl;
      await state.appendToList(need(a, "key", "string"), a.value, options);
      return null;
    },
    async "list.get"(a) {
      return await state.getList(need(a, "key", "string"));
    },
    async "sub.subscribe"(a) {
      await state.subscribe(need(a, "thread", "string"));
      return null;
    },
    async "sub.unsubscribe"(a) {
      await state.unsubscribe(need(a, "thread", "string"));
      return null;
    },
    async "sub.is_subscribed"(a) {
      return !!(await state.isSubscribed(need(a, "thread", "string")));
    },
    async "queue.enqueue"(a) {
      need(a, "message");
      const entry = {
        message: a.message,
        enqueuedAt: need(a, "enqueued_at", "number"),
        expiresAt: need(a, "expires_at", "number"),
      };
      return await state.enqueue(need(a, "thread", "string"), entry, optNum(a, "max_size"));
    },
    async "queue.read"(a) {
      const thread = need(a, "thread", "string");
      const now = a.now === undefined || a.now === null ? Date.now() : need(a, "now", "number");
      return await reader.read(thread, now);
    },
    async "queue.depth"(a) {
      return await state.queueDepth(need(a, "thread", "string"));
    },
  };
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
  let impl = null;
  let handlers;
  try {
    opts = parseArgv(process.argv.slice(2));
    impl = opts.impl;
    const spec = IMPLS[opts.impl];
    const { mod, library } = await importPackage(spec.pkg);
    const { mod: chatMod } = await importPackage("chat");
    const factory = mod[spec.factory];
    if (typeof factory !== "function") throw new Error(`${spec.pkg} has no ${spec.factory}`);
    state = factory({ url: opts.url, keyPrefix: opts.prefix, logger: makeLogger() });
    await withTimeout(state.connect(), 10000, "connect");
    const reader = new CoreQueueReader(chatMod, state);
    handlers = makeHandlers(state, reader);
    emit({ ready: true, impl: opts.impl, runtime: "typescript", library });
  } catch (err) {
    emit({ ready: false, impl, error: `${errorKind(err)}: ${errorMessage(err)}` });
    try { await withTimeout(Promise.resolve(state?.disconnect?.()), 2000, "disconnect"); } catch {}
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
  } catch (err) {
    console.error("disconnect failed:", err);
  }
  flushAndExit(0);
}

main().catch((err) => {
  console.error("fatal:", err);
  flushAndExit(1);
});
