// Key families and migration windows from Node (node/src/window.ts over window_bridge.cc and
// window.h) against real servers, one body on each topology (a standalone server of this file's own,
// the run's Sentinel set and its Cluster, where a member's old and new keys sit on different slots):
// every value type read from the old shape and copied forward with its expiry, written to both
// shapes, brand-new members only in the new shape; reads without copyForward leave the old key
// alone; deletes remove both and nothing comes back; close refused (AlreadyExistsError, the core's
// message) while old keys remain, then the old shape untouched; oldWrites "always"; closeAfterMs;
// families from patterns and family files, their keys; bad input with the core's messages; no
// password in what inspect or JSON show; the TypeScript types.
//
// Run: cd node && node --test test/window.test.mjs
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { inspect } from "node:util";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { onTopology, TOPOLOGY_KINDS } from "./support/topology.mjs";
import { startRedis } from "./support/redis.mjs";
import { describeEnd, runNode } from "./support/child.mjs";
import {
  createClient, createWindow, Family, Window, AlreadyExistsError, ClientClosedError, DataError, InvalidArgumentError, NotFoundError,
  ResponseError, WrongTypeError,
} from "../dist/index.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const addon = createRequire(import.meta.url)(join(here, "..", "build", "Release", "crossredis_native.node"));
const STEP = { timeout: 60000 };
const UUID = "0b7e3f0a-8d8c-4b1e-9c52-9a3f4ad3c001";

const familyOf = (t, name = "sessions") => new Family(name, `${t.prefix}:sess:<id:segment>`, `${t.prefix}:sess:{s:<id:segment>}`);
const oldKey = (t, m) => `${t.prefix}:sess:${m}`;
const newKey = (t, m) => `${t.prefix}:sess:{s:${m}}`;
const pexpiretime = (t, key) => t.admin.command("PEXPIRETIME", key);
const exists = (t, key) => t.admin.command("EXISTS", key);

// Each value type: how the checker writes it under the old shape, how the window reads it (typed
// helper and generic read), what it reads, a write through the window and what both keys hold after.
const TYPES = {
  string: {
    seed: (a, k) => a.command("SET", k, "v1"),
    read: (w, m) => w.get(m), generic: ["GET"], value: "v1",
    write: (w, m) => w.set(m, "v2", { keepTtl: true }), wrote: true,
    held: (a, k) => a.command("GET", k), after: "v2",
  },
  list: {
    seed: (a, k) => a.command("RPUSH", k, "a", "b"),
    read: (w, m) => w.lrange(m), generic: ["LRANGE", 0, -1], value: ["a", "b"],
    write: (w, m) => w.rpush(m, "c", Buffer.from("d")), wrote: 4,
    held: (a, k) => a.command("LRANGE", k, 0, -1), after: ["a", "b", "c", "d"],
  },
  set: {
    seed: (a, k) => a.command("SADD", k, "x", "y"),
    read: async (w, m) => (await w.smembers(m)).sort(), generic: ["SCARD"], value: ["x", "y"],
    write: (w, m) => w.sadd(m, "z", "x"), wrote: 1,
    held: async (a, k) => (await a.command("SMEMBERS", k)).sort(), after: ["x", "y", "z"],
  },
  hash: {
    seed: (a, k) => a.command("HSET", k, "f1", "1", "f2", "2"),
    read: (w, m) => w.hgetall(m), generic: ["HLEN"], value: { f1: "1", f2: "2" },
    write: (w, m) => w.hset(m, { f2: "two", f3: 3 }), wrote: 1,
    held: async (a, k) => { const r = await a.command("HGETALL", k); return Object.fromEntries(Array.from({ length: r.length / 2 }, (_, i) => [r[2 * i], r[2 * i + 1]])); },
    after: { f1: "1", f2: "two", f3: "3" },
  },
  zset: {
    seed: (a, k) => a.command("ZADD", k, 1, "m1", 2.5, "m2"),
    read: (w, m) => w.zrange(m, 0, -1, true), generic: ["ZRANGE", 0, -1], value: [["m1", 1], ["m2", 2.5]],
    write: (w, m) => w.zadd(m, { m3: 3, m1: 0.5 }), wrote: 1,
    held: async (a, k) => { const r = await a.command("ZRANGE", k, 0, -1, "WITHSCORES"); return Array.from({ length: r.length / 2 }, (_, i) => [r[2 * i], Number(r[2 * i + 1])]); },
    after: [["m1", 0.5], ["m2", 2.5], ["m3", 3]],
  },
};

