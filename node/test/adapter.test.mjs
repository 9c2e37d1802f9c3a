// The JS layer: the client, the adapters' behaviour beyond the captures (adapter_wire.test.mjs
// checks the bytes), errors, bad input, the event loop, memory. The describes of the adapters'
// behaviour run on each topology (standalone, Sentinel, Cluster: support/topology.mjs); the
// others run their own redis-server. Needs `npm run build` in node/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, spawnRedis, startRedis, startTlsRedis, waitForPort } from "./support/redis.mjs";
import { TOPOLOGY_KINDS, onTopology as on, sharedTopologies } from "./support/topology.mjs";
import * as xr from "../dist/index.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const native = require(join(here, "..", "build", "Release", "crossredis_native.node"));

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };

function recordingLogger() {
  const errors = [];
  return { errors, debug() {}, info() {}, warn() {}, error(m, ...a) { errors.push([m, ...a]); }, child() { return this; } };
}

/** Runs fn while a 1 ms interval ticks; returns fn's result, the tick count and the longest gap. */
async function ticking(fn) {
  let ticks = 0;
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 1);
  try {
    const result = await fn();
    return { result, ticks, maxGap };
  } finally {
    clearInterval(timer);
  }
}

describe("packaging", () => {
  test("ESM and CommonJS give the same classes", () => {
    const cjs = require("../dist/cjs/index.js");
    assert.equal(cjs.RedisStateAdapter, xr.RedisStateAdapter);
    assert.equal(cjs.ConnectionError, xr.ConnectionError);
    for (const name of ["createClient", "createRedisState", "createIoRedisState", "RedisStateAdapter",
      "IoRedisStateAdapter", "Client", "CrossRedisError", "tokenOrigin"]) {
      assert.equal(typeof xr[name], "function", name);
    }
  });

  test("the error classes are the core's table, class for class", () => {
    const table = [];
    for (let i = 0; ; i++) {
      const row = native.xr_error_info_at(i);
      if (!row) break;
      table.push(row);
    }
    assert.ok(table.length >= 16);
    for (const row of table) {
      if (row.code === 0) continue;
      const cls = xr[row.class_name];
      assert.equal(typeof cls, "function", `class ${row.class_name} exported`);
      assert.equal(xr.errorClasses[row.code], cls, `code ${row.code} -> ${row.class_name}`);
      const parent = row.parent_class === "Error" ? xr.CrossRedisError : xr[row.parent_class];
      assert.equal(Object.getPrototypeOf(cls), parent, `${row.class_name} extends ${row.parent_class}`);
      const e = new cls("m");
      assert.ok(e instanceof Error && e instanceof xr.CrossRedisError);
      assert.equal(e.code, row.code);
      assert.equal(e.codeName, row.name);
      assert.equal(e.name, row.class_name);
    }
  });

  test("the TypeScript types fit chat@4.41's StateAdapter (tsc on test/types/state-adapter.ts)", () => {
    const tsc = join(here, "..", "node_modules", "typescript", "bin", "tsc");
    try {
      execFileSync(process.execPath, [tsc, "-p", join(here, "types", "tsconfig.json")], { cwd: join(here, ".."), stdio: "pipe" });
    } catch (e) {
      assert.fail(`tsc: ${e.stdout ?? ""}${e.stderr ?? ""}`);
    }
  });
});

