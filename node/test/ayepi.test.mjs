// ayepi's Store, CacheStore and Broker (@ayepi/redis 0.4, SPEC.md 3) over crossredis clients
// (node/src/ayepi.ts), against real servers: every operation's result and what Redis holds, the
// wire compared with the capture of the real package (tests/vectors/ayepi-0.4.0.monitor.txt), the
// cache entry's bytes, the retry policy under faults the server makes (DEBUG SLEEP: a reply lost
// after the command ran; a stopped server), the broker, upstream's own factories
// (interop/drivers/ayepi_upstream.mjs) running on a crossredis Client, the store and cache on the
// run's Sentinel set and Cluster, and the interop driver's --system ayepi mode.
//
// Run: cd node && node --test test/ayepi.test.mjs
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Monitor, capture, startRedis } from "./support/redis.mjs";
import { topology, TOPOLOGY_KINDS } from "./support/topology.mjs";
import {
  createClient, redisStore, redisCache, redisBroker, redisPubSub, InvalidArgumentError,
} from "../dist/index.mjs";
import * as upstream from "../../interop/drivers/ayepi_upstream.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const STEP = { timeout: 20000 };
const CAPTURE = "ayepi-0.4.0.monitor.txt";
const FAST = { attempts: 3, base: 50, factor: 2, max: 200, jitter: 0 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The capture's entry, in ayepi's key order (staleUntil long past: PX 1).
const ENTRY = { body: "{}", status: 200, headers: [["content-type", "application/json"]], storedAt: 0, expires: 500, staleUntil: 700,
  bytes: 2, method: "GET", path: "/x", key: "K" };
const entry = (path, key, staleUntil) => ({ ...ENTRY, path, key, storedAt: 1, expires: staleUntil - 1000, staleUntil });

// A hang bound, not a timing: a loaded 2-core machine (node --test runs the files side by side) has
// stalled an event loop for over 3 s, so a message is given 15 s.
async function until(f, ms = 15000) {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await sleep(10);
  }
}

