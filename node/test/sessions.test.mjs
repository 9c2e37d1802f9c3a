// toolhive's session stores from Node (RedisStorage, RedisSessionDataStorage, Session), on each
// topology (support/topology.mjs: a redis-server of this file's own, the run's shared Sentinel set
// and Cluster): the bytes stored are the captured toolhive v0.66.0 record's, times keep their
// nanoseconds and offsets through a load and a store, toolhive's errors and owners, the vMCP data
// store, bad input that changes nothing, one event-loop turn's calls as one native call. The
// module comes from ../dist/index.mjs: without the feature (or a build) every test fails. Needs
// `npm run build` in node/.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TOPOLOGY_KINDS, onTopology as on } from "./support/topology.mjs";
import * as xr from "../dist/index.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const addon = require(join(here, "..", "build", "Release", "crossredis_native.node"));

// tests/vectors/toolhive-v0.66.0.tagged.txt, "Store SSE session": what toolhive v0.66.0 stored
const CAPTURED_ID = "11111111-1111-4111-8111-111111111111";
const CAPTURED_AT = "2026-12-04T13:23:50.733781078Z";
const CAPTURED = String.raw`{"id":"11111111-1111-4111-8111-111111111111","type":"sse","created_at":"2026-12-04T13:23:50.733781078Z",` +
  String.raw`"updated_at":"2026-12-04T13:23:50.733781078Z","data":{"client":"sse","n":1},"metadata":{"backend_url":` +
  String.raw`"http://10.0.0.5:8080","vmcp.identity.binding":"https://issuer.example\u0000subject-42"}}`;
const OWNER = "https://issuer.example\u0000subject-42";

/** A key prefix of the test's own (its keys are deleted after it). */
const prefix = (t, store = "proxy") => `${t.prefix}:${store}:`;

function capturedSession() {
  return new xr.Session({ id: CAPTURED_ID, type: "sse", createdAt: CAPTURED_AT, updatedAt: CAPTURED_AT,
    data: { client: "sse", n: 1 }, metadata: { backend_url: "http://10.0.0.5:8080", [xr.BINDING_KEY]: OWNER } });
}

/** Counts the native batch calls of the sessions layer (it calls loader.native.* at call time). */
function countRuns() {
  const loader = require("../dist/cjs/native.js");
  const original = loader.native;
  const calls = [];
  loader.native = Object.create(original, {
    xr_js_session_run: { value: (store, ops) => { calls.push(ops.length); return original.xr_js_session_run(store, ops); } },
  });
  return { calls, restore: () => { loader.native = original; } };
}

