// The arguments every binding refuses with the same error and the same words as Python
// (tests/cases/bad-arguments.json, read by the Python tests too), nothing reaching the server; and
// the Node-only conversions: integers past int64, integral numbers past 2^53 passed on for the
// core to judge, lone surrogates and NUL in every string option, the client's options.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRedis } from "./support/redis.mjs";
import { DIST } from "./support/child.mjs";

const xr = await import(DIST); // $XR_NODE_DIST: another build to compare with

const here = dirname(fileURLToPath(import.meta.url));
const CASES = JSON.parse(readFileSync(join(here, "..", "..", "tests", "cases", "bad-arguments.json"), "utf8")).cases;
const native = createRequire(import.meta.url)(join(here, "..", "build", "Release", "crossredis_native.node"));

/** The core's client option names (client_options.def) -> Node's: "pool_size" -> "poolSize",
 * "ca_file" -> "tls.caFile". */
const NODE_NAMES = new Map();
for (let i = 0, row; (row = native.xr_client_option_info_at(i)) !== null; i++) NODE_NAMES.set(row.name, row.node_name);

/** A case's client options as Node's options object (a name the core does not have, as it is). */
function clientOptions(args) {
  const out = {};
  for (const [name, value] of Object.entries(args)) {
    const path = (NODE_NAMES.get(name) ?? name).split(".");
    if (path.length === 2) out[path[0]] = { ...out[path[0]], [path[1]]: value };
    else out[path[0]] = value;
  }
  return out;
}
const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };

/** The case's operation with the core's argument names mapped to the Node method's. */
function call(s, op, a) {
  switch (op) {
    case "set": return s.set(a.key, a.value, a.ttl_ms);
    case "set_if_not_exists": return s.setIfNotExists(a.key, a.value, a.ttl_ms);
    case "acquire_lock": return s.acquireLock(a.thread_id, a.ttl_ms);
    case "extend_lock": return s.extendLock({ threadId: a.thread_id, token: a.token, expiresAt: 0 }, a.ttl_ms);
    case "append_to_list": return s.appendToList(a.key, a.value, { maxLength: a.max_length, ttlMs: a.ttl_ms });
    case "enqueue": return s.enqueue(a.thread_id, { message: a.message, enqueuedAt: a.enqueued_at_ms, expiresAt: a.expires_at_ms },
      a.max_size);
    case "subscribe": return s.subscribe(a.thread_id);
    case "get": return s.get(a.key);
    default: throw new Error(`no mapping for ${op}`);
  }
}

function matches(c) {
  const name = c.error_node ?? c.error;
  const cls = xr[name] ?? globalThis[name];
  return (e) => e instanceof cls && e.message.includes(c.message) ||
    assert.fail(`${c.op} ${JSON.stringify(c.args)}: ${e?.name}: ${e?.message}`);
}

describe("bad arguments: the same words as Python (tests/cases/bad-arguments.json)", () => {
  let server;
  let check;
  before(async () => {
    server = await startRedis();
    check = xr.createClient(server.url);
  });
  after(async () => {
    await check?.close();
    server?.stop();
  });

  for (const [i, c] of CASES.entries()) {
    test(`${c.op}-${i}: ${c.message}`, async () => {
      if (c.op === "client") { // refused when made, before anything connects
        const { url = server.url, ...rest } = clientOptions(c.args);
        assert.throws(() => xr.createClient({ url, ...rest }), matches(c));
        assert.throws(() => xr.createRedisState({ url, clientOptions: rest, logger: silent }), matches(c), "an adapter's client");
      } else if (c.op === "new") {
        const opts = { keyPrefix: c.args.key_prefix, tokenPrefix: c.args.token_prefix, minReplicas: c.args.min_replicas,
          minReplicasTimeoutMs: c.args.min_replicas_timeout_ms, layout: c.args.layout, logger: silent };
        assert.throws(() => xr.createRedisState({ url: server.url, ...opts }), matches(c), "refused when made");
        assert.throws(() => new xr.IoRedisStateAdapter({ client: check, ...opts }), matches(c));
      } else {
        const s = xr.createRedisState({ url: server.url, logger: silent });
        await s.connect();
        await assert.rejects(call(s, c.op, c.args), matches(c));
        await s.disconnect();
      }
      assert.equal(await check.command("DBSIZE"), 0, "nothing reached the server");
    });
  }
});

