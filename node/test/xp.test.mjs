// xml-pipeline's buffer and registry (SPEC.md 4) from Node (node/src/xp.ts) against real servers,
// one body on each topology (a standalone server of this file's own, the run's Sentinel set and
// Cluster): every method's result and what Redis holds (keys, TTLs), the escaped prefix, a 10 MiB
// slot, concurrent appends and get-or-create, the core's refusals (empty ids, a key of another
// type: nothing else touched) and the data Python's crossredis.xp wrote read here and the other way
// round (slots as bytes, JSON slots decoded equal, the registry both ways), the interop driver's
// --system xp mode; and the neutral JSON slot codec, its bytes equal to Python's.
//
// Run: cd node && node --test test/xp.test.mjs
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { onTopology, TOPOLOGY_KINDS } from "./support/topology.mjs";
import {
  createClient, createXpBackend, XpBackend, encodeJsonSlot, decodeJsonSlot, InvalidArgumentError, WrongTypeError, ClientClosedError,
} from "../dist/index.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const addon = require(join(here, "..", "build", "Release", "crossredis_native.node"));
const PYTHON = join(here, "..", "..", ".venv", "bin", "python");
const STEP = { timeout: 60000 };
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Counts the xp layer's native calls (it calls loader.native.* at call time): the batches (their
 * sizes) and the rows run alone (their codes). */
function countCalls() {
  const loader = require("../dist/cjs/native.js");
  const original = loader.native;
  const runs = [];
  const alone = [];
  loader.native = Object.create(original, {
    xr_js_xp_run: { value: (store, ops) => { runs.push(ops.length); return original.xr_js_xp_run(store, ops); } },
    xr_js_xp_call: { value: (store, op) => { alone.push(op[0]); return original.xr_js_xp_call(store, op); } },
  });
  return { runs, alone, restore: () => { loader.native = original; } };
}