describe("toolhive sessions: the API", () => {
  test("exports, defaults and the error classes the core's codes map to", () => {
    assert.equal(xr.BINDING_KEY, "vmcp.identity.binding");
    assert.equal(xr.SessionNotFoundError, xr.NotFoundError);
    assert.equal(xr.SessionExistsError, xr.AlreadyExistsError);
    const st = new xr.RedisStorage({ url: "redis://127.0.0.1:1" });
    assert.deepEqual([st.keyPrefix, st.ttlMs, st.go], ["thv:proxy:session:", 7200000, "1.27"]);
    const d = new xr.RedisSessionDataStorage({ url: "redis://127.0.0.1:1" });
    assert.deepEqual([d.keyPrefix, d.ttlMs, d.go], ["thv:vmcp:session:", 1800000, "1.27"]);
    const s = new xr.Session({ id: "x" });
    assert.equal(s.type, "mcp");
    assert.ok(s.createdAt instanceof Date && Math.abs(s.createdAt.getTime() - Date.now()) < 5000);
    assert.equal(s.createdAtText, s.createdAt.toISOString());
    assert.equal(s.data, undefined);
    assert.equal(s.dataText, undefined);
    assert.deepEqual(s.metadata, {});
  });

  test("the TypeScript types say what the README says (tsc on test/types/sessions.ts)", () => {
    const tsc = join(here, "..", "node_modules", "typescript", "bin", "tsc");
    try {
      execFileSync(process.execPath, [tsc, "-p", join(here, "types", "sessions.tsconfig.json")], { cwd: join(here, ".."), stdio: "pipe" });
    } catch (e) {
      assert.fail(`tsc: ${e.stdout}${e.stderr}`);
    }
  });

  test("Session keeps the exact texts while the values are unchanged", () => {
    const s = new xr.Session({ id: "t", createdAt: "2026-01-02T03:04:05.123456789+05:30", updatedAt: "0001-01-01T00:00:00Z",
      dataText: '{"b":1, "a":[1.50]}' });
    assert.equal(s.createdAt.toISOString(), "2026-01-01T21:34:05.123Z");
    assert.equal(s.updatedAt.toISOString(), "0001-01-01T00:00:00.000Z", "Go's zero time: year 1, not 1901");
    assert.equal(s.createdAtText, "2026-01-02T03:04:05.123456789+05:30");
    assert.equal(s.updatedAtText, "0001-01-01T00:00:00Z");
    assert.deepEqual(s.data, { b: 1, a: [1.5] });
    assert.equal(s.dataText, '{"b":1, "a":[1.50]}', "raw JSON kept while the value is the same");
    s.data.b = 2;
    assert.equal(s.dataText, '{"b":2,"a":[1.5]}', "a changed value is written from the value");
    s.createdAt = new Date(s.createdAt.getTime()); // the same instant: the text stays
    assert.equal(s.createdAtText, "2026-01-02T03:04:05.123456789+05:30");
    s.createdAt.setTime(s.createdAt.getTime() + 1); // changed in place
    assert.equal(s.createdAtText, "2026-01-01T21:34:05.124Z");
    s.updatedAtText = "2030-05-06T07:08:09.000000001-02:00";
    assert.equal(s.updatedAt.toISOString(), "2030-05-06T09:08:09.000Z");
    assert.throws(() => { s.createdAtText = "yesterday"; }, TypeError);
    assert.throws(() => new xr.Session({ id: "t", createdAt: "2026-01-02 03:04:05Z" }), TypeError);
    assert.throws(() => new xr.Session({ id: "t", createdAt: 5 }), TypeError);
  });
});