describe("conversions", () => {
  let server;
  let s;
  before(async () => {
    server = await startRedis();
    s = xr.createRedisState({ url: server.url, logger: silent });
    await s.connect();
  });
  after(async () => {
    await s?.disconnect();
    server?.stop();
  });

  test("integers past int64 are refused here; integral numbers within it go to the core, exact", async () => {
    for (const [v, text] of [[2 ** 63, "9223372036854775808"], [-(2 ** 64), "-18446744073709551616"], [1e300, BigInt(1e300).toString()]]) {
      await assert.rejects(s.acquireLockWait("t", v, 0), (e) => e instanceof xr.InvalidArgumentError &&
        e.message === `ttl_ms: ${text} is out of range for a 64-bit integer`);
      await assert.rejects(s.acquireLockWait("t", 1000, v), (e) => e instanceof xr.InvalidArgumentError &&
        e.message === `wait_ms: ${text} is out of range for a 64-bit integer`);
    }
    // 2^53 and 2^62 are not "safe" integers but exact: the core answers with its own bound
    for (const v of [2 ** 53, 2 ** 62]) {
      await assert.rejects(s.acquireLock("t", v), (e) => e instanceof xr.InvalidArgumentError &&
        e.message === `chat.acquire_lock: ttl_ms must be at most 9007199254740991 (2^53-1), got ${BigInt(v)}`);
    }
    await assert.rejects(s.acquireLockWait("t", 1000, -1), (e) => e instanceof xr.InvalidArgumentError &&
      /^chat\.acquire_lock_wait: wait_ms must be .*, got -1$/.test(e.message), "the core's words, passed on");
    const lock = await s.acquireLock("t", 9007199254740991); // the largest TTL the core takes
    assert.ok(lock && lock.expiresAt > 9007199254740991);
  });

  test("lone surrogates in ids, keys and tokens; NUL in strings that become C strings", async () => {
    const lone = (name, index, code) => (e) => e instanceof xr.InvalidArgumentError &&
      e.message === `${name}: not valid Unicode (a lone surrogate U+${code} at index ${index})`;
    await assert.rejects(s.acquireLock("ab\ud83d", 1000), lone("thread_id", 2, "D83D"));
    await assert.rejects(s.set("\ude00", 1), lone("key", 0, "DE00"));
    await assert.rejects(s.releaseLock({ threadId: "t", token: "x\ud800y", expiresAt: 0 }), lone("token", 1, "D800"));
    await assert.rejects(s.getClient().command("SET", "k", "a\udc00"), lone("command argument 2", 1, "DC00"));
    assert.equal(await s.set("emoji \ud83d\ude00", 1), undefined, "a pair is fine");
    const nul = (name, index) => (e) => e instanceof xr.InvalidArgumentError && e.message === `${name}: contains NUL (U+0000) at index ${index}`;
    assert.throws(() => xr.createClient({ url: server.url, password: "se\0cret" }), nul("password", 2));
    assert.throws(() => xr.createClient({ url: server.url, username: "\0" }), nul("username", 0));
    assert.throws(() => xr.createClient({ url: server.url, clientName: "ab\0" }), nul("client_name", 2));
    assert.throws(() => xr.createClient(`${server.url}\0/1`), nul("url", server.url.length));
    for (const [k, name] of [["caFile", "ca_file"], ["caPem", "ca_pem"], ["certFile", "cert_file"], ["keyFile", "key_file"],
      ["certPem", "cert_pem"], ["keyPem", "key_pem"], ["serverName", "server_name"]]) {
      assert.throws(() => xr.createClient({ url: server.url, tls: { [k]: "x\0" } }), nul(name, 1));
      assert.throws(() => xr.createClient({ url: server.url, tls: { [k]: "\udfff" } }), lone(name, 0, "DFFF"));
    }
    assert.throws(() => xr.createRedisState({ url: server.url, keyPrefix: "a\ud800" }), lone("key_prefix", 1, "D800"));
  });

  test("every client option of the core's table is one createClient takes, by its Node name; secrets hidden", () => {
    const sample = { [native.XR_OPTION_TEXT]: "x", [native.XR_OPTION_SECRET]: "s3cret", [native.XR_OPTION_INTEGER]: 1,
      [native.XR_OPTION_BOOLEAN]: true };
    // a client is a Sentinel's or a Cluster's, not both: every option but clusterNodes
    const all = clientOptions(Object.fromEntries([...NODE_NAMES.keys()].map((name, i) =>
      [name, name === "url" ? server.url : sample[native.xr_client_option_info_at(i).kind]])
      .filter(([name]) => name !== "cluster_nodes")));
    assert.deepEqual(Object.keys(all).sort(), ["clientName", "commandTimeoutMs", "connectTimeoutMs", "db", "masterName",
      "maxRedirects", "password", "poolSize", "replicaReads", "sentinelPassword", "sentinelTls", "sentinelUsername",
      "sentinels", "tls", "url", "username"]);
    const c = xr.createClient(all); // made: every value taken; not connected
    assert.equal(c.options.password, "***");
    assert.equal(c.options.sentinelPassword, "***");
    assert.equal(c.options.tls.keyPem, "***");
    assert.equal(c.options.tls.caPem, "x");
    assert.doesNotMatch(JSON.stringify(c.options), /s3cret/);
    assert.throws(() => xr.createClient({ "tls.caFile": "x" }), /unknown option tls\.caFile/, "tls options go inside tls");
    assert.throws(() => xr.createClient({ tls: { caFlie: "x" } }), /unknown option tls\.caFlie/);
  });

  test("a bad URL fails when the client or adapter is made; one from REDIS_URL is named", () => {
    const saved = process.env.REDIS_URL;
    try {
      assert.throws(() => xr.createClient("redis://h:99999"), (e) => e instanceof xr.InvalidArgumentError &&
        /^URL: bad port/.test(e.message));
      assert.throws(() => xr.createRedisState({ url: "http://h" }), (e) => e instanceof xr.InvalidArgumentError &&
        /^URL: unsupported scheme 'http'/.test(e.message));
      process.env.REDIS_URL = "redis://h:notaport";
      for (const make of [() => xr.createClient(), () => xr.createRedisState(), () => xr.createClient({ db: 1 })]) {
        assert.throws(make, (e) => e instanceof xr.InvalidArgumentError && /^REDIS_URL: URL: bad port/.test(e.message));
      }
      assert.throws(() => xr.createClient({ url: "redis://h:notaport" }), (e) => !e.message.includes("REDIS_URL"),
        "a URL given as an option is not blamed on REDIS_URL");
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL; else process.env.REDIS_URL = saved;
    }
  });
});