/** The member's old key written by the checker with ttlMs: its expiry (unix ms). */
async function seedOld(t, type, member, ttlMs) {
  await type.seed(t.admin, oldKey(t, member));
  await t.admin.command("PEXPIRE", oldKey(t, member), ttlMs);
  return pexpiretime(t, oldKey(t, member));
}

/** fn(t, client) with a client of its own on the topology. */
function withClient(kind, name, fn) {
  return onTopology(kind, name, async (t) => {
    const c = createClient(t.url);
    try {
      return await fn(t, c);
    } finally {
      await c.close();
    }
  });
}

for (const kind of TOPOLOGY_KINDS) {
  describe(kind, () => {
    for (const [type, T] of Object.entries(TYPES)) {
      test(`${type}: read from old, copied forward with its expiry, then written to both`, STEP, () => withClient(kind, `win-${type}`, async (t, c) => {
        const m = `${type}-1`;
        const deadline = await seedOld(t, T, m, 90000);
        const w = await Window.open(c, familyOf(t), { copyForward: true });
        // the generic read: the reply as client.command gives it
        assert.deepEqual(await w.read(m, ...T.generic), await c.command(T.generic[0], oldKey(t, m), ...T.generic.slice(1)));
        assert.deepEqual(await T.read(w, m), T.value);
        assert.deepEqual(await T.held(t.admin, newKey(t, m)), T.value);
        assert.equal(await pexpiretime(t, newKey(t, m)), deadline);
        assert.deepEqual(await T.write(w, m), T.wrote);
        assert.deepEqual(await T.held(t.admin, newKey(t, m)), T.after);
        assert.deepEqual(await T.held(t.admin, oldKey(t, m)), T.after);
        assert.deepEqual(await T.read(w, m), T.after);
        // a brand-new member: the new key only
        await T.write(w, `${type}-fresh`);
        assert.equal(await exists(t, newKey(t, `${type}-fresh`)), 1);
        assert.equal(await exists(t, oldKey(t, `${type}-fresh`)), 0);
        // a write to a member only the old shape holds copies it forward first (no copyForward)
        const plain = await Window.open(c, familyOf(t));
        const d2 = await seedOld(t, T, `${type}-w`, 60000);
        assert.deepEqual(await T.write(plain, `${type}-w`), T.wrote);
        assert.deepEqual(await T.held(t.admin, newKey(t, `${type}-w`)), T.after);
        assert.equal(await pexpiretime(t, newKey(t, `${type}-w`)), d2);
        w.release();
        plain.release();
      }));
    }

    test("a read without copyForward leaves the old key alone; empty replies; set's nx/xx", STEP, () => withClient(kind, "win-plain", async (t, c) => {
      await t.admin.command("SET", oldKey(t, "a"), "old-only", "EX", 100);
      const w = await createWindow(c, familyOf(t));
      assert.equal(await w.get("a"), "old-only");
      assert.equal(await w.get({ id: "a" }), "old-only");
      assert.deepEqual(await w.readBuffers("a", "GET"), Buffer.from("old-only"));
      assert.equal(await exists(t, newKey(t, "a")), 0);
      assert.deepEqual([await w.get("none"), await w.lrange("none"), await w.hgetall("none"), await w.smembers("none"), await w.zrange("none")],
        [null, [], {}, [], []]);
      assert.equal(await w.expire("none", 10), false);
      assert.equal(await w.set("b", "x", { nx: true }), true);
      assert.equal(await w.set("b", "y", { nx: true }), false);
      assert.equal(await w.set("a", "z", { xx: true }), true);
      assert.equal(await t.admin.command("GET", newKey(t, "a")), "z");
      assert.equal(await t.admin.command("GET", oldKey(t, "a")), "z");
      assert.equal(await w.expire("a", 500), true);
      assert.ok((await t.admin.command("TTL", oldKey(t, "a"))) > 490);
      assert.deepEqual(await w.writeBuffers("a", "APPEND", "!"), 2);
    }));

    test("delete removes both keys and nothing comes back", STEP, () => withClient(kind, "win-del", async (t, c) => {
      await t.admin.command("RPUSH", oldKey(t, "d"), "1");
      const w = await Window.open(c, familyOf(t), { copyForward: true });
      assert.deepEqual(await w.lrange("d"), ["1"]);
      assert.equal(await exists(t, newKey(t, "d")) + await exists(t, oldKey(t, "d")), 2);
      assert.equal(await w.delete("d"), 2);
      assert.equal(await exists(t, newKey(t, "d")) + await exists(t, oldKey(t, "d")), 0);
      assert.deepEqual(await w.lrange("d"), []);
      assert.equal(await exists(t, newKey(t, "d")), 0);
      await t.admin.command("SET", oldKey(t, "only-old"), "v");
      assert.equal(await w.delete({ id: "only-old" }), 1);
      assert.equal(await w.delete("only-old"), 0);
    }));

    test("close is refused while old keys remain, then the old shape is never touched", STEP, () => withClient(kind, "win-close", async (t, c) => {
      for (let i = 0; i < 3; i++) await t.admin.command("SET", oldKey(t, `c${i}`), `v${i}`);
      const w = await Window.open(c, familyOf(t));
      await assert.rejects(w.close(), (e) => e instanceof AlreadyExistsError &&
        e.message.startsWith("window sessions: 3 old-shape keys remain (e.g. '") && e.message.includes("crossredis migrate copy"));
      assert.equal(w.isClosed(), false);
      assert.equal(w.toJSON().state, "open");
      for (let i = 0; i < 3; i++) {
        assert.equal(await w.get(`c${i}`), `v${i}`);
        await w.set(`c${i}`, `v${i}`);
        await t.admin.command("DEL", oldKey(t, `c${i}`));
      }
      await w.close();
      assert.equal(w.isClosed(), true);
      assert.equal(w.toJSON().state, "closed");
      await w.close();
      await t.admin.command("SET", oldKey(t, "late"), "old");
      assert.equal(await w.get("late"), null);
      await w.set("late", "new");
      assert.equal(await t.admin.command("GET", oldKey(t, "late")), "old");
      assert.equal(await w.delete("late"), 1);
      assert.equal(await t.admin.command("GET", oldKey(t, "late")), "old");
    }));

    test("oldWrites always, closeAfterMs, a family of two fields", STEP, () => withClient(kind, "win-opts", async (t, c) => {
      const always = await Window.open(c, familyOf(t), { oldWrites: "always" });
      assert.equal(await always.rpush("aw", "x"), 1);
      assert.deepEqual(await t.admin.command("LRANGE", oldKey(t, "aw"), 0, -1), ["x"]);
      await t.admin.command("SET", oldKey(t, "ca"), "old");
      const past = await Window.open(c, familyOf(t), { closeAfterMs: Date.now() - 1 });
      assert.equal(past.isClosed(), true);
      assert.equal(await past.get("ca"), null);
      const later = await Window.open(c, familyOf(t), { closeAfterMs: Date.now() + 3600000 });
      assert.equal(later.isClosed(), false);
      assert.equal(await later.get("ca"), "old");

      const f = new Family("pairs", `${t.prefix}:p:<tenant:segment>:<n:number>`, `${t.prefix}:p:{<tenant:segment>}:<n:number>`);
      assert.deepEqual(f.fields, ["tenant", "n"]);
      assert.deepEqual(f.keys(["acme", 7]), [`${t.prefix}:p:acme:7`, `${t.prefix}:p:{acme}:7`]);
      assert.deepEqual(f.keys({ n: 7n, tenant: Buffer.from("acme") }), f.keys(["acme", "7"]));
      await t.admin.command("HSET", `${t.prefix}:p:acme:7`, "k", "v");
      const w = await Window.open(c, f, { copyForward: true });
      assert.deepEqual(await w.hgetall({ tenant: "acme", n: 7 }), { k: "v" });
      assert.deepEqual(await t.admin.command("HGETALL", `${t.prefix}:p:{acme}:7`), ["k", "v"]);
      await assert.rejects(w.get(["acme", "seven"]), { name: "InvalidArgumentError",
        message: `family pairs: the old key: key pattern '${t.prefix}:p:<tenant:segment>:<n:number>': field n (number) cannot hold 'seven'` });
      await assert.rejects(w.get({ tenant: "acme" }), { name: "InvalidArgumentError", message: "family pairs: no value for field 'n'" });
      await assert.rejects(w.get({ tenant: "acme", n: 1, x: 2 }), { name: "InvalidArgumentError",
        message: "family pairs: no field 'x' (its fields: tenant, n)" });
      await assert.rejects(w.get("acme"), { name: "InvalidArgumentError", message: "family pairs: 1 field values given, the family has 2" });
      for (const x of [always, past, later, w]) x.release();
    }));

    test("bad input: the core's and the server's errors", STEP, () => withClient(kind, "win-bad", async (t, c) => {
      const w = await Window.open(c, familyOf(t));
      await t.admin.command("SET", newKey(t, "s"), "text");
      await assert.rejects(w.lrange("s"), WrongTypeError);
      await assert.rejects(w.write("s", "NOSUCHCOMMAND"), ResponseError);
      await assert.rejects(w.write("s"), { name: "TypeError", message: "the command's name is missing" });
      await assert.rejects(w.write("s", ""), { name: "InvalidArgumentError", message: "window sessions: write: the command name is empty" });
      await assert.rejects(w.get("a:b"), (e) => e instanceof InvalidArgumentError && e.message.startsWith("family sessions: the old key: "));
      await assert.rejects(w.get(null), { name: "TypeError" });
      await assert.rejects(w.get([{}]), { name: "TypeError", message: "field value 0: expected a string, Buffer, Uint8Array, number or bigint, got object" });
      await assert.rejects(w.get("\ud800"), { name: "InvalidArgumentError", message: "field value 0: not valid Unicode (a lone surrogate U+D800 at index 0)" });
      await assert.rejects(Window.open(c, familyOf(t), { closeAfterMs: -1 }), (e) => e instanceof InvalidArgumentError &&
        e.message.startsWith("window sessions: close_after_ms must be >= 0"));
      await assert.rejects(Window.open(c, familyOf(t), { deleteGuardMs: -5 }), (e) => e instanceof InvalidArgumentError &&
        e.message.startsWith("window sessions: delete_guard_ms must be"));
      await assert.rejects(Window.open(c, familyOf(t), { oldWrites: "sometimes" }), { name: "InvalidArgumentError",
        message: "old_writes must be 'existing' or 'always', got 'sometimes'" });
      await assert.rejects(Window.open(c, familyOf(t), { closeAfterMs: 2 ** 70 }), { name: "InvalidArgumentError",
        message: "close_after_ms: 1180591620717411303424 is out of range for a 64-bit integer" });
      await assert.rejects(Window.open(c, familyOf(t), { copyForward: 1 }), TypeError);
      await assert.rejects(Window.open(c, "sessions"), TypeError);
      w.release();
    }));

    test("a big value read through a window is decoded on the pool, not on the JS thread", STEP, () => withClient(kind, "win-big", async (t, c) => {
      const big = "ü".repeat(400 * 1024); // 800 KiB of UTF-8
      await t.admin.command("SET", oldKey(t, "big"), big);
      const w = await Window.open(c, familyOf(t));
      const before = addon.xr_js_stats(null);
      assert.equal(await w.get("big"), big);
      assert.deepEqual(await w.readBuffers("big", "GET"), Buffer.from(big));
      const after = addon.xr_js_stats(null);
      assert.equal(after.bigDecodedOnJsThread, before.bigDecodedOnJsThread);
      assert.equal(after.bigDecodedOnPool - before.bigDecodedOnPool, 2 * Buffer.byteLength(big));
      assert.equal(await w.set("big2", big), true); // a big argument, converted on the pool
      assert.equal(await t.admin.command("STRLEN", newKey(t, "big2")), Buffer.byteLength(big));
      w.release();
    }));

    test("a call runs off the JS thread: timers tick while the server is paused", STEP, () => withClient(kind, "win-pool", async (t, c) => {
      const w = await Window.open(c, familyOf(t));
      await w.set("p", "v");
      let ticks = 0;
      const timer = setInterval(() => { ticks++; }, 10);
      await t.pause(newKey(t, "p"), 300);
      const start = Date.now();
      assert.equal(await w.get("p"), "v");
      clearInterval(timer);
      assert.ok(Date.now() - start >= 200, `${Date.now() - start} ms`);
      assert.ok(ticks >= 10, `${ticks} ticks`);
      w.release();
    }));

    test("a released window and a closed client reject with ClientClosedError", STEP, () => onTopology(kind, "win-life", async (t) => {
      const c = createClient(t.url);
      const w = await Window.open(c, familyOf(t));
      await w.set("r", "v");
      w.release();
      w.release();
      await assert.rejects(w.get("r"), { name: "ClientClosedError", message: "the window of family sessions was released" });
      assert.equal(w.toJSON().state, "released");
      const w2 = await Window.open(c, familyOf(t));
      const inflight = w2.get("r");
      await c.close();
      assert.equal(await inflight, "v"); // close waited for it
      await assert.rejects(w2.get("r"), ClientClosedError);
      await assert.rejects(Window.open(c, familyOf(t)), ClientClosedError);
    }));
  });
}