describe("ayepi on a standalone server", () => {
  let server;
  let client;
  let admin;
  before(async () => {
    server = await startRedis(["--enable-debug-command", "yes"]);
    client = createClient({ url: server.url, commandTimeoutMs: 300 });
    admin = createClient(server.url);
  });
  after(async () => {
    await client?.close();
    await admin?.close();
    server?.stop();
  });

  test("the Store: results and what Redis holds", STEP, async () => {
    const s = redisStore(client, { prefix: "st:" });
    assert.equal(await s.get("k"), undefined);
    assert.equal(await s.set("k", "v"), undefined);
    assert.equal(await admin.get("st:k"), "v");
    assert.equal(await admin.command("PTTL", "st:k"), -1);
    await s.set("t", "v", 5000);
    const pttl = await admin.command("PTTL", "st:t");
    assert.ok(pttl > 4000 && pttl <= 5000, `PTTL ${pttl}`);
    assert.equal(await s.get("k"), "v");
    assert.equal(await s.delete("k"), undefined);
    assert.equal(await admin.get("st:k"), null);
    await s.delete("k"); // a missing key is no error
    assert.equal(await s.setIfNotExists("c", "tok"), true);
    assert.equal(await s.setIfNotExists("c", "other", 1000), false);
    assert.equal(await admin.get("st:c"), "tok");
    assert.equal(await s.setIfNotExists("c2", "1", 1000), true);
    assert.ok((await admin.command("PTTL", "st:c2")) > 0);
    assert.equal(await s.increment("n", 2), 2);
    assert.equal(await s.increment("n", -1, 1000), 1);
    assert.ok((await admin.command("PTTL", "st:n")) > 0);
    assert.equal(await admin.get("st:n"), "1");
    // the core's validation, its words
    await assert.rejects(s.get(""), InvalidArgumentError);
    await assert.rejects(s.set("k", "v", -5), InvalidArgumentError);
    await assert.rejects(s.get(5), TypeError);
    const same = await Promise.all([s.set("a", "1"), s.get("a"), s.increment("b", 3)]); // one turn: one batch
    assert.deepEqual(same, [undefined, "1", 3]);
  });

  test("the CacheStore: results, the entry's bytes, clear and invalidate", STEP, async () => {
    const prefix = "ca:";
    const c = redisCache(client, { prefix });
    const later = Date.now() + 60000;
    const e = entry("/users/:id", '["GET","/users/:id",[],null,null]', later);
    // keys out of ayepi's order: stored in ayepi's
    const shuffled = { key: e.key, path: e.path, method: e.method, bytes: e.bytes, staleUntil: e.staleUntil, expires: e.expires,
      storedAt: e.storedAt, headers: e.headers, status: e.status, body: e.body };
    assert.equal(await c.set("u1", shuffled), undefined);
    assert.equal(await admin.get("ca:u1"), JSON.stringify(e));
    const pttl = await admin.command("PTTL", "ca:u1");
    assert.ok(pttl > 50000 && pttl <= 60000, `PTTL ${pttl}`);
    assert.deepEqual(await c.get("u1"), e);
    assert.equal(await c.get("none"), undefined);
    await assert.rejects(c.set("bad", { body: 1 }), InvalidArgumentError);
    assert.equal(await c.delete("u1"), true);
    assert.equal(await c.delete("u1"), false);
    for (let i = 0; i < 300; i++) await c.set(`x${i}`, entry(i % 3 ? "/a" : "/b", `x${i}`, later)); // two SCAN pages and more
    await admin.set("ca:notjson", "{");
    await admin.command("LPUSH", "ca:list", "x");
    await admin.set("other:x1", "kept");
    const seen = [];
    const n = await c.invalidate((m) => {
      seen.push(m);
      return m.path === "/b";
    });
    assert.equal(n, 100);
    assert.equal(seen.length, 300);
    assert.deepEqual(Object.keys(seen[0]), ["key", "method", "path", "storedAt", "expires", "staleUntil", "bytes"]);
    assert.equal(await admin.get("ca:x0"), null);
    assert.ok(await admin.get("ca:x1"));
    assert.equal(await admin.command("TYPE", "ca:list"), "list");
    assert.equal(await c.clear(), undefined);
    const [, left] = await admin.scan(0, "MATCH", "ca:*", "COUNT", 1000);
    assert.deepEqual(left, []);
    assert.equal(await admin.get("other:x1"), "kept");
    // a glob character in the prefix reaches only its own keys
    await admin.set("gab:k", "x");
    const glob = redisCache(client, { prefix: "g*" });
    await glob.clear();
    assert.equal(await admin.get("gab:k"), "x");
    // a throwing predicate rejects with its error, reported once
    const errors = [];
    const d = redisCache(client, { prefix: "cb:", onError: (err) => errors.push(err) });
    await d.set("k", entry("/p", "k", later));
    await assert.rejects(d.invalidate(() => { throw new Error("boom"); }), /boom/);
    assert.equal(errors.length, 1);
  });

  test("the wire is the capture's (MONITOR)", STEP, async () => {
    const mon = await Monitor.open(server.port);
    const wire = createClient(server.url);
    try {
      const s = redisStore(wire, { prefix: "p:" });
      const c = redisCache(wire, { now: () => 1 }); // staleUntil 700 - 1: PX 699; the capture's clock gave PX 1
      await s.get("k");
      await s.set("k", "v");
      await s.set("k2", "v", 1000);
      await s.delete("k");
      await s.setIfNotExists("c", "1");
      await s.setIfNotExists("c2", "1", 500);
      await s.increment("n", 2);
      await s.increment("n", -1, 1000);
      // The capture's clock made PX 1 (staleUntil 700): an entry that lives 1 ms may be gone before
      // invalidate and clear read it back. Set with the clock at 1 (PX 699), and compare that PX as
      // the capture's "1" (the PX rule itself is checked with `c` below).
      const base = redisCache(wire, { now: () => 1 });
      await base.set("K", ENTRY);
      await base.get("K");
      await base.invalidate(() => true);
      await base.set("K", ENTRY);
      await c.set("K", { ...ENTRY, staleUntil: 5000 });
      await base.clear();
      const got = (await mon.collect((m) => wire.command("ECHO", m))).filter((l) => l !== 'client "PING"') // the connect
        .map((l) => l.replace(/^client "EVAL(SHA)?" "(?:[^"\\]|\\.)*"/, 'client "EVAL" <script>')) // EVAL first, EVALSHA after
        .map((l) => (l.includes('staleUntil\\":700,') ? l.replace(/"PX" "699"$/, '"PX" "1"') : l));
      const want = [
        ...capture(CAPTURE, 4, 10),
        // the fix (ayepi.h): incrby and pexpire of one increment are one script
        'client "EVAL" <script> "p:n" "-1" "1000"', 'lua "INCRBY" "p:n" "-1"', 'lua "PEXPIRE" "p:n" "1000"',
        ...capture(CAPTURE, 13, 17),
        ...capture(CAPTURE, 13, 13),
      ];
      const px = got.find((l) => l.includes('staleUntil\\":5000'));
      assert.ok(px && px.endsWith('"PX" "4999"'), px); // the cache's clock: now()
      assert.deepEqual(got.filter((l) => l !== px), [...want, ...capture(CAPTURE, 18, 19)]);
    } finally {
      await wire.close();
      await mon.close?.();
    }
  });

  test("retry: a lost setIfNotExists reply is read back; increment is never repeated; onError once", STEP, async () => {
    const errors = [];
    const s = redisStore(client, { prefix: "r:", retry: FAST, onError: (err) => errors.push(err) });
    await s.get("warm");
    // the server sleeps past the command timeout: the SET NX runs after the client gave up on it
    let sleeping = admin.command("DEBUG", "SLEEP", "0.6");
    assert.equal(await s.setIfNotExists("claim", "mine", 10000), true);
    await sleeping;
    assert.equal(await admin.get("r:claim"), "mine");
    assert.equal(errors.length, 0);
    // another's claim read back: false
    await admin.set("r:theirs", "someone");
    sleeping = admin.command("DEBUG", "SLEEP", "0.6");
    assert.equal(await s.setIfNotExists("theirs", "mine"), false);
    await sleeping;
    // a lost increment reply: never sent again, rejected, reported once
    sleeping = admin.command("DEBUG", "SLEEP", "0.6");
    await assert.rejects(s.increment("count", 1, 10000), (err) => typeof err.code === "number");
    await sleeping;
    await sleep(100);
    assert.equal(await admin.get("r:count"), "1");
    assert.equal(errors.length, 1);
    // a lost get reply: tried again, no report
    sleeping = admin.command("DEBUG", "SLEEP", "0.4");
    await admin.set("r:g", "x");
    assert.equal(await s.get("g"), "x");
    await sleeping;
    assert.equal(errors.length, 1);
  });

  test("retry: a server that is gone fails after every attempt, onError once (a throwing one too)", STEP, async () => {
    const gone = await startRedis();
    const c = createClient({ url: gone.url, connectTimeoutMs: 200, commandTimeoutMs: 200 });
    const s = redisStore(c, { retry: FAST, onError: (err) => { calls.push(err); throw new Error("onError threw"); } });
    const calls = [];
    await s.set("k", "v");
    gone.stop();
    await sleep(100);
    const t0 = Date.now();
    const err = await s.get("k").then(() => null, (e) => e);
    assert.ok(err && typeof err.code === "number", String(err));
    assert.notEqual(err.message, "onError threw");
    assert.equal(calls.length, 1);
    assert.equal(calls[0], err);
    assert.ok(Date.now() - t0 >= 50 + 100, "waited the backoff");
    await c.close();
  });

  test("the broker: publish, exact channel, a throwing listener, unsubscribe, binary-safe text", STEP, async () => {
    const errors = [];
    const b = redisBroker(client, { channel: "bk", onError: (e) => errors.push(e) });
    assert.equal(redisPubSub, redisBroker);
    const a = [];
    const c = [];
    b.subscribe(() => { throw new Error("listener threw"); });
    const off = b.subscribe((m) => a.push(m));
    b.subscribe((m) => c.push(m));
    await sleep(200); // SUBSCRIBE answered
    const other = createClient(server.url);
    await other.publish("bk2", "not ours");
    await other.publish("b?", "not ours");
    const text = "héllo \u0000 wörld 😀 \r\n\"";
    await b.publish(text);
    await until(() => a.length === 1 && c.length === 1);
    assert.deepEqual(a, [text]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, "listener threw");
    off();
    await b.publish("second");
    await until(() => c.length === 2);
    assert.deepEqual(a, [text]);
    assert.deepEqual(c, [text, "second"]);
    assert.equal(errors.length, 2); // the throwing listener, again
    await other.close();
    await b.close();
    // publish never rejects: a closed client reports to onError
    const closed = createClient(server.url);
    await closed.close();
    const failing = redisBroker(closed, { subscriber: client, onError: (e) => errors.push(e) });
    assert.equal(await failing.publish("x"), undefined);
    assert.equal(errors.length, 3);
    assert.equal(errors[2].constructor.name, "ClientClosedError");
  });

  test("upstream's own factories (ayepi_upstream.mjs) run on a crossredis Client", STEP, async () => {
    const c = createClient(server.url);
    try {
      const s = upstream.redisStore(c, { prefix: "up:" });
      assert.equal(await s.get("k"), undefined);
      await s.set("k", "v", 1000);
      assert.equal(await s.get("k"), "v");
      assert.equal(await s.setIfNotExists("c", "1"), true);
      assert.equal(await s.setIfNotExists("c", "1", 1000), false);
      assert.equal(await s.increment("n", 5, 1000), 5);
      await s.delete("k");
      assert.equal(await admin.get("up:k"), null);
      const cache = upstream.redisCache(c, { prefix: "upc:" });
      const later = Date.now() + 60000;
      await cache.set("a", entry("/a", "a", later));
      await cache.set("b", entry("/b", "b", later));
      assert.equal(await admin.get("upc:a"), JSON.stringify(entry("/a", "a", later)));
      assert.deepEqual(await cache.get("a"), entry("/a", "a", later));
      assert.equal(await cache.invalidate((m) => m.path === "/a"), 1);
      assert.equal(await cache.delete("b"), true);
      await cache.set("b", entry("/b", "b", later));
      await cache.clear();
      assert.equal(await admin.get("upc:b"), null);
      const got = [];
      const sub = c.duplicate(); // given, so that the test can close it (upstream never closes its own)
      const b = upstream.redisBroker(c, { channel: "upb", subscriber: sub });
      b.subscribe((m) => got.push(m));
      assert.equal(await upstream.subscribedPromise(b), true);
      await b.publish("über");
      await until(() => got.length === 1);
      assert.deepEqual(got, ["über"]);
      await sub.close();
    } finally {
      await c.close();
    }
  });

  test("a Client's pub/sub: message and messageBuffer events, unsubscribe, duplicate", STEP, async () => {
    const sub = client.duplicate();
    const seen = [];
    sub.on("messageBuffer", (ch, m) => seen.push([ch, m]));
    assert.equal(await sub.subscribe("x1", Buffer.from("x2")), 2);
    await client.publish("x2", Buffer.from([0xff, 0x00, 0x01]));
    await until(() => seen.length === 1);
    assert.deepEqual(seen[0], [Buffer.from("x2"), Buffer.from([0xff, 0x00, 0x01])]);
    assert.equal(await sub.unsubscribe("x2"), 1);
    assert.equal(await client.publish("x2", "gone"), 0);
    await sub.close();
  });
});