describe("createClient", () => {
  let server;
  before(async () => { server = await startRedis(); });
  after(() => server?.stop());

  test("commands, replies, error replies, one turn's commands as one pipeline", async () => {
    const c = xr.createClient(server.url);
    assert.equal(c.isOpen, false);
    await c.connect();
    assert.equal(c.address, `127.0.0.1:${server.port}`);
    assert.equal(await c.command("SET", "k", Buffer.from("v\u00e4")), "OK");
    assert.equal(await c.command("GET", "k"), "v\u00e4");
    assert.deepEqual(await c.commandBuffers("GET", "k"), Buffer.from("v\u00e4"));
    assert.equal(await c.command("INCRBY", "n", 5), 5);
    assert.equal(await c.command("INCRBY", "n", 2n ** 60n), 2n ** 60n + 5n);
    assert.deepEqual(await c.command("MGET", "k", "missing"), ["v\u00e4", null]);
    await assert.rejects(c.command("INCR", "k"), (e) => e instanceof xr.ResponseError && /not an integer/.test(e.message));
    await assert.rejects(c.command("LPUSH", "k", "x"), xr.WrongTypeError);
    const [a, b] = await Promise.all([c.command("GET", "k"), c.commandBuffers("GET", "k")]);
    assert.equal(a, "v\u00e4");
    assert.deepEqual(b, Buffer.from("v\u00e4"));
    assert.equal(await c.ping(), true);
    await c.close();
    assert.equal(c.isOpen, false);
    await assert.rejects(c.command("PING"), xr.ClientClosedError);
  });

  test("bad options and arguments throw TypeError or RangeError", async () => {
    assert.throws(() => xr.createClient(42), TypeError);
    assert.throws(() => xr.createClient({ poolSize: "8" }), TypeError);
    assert.throws(() => xr.createClient({ db: -1 }), RangeError);
    assert.throws(() => xr.createClient({ tls: { insecure: "yes" } }), TypeError);
    assert.throws(() => xr.createClient({ tls: { caFile: 1 } }), TypeError);
    assert.throws(() => xr.createClient({ ulr: "redis://x" }), /unknown option ulr/);
    const c = xr.createClient(server.url);
    await assert.rejects(c.command(), TypeError);
    await assert.rejects(c.command("SET", "k", {}), /argument 2/);
    await assert.rejects(c.command("SET", "k", null), TypeError);
    await assert.rejects(c.command("SET", "k", NaN), RangeError);
    assert.throws(() => xr.createClient("http://x"), (e) => e instanceof xr.InvalidArgumentError && /scheme/.test(e.message),
      "a bad URL fails at construction");
    await c.close();
  });

  test("a wrong password and a dead address fail with their own errors", async () => {
    const auth = await startRedis(["--requirepass", "s3cret"]);
    try {
      await assert.rejects(xr.createClient({ url: auth.url, password: "nope" }).connect(), xr.AuthenticationError);
      const ok = xr.createClient({ url: auth.url, password: "s3cret" });
      assert.equal(await ok.ping(), true);
      await ok.close();
    } finally {
      auth.stop();
    }
    const port = await freePort();
    await assert.rejects(xr.createClient({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1000 }).connect(),
      (e) => e instanceof xr.ConnectionError && e.message.includes(`127.0.0.1:${port}`) && /refused/i.test(e.message));
  });
});