describe("families, without a server", () => {
  test("from patterns: fields, keys, newKeyOf, inspect", () => {
    const f = new Family("browser-session", "mpp:browser:session:<id:uuid>", "mpp:browser:session:{session:<id:uuid>}");
    assert.deepEqual([f.name, f.notes, f.fields, f.old, f.new],
      ["browser-session", "", ["id"], "mpp:browser:session:<id:uuid>", "mpp:browser:session:{session:<id:uuid>}"]);
    const keys = [`mpp:browser:session:${UUID}`, `mpp:browser:session:{session:${UUID}}`];
    for (const v of [UUID, [UUID], { id: UUID }, Buffer.from(UUID)]) assert.deepEqual(f.keys(v), keys);
    assert.equal(f.newKeyOf(keys[0]), keys[1]);
    assert.equal(f.newKeyOf(Buffer.from(keys[0])), keys[1]);
    assert.equal(f.newKeyOf(keys[1]), null);
    assert.ok(inspect(f).startsWith("Family {") && inspect(f).includes("browser-session"));
    assert.throws(() => f.keys("not-a-uuid"), { name: "InvalidArgumentError",
      message: "family browser-session: the old key: key pattern 'mpp:browser:session:<id:uuid>': field id (uuid) cannot hold 'not-a-uuid'" });
    assert.deepEqual(new Family("counts", "count:<n:number>", "count:{<n:number>}").keys(42), ["count:42", "count:{42}"]);
  });

  test("families the core refuses", () => {
    assert.throws(() => new Family("counts", "count:<n>", "count:<n:number>"), { name: "InvalidArgumentError",
      message: "family counts: the old and new shapes collide: key 'count:0' has both" });
    assert.throws(() => new Family("x", "a:<id>", "b:<other>"), { name: "InvalidArgumentError", message: "family x: field 'id' is in the old shape only" });
    assert.throws(() => new Family("x", "a:<id", "b:<id>"), { name: "InvalidArgumentError",
      message: "family x: the old shape: key pattern 'a:<id': the field has no closing '>' at byte 2" });
    assert.throws(() => new Family("", "a:<id>", "b:<id>"), { name: "InvalidArgumentError", message: "family: the name is empty" });
    assert.throws(() => new Family("a\0b", "a:<id>", "b:<id>"), { name: "InvalidArgumentError", message: "name: contains NUL (U+0000) at index 1" });
    assert.throws(() => new Family("x", 1, "b:<id>"), TypeError);
  });

  test("family files", () => {
    const FILE = { families: [
      { name: "browser-session", old: "mpp:browser:session:<id:uuid>", new: "mpp:browser:session:{session:<id:uuid>}", notes: "sessions carry a 2 h TTL" },
      { name: "queues", old: "chat-sdk:queue:<thread>", new: "chat-sdk:queue:{<thread>}" },
    ] };
    const text = JSON.stringify(FILE);
    assert.deepEqual(Family.allFromJson(text).map((f) => [f.name, f.notes]), [["browser-session", "sessions carry a 2 h TTL"], ["queues", ""]]);
    assert.deepEqual(Family.fromJson(Buffer.from(text), "queues").keys("t1"), ["chat-sdk:queue:t1", "chat-sdk:queue:{t1}"]);
    const one = Family.fromJson(JSON.stringify(FILE.families[1]));
    assert.deepEqual([one.name, one.old, one.new], ["queues", "chat-sdk:queue:<thread>", "chat-sdk:queue:{<thread>}"]);
    const dir = mkdtempSync(join(tmpdir(), "xr-window-"));
    const path = join(dir, "families.json");
    writeFileSync(path, text);
    assert.equal(Family.load(path, "browser-session").notes, "sessions carry a 2 h TTL");
    assert.deepEqual(Family.loadAll(path).map((f) => f.name), ["browser-session", "queues"]);
    assert.throws(() => Family.fromJson(text), { name: "InvalidArgumentError",
      message: "family file: 2 families ('browser-session', 'queues'): name the one to use" });
    assert.throws(() => Family.fromJson(text, "nope"), (e) => e instanceof NotFoundError &&
      e.message === "family file: no family named 'nope' (there are 'browser-session', 'queues')");
    assert.throws(() => Family.load(path, "nope"), (e) => e instanceof NotFoundError && e.message.startsWith(`${path}: family file: no family named 'nope'`));
    assert.throws(() => Family.allFromJson('{"families": [{"name": "a", "new": "n:<id>"}]}'), (e) => e instanceof DataError &&
      e.message === "family file: families[0].old: missing");
    assert.throws(() => Family.allFromJson("not json"), DataError);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '{"families": [{"name": "c", "old": "count:<n>", "new": "count:<n:number>"}]}');
    assert.throws(() => Family.loadAll(bad), (e) => e instanceof InvalidArgumentError &&
      e.message.startsWith(`${bad}: family file: families[0]: family c: the old and new shapes collide`));
  });
});