test("the TypeScript types: a Client is a RedisCommandClient and a RedisLike (tsc on test/types/ayepi.ts)", STEP, () => {
  const tsc = join(here, "..", "node_modules", "typescript", "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "-p", join(here, "types", "ayepi.tsconfig.json")], { cwd: join(here, ".."), stdio: "pipe" });
  } catch (e) {
    assert.fail(`tsc: ${e.stdout}${e.stderr}`);
  }
});

for (const kind of TOPOLOGY_KINDS.filter((k) => k !== "standalone")) {
  describe(`ayepi on the run's ${kind}`, () => {
    test("Store, CacheStore (every master swept) and broker", STEP, async () => {
      const t = await topology(kind, "ayepi");
      const client = createClient(t.url);
      try {
        const s = redisStore(client, { prefix: `${t.prefix}:` });
        await s.set("k", "v", 10000);
        assert.equal(await s.get("k"), "v");
        assert.equal(await s.setIfNotExists("c", "1"), true);
        assert.equal(await s.increment("n", 3, 10000), 3);
        const c = redisCache(client, { prefix: `${t.prefix}:cache:` });
        const later = Date.now() + 60000;
        for (let i = 0; i < 40; i++) await c.set(`e${i}`, entry(i % 2 ? "/odd" : "/even", `e${i}`, later));
        if (kind === "cluster") assert.ok((await t.mastersHolding("cache:*")) > 1, "the entries span masters");
        assert.equal(await c.invalidate((m) => m.path === "/odd"), 20);
        assert.equal((await t.keys("cache:*")).length, 20);
        await c.clear();
        assert.deepEqual(await t.keys("cache:*"), []);
        const b = redisBroker(client, { channel: `${t.prefix}:ch` });
        const got = [];
        b.subscribe((m) => got.push(m));
        await sleep(300);
        await b.publish("on " + kind);
        await until(() => got.length === 1);
        assert.deepEqual(got, ["on " + kind]);
        await b.close();
      } finally {
        await client.close();
        await t.close();
      }
    });
  });
}