describe("Chat SDK adapters", () => {
  let server;
  before(async () => { server = await startRedis(); });
  after(() => server?.stop());

  test("upstream's construction rules and defaults", async () => {
    const saved = process.env.REDIS_URL;
    delete process.env.REDIS_URL;
    try {
      assert.throws(() => xr.createRedisState(), /Redis url is required/);
      assert.throws(() => new xr.IoRedisStateAdapter({}), /Redis url is required/);
      process.env.REDIS_URL = server.url;
      const s = xr.createRedisState({ logger: silent });
      await s.connect();
      const lock = await s.acquireLock("t-env", 1000);
      assert.match(lock.token, /^redis_\d{13}_[0-9a-z]{13}$/);
      assert.equal(xr.tokenOrigin(lock.token), "crossredis");
      await s.disconnect();
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL;
      else process.env.REDIS_URL = saved;
    }
    const s = xr.createIoRedisState({ url: server.url, keyPrefix: "", logger: silent });
    await assert.rejects(s.get("x"), /IoRedisStateAdapter is not connected. Call connect\(\) first./);
    await s.connect();
    await s.set("x", { a: 1 });
    const c = s.getClient();
    assert.ok(c instanceof xr.Client);
    assert.equal(await c.command("GET", "chat-sdk:cache:x"), '{"a":1}', 'an empty prefix means "chat-sdk" (TS rule)');
    const lock = await s.acquireLock("t", 1000);
    assert.match(lock.token, /^ioredis_\d{13}_[0-9a-z]{13}$/);
    await s.disconnect();
    await s.disconnect(); // twice is fine
    await assert.rejects(s.get("x"), /not connected/);
  });

  test("the wire options: Python JSON, hex tokens, both queue spellings, a shared client", async () => {
    const client = xr.createClient(server.url);
    const s = xr.createRedisState({ client, keyPrefix: "", keepEmptyPrefix: true, json: "python", tokenSuffix: "hex32",
      queueEntries: "both", logger: silent });
    await s.connect();
    await s.set("v", { foo: "b\u00e4r", n: 1 });
    assert.equal(await client.command("GET", ":cache:v"), '{"foo": "b\\u00e4r", "n": 1}');
    assert.deepEqual(await s.get("v"), { foo: "b\u00e4r", n: 1 });
    const lock = await s.acquireLock("t", 1000);
    assert.match(lock.token, /^redis_\d{13}_[0-9a-f]{32}$/);
    await s.enqueue("t", { message: { text: "hi" }, enqueuedAt: 1700000000000, expiresAt: 1700000090000 }, 10);
    assert.equal(await client.command("LINDEX", ":queue:t", 0),
      '{"message": {"text": "hi"}, "enqueuedAt": 1700000000000, "expiresAt": 1700000090000, "enqueued_at": 1700000000000, "expires_at": 1700000090000}');
    assert.deepEqual(await s.dequeue("t"), { message: { text: "hi" }, enqueuedAt: 1700000000000, expiresAt: 1700000090000 });
    // a Python-port entry (no TS members) reads as a QueueEntry too
    await client.command("RPUSH", ":queue:t", '{"enqueued_at": 5, "expires_at": 6, "message": {"id": "m"}}');
    assert.deepEqual(await s.dequeue("t"), { message: { id: "m" }, enqueuedAt: 5, expiresAt: 6 });
    await s.disconnect();
    assert.equal(client.isOpen, true, "a client given to the adapter stays open");
    await client.close();
  });

  test("wrong argument types reject with TypeError; non-integral numbers too (validation.test.mjs: values)", async () => {
    const s = xr.createRedisState({ url: server.url, logger: silent });
    await s.connect();
    const lock = await s.acquireLock("types", 1000);
    const typeErrors = [
      () => s.subscribe(1), () => s.unsubscribe(null), () => s.isSubscribed({}),
      () => s.acquireLock(1, 1000), () => s.acquireLock("t", "1000"), () => s.releaseLock(null),
      () => s.releaseLock({ threadId: "t" }), () => s.extendLock(lock, "1"), () => s.forceReleaseLock(undefined),
      () => s.get(1), () => s.set(Symbol("k"), 1), () => s.set("k", undefined), () => s.set("k", () => 1),
      () => s.set("k", 1, "10"), () => s.setIfNotExists("k", undefined), () => s.delete([]),
      () => s.appendToList("k", 1, 5), () => s.appendToList("k", 1, { maxLength: "5" }), () => s.getList(false),
      () => s.enqueue("t", null, 10), () => s.enqueue("t", { message: 1, enqueuedAt: "1", expiresAt: 2 }, 10),
      () => s.enqueue("t", { message: 1, enqueuedAt: 1, expiresAt: 2 }, "10"), () => s.dequeue(1), () => s.queueDepth(),
      () => s.acquireLock("t", 1.5), () => s.extendLock(lock, Infinity), () => s.set("k", 1, NaN),
      () => s.acquireLockWait("t", 1000, 0.5), () => s.ack("t", { message: 1 }), () => s.dequeueReliable(null),
    ];
    for (const f of typeErrors) await assert.rejects(f(), TypeError, f.toString());
    await assert.rejects(s.acquireLock("", 1000), (e) => e instanceof xr.InvalidArgumentError && /empty/.test(e.message));
    assert.throws(() => xr.createRedisState({ url: server.url, tokenSuffix: "base64" }), TypeError);
    assert.throws(() => xr.createRedisState({ url: server.url, json: "go" }), TypeError);
    assert.throws(() => xr.createRedisState({ url: server.url, tokenPrefix: 5 }), TypeError);
    assert.throws(() => xr.createRedisState({ client: {} }), TypeError);
    assert.equal(await s.isSubscribed("types"), false, "still usable after bad calls");
    await s.disconnect();
  });

  test("100,000 lock cycles leave memory flat", async (t) => {
    // gc() for steady readings (node --test gives no --expose-gc)
    v8.setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc");
    const s = xr.createIoRedisState({ url: server.url, logger: silent });
    await s.connect();
    const cycles = async (n) => {
      await Promise.all(Array.from({ length: 64 }, async (_, i) => {
        for (let k = i; k < n; k += 64) await s.releaseLock(await s.acquireLock(`mem-${i}`, 30000));
      }));
    };
    await cycles(100000); // warm: pools, arenas and JIT settle
    gc();
    const before = process.memoryUsage();
    await cycles(100000);
    gc();
    const after = process.memoryUsage();
    const mib = (n) => (n / 1048576).toFixed(1);
    t.diagnostic(`RSS ${mib(before.rss)} -> ${mib(after.rss)} MiB, JS heap ${mib(before.heapUsed)} -> ${mib(after.heapUsed)} MiB over 100,000 cycles`);
    assert.ok(after.heapUsed - before.heapUsed < 2 * 1048576, "JS heap flat");
    // malloc arenas of the pool threads may grow once by ~12 MiB; a leak of 250 bytes a cycle is 24 MiB
    assert.ok(after.rss - before.rss < 24 * 1048576, `RSS grew ${mib(after.rss - before.rss)} MiB`);
    await s.disconnect();
  });
});