/** `script` run by the repository's Python with `arg` (JSON) as argv[1]; its stdout as JSON. */
function python(script, arg) {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, ["-c", script, JSON.stringify(arg)], { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`python failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

const SLOT = {
  payload: { text: "hello ü \u0000", n: [1, 2.5, null, true], nested: { b: 1, a: "x" } },
  metadata: { threadId: "t-1", fromId: "console", toId: "router", slotIndex: 3, timestamp: "2026-12-05T21:00:00+00:00",
    payloadType: "Greeting", ownName: "greeter", isSelfCall: false, usageInstructions: "say hi" },
};

// What Python does with Node's data, then writes for Node (one process per topology).
const PY_INTEROP = `
import json, sys
from crossredis.xp import RedisBackend, BufferSlot, SlotMetadata, encode_json_slot, decode_json_slot
a = json.loads(sys.argv[1])
b = RedisBackend(a["url"], prefix=a["prefix"], ttl=600)
out = {"thread": [s.hex() for s in b.buffer_get_thread("from-node")]}
s = decode_json_slot(b.buffer_get_slot("from-node", -1))
m = s.metadata
out["json"] = {"payload": s.payload, "metadata": {"thread_id": m.thread_id, "from_id": m.from_id, "to_id": m.to_id,
  "slot_index": m.slot_index, "timestamp": m.timestamp, "payload_type": m.payload_type, "own_name": m.own_name,
  "is_self_call": m.is_self_call, "usage_instructions": m.usage_instructions}}
out["uuid"] = b.registry_get_uuid("node.chain")
out["chain"] = b.registry_get_chain(out["uuid"] or "none")
out["all"] = b.registry_list_all()
out["threads"] = b.buffer_list_threads()
b.buffer_append("from-py", bytes([0, 1, 128, 255]))
md = SlotMetadata(thread_id="from-py", from_id="py", to_id="node", slot_index=1, timestamp="2026-12-05T21:00:00Z",
                  payload_type="Reply", own_name=None, is_self_call=True, usage_instructions="\\u00fc")
js = encode_json_slot(BufferSlot(payload={"b": [1, 2.5, None], "a": "x"}, metadata=md))
out["py_json"] = js.hex()
b.buffer_append("from-py", js)
b.registry_set("py.chain", "py-uuid")
out["py_made"] = b.registry_get_or_create("py.made")
b.close()
print(json.dumps(out))
`;

for (const kind of TOPOLOGY_KINDS) {
  describe(`xp on the ${kind === "standalone" ? "standalone server" : `run's ${kind}`}`, () => {
    test("every method: results and what Redis holds", STEP, () => onTopology(kind, "xp-methods", async (t) => {
      const p = `${t.prefix}:`;
      const client = createClient(t.url);
      const b = createXpBackend(client, { prefix: p, ttl: 600 });
      try {
        assert.equal(await b.ping(), true);
        assert.equal(b.prefix, p);
        assert.equal(b.ttl, 600);
        // the buffer
        assert.equal(await b.bufferThreadExists("t1"), false);
        assert.equal(await b.bufferThreadLen("t1"), 0);
        assert.deepEqual(await b.bufferGetThread("t1"), []);
        assert.equal(await b.bufferGetSlot("t1", 0), null);
        const slots = [Buffer.from([0x80, 0x04, 0x00, 0xff]), Buffer.alloc(0), Buffer.from("slot ü")];
        for (const [i, s] of slots.entries()) assert.equal(await b.bufferAppend("t1", s), i);
        const got = await b.bufferGetThread("t1");
        assert.ok(got.every((s) => Buffer.isBuffer(s)));
        assert.deepEqual(got, slots);
        assert.deepEqual(await b.bufferGetSlot("t1", 0), slots[0]);
        assert.deepEqual(await b.bufferGetSlot("t1", -1), slots[2]);
        assert.equal(await b.bufferGetSlot("t1", 3), null);
        assert.equal(await b.bufferThreadLen("t1"), 3);
        const big = Buffer.alloc(10 * 1024 * 1024, 0xab); // 10 MiB: built and read on the pool, as bytes
        big[0] = 0x80;
        assert.equal(await b.bufferAppend("big", big), 0);
        assert.ok(big.equals(await b.bufferGetSlot("big", 0)));
        assert.ok(big.equals((await b.bufferGetThread("big"))[0]));
        assert.equal(await b.bufferDeleteThread("big"), true);
        assert.equal(await b.bufferThreadExists("t1"), true);
        assert.equal(await t.admin.command("TYPE", `${p}buffer:t1`), "list");
        assert.deepEqual(await t.admin.commandBuffers("LRANGE", `${p}buffer:t1`, 0, -1), slots);
        const ttl = await t.admin.command("TTL", `${p}buffer:t1`);
        assert.ok(ttl > 590 && ttl <= 600, `TTL ${ttl}`);
        for (const id of ["t2", "sp ace", "ü*?[x]"]) await b.bufferAppend(id, Buffer.from("x"));
        assert.deepEqual(await b.bufferListThreads(), ["sp ace", "t1", "t2", "ü*?[x]"].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
        assert.equal(await b.bufferDeleteThread("t2"), true);
        assert.equal(await b.bufferDeleteThread("t2"), false);
        assert.equal(await t.admin.command("EXISTS", `${p}buffer:t2`), 0);
        // the registry
        const chain = "system.org.console.router";
        assert.equal(await b.registrySet(chain, "u1"), undefined);
        assert.equal(await b.registryGetUuid(chain), "u1");
        assert.equal(await b.registryGetChain("u1"), chain);
        assert.equal(await t.admin.get(`${p}chain:${chain}`), "u1");
        assert.equal(await t.admin.get(`${p}uuid:u1`), chain);
        for (const k of [`${p}chain:${chain}`, `${p}uuid:u1`]) assert.ok((await t.admin.command("TTL", k)) > 590);
        // a re-map removes the old reverse key; deleting by the old uuid leaves the new mapping
        await b.registrySet(chain, "u2");
        assert.equal(await b.registryGetChain("u1"), null);
        assert.equal(await t.admin.get(`${p}uuid:u1`), null);
        assert.equal(await b.registryDelete("u1"), false);
        assert.equal(await b.registryGetUuid(chain), "u2");
        assert.equal(await b.registryGetUuid("no.such"), null);
        const made = await b.registryGetOrCreate("c2");
        assert.match(made, UUID4);
        assert.equal(await b.registryGetOrCreate("c2"), made);
        assert.equal(await t.admin.get(`${p}uuid:${made}`), "c2");
        assert.deepEqual(await b.registryListAll(), { u2: chain, [made]: "c2" });
        assert.deepEqual(await b.info(), { bufferThreads: 3, registryEntries: 2, ttlSeconds: 600 });
        assert.equal(await b.registryDelete("u2"), true);
        assert.equal(await b.registryGetUuid(chain), null);
        assert.equal(await t.admin.get(`${p}uuid:u2`), null);
        assert.equal(await b.registryClear(), undefined);
        assert.deepEqual(await t.keys("chain:*"), []);
        assert.deepEqual(await t.keys("uuid:*"), []);
        assert.equal(await b.bufferClear(), undefined);
        assert.deepEqual(await t.keys("buffer:*"), []);
        assert.deepEqual(await b.info(), { bufferThreads: 0, registryEntries: 0, ttlSeconds: 600 });
        // ttl 0: no expiry
        const forever = createXpBackend(client, { prefix: p, ttl: 0 });
        await forever.bufferAppend("f", Buffer.from("x"));
        await forever.registrySet("fc", "fu");
        for (const k of [`${p}buffer:f`, `${p}chain:fc`, `${p}uuid:fu`]) assert.equal(await t.admin.command("TTL", k), -1, k);
        assert.equal((await forever.info()).ttlSeconds, 0);
        // a glob prefix is escaped: "a*" never lists "ab"'s threads
        const star = createXpBackend(client, { prefix: `${p}a*:` });
        const ab = createXpBackend(client, { prefix: `${p}ab:` });
        await ab.bufferAppend("theirs", Buffer.from("x"));
        assert.deepEqual(await star.bufferListThreads(), []);
        assert.deepEqual(await ab.bufferListThreads(), ["theirs"]);
        await star.bufferClear();
        assert.equal(await ab.bufferThreadExists("theirs"), true);
        for (const x of [forever, star, ab]) await x.close();
      } finally {
        await b.close();
        await client.close();
      }
    }));

    test("concurrency: 300 appends get distinct indexes, 20 get-or-create one uuid", STEP, () => onTopology(kind, "xp-conc", async (t) => {
      const b = createXpBackend(t.url, { prefix: `${t.prefix}:` });
      await b.connect();
      const calls = countCalls();
      try {
        const idx = await Promise.all(Array.from({ length: 300 }, (_, i) => b.bufferAppend("busy", Buffer.from(String(i)))));
        assert.deepEqual([...idx].sort((x, y) => x - y), Array.from({ length: 300 }, (_, i) => i));
        assert.equal(calls.runs.reduce((a, n) => a + n, 0), 300);
        assert.ok(calls.runs.length <= 4, `300 appends in ${calls.runs.length} batches`);
        const thread = await b.bufferGetThread("busy");
        idx.forEach((index, i) => assert.equal(thread[index].toString(), String(i))); // each index is its own slot's
        const uuids = await Promise.all(Array.from({ length: 20 }, () => b.registryGetOrCreate("one.chain")));
        assert.equal(new Set(uuids).size, 1);
        assert.deepEqual(await b.registryListAll(), { [uuids[0]]: "one.chain" });
        // the registry's several-step rows run alone on a Cluster (a batch refuses them there), batched elsewhere
        calls.runs.length = 0;
        await Promise.all([b.registrySet("two.chain", "two"), b.registryGetChain("two"), b.registryGetUuid("two.chain"),
          b.registryDelete("none")]);
        const codes = new Map(addon.xr_js_xp_ops(null).map((r) => [r.wire, r.code]));
        const several = ["registryGetOrCreate", "registrySet", "registryGetChain", "registryDelete"].map((w) => codes.get(w));
        if (kind === "cluster") {
          assert.equal(calls.alone.length, 23);
          assert.ok(calls.alone.every((c) => several.includes(c)));
          assert.deepEqual(calls.runs, [1]); // registryGetUuid: one key, batched
        } else {
          assert.deepEqual(calls.alone, []);
          assert.ok(calls.runs.length <= 2, `${calls.runs}`);
        }
      } finally {
        calls.restore();
        await b.close();
      }
    }));

    test("every row alone through the addon's xr_js_xp_call: its result by kind", STEP, () => onTopology(kind, "xp-alone", async (t) => {
      const client = createClient(t.url);
      const store = addon.xr_js_xp_new(await client.handle(), { keyPrefix: `${t.prefix}:`, ttl: 600 });
      try {
        const codes = new Map(addon.xr_js_xp_ops(null).map((r) => [r.wire, r.code]));
        const call = (wire, ...args) => addon.xr_js_xp_call(store, [codes.get(wire), ...args]);
        const a = Buffer.from([0, 0xff]);
        assert.equal(await call("bufferAppend", "t", a), 0);
        assert.deepEqual(await call("bufferGetThread", "t"), [a]);
        assert.deepEqual(await call("bufferGetSlot", "t", 0), a);
        assert.equal(await call("bufferGetSlot", "t", 1), null);
        assert.equal(await call("bufferThreadLen", "t"), 1);
        assert.equal(await call("bufferThreadExists", "t"), true);
        assert.equal(await call("registrySet", "c", "u"), undefined);
        assert.deepEqual(await call("registryGetUuid", "c"), Buffer.from("u"));
        assert.deepEqual(await call("registryGetChain", "u"), Buffer.from("c"));
        assert.deepEqual(await call("registryGetOrCreate", "c"), Buffer.from("u"));
        assert.equal(await call("registryDelete", "u"), true);
        assert.equal(await call("bufferDeleteThread", "t"), true);
        await assert.rejects(call("registrySet", "", "u"), InvalidArgumentError);
        assert.throws(() => addon.xr_js_xp_call(store, [codes.get("registrySet"), "c"]), TypeError);
        assert.throws(() => addon.xr_js_xp_call(store, [99]), RangeError);
        assert.deepEqual(await t.keys(), []);
      } finally {
        addon.xr_js_xp_close(store);
        await client.close();
      }
    }));

    test("the interop driver's --system xp answers CONTRACT.md's xp table", STEP, () => onTopology(kind, "xp-driver", async (t) => {
      const p = `${t.prefix}:`;
      const driver = spawn(process.execPath, [join(here, "..", "..", "interop", "drivers", "ts_driver.mjs"), "--system", "xp",
        "--impl", "ts-crossredis", "--prefix", p, "--ttl", "600"], { env: { ...process.env, REDIS_URL: t.url }, stdio: ["pipe", "pipe", "inherit"] });
      const lines = [];
      let buf = "";
      driver.stdout.setEncoding("utf8").on("data", (d) => {
        buf += d;
        for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) lines.push(JSON.parse(buf.slice(0, i)));
      });
      const until = async (f) => {
        for (const end = Date.now() + 10000; !f();) {
          if (Date.now() > end) throw new Error("the driver did not answer");
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      let id = 0;
      const ask = async (op, args = {}) => {
        const n = lines.length;
        driver.stdin.write(JSON.stringify({ id: ++id, op, args }) + "\n");
        await until(() => lines.length > n);
        assert.equal(lines[n].id, id);
        return lines[n];
      };
      const ok = async (op, args, result) => {
        const r = await ask(op, args);
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.deepEqual(r.result, result, op);
      };
      const fails = async (op, args, kind) => {
        const r = await ask(op, args);
        assert.equal(r.ok, false, JSON.stringify(r));
        assert.equal(r.error.kind, kind, JSON.stringify(r));
      };
      try {
        await until(() => lines.length > 0);
        assert.equal(lines[0].ready, true, JSON.stringify(lines[0]));
        const opaque = Buffer.from([0x80, 0x04, 0x00, 0xff]).toString("base64");
        const fields = { thread_id: "t", from_id: "a", to_id: "b", slot_index: 1, timestamp: "2026-12-05T21:00:00Z", payload_type: "P",
          own_name: null, is_self_call: true, usage_instructions: "u", payload: { k: [1, "ü"] } };
        const json = encodeJsonSlot({ payload: fields.payload, metadata: { threadId: "t", fromId: "a", toId: "b", slotIndex: 1,
          timestamp: fields.timestamp, payloadType: "P", ownName: null, isSelfCall: true, usageInstructions: "u" } }).toString("base64");
        await ok("xp.slot_json", { fields }, json);
        await ok("xp.slot_read", { slot: json }, fields);
        await ok("xp.buffer_append", { thread_id: "t", slot: opaque }, 0);
        await ok("xp.buffer_append", { thread_id: "t", slot: json }, 1);
        await ok("xp.buffer_get_thread", { thread_id: "t" }, [opaque, json]);
        await ok("xp.buffer_get_slot", { thread_id: "t", index: -1 }, json);
        await ok("xp.buffer_get_slot", { thread_id: "t", index: 2 }, null);
        await ok("xp.buffer_thread_len", { thread_id: "t" }, 2);
        await ok("xp.buffer_thread_exists", { thread_id: "t" }, true);
        assert.deepEqual(await t.admin.commandBuffers("LRANGE", `${p}buffer:t`, 0, -1), [opaque, json].map((x) => Buffer.from(x, "base64")));
        assert.ok((await t.admin.command("TTL", `${p}buffer:t`)) > 590);
        await ok("xp.registry_set", { chain: "c.d", uuid: "u1" }, null);
        await ok("xp.registry_get_uuid", { chain: "c.d" }, "u1");
        await ok("xp.registry_get_chain", { uuid: "u1" }, "c.d");
        const made = await ask("xp.registry_get_or_create", { chain: "e.f" });
        assert.match(made.result, UUID4);
        await ok("xp.registry_list_all", {}, Object.fromEntries([["u1", "c.d"], [made.result, "e.f"]].sort(([x], [y]) => (x < y ? -1 : 1))));
        await ok("xp.buffer_list_threads", {}, ["t"]);
        await ok("xp.info", {}, { buffer_threads: 1, registry_entries: 2, ttl_seconds: 600 });
        await ok("xp.registry_delete", { uuid: "u1" }, true);
        await ok("xp.buffer_delete_thread", { thread_id: "t" }, true);
        await ok("xp.buffer_clear", {}, null);
        await ok("xp.registry_clear", {}, null);
        assert.deepEqual(await t.keys(), []);
        await fails("xp.buffer_append", { thread_id: "", slot: opaque }, "InvalidArgumentError");
        await fails("xp.buffer_append", { thread_id: "t", slot: "not base64!" }, "BadRequest");
        await fails("xp.buffer_get_slot", { thread_id: "t", index: "1" }, "BadRequest");
        await fails("xp.registry_set", { chain: "c" }, "BadRequest");
        await fails("xp.slot_json", { fields: { ...fields, extra: 1 } }, "BadRequest");
        await fails("xp.slot_pickle", { fields }, "Unsupported");
        await fails("xp.slot_read", { slot: opaque }, "InvalidArgumentError");
        await fails("xp.nothing", {}, "UnknownOp");
      } finally {
        driver.stdin.end();
        await new Promise((r) => (driver.exitCode !== null ? r() : driver.once("exit", r)));
      }
    }));

    test("bad input: the core's errors, nothing else touched", STEP, () => onTopology(kind, "xp-bad", async (t) => {
      const p = `${t.prefix}:`;
      const b = new XpBackend({ url: t.url, prefix: p });
      try {
        await assert.rejects(b.bufferAppend("", Buffer.from("x")), (e) => e instanceof InvalidArgumentError && /thread_id/.test(e.message));
        await assert.rejects(b.bufferGetThread(""), InvalidArgumentError);
        await assert.rejects(b.registrySet("", "u"), (e) => e instanceof InvalidArgumentError && /chain/.test(e.message));
        await assert.rejects(b.registrySet("c", ""), (e) => e instanceof InvalidArgumentError && /uuid/.test(e.message));
        await assert.rejects(b.registryGetOrCreate(""), InvalidArgumentError);
        await assert.rejects(b.registryGetChain(""), InvalidArgumentError);
        await assert.rejects(b.registryDelete(""), InvalidArgumentError);
        await assert.rejects(b.bufferAppend("t", "a string"), { name: "TypeError", message: "slot must be a Buffer, got string" });
        await assert.rejects(b.bufferAppend(7, Buffer.from("x")), TypeError);
        await assert.rejects(b.bufferGetSlot("t", 1.5), TypeError);
        assert.deepEqual(await t.keys(), []);
        // a key of another type: WrongTypeError naming it, nothing changed
        await t.admin.set(`${p}buffer:w`, "a string");
        await assert.rejects(b.bufferAppend("w", Buffer.from("x")), (e) => e instanceof WrongTypeError && e.message.includes(`${p}buffer:w`));
        await assert.rejects(b.bufferGetThread("w"), WrongTypeError);
        assert.equal(await t.admin.get(`${p}buffer:w`), "a string");
        await t.admin.command("RPUSH", `${p}uuid:wu`, "x");
        await assert.rejects(b.registrySet("wc", "wu"), (e) => e instanceof WrongTypeError && e.message.includes(`${p}uuid:wu`));
        assert.deepEqual(await t.keys(), [`${p}buffer:w`, `${p}uuid:wu`].sort());
        assert.deepEqual(await t.admin.command("LRANGE", `${p}uuid:wu`, 0, -1), ["x"]);
        // close waits for the calls in flight (batched, alone on a Cluster, scans), then frees the store
        assert.equal(addon.xr_js_stats(null).xp, 1);
        const pending = [b.bufferAppend("late", Buffer.from("x")), b.registryGetOrCreate("late.chain"), b.bufferListThreads(), b.info()];
        await b.close();
        const [late, lateUuid, lateThreads] = await Promise.all(pending);
        assert.equal(late, 0);
        assert.match(lateUuid, UUID4);
        assert.ok(Array.isArray(lateThreads));
        assert.equal(addon.xr_js_stats(null).xp, 0);
        // a closed backend
        await assert.rejects(b.bufferThreadLen("t"), ClientClosedError);
        assert.equal(await b.ping(), false);
      } finally {
        await b.close();
      }
    }));

    test("Python's crossredis.xp reads what Node wrote, and the other way round", STEP, () => onTopology(kind, "xp-py", async (t) => {
      const p = `${t.prefix}:`;
      const b = createXpBackend(t.url, { prefix: p, ttl: 600 });
      try {
        const raw = Buffer.from([0x80, 0x05, 0x95, 0x00, 0xff, 0x2e]); // pickle-like: opaque bytes
        await b.bufferAppend("from-node", raw);
        await b.bufferAppend("from-node", encodeJsonSlot(SLOT));
        await b.registrySet("node.chain", "node-uuid");
        const py = await python(PY_INTEROP, { url: t.url, prefix: p });
        assert.deepEqual(py.thread, [raw.toString("hex"), encodeJsonSlot(SLOT).toString("hex")]);
        const md = SLOT.metadata;
        assert.deepEqual(py.json, { payload: SLOT.payload, metadata: { thread_id: md.threadId, from_id: md.fromId, to_id: md.toId,
          slot_index: md.slotIndex, timestamp: md.timestamp, payload_type: md.payloadType, own_name: md.ownName,
          is_self_call: md.isSelfCall, usage_instructions: md.usageInstructions } });
        assert.equal(py.uuid, "node-uuid");
        assert.equal(py.chain, "node.chain");
        assert.deepEqual(py.all, { "node-uuid": "node.chain" });
        assert.deepEqual(py.threads, ["from-node"]);
        // what Python wrote
        const thread = await b.bufferGetThread("from-py");
        assert.deepEqual(thread[0], Buffer.from([0, 1, 128, 255]));
        assert.equal(thread[1].toString("hex"), py.py_json);
        assert.deepEqual(decodeJsonSlot(thread[1]), { payload: { b: [1, 2.5, null], a: "x" }, metadata: { threadId: "from-py",
          fromId: "py", toId: "node", slotIndex: 1, timestamp: "2026-12-05T21:00:00Z", payloadType: "Reply", ownName: null,
          isSelfCall: true, usageInstructions: "ü" } });
        // the same slot written here: the same bytes
        assert.deepEqual(encodeJsonSlot(decodeJsonSlot(thread[1])), thread[1]);
        assert.equal(await b.registryGetUuid("py.chain"), "py-uuid");
        assert.equal(await b.registryGetChain("py-uuid"), "py.chain");
        assert.equal(await b.registryGetOrCreate("py.made"), py.py_made);
        assert.deepEqual(await b.registryListAll(), { "node-uuid": "node.chain", "py-uuid": "py.chain", [py.py_made]: "py.made" });
        assert.deepEqual(await b.bufferListThreads(), ["from-node", "from-py"]);
      } finally {
        await b.close();
      }
    }));
  });
}

describe("the neutral JSON slot", () => {
  test("canonical bytes, decoded equal, upstream's defaults", () => {
    const bytes = encodeJsonSlot(SLOT);
    assert.ok(Buffer.isBuffer(bytes));
    assert.equal(bytes.toString(), JSON.stringify({ xp_slot: 1, thread_id: "t-1", from_id: "console", to_id: "router", slot_index: 3,
      timestamp: SLOT.metadata.timestamp, payload_type: "Greeting", own_name: "greeter", is_self_call: false,
      usage_instructions: "say hi", payload: SLOT.payload }));
    assert.deepEqual(decodeJsonSlot(bytes), SLOT);
    const bare = { payload: null, metadata: { threadId: "t", fromId: "a", toId: "b", slotIndex: 0, timestamp: "", payloadType: "X" } };
    assert.deepEqual(decodeJsonSlot(encodeJsonSlot(bare)).metadata,
      { ...bare.metadata, ownName: null, isSelfCall: false, usageInstructions: "" });
    // a reader takes any spacing and order, the optional members absent
    const loose = Buffer.from('{ "payload": [1], "thread_id": "t", "xp_slot": 1, "from_id": "a", "to_id": "b", "slot_index": 2, ' +
      '"timestamp": "x", "payload_type": "P" }');
    assert.deepEqual(decodeJsonSlot(loose), { payload: [1], metadata: { threadId: "t", fromId: "a", toId: "b", slotIndex: 2,
      timestamp: "x", payloadType: "P", ownName: null, isSelfCall: false, usageInstructions: "" } });
  });

  test("the core's refusals; TypeErrors for what is not a slot", () => {
    const bad = (s) => Buffer.from(s);
    assert.throws(() => decodeJsonSlot(bad('{"xp_slot":2}')), InvalidArgumentError);
    assert.throws(() => decodeJsonSlot(bad("\x80\x04pickle")), InvalidArgumentError);
    const extra = encodeJsonSlot(SLOT).toString().replace('"payload"', '"extra":1,"payload"');
    assert.throws(() => decodeJsonSlot(bad(extra)), (e) => e instanceof InvalidArgumentError && /extra/.test(e.message));
    assert.throws(() => encodeJsonSlot({ ...SLOT, metadata: { ...SLOT.metadata, slotIndex: -1 } }),
      (e) => e instanceof InvalidArgumentError && /slot_index/.test(e.message));
    assert.throws(() => encodeJsonSlot({ ...SLOT, payload: 2 ** 60 }), InvalidArgumentError);
    assert.throws(() => encodeJsonSlot({ ...SLOT, payload: undefined }), TypeError);
    assert.throws(() => encodeJsonSlot({ ...SLOT, metadata: { ...SLOT.metadata, threadId: 5 } }), TypeError);
    assert.throws(() => encodeJsonSlot(null), TypeError);
    assert.throws(() => decodeJsonSlot("{}"), TypeError);
  });

  test("Python writes the same bytes and reads Node's", STEP, async () => {
    const out = await python(`
import json, sys
from crossredis.xp import BufferSlot, SlotMetadata, encode_json_slot, decode_json_slot
a = json.loads(sys.argv[1])
m = a["metadata"]
md = SlotMetadata(thread_id=m["threadId"], from_id=m["fromId"], to_id=m["toId"], slot_index=m["slotIndex"], timestamp=m["timestamp"],
                  payload_type=m["payloadType"], own_name=m["ownName"], is_self_call=m["isSelfCall"], usage_instructions=m["usageInstructions"])
print(json.dumps({"hex": encode_json_slot(BufferSlot(payload=a["payload"], metadata=md)).hex(),
                  "back": decode_json_slot(bytes.fromhex(a["node"])).payload}))
`, { ...SLOT, node: encodeJsonSlot(SLOT).toString("hex") });
    assert.equal(out.hex, encodeJsonSlot(SLOT).toString("hex"));
    assert.deepEqual(out.back, SLOT.payload);
  });
});

test("the TypeScript types say what the README says (tsc on test/types/xp.ts)", STEP, () => {
  const tsc = join(here, "..", "node_modules", "typescript", "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "-p", join(here, "types", "xp.tsconfig.json")], { cwd: join(here, ".."), stdio: "pipe" });
  } catch (e) {
    assert.fail(`tsc: ${e.stdout}${e.stderr}`);
  }
});