describe("native lifetimes (each in a child process)", () => {
  let server;
  const ends = async (code) => {
    const r = await runNode(code, { env: { REDIS_URL: server.url }, flags: ["--expose-gc"] });
    assert.equal(r.signal, null, describeEnd(r));
    assert.equal(r.status, 0, describeEnd(r));
    assert.equal(r.stderr, "", describeEnd(r));
    return r.stdout;
  };

  test("a process that ends with a window open and its calls in flight", STEP, async () => {
    server = await startRedis();
    try {
      const out = await ends(`
        const xr = await import(XR);
        const c = xr.createClient();
        const w = await xr.Window.open(c, new xr.Family("f", "lt:<id>", "lt:{<id>}"));
        await c.command("CLIENT", "PAUSE", "200", "ALL");
        for (let i = 0; i < 8; i++) w.set("k" + i, "v"); // in flight when the process ends
        console.log("done");`);
      assert.equal(out, "done\n");
    } finally {
      server.stop();
    }
  });

  test("a window and its client dropped while calls run: the calls finish, then all is freed", STEP, async () => {
    server = await startRedis();
    try {
      const out = await ends(`
        import { createRequire } from "node:module";
        const native = createRequire(import.meta.url)(NATIVE);
        const xr = await import(XR);
        const tick = () => new Promise((r) => setImmediate(r));
        const other = xr.createClient();
        let c = xr.createClient();
        let w = await xr.Window.open(c, new xr.Family("f", "lt:<id>", "lt:{<id>}"));
        await other.command("SET", "lt:a", "old");
        await other.command("CLIENT", "PAUSE", "200", "ALL");
        const calls = [w.get("a"), w.set("b", "v"), w.delete("none")];
        const during = native.xr_js_stats(null).windows;
        c = null;
        w = null;
        for (let i = 0; i < 10; i++) { gc(); await tick(); }
        const results = await Promise.all(calls);
        for (let i = 0; i < 10; i++) { gc(); await tick(); }
        const left = native.xr_js_stats(null);
        await other.close();
        console.log(during, JSON.stringify(results), left.windows, left.clients, left.jobs);`);
      assert.equal(out, '1 ["old",true,0] 0 1 0\n'); // the client left is \`other\`
    } finally {
      server.stop();
    }
  });
});

test("a password never shows in inspect or JSON", STEP, async () => {
  const PW = "s3cret-Pa55";
  const server = await startRedis(["--requirepass", PW]);
  try {
    const c = createClient(`redis://:${PW}@127.0.0.1:${server.port}`);
    const w = await Window.open(c, new Family("s", "sec:<id>", "sec:{<id>}"));
    await w.set("a", "v");
    for (const s of [inspect(w), JSON.stringify(w), String(w), inspect(w.family), inspect(w, { depth: 10, showHidden: true })]) {
      assert.ok(!s.includes(PW), s);
    }
    w.release();
    await c.close();
  } finally {
    server.stop();
  }
});

test("the TypeScript types say what the README says (tsc on test/types/window.ts)", STEP, () => {
  const tsc = join(here, "..", "node_modules", "typescript", "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "-p", join(here, "types", "window.tsconfig.json")], { cwd: join(here, ".."), stdio: "pipe" });
  } catch (e) {
    assert.fail(`tsc: ${e.stdout}${e.stderr}`);
  }
});