describe("timeouts and TLS", () => {
  test("a reply that does not come in time rejects with TimeoutError; the adapter goes on", async () => {
    const server = await startRedis();
    const s = xr.createRedisState({ url: server.url, logger: silent, clientOptions: { commandTimeoutMs: 300 } });
    try {
      await s.connect();
      await s.set("k", 1);
      const other = xr.createClient(server.url);
      await other.command("CLIENT", "PAUSE", "1200", "ALL");
      await assert.rejects(s.get("k"), (e) => e instanceof xr.TimeoutError &&
        e.message.includes(`timeout after 300 ms waiting for a reply from 127.0.0.1:${server.port}`));
      // the message says the 300 ms deadline ended the call, not the 1200 ms pause (no clock reading)
      await other.command("CLIENT", "UNPAUSE");
      await other.close();
      for (let i = 0; i < 5; i++) assert.equal(await s.get("k"), 1, "the next calls work (a new connection)");
    } finally {
      await s.disconnect();
      server.stop();
    }
  });

  test("a TLS client: the adapter over rediss:// (driven by the event loop, OpenSSL from node)", async () => {
    const tls = await startTlsRedis();
    try {
      const client = xr.createClient({ url: tls.url, tls: { caFile: tls.caFile } });
      const s = xr.createIoRedisState({ client, logger: silent });
      await s.connect();
      const locks = await Promise.all(Array.from({ length: 20 }, (_, i) => s.acquireLock(`tls-${i}`, 5000)));
      assert.ok(locks.every((l) => l && l.token.startsWith("ioredis_")));
      await s.set("v", { a: "b\u00e4r" });
      assert.deepEqual(await s.get("v"), { a: "b\u00e4r" });
      assert.equal(await client.command("GET", "chat-sdk:cache:v"), '{"a":"b\u00e4r"}');
      await s.disconnect();
      await client.close();
      await assert.rejects(xr.createClient({ url: tls.url, connectTimeoutMs: 2000 }).connect(),
        (e) => e instanceof xr.TLSError && /verify/.test(e.message));
    } finally {
      tls.stop();
    }
  });
});