for (const kind of TOPOLOGY_KINDS) {
  describe(`toolhive sessions on ${kind}`, () => {
    test("store writes toolhive v0.66.0's bytes; a loaded session is written back the same", () => on(kind, "bytes", async (t) => {
      // the standalone server is this file's own: toolhive's default prefix there, the captured key itself
      const keyPrefix = kind === "standalone" ? undefined : prefix(t);
      const st = new xr.RedisStorage({ url: t.url, keyPrefix });
      const key = (keyPrefix ?? "thv:proxy:session:") + CAPTURED_ID;
      if (kind === "standalone") assert.equal(key, "thv:proxy:session:11111111-1111-4111-8111-111111111111");
      try {
        await st.store(capturedSession());
        assert.deepEqual(await t.admin.commandBuffers("GET", key), Buffer.from(CAPTURED, "utf8"));
        assert.ok([7199, 7200].includes(await t.admin.command("TTL", key)), "TTL 7200 s");
        const loaded = await st.load(CAPTURED_ID);
        assert.ok(loaded instanceof xr.Session);
        assert.equal(loaded.id, CAPTURED_ID);
        assert.equal(loaded.type, "sse");
        assert.equal(loaded.createdAtText, CAPTURED_AT);
        assert.equal(loaded.updatedAtText, CAPTURED_AT);
        assert.equal(loaded.createdAt.toISOString(), "2026-12-04T13:23:50.733Z");
        assert.deepEqual(loaded.data, { client: "sse", n: 1 });
        assert.deepEqual(loaded.metadata, { backend_url: "http://10.0.0.5:8080", "vmcp.identity.binding": OWNER });
        await st.store(loaded); // loaded, stored again: the same bytes (nanoseconds kept)
        assert.equal(await t.admin.command("GET", key), CAPTURED);
        loaded.touch(); // a changed time is written from the Date (as Go writes it: "…14.62Z" for .620)
        await st.store(loaded);
        const after = JSON.parse(await t.admin.command("GET", key));
        assert.equal(after.created_at, CAPTURED_AT);
        assert.equal(Date.parse(after.updated_at), loaded.updatedAt.getTime());
        assert.match(after.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,2}[1-9])?Z$/, "UTC, trailing zeros dropped");
        loaded.updatedAt = new Date(Date.UTC(2027, 0, 2, 3, 4, 5, 620));
        await st.store(loaded);
        assert.equal(JSON.parse(await t.admin.command("GET", key)).updated_at, "2027-01-02T03:04:05.62Z");
      } finally {
        if (kind === "standalone") await t.admin.command("DEL", key);
        await st.close();
      }
    }));

    test("load round-trips nanoseconds and a +05:30 offset; px TTLs; Go 1.26; streamable keeps no data", () => on(kind, "offsets", async (t) => {
      const st = new xr.RedisStorage({ url: t.url, keyPrefix: prefix(t), ttlMs: 90500, go: "1.26" });
      try {
        const s = new xr.Session({ id: "o1", type: "sse", createdAt: "2026-01-02T03:04:05.000000001+05:30",
          updatedAt: "2026-01-02T03:04:05.5+05:30", data: [1, "x"], metadata: { k: "\u2028<\u00ff>" } });
        await st.store(s);
        const key = prefix(t) + "o1";
        assert.equal(await t.admin.command("GET", key), String.raw`{"id":"o1","type":"sse","created_at":"2026-01-02T03:04:05.000000001+05:30",` +
          String.raw`"updated_at":"2026-01-02T03:04:05.5+05:30","data":[1,"x"],"metadata":{"k":"\u2028\u003c` + "\u00ff" + String.raw`\u003e"}}`);
        const pttl = await t.admin.command("PTTL", key);
        assert.ok(pttl > 89000 && pttl <= 90500, `px: not a whole number of seconds (${pttl})`);
        const back = await st.load("o1");
        assert.equal(back.createdAtText, "2026-01-02T03:04:05.000000001+05:30");
        assert.equal(back.updatedAtText, "2026-01-02T03:04:05.5+05:30");
        assert.equal(back.createdAt.getTime(), Date.UTC(2026, 0, 1, 21, 34, 5, 0));
        assert.equal(back.updatedAt.getTime(), Date.UTC(2026, 0, 1, 21, 34, 5, 500));
        assert.deepEqual(back.metadata, { k: "\u2028<\u00ff>" });
        const before = await t.admin.command("GET", key);
        await st.store(back);
        assert.equal(await t.admin.command("GET", key), before, "written back byte for byte");
        await st.store(new xr.Session({ id: "o2", type: "streamable", createdAt: "2026-01-02T03:04:05Z",
          updatedAt: "2026-01-02T03:04:05Z", data: { dropped: true } }));
        assert.equal(await t.admin.command("GET", prefix(t) + "o2"),
          '{"id":"o2","type":"streamable","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}');
        assert.equal((await st.load("o2")).data, undefined, "a streamable session keeps no data, as toolhive's");
      } finally {
        await st.close();
      }
    }));

    test("SessionNotFoundError, SessionExistsError, delete, deleteExpired, loadMetadata", () => on(kind, "errors", async (t) => {
      const st = new xr.RedisStorage({ url: t.url, keyPrefix: prefix(t) });
      const runs = countRuns();
      try {
        await assert.rejects(st.load("nobody"), (e) => e instanceof xr.SessionNotFoundError && e instanceof xr.NotFoundError &&
          e.message === `${prefix(t)}nobody: session not found` && e.codeName === "ENOTFOUND");
        await assert.rejects(st.loadMetadata("nobody"), xr.SessionNotFoundError);
        const s = new xr.Session({ id: "c1", metadata: { a: "1" } });
        await st.create(s);
        await assert.rejects(st.create(new xr.Session({ id: "c1", type: "sse" })), (e) => e instanceof xr.SessionExistsError &&
          e instanceof xr.AlreadyExistsError && e.message === `${prefix(t)}c1: session already exists`);
        assert.equal((await st.load("c1")).type, "mcp", "the failed create changed nothing");
        assert.deepEqual(await st.loadMetadata("c1"), { a: "1" });
        await st.store(new xr.Session({ id: "bare" }));
        assert.equal(await st.loadMetadata("bare"), null, "no metadata: Go's nil map");
        await st.delete("bare");
        await st.delete("bare"); // missing: no error
        await assert.rejects(st.load("bare"), xr.SessionNotFoundError);
        const sent = runs.calls.length;
        await st.deleteExpired(new Date());
        assert.equal(runs.calls.length, sent, "deleteExpired sends nothing");
        await assert.rejects(st.deleteExpired("yesterday"), TypeError);
        assert.deepEqual(await t.keys(), [prefix(t) + "c1"]);
      } finally {
        runs.restore();
        await st.close();
      }
    }));

    test("owners: loadIfOwner, storeIfOwner, deleteIfOwner with the right and a wrong owner", () => on(kind, "owners", async (t) => {
      const st = new xr.RedisStorage({ url: t.url, keyPrefix: prefix(t) });
      const key = prefix(t) + "own";
      try {
        const s = new xr.Session({ id: "own", type: "sse", data: { v: 1 }, metadata: { [xr.BINDING_KEY]: OWNER } });
        await st.create(s);
        await assert.rejects(st.loadIfOwner("own", "someone-else"), xr.SessionNotFoundError);
        await assert.rejects(st.loadIfOwner("own", "https://issuer.example"), xr.SessionNotFoundError, "the owner is byte-equal, NUL and all");
        await assert.rejects(st.loadIfOwner("missing", OWNER), xr.SessionNotFoundError);
        const mine = await st.loadIfOwner("own", OWNER);
        assert.deepEqual([mine.id, mine.data, mine.metadata[xr.BINDING_KEY]], ["own", { v: 1 }, OWNER]);
        const stored = await t.admin.command("GET", key);
        mine.data = { v: 2 };
        assert.equal(await st.storeIfOwner(mine, "someone-else"), false);
        assert.equal(await t.admin.command("GET", key), stored, "a wrong owner changes nothing");
        assert.equal(await st.storeIfOwner(mine, OWNER), true);
        assert.deepEqual((await st.load("own")).data, { v: 2 });
        const pttl = await t.admin.command("PTTL", key);
        assert.ok(pttl > 7190000 && pttl <= 7200000, `PX ttl (${pttl})`);
        const foreign = new xr.Session({ id: "own", metadata: { [xr.BINDING_KEY]: "someone-else" } });
        assert.equal(await st.storeIfOwner(foreign, OWNER), false, "the new record must name the owner too");
        assert.equal(await st.deleteIfOwner("own", "someone-else"), false);
        assert.equal(await t.admin.command("EXISTS", key), 1);
        assert.equal(await st.deleteIfOwner("own", OWNER), true);
        await assert.rejects(st.load("own"), xr.SessionNotFoundError);
        assert.equal(await st.deleteIfOwner("own", OWNER), false);
      } finally {
        await st.close();
      }
    }));

    test("RedisSessionDataStorage: create NX, update XX, load, a stored null, loadMetadata, delete", () => on(kind, "data", async (t) => {
      const d = new xr.RedisSessionDataStorage({ url: t.url, keyPrefix: prefix(t, "vmcp") });
      const key = prefix(t, "vmcp") + "d1";
      try {
        assert.equal(await d.update("d1", { a: "1" }), false, "XX: there is none");
        assert.equal(await t.admin.command("EXISTS", key), 0);
        assert.equal(await d.create("d1", { b: "2", a: "<1>" }), true);
        assert.equal(await d.create("d1", {}), false, "NX: it exists");
        assert.equal(await t.admin.command("GET", key), String.raw`{"a":"\u003c1\u003e","b":"2"}`);
        const ttl = await t.admin.command("TTL", key);
        assert.ok(ttl === 1800 || ttl === 1799, `TTL 30 min (${ttl})`);
        assert.deepEqual(await d.load("d1"), { a: "<1>", b: "2" });
        assert.equal(await d.update("d1", null), true);
        assert.equal(await t.admin.command("GET", key), "{}", "null is written as Go writes an empty map");
        assert.deepEqual(await d.load("d1"), {});
        await t.admin.command("SET", key, "null");
        assert.equal(await d.load("d1"), null, "a stored null: Go's nil map");
        assert.equal(await d.loadMetadata("d1"), null);
        await t.admin.command("SET", key, '{"x":"1","x":"2","n":null}');
        assert.deepEqual(await d.loadMetadata("d1"), { n: "", x: "2" }, "read as Go reads it");
        assert.equal(await t.admin.command("TTL", key), -1, "loadMetadata leaves the TTL (get)");
        await d.load("d1");
        assert.ok(await t.admin.command("TTL", key) > 1790, "load slides it (getex)");
        await d.delete("d1");
        await assert.rejects(d.load("d1"), xr.SessionNotFoundError);
        await assert.rejects(d.loadMetadata("d1"), xr.SessionNotFoundError);
        await d.delete("d1");
      } finally {
        await d.close();
      }
    }));

    test("bad input is refused with toolhive's words and changes nothing", () => on(kind, "bad", async (t) => {
      const st = new xr.RedisStorage({ url: t.url, keyPrefix: prefix(t) });
      const d = new xr.RedisSessionDataStorage({ url: t.url, keyPrefix: prefix(t, "vmcp") });
      try {
        await st.store(new xr.Session({ id: "good", data: { keep: true }, metadata: { k: "v" } }));
        const good = prefix(t) + "good";
        const before = await t.admin.command("GET", good);
        const invalid = (text) => (e) => e instanceof xr.InvalidArgumentError && e.message.includes(text);
        await assert.rejects(st.load(""), invalid("cannot load session with empty ID"));
        await assert.rejects(st.load(""), (e) => e.message === "session.load: cannot load session with empty ID");
        await assert.rejects(st.store(new xr.Session({ id: "" })), invalid("cannot store session with empty ID"));
        await assert.rejects(st.create(new xr.Session({ id: "" })), invalid("cannot create nil session or empty ID"));
        await assert.rejects(st.delete(""), invalid("cannot delete session with empty ID"));
        await assert.rejects(st.loadMetadata(""), invalid("cannot load session metadata with empty ID"));
        await assert.rejects(st.loadIfOwner("", OWNER), invalid("cannot load session with empty ID"));
        await assert.rejects(d.create("", {}), invalid("cannot write session data with empty ID"));
        await assert.rejects(st.store(new xr.Session({ id: "good", metadata: { n: 1 } })),
          invalid("json: cannot unmarshal number into Go struct field sessionData.metadata.n of type string"));
        await assert.rejects(d.update("good", { n: 1 }), invalid("data_json is not a map of strings"));
        await assert.rejects(st.store(new xr.Session({ id: "good", createdAt: "2026-13-02T03:04:05Z" })), invalid("month out of range"));
        await assert.rejects(st.load(5), TypeError);
        await assert.rejects(st.store({ id: "good" }), TypeError);
        await assert.rejects(st.store(new xr.Session({ id: "good", data: () => 1 })), TypeError);
        await assert.rejects(st.store(new xr.Session({ id: "good", createdAt: new Date(NaN) })), TypeError);
        await assert.rejects(st.load("\uD83Dx"), invalid("id: not valid Unicode (a lone surrogate U+D83D at index 0)"));
        await t.admin.command("SET", prefix(t) + "bad", "{bad");
        await assert.rejects(st.load("bad"), (e) => e instanceof xr.DataError &&
          e.message === `${prefix(t)}bad: failed to deserialize session: failed to unmarshal session data: ` +
            "invalid character 'b' looking for beginning of object key string");
        assert.equal(await t.admin.command("GET", good), before, "nothing stored changed");
        assert.deepEqual(await t.keys(), [prefix(t) + "bad", good]);
      } finally {
        await st.close();
        await d.close();
      }
      // the options: the core's checks, at construction (nothing connects)
      assert.throws(() => new xr.RedisStorage({ url: t.url, keyPrefix: "thv:proxy:session" }), (e) =>
        e instanceof xr.InvalidArgumentError &&
        e.message === "invalid redis configuration: key prefix must end with ':' to avoid key collisions (e.g. \"thv:vmcp:session:\")");
      assert.throws(() => new xr.RedisSessionDataStorage({ url: t.url, keyPrefix: "" }), xr.InvalidArgumentError);
      assert.throws(() => new xr.RedisStorage({ url: t.url, ttlMs: -1 }), (e) =>
        e instanceof xr.InvalidArgumentError && e.message.startsWith("ttl must be a positive duration"));
      for (const Store of [xr.RedisStorage, xr.RedisSessionDataStorage])  // 0 is not the default: refused, as toolhive
        assert.throws(() => new Store({ url: t.url, ttlMs: 0 }), (e) =>
          e instanceof xr.InvalidArgumentError && e.message === "ttl must be a positive duration (ttl_ms 0)");
      assert.throws(() => new xr.RedisStorage({ url: t.url, ttlMs: 1.5 }), TypeError);
      assert.throws(() => new xr.RedisStorage({ url: t.url, go: "1.25" }), TypeError);
      assert.throws(() => new xr.RedisStorage({ url: t.url, keyPrefix: "a\0:" }), xr.InvalidArgumentError);
      const client = xr.createClient(t.url);
      assert.throws(() => new xr.RedisStorage({ client, poolSize: 2 }), TypeError);
      assert.throws(() => new xr.RedisStorage({ client: {} }), TypeError);
      await client.close();
    }));

    test("64 concurrent loads go to the core as one native call; close() waits, then calls reject", () => on(kind, "batch", async (t) => {
      const client = xr.createClient(t.url);
      const st = new xr.RedisStorage({ client, keyPrefix: prefix(t) });
      const d = new xr.RedisSessionDataStorage({ client, keyPrefix: prefix(t, "vmcp") });
      const runs = countRuns();
      try {
        await st.connect();
        await Promise.all(Array.from({ length: 64 }, (_, i) =>
          st.store(new xr.Session({ id: `s${i}`, createdAt: CAPTURED_AT, updatedAt: CAPTURED_AT, data: { i } }))));
        assert.deepEqual(runs.calls.splice(0), [64], "one turn's stores: one call");
        const loads = await Promise.all(Array.from({ length: 64 }, (_, i) => st.load(`s${i}`)));
        assert.deepEqual(runs.calls.splice(0), [64], "one turn's loads: one call (no lanes: the core splits it per node)");
        assert.ok(loads.every((s, i) => s.id === `s${i}` && s.data.i === i && s.createdAtText === CAPTURED_AT));
        if (kind === "cluster") assert.equal(await t.mastersHolding(), 3, "one batch, split over the masters");
        // a turn's mixed calls keep their order: the store is seen by the load after it
        const [, mixed, missing] = await Promise.allSettled([st.store(new xr.Session({ id: "s0", type: "sse" })), st.load("s0"),
          st.load("none")]);
        assert.equal(mixed.value.type, "sse");
        assert.ok(missing.reason instanceof xr.SessionNotFoundError, "one failure fails only its own call");
        assert.deepEqual(runs.calls.splice(0), [3]);
        // 64 concurrent load+store loops keep coalescing
        await Promise.all(Array.from({ length: 64 }, async (_, i) => {
          for (let k = 0; k < 5; k++) {
            const s = await st.load(`s${i}`);
            s.data = { i, k };
            await st.store(s);
          }
        }));
        assert.equal(runs.calls.reduce((a, b) => a + b, 0), 64 * 10);
        assert.ok(runs.calls.length <= 20, `640 operations in ${runs.calls.length} calls`);
        assert.equal(addon.xr_js_stats(null).sessions, 1);
        assert.equal(await d.create("x", { k: "v" }), true, "a second store on the same client");
        assert.equal(addon.xr_js_stats(null).sessions, 2);
        const pending = Array.from({ length: 8 }, (_, i) => st.load(`s${i}`));
        await st.close(); // waits for the calls in flight
        assert.ok((await Promise.all(pending)).every((s) => s instanceof xr.Session));
        await assert.rejects(st.load("s0"), xr.ClientClosedError);
        assert.ok(client.isOpen, "a given client stays open");
        assert.deepEqual(await d.load("x"), { k: "v" }, "the other store still works");
      } finally {
        runs.restore();
        await st.close();
        await d.close();
        await client.close();
      }
      assert.equal(addon.xr_js_stats(null).sessions, 0, "the native stores were freed");
    }));
  });
}