describe("the interop driver's --system ayepi", () => {
  test("answers every operation of CONTRACT.md's ayepi table", STEP, async () => {
    const server = await startRedis();
    const driver = spawn(process.execPath, [join(here, "..", "..", "interop", "drivers", "ts_driver.mjs"), "--system", "ayepi",
      "--impl", "ts-crossredis", "--prefix", "p:"], { env: { ...process.env, REDIS_URL: server.url }, stdio: ["pipe", "pipe", "inherit"] });
    const lines = [];
    let buf = "";
    driver.stdout.setEncoding("utf8").on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    let id = 0;
    const ask = async (op, args = {}) => {
      const n = lines.length;
      driver.stdin.write(JSON.stringify({ id: ++id, op, args }) + "\n");
      await until(() => lines.length > n, 5000);
      return lines[n];
    };
    try {
      await until(() => lines.length > 0, 10000);
      assert.equal(lines[0].ready, true, JSON.stringify(lines[0]));
      assert.equal(lines[0].impl, "ts-crossredis");
      const ok = async (op, args, result) => {
        const r = await ask(op, args);
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.deepEqual(r.result, result, op);
      };
      await ok("ayepi.get", { key: "k" }, null);
      await ok("ayepi.set", { key: "k", value: "v", ttl_ms: 1000 }, null);
      await ok("ayepi.get", { key: "k" }, "v");
      await ok("ayepi.delete", { key: "k" }, null);
      await ok("ayepi.set_if_not_exists", { key: "c", value: "1" }, true);
      await ok("ayepi.set_if_not_exists", { key: "c", value: "1", ttl_ms: null }, false);
      await ok("ayepi.increment", { key: "n", by: 2, ttl_ms: 1000 }, 2);
      await ok("ayepi.cache_set", { key: "K", entry: ENTRY, now_ms: 1 }, null);
      await ok("ayepi.cache_get", { key: "K" }, ENTRY);
      await ok("ayepi.cache_invalidate", { path: "/x" }, 1);
      await ok("ayepi.cache_delete", { key: "K" }, false);
      await ok("ayepi.cache_clear", {}, null);
      await ok("ayepi.envelope", { ch: "progress", params: { job: "j1" }, data: { pct: 77 } },
        '{"ch":"progress","params":{"job":"j1"},"data":{"pct":77}}');
      await ok("ayepi.subscribe", {}, null);
      await ok("ayepi.publish", { message: "m1" }, null);
      await ok("ayepi.received", { count: 1, timeout_ms: 2000 }, ["m1"]);
      const bad = await ask("ayepi.get", {});
      assert.equal(bad.ok, false);
      assert.equal(bad.error.kind, "BadRequest");
      const unknown = await ask("ayepi.nope", {});
      assert.equal(unknown.error.kind, "UnknownOp");
    } finally {
      driver.stdin.end();
      await new Promise((r) => driver.once("exit", r));
      server.stop();
    }
  });
});