describe("a server that goes away", () => {
  test("calls reject with a ConnectionError, the process lives, the adapter recovers", async () => {
    const port = await freePort();
    let child = spawnRedis(["--port", String(port), "--bind", "127.0.0.1"]);
    await waitForPort(port, child);
    const logger = recordingLogger();
    const s = xr.createRedisState({ url: `redis://127.0.0.1:${port}`, logger, clientOptions: { connectTimeoutMs: 1000, commandTimeoutMs: 1000 } });
    await s.connect();
    await s.set("k", 1);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const results = await Promise.allSettled([s.get("k"), s.acquireLock("t", 1000), s.queueDepth("t")]);
    for (const r of results) {
      assert.equal(r.status, "rejected");
      assert.ok(r.reason instanceof xr.ConnectionError, String(r.reason));
      assert.match(r.reason.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    }
    assert.ok(logger.errors.length >= 1, "the logger heard of it");
    child = spawnRedis(["--port", String(port), "--bind", "127.0.0.1"]);
    await waitForPort(port, child);
    try {
      assert.equal(await s.get("k"), null, "a fresh server: reconnected, the old value is gone");
      await s.set("k", 2);
      assert.equal(await s.get("k"), 2);
    } finally {
      await s.disconnect();
      child.kill("SIGKILL");
    }
  });

  test("connect() to nothing rejects clearly", async () => {
    const port = await freePort();
    const s = xr.createRedisState({ url: `redis://127.0.0.1:${port}`, logger: silent });
    await assert.rejects(s.connect(), (e) => e instanceof xr.ConnectionError && e.message.includes(`127.0.0.1:${port}`));
    await assert.rejects(s.subscribe("t"), /not connected/);
  });
});

// ---- on each topology: one test body, standalone, Sentinel and Cluster (support/topology.mjs) ----
// Each test writes under a key prefix of its own on the run's shared Sentinel set and Cluster (a
// redis-server of this file's own for standalone); `on` runs a body on one (onTopology).

for (const kind of TOPOLOGY_KINDS) {
  describe(`Chat SDK adapters on ${kind}`, () => {
    test("get, getList, dequeue of values upstream could not parse", () => on(kind, "unparsable", async (t) => {
      const s = xr.createRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent });
      await s.connect();
      const c = t.admin;
      await c.command("SET", t.key("cache:raw"), "not json");
      assert.equal(await s.get("raw"), "not json", "get returns the raw text, as upstream");
      await c.command("RPUSH", t.key("list:bad"), '{"a":1}', "{broken");
      await assert.rejects(s.getList("bad"), SyntaxError, "getList throws on a bad element, as upstream");
      await c.command("RPUSH", t.key("queue:bad"), "{not an entry", '{"message":1,"expiresAt":2}');
      await assert.rejects(s.dequeue("bad"), (e) => e instanceof xr.DataError && e.raw.toString() === "{not an entry",
        "the popped bytes are on the error: nothing lost silently");
      assert.deepEqual(await s.dequeue("bad"), { message: 1, expiresAt: 2 }, "the entries behind it stay queued");
      await c.command("SET", t.key("list:wrong"), "x");
      await assert.rejects(s.appendToList("wrong", 1), (e) => e instanceof xr.WrongTypeError && e.message.includes(t.key("list:wrong")));
      assert.equal(await c.command("GET", t.key("list:wrong")), "x", "nothing stored was lost");
      await s.disconnect();
    }));

    if (kind === "cluster") {
      test("a slow master holds back only the calls on its own node (lanes)", () => on(kind, "lanes", async (t) => {
        const s = xr.createRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent });
        await s.connect();
        try {
          // two threads whose locks are on different masters
          const portOf = async (k) => {
            const slot = await t.admin.command("CLUSTER", "KEYSLOT", k);
            return (await t.admin.command("CLUSTER", "SLOTS")).find(([lo, hi]) => lo <= slot && slot <= hi)[2][1];
          };
          const a = "lane-a";
          let b = null;
          for (let i = 0; b === null; i++) if (await portOf(t.key(`lock:lane-${i}`)) !== await portOf(t.key(`lock:${a}`))) b = `lane-${i}`;
          for (const id of [a, b]) await s.releaseLock(await s.acquireLock(id, 5000)); // both lanes open
          await t.pause(t.key(`lock:${a}`), 300);
          let aDone = false;
          const pa = s.acquireLock(a, 5000).then((l) => { aDone = true; return l; });
          const lb = await s.acquireLock(b, 5000); // pushed in the same turn as a's
          assert.ok(lb, "b's lock");
          assert.equal(aDone, false, "b's master answered while a's was paused: b's call did not wait for a's node");
          assert.ok(await pa, "a's lock, once its master is back");
        } finally {
          await s.disconnect();
        }
      }));
    }

    test("one event-loop turn's operations go to the core as one batch (64 concurrent Promises)", () => on(kind, "batch", async (t) => {
      const s = xr.createRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent });
      await s.connect();
      const calls = [];
      const loader = require("../dist/cjs/native.js"); // the layer calls loader.native.* at call time
      const original = loader.native;
      loader.native = Object.create(original, {
        xr_js_chat_run: { value: (chat, ops, lane) => { calls.push(ops.length); return original.xr_js_chat_run(chat, ops, lane); } },
      });
      try {
        const locks = await Promise.all(Array.from({ length: 64 }, (_, i) => s.acquireLock(`batch-${i}`, 5000)));
        // One turn's operations: one call; on the Cluster one per master (its lane: the node's own
        // connection, so a node that answers first gets its next call at once).
        const turn = (n) => {
          const got = calls.splice(0);
          if (kind === "cluster") {
            assert.equal(got.length, 3, `calls ${got}`);
            assert.equal(got.reduce((a, b) => a + b, 0), n);
          } else {
            assert.deepEqual(got, [n]);
          }
        };
        turn(64);
        assert.ok(locks.every((l) => l && l.threadId.startsWith("batch-")));
        assert.equal((await t.keys("lock:*")).length, 64);
        if (kind === "cluster") assert.equal(await t.mastersHolding("lock:*"), 3, "one batch, split over the masters");
        await Promise.all(locks.map((l) => s.releaseLock(l)));
        turn(64);
        assert.deepEqual(await t.keys("lock:*"), []);
        // two sequential awaits: two calls of one operation (on its own node's lane); their order is kept
        await s.set("order", 1);
        assert.equal(await s.get("order"), 1);
        assert.deepEqual(calls.splice(0), [1, 1]);
        // 64 concurrent acquire+release loops keep coalescing (per master on the Cluster)
        await Promise.all(Array.from({ length: 64 }, async (_, i) => {
          for (let k = 0; k < 10; k++) await s.releaseLock(await s.acquireLock(`loop-${i}`, 5000));
        }));
        assert.equal(calls.reduce((a, b) => a + b, 0), 64 * 20);
        const most = kind === "cluster" ? 120 : 40;
        assert.ok(calls.length <= most, `1280 operations in ${calls.length} calls`);
        assert.deepEqual(await t.keys("lock:*"), []);
      } finally {
        loader.native = original;
      }
      await s.disconnect();
    }));

    test("closing a client that adapters share waits for their calls; later calls reject", () => on(kind, "close", async (t) => {
      const client = xr.createClient(t.url);
      const a = xr.createRedisState({ client, keyPrefix: t.prefix, logger: silent });
      const b = xr.createIoRedisState({ client, keyPrefix: t.prefix, logger: silent });
      await a.connect();
      await b.connect();
      const calls = [];
      for (let i = 0; i < 300; i++) {
        calls.push(a.set(`close-${i}`, i));
        calls.push(b.acquireLock(`close-${i}`, 5000));
      }
      calls.push(b.acquireLockWait("close-wait", 5000, 200));
      const outcomes = Promise.allSettled(calls);
      await new Promise((r) => setImmediate(r)); // the first batches are on their way
      await client.close(); // while they are in flight
      const settled = await outcomes;
      for (const s of settled) {
        assert.ok(s.status === "fulfilled" || s.reason instanceof xr.ClientClosedError, String(s.reason));
      }
      const done = settled.filter((s) => s.status === "fulfilled").length;
      assert.ok(done >= 2, `the calls in flight finished (${done})`);
      assert.equal(await t.admin.command("GET", t.key("cache:close-0")), "0", "the first batch ran whole");
      await assert.rejects(a.get("close-1"), xr.ClientClosedError);
      await assert.rejects(b.acquireLockWait("x", 1000, 10), xr.ClientClosedError);
      await a.disconnect();
      await b.disconnect();
    }));

    test("beyond upstream: acquireLockWait, and releaseLockIfQueueEmpty (CrossSlotError on a Cluster unless hash-tagged)",
      () => on(kind, "wait", async (t) => {
        const a = xr.createRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent });
        const b = xr.createIoRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent });
        await a.connect();
        await b.connect();
        const held = await a.acquireLock("w", 30000);
        setTimeout(() => void a.releaseLock(held), 300);
        const t0 = Date.now();
        const got = await b.acquireLockWait("w", 30000, 5000);
        assert.ok(got && got.token.startsWith("ioredis_"));
        assert.ok(Date.now() - t0 >= 250);
        assert.equal(await a.acquireLockWait("w", 30000, 200), null, "gives up after waitMs");
        await b.enqueue("w", { message: "m", enqueuedAt: Date.now(), expiresAt: Date.now() + 90000 }, 10);
        if (kind === "cluster") { // upstream's layout: the lock and the queue in different slots
          await assert.rejects(b.releaseLockIfQueueEmpty(got), (e) => e instanceof xr.CrossSlotError &&
            e instanceof xr.ResponseError && e.message.includes(t.key("lock:w")) && e.message.includes(t.key("queue:w")));
          assert.equal(await t.admin.command("GET", t.key("lock:w")), got.token, "nothing was sent");
          await a.disconnect();
          await b.disconnect();
          const tagged = await t.tagged();
          const c = xr.createIoRedisState({ url: tagged.url, keyPrefix: tagged.prefix, logger: silent });
          await c.connect();
          const lock = await c.acquireLock("w", 30000);
          await c.enqueue("w", { message: "m", enqueuedAt: Date.now(), expiresAt: Date.now() + 90000 }, 10);
          assert.deepEqual(await c.releaseLockIfQueueEmpty(lock), { released: false, depth: 1 });
          await c.dequeue("w");
          assert.deepEqual(await c.releaseLockIfQueueEmpty(lock), { released: true, depth: 0 });
          assert.equal(await tagged.admin.command("EXISTS", tagged.key("lock:w")), 0);
          await c.disconnect();
          return;
        }
        assert.deepEqual(await b.releaseLockIfQueueEmpty(got), { released: false, depth: 1 });
        await b.dequeue("w");
        assert.deepEqual(await b.releaseLockIfQueueEmpty(got), { released: true, depth: 0 });
        assert.equal(await b.queueDepth("w"), 0);
        await a.disconnect();
        await b.disconnect();
      }));

    test("the event loop keeps ticking during a 2 s blocking acquire and 10,000 operations", (tc) => on(kind, "ticks", async (t) => {
      const s = xr.createRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent });
      await s.connect();
      await s.acquireLock("busy", 30000);
      const wait = await ticking(() => s.acquireLockWait("busy", 30000, 2000));
      assert.equal(wait.result, null);
      // behaviour, not a rate a loaded machine could miss: a call that blocked the event loop would
      // let no tick through before it returned
      assert.ok(wait.ticks > 0, `${wait.ticks} ticks of a 1 ms timer during a 2 s wait`);
      const ops = [];
      for (let i = 0; i < 10000; i++) ops.push(s.set(`k${i % 100}`, { i }));
      const many = await ticking(() => Promise.all(ops));
      assert.equal(many.result.length, 10000);
      assert.ok(many.ticks > 0, `${many.ticks} ticks while 10,000 operations ran`);
      assert.deepEqual(await s.get("k99"), { i: 9999 });
      tc.diagnostic(`${kind}: blocking acquire: ${wait.ticks} ticks, longest gap ${wait.maxGap.toFixed(1)} ms; ` +
        `10,000 operations: ${many.ticks} ticks, longest gap ${many.maxGap.toFixed(1)} ms`);
      await s.disconnect();
    }));

    test("reliable dequeue: CrossSlotError on a Cluster under upstream's layout; elsewhere, and hash-tagged, it works",
      () => on(kind, "reliable", async (top) => {
        if (kind === "cluster") {
          const plain = xr.createRedisState({ url: top.url, keyPrefix: top.prefix, logger: silent });
          await plain.connect();
          await plain.enqueue("t", { message: 1, enqueuedAt: 1, expiresAt: 1e13 }, 0);
          const [d, r, depth, ack] = await Promise.allSettled([plain.dequeueReliable("t"), plain.requeueProcessing("t"),
            plain.queueDepth("t"), plain.ack("t", { message: 1, enqueuedAt: 1, expiresAt: 2, raw: Buffer.from("x") })]); // one batch
          for (const x of [d, r]) {
            assert.ok(x.status === "rejected" && x.reason instanceof xr.CrossSlotError &&
              x.reason.message.includes(top.key("queue-processing:t")), String(x.reason));
          }
          assert.deepEqual(depth, { status: "fulfilled", value: 1 }, "nothing was popped; the single-key call ran");
          assert.deepEqual(ack, { status: "fulfilled", value: false }, "ack touches the processing list alone");
          await plain.disconnect();
        }
        const t = kind === "cluster" ? await top.tagged() : top;
        const s = xr.createRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent });
        await s.connect();
        const c = t.admin;
        for (let i = 0; i < 3; i++) await s.enqueue("t", { message: { m: i }, enqueuedAt: 1, expiresAt: 1e13 + i }, 0);
        const e = await s.dequeueReliable("t");
        assert.deepEqual({ ...e, raw: undefined }, { message: { m: 0 }, enqueuedAt: 1, expiresAt: 1e13, raw: undefined });
        assert.equal(e.raw.toString(), '{"message":{"m":0},"enqueuedAt":1,"expiresAt":10000000000000}');
        assert.deepEqual(await c.commandBuffers("LRANGE", t.key("queue-processing:t"), 0, -1), [e.raw]);
        assert.equal(await s.queueDepth("t"), 2);
        assert.equal(await s.ack("t", e), true);
        assert.equal(await s.ack("t", e), false, "acknowledged already");
        const [a, b, none, depth] = await Promise.all([s.dequeueReliable("t"), s.dequeueReliable("t"), s.dequeueReliable("t"),
          s.queueDepth("t")]); // one batch
        assert.deepEqual([a.message, b.message, none, depth], [{ m: 1 }, { m: 2 }, null, 0]);
        assert.equal(await s.requeueProcessing("t"), 2, "a consumer that died: its entries go back");
        assert.deepEqual([(await s.dequeue("t")).message, (await s.dequeue("t")).message], [{ m: 1 }, { m: 2 }], "in order");
        await assert.rejects(s.ack("t", { message: 1, enqueuedAt: 1, expiresAt: 2 }), TypeError);
        await c.command("RPUSH", t.key("queue:t"), "{not an entry");
        await assert.rejects(s.dequeueReliable("t"), (e2) => e2 instanceof xr.DataError && e2.raw.toString() === "{not an entry");
        assert.equal(await c.command("LLEN", t.key("queue-processing:t")), 1, "a bad entry stays in the processing list");
        // a big non-ASCII entry: the message is decoded as text (off the JS thread), the raw bytes stay bytes
        const text = "zäh €".repeat(80000);
        await s.enqueue("big", { message: { text }, enqueuedAt: 1, expiresAt: 1e13 }, 0);
        const big = await s.dequeueReliable("big");
        assert.equal(big.message.text, text);
        const stored = await c.commandBuffers("LRANGE", t.key("queue-processing:big"), 0, -1);
        assert.ok(Buffer.isBuffer(big.raw) && big.raw.equals(stored[0]), "raw is the stored bytes, not a re-encoding");
        assert.equal(await s.ack("big", big), true);
        await s.disconnect();
      }));

    test("a plain dequeue whose reply was lost says the entry may be lost", () => on(kind, "lost", async (t) => {
      const s = xr.createRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent, clientOptions: { commandTimeoutMs: 200 } });
      await s.connect();
      await s.enqueue("lost", { message: 1, enqueuedAt: 1, expiresAt: 2 }, 0);
      await t.pause(t.key("queue:lost"), 400, "WRITE");
      await assert.rejects(s.dequeue("lost"), (e) => e instanceof xr.TimeoutError &&
        e.message.includes(t.key("queue:lost")) && e.message.includes("may have popped an entry") &&
        e.message.includes("dequeue_reliable"));
      await t.unpause(t.key("queue:lost"));
      await s.disconnect();
    }));

    test("extendLock after release: false, and the lock is not re-created", () => on(kind, "extend", async (t) => {
      for (const make of [xr.createRedisState, xr.createIoRedisState]) {
        const s = make({ url: t.url, keyPrefix: t.prefix, logger: silent });
        await s.connect();
        const lock = await s.acquireLock("gone", 5000);
        await s.releaseLock(lock);
        assert.equal(await s.extendLock(lock, 5000), false);
        assert.equal(await t.admin.command("EXISTS", t.key("lock:gone")), 0, "no key after extending a released lock");
        await s.disconnect();
      }
    }));

    test("enqueue: the queue's TTL is at least 60 s even for an entry that expires sooner", () => on(kind, "floor", async (t) => {
      const s = xr.createRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent });
      await s.connect();
      const now = Date.now();
      await s.enqueue("floor", { message: 1, enqueuedAt: now, expiresAt: now + 5000 }, 10);
      const pttl = await t.admin.command("PTTL", t.key("queue:floor"));
      assert.ok(pttl > 55000 && pttl <= 60000, `PTTL ${pttl}`);
      await s.enqueue("floor2", { message: 1, enqueuedAt: now, expiresAt: now + 600000 }, 10);
      const later = await t.admin.command("PTTL", t.key("queue:floor2"));
      assert.ok(later > 590000 && later <= 600000, `PTTL ${later}: expiresAt - now when that is longer`);
      await s.disconnect();
    }));

    test("a lock's expiresAt is the time of the call plus the TTL", () => on(kind, "expiry", async (t) => {
      const s = xr.createIoRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent });
      await s.connect();
      for (const ttl of [1000, 30000, 86400000]) {
        const before = Date.now();
        const lock = await s.acquireLock(`exp-${ttl}`, ttl);
        const after = Date.now();
        assert.ok(lock.expiresAt >= before + ttl && lock.expiresAt <= after + ttl, `${before + ttl} <= ${lock.expiresAt} <= ${after + ttl}`);
        const pttl = await t.admin.command("PTTL", t.key(`lock:exp-${ttl}`));
        assert.ok(pttl > 0 && pttl <= ttl, `PTTL ${pttl}`);
        const w0 = Date.now();
        const waited = await s.acquireLockWait(`expw-${ttl}`, ttl, 100);
        const w1 = Date.now();
        assert.ok(waited.expiresAt >= w0 + ttl && waited.expiresAt <= w1 + ttl);
      }
      await s.disconnect();
    }));
  });
}

describe("the TLS cluster (rediss+cluster, the run's CA)", () => {
  test("64 concurrent calls in one batch over the three TLS masters; no CA, no connection", async () => {
    const shared = await sharedTopologies();
    const url = `rediss+cluster://${shared.tlsClusterNodes}`;
    const client = xr.createClient({ url, tls: { caFile: shared.caFile } });
    const s = xr.createIoRedisState({ client, keyPrefix: `js-tls-${process.pid}`, logger: silent });
    await s.connect();
    const locks = await Promise.all(Array.from({ length: 64 }, (_, i) => s.acquireLock(`tls-${i}`, 5000)));
    assert.ok(locks.every((l) => l && l.token.startsWith("ioredis_")));
    const ranges = (await client.command("CLUSTER", "SLOTS")).map(([first, last, master]) => [first, last, master[1]]);
    const owners = new Set();
    for (const l of locks) {
      const slot = await client.command("CLUSTER", "KEYSLOT", `js-tls-${process.pid}:lock:${l.threadId}`);
      owners.add(ranges.find(([first, last]) => first <= slot && slot <= last)[2]);
      assert.equal(await client.command("GET", `js-tls-${process.pid}:lock:${l.threadId}`), l.token);
    }
    assert.equal(owners.size, 3, "the batch went to every master");
    await s.set("v", { a: "b\u00e4r" });
    assert.deepEqual(await s.get("v"), { a: "b\u00e4r" });
    await Promise.all([...locks.map((l) => s.releaseLock(l)), s.delete("v")]);
    await s.disconnect();
    await client.close();
    await assert.rejects(xr.createClient({ url, connectTimeoutMs: 2000 }).connect(), xr.TLSError);
  });
});
