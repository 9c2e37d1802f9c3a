// Native lifetimes, each in a child process whose exit status and stderr are checked: a process
// that ends with clients and adapters open (idle, or with calls in flight), process.exit() inside
// callbacks, worker threads that end or are terminated with clients open, clients collected while
// a call runs, and disconnect()/close() under every kind of long native call (acquireLockWait, the
// jobs on the thread pool, a batch on the loop connection, connect()).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRedis } from "./support/redis.mjs";
import { describeEnd, runNode } from "./support/child.mjs";

let server;
before(async () => { server = await startRedis(); });
after(() => server?.stop());

/** Runs code in a child with REDIS_URL set; it must end with `status` and no signal, and print
 * nothing on stderr. Returns its stdout. */
async function ends(code, { status = 0, flags = [], env = {} } = {}) {
  const r = await runNode(code, { env: { REDIS_URL: server.url, ...env }, flags });
  assert.equal(r.signal, null, describeEnd(r));
  assert.equal(r.status, status, describeEnd(r));
  assert.equal(r.stderr, "", describeEnd(r));
  return r.stdout;
}

const silent = "const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };";

describe("a process that ends with clients open", () => {
  test("a script that pings and forgets close()", async () => {
    const out = await ends(`
      const xr = await import(XR);
      const c = xr.createClient();
      console.log(await c.ping());`);
    assert.equal(out, "true\n");
  });

  test("an adapter left connected, a lock held, a client shared by two adapters", async () => {
    const out = await ends(`
      const xr = await import(XR);
      ${silent}
      const a = xr.createRedisState({ logger: silent });
      await a.connect();
      const lock = await a.acquireLock("left-open", 10000);
      const client = xr.createClient();
      const b = xr.createIoRedisState({ client, logger: silent });
      const c = xr.createRedisState({ client, logger: silent });
      await b.connect();
      await c.connect();
      await Promise.all([b.set("k", 1), c.get("k"), client.command("PING")]);
      console.log(lock.token.startsWith("redis_"));`);
    assert.equal(out, "true\n");
  });

  test("process.exit() while calls are in flight: on the loop connection, on the pool, waiting", async () => {
    await ends(`
      const xr = await import(XR);
      ${silent}
      const holder = xr.createRedisState({ logger: silent });
      await holder.connect();
      await holder.acquireLock("exit-busy", 10000);
      const s = xr.createRedisState({ logger: silent });
      await s.connect();
      const big = "x".repeat(300 * 1024); // a batch this big is built and run on the thread pool
      const calls = [s.set("big", big), s.acquireLockWait("exit-busy", 1000, 30000)];
      for (let i = 0; i < 100; i++) calls.push(s.set("k" + i, i));
      calls.forEach((p) => p.catch(() => {}));
      setImmediate(() => process.exit(0));`);
  });

  test("process.exit() inside callbacks: a loop-connection reply, a pool job's, a wait's", async () => {
    for (const [how, status] of [["get", 3], ["releaseIfEmpty", 4], ["wait", 5], ["connect", 6]]) {
      await ends(`
        const xr = await import(XR);
        ${silent}
        const s = xr.createRedisState({ logger: silent });
        const how = ${JSON.stringify(how)};
        if (how === "connect") s.connect().then(() => process.exit(${status}));
        else {
          await s.connect();
          if (how === "get") s.get("k").then(() => process.exit(${status}));
          if (how === "releaseIfEmpty") {
            const lock = await s.acquireLock("exit-cb", 10000);
            s.releaseLockIfQueueEmpty(lock).then(() => process.exit(${status}));
          }
          if (how === "wait") s.acquireLockWait("exit-cb-wait", 10000, 100).then(() => process.exit(${status}));
        }
        setTimeout(() => {}, 5000); // the exit must come from the callback`, { status });
    }
  });
});

describe("worker threads", () => {
  test("a worker that ends with clients and adapters open; one that is terminated waiting; one that exits", async () => {
    const out = await ends(`
      const { Worker } = await import("node:worker_threads");
      const xr = await import(XR);
      ${silent}
      const body = (what) => \`
        const { parentPort } = require("node:worker_threads");
        const xr = require(\${JSON.stringify(XR.replace(/index\\.mjs$/, "cjs/index.js"))});
        const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };
        (async () => {
          const s = xr.createRedisState({ logger: silent });
          await s.connect();
          await s.set("from-worker", 1);
          const c = xr.createClient();
          await c.ping();
          if ("\${what}" === "wait") {
            s.acquireLockWait("worker-busy", 10000, 60000).catch(() => {});
            setTimeout(() => parentPort.postMessage("waiting"), 50);
          }
          if ("\${what}" === "exit") {
            s.acquireLockWait("worker-busy", 10000, 60000).catch(() => {});
            for (let i = 0; i < 50; i++) s.set("w" + i, i).catch(() => {});
            setTimeout(() => process.exit(7), 50);
          }
        })();\`;
      const holder = xr.createRedisState({ logger: silent });
      await holder.connect();
      await holder.acquireLock("worker-busy", 60000);
      const run = (what) => new Promise((resolve, reject) => {
        const w = new Worker(body(what), { eval: true, execArgv: [] });
        w.on("error", reject);
        w.on("message", (m) => { if (m === "waiting") w.terminate(); });
        w.on("exit", resolve);
      });
      const codes = await Promise.all([run("end"), run("wait"), run("exit"), run("end")]);
      console.log(codes.join(","), await holder.get("from-worker"));`);
    assert.equal(out, "0,1,7,0 1\n"); // terminate() gives 1
  });
});

describe("a client collected while a call runs", () => {
  test("the handles dropped under an acquireLockWait and a paused batch: the calls finish, then all is freed", async () => {
    const out = await ends(`
      import { createRequire } from "node:module";
      const native = createRequire(import.meta.url)(NATIVE);
      const xr = await import(XR);
      const opts = { keyPrefix: "gc", emptyPrefix: native.XR_CHAT_EMPTY_PREFIX_DEFAULT, tokenPrefix: "redis",
        tokenSuffix: native.XR_TOKEN_BASE36, json: native.XR_JSON_JS, queue: native.XR_CHAT_QUEUE_TS };
      const config = native.xr_js_client_config_new(null);
      native.xr_js_client_config_set(config, "url", process.env.REDIS_URL);
      const other = xr.createClient();
      await other.command("SET", "gc:lock:t", "held", "PX", 300); // free again in 300 ms
      const tick = () => new Promise((r) => setImmediate(r));
      let client = await native.xr_js_client_open(config);
      let chat = native.xr_js_chat_new(client, opts);
      const wait = native.xr_js_chat_acquire_wait(chat, "t", 5000, 10000);
      await other.command("CLIENT", "PAUSE", "200", "WRITE");
      const run = native.xr_js_chat_run(chat, [[8, "k", "1", 0], [7, "k"]], 0);
      client = null;
      chat = null;
      for (let i = 0; i < 10; i++) { gc(); await tick(); }
      const [lock, results] = await Promise.all([wait, run]);
      for (let i = 0; i < 10; i++) { gc(); await tick(); }
      const left = native.xr_js_stats(null);
      await other.close();
      console.log(lock[0].startsWith("redis_"), JSON.stringify(results), left.clients, left.chats, left.waits, left.jobs);`,
    { flags: ["--expose-gc"] });
    assert.equal(out, 'true [null,"1"] 1 0 0 0\n'); // the client left is \`other\`
  });

  test("an adapter and its client dropped while calls run, through the public API", async () => {
    const out = await ends(`
      const xr = await import(XR);
      ${silent}
      const tick = () => new Promise((r) => setImmediate(r));
      let s = xr.createRedisState({ logger: silent });
      await s.connect();
      const calls = [s.set("a", 1), s.get("a"), s.acquireLockWait("gc-api", 1000, 1000), s.queueDepth("q")];
      s = null;
      for (let i = 0; i < 10; i++) { gc(); await tick(); }
      const r = await Promise.all(calls);
      console.log(JSON.stringify([r[0] ?? null, r[1], typeof r[2].token, r[3]]));`, { flags: ["--expose-gc"] });
    assert.equal(out, '[null,1,"string",0]\n');
  });
});

describe("disconnect() and close() under long native calls", () => {
  test("disconnect() while acquireLockWait waits: the wait ends at once with ClientClosedError", async () => {
    const out = await ends(`
      const xr = await import(XR);
      ${silent}
      const holder = xr.createRedisState({ logger: silent });
      await holder.connect();
      const held = await holder.acquireLock("busy", 60000);
      for (const how of ["disconnect", "close", "shared-disconnect"]) {
        const client = how === "shared-disconnect" ? xr.createClient() : null;
        const s = client ? xr.createRedisState({ client, logger: silent }) : xr.createRedisState({ logger: silent });
        await s.connect();
        const waits = [s.acquireLockWait("busy", 5000, 60000), s.acquireLockWait("busy", 5000, 60000)];
        await new Promise((r) => setTimeout(r, 100)); // both are between tries
        if (how === "close") await s.getClient().close();
        else await s.disconnect();
        const out = await Promise.allSettled(waits);
        console.log(how, out.map((o) => o.status === "rejected" && o.reason instanceof xr.ClientClosedError).join(","));
        if (client) {
          console.log("shared client still open:", await client.ping());
          await client.close();
        }
      }
      console.log("holder still holds:", (await holder.getClient().command("GET", "chat-sdk:lock:busy")) === held.token);
      await holder.disconnect();`);
    assert.equal(out, "disconnect true,true\nclose true,true\nshared-disconnect true,true\n" +
      "shared client still open: true\nholder still holds: true\n");
  });

  test("disconnect() while pool jobs and loop batches wait on a paused server: they finish, then it frees", async () => {
    const out = await ends(`
      const xr = await import(XR);
      ${silent}
      const admin = xr.createClient();
      const s = xr.createRedisState({ logger: silent, clientOptions: { commandTimeoutMs: 5000 } });
      await s.connect();
      const lock = await s.acquireLock("pool", 10000);
      await admin.command("CLIENT", "PAUSE", "300", "ALL");
      const calls = [
        s.releaseLockIfQueueEmpty(lock),              // a job on the thread pool
        s.set("big", "y".repeat(300 * 1024)),          // a big batch: built and run on the pool
        s.get("small"),                                // a batch on the loop connection
      ];
      const done = s.disconnect();
      const out = await Promise.allSettled(calls);
      await done;
      console.log(out.map((o) => o.status).join(","), JSON.stringify(out[0].value));
      console.log((await admin.command("STRLEN", "chat-sdk:cache:big")) === 300 * 1024 + 2);
      const after = await Promise.allSettled([s.get("small"), s.releaseLockIfQueueEmpty(lock), s.acquireLockWait("x", 1, 1)]);
      console.log(after.map((o) => o.status === "rejected" && /not connected/.test(o.reason.message)).join(","));
      await admin.close();`);
    assert.equal(out, 'fulfilled,fulfilled,fulfilled {"released":true,"depth":0}\ntrue\ntrue,true,true\n');
  });

  test("close() while connect() is on its way; natives closed under their calls", async () => {
    const out = await ends(`
      import { createRequire } from "node:module";
      const native = createRequire(import.meta.url)(NATIVE);
      const xr = await import(XR);
      const admin = xr.createClient();
      await admin.command("CLIENT", "PAUSE", "300", "ALL");
      const c = xr.createClient();
      const opening = c.connect();
      await c.close();
      const r = await opening.then(() => "connected", (e) => e.name);
      // the bridge itself: a chat closed under its wait and a batch, a client closed under a batch
      const config = native.xr_js_client_config_new(null);
      native.xr_js_client_config_set(config, "url", process.env.REDIS_URL);
      const h = await native.xr_js_client_open(config);
      const chat = native.xr_js_chat_new(h, { keyPrefix: "n", emptyPrefix: native.XR_CHAT_EMPTY_PREFIX_DEFAULT, tokenPrefix: "redis",
        tokenSuffix: native.XR_TOKEN_BASE36, json: native.XR_JSON_JS, queue: native.XR_CHAT_QUEUE_TS });
      await admin.command("SET", "n:lock:t", "held", "PX", 60000);
      const wait = native.xr_js_chat_acquire_wait(chat, "t", 1000, 60000);
      await admin.command("CLIENT", "PAUSE", "200", "WRITE");
      const batch = native.xr_js_chat_run(chat, [[8, "k", "1", 0]], 0);
      const raw = native.xr_js_client_run(h, [["SET", "r", "1"]], false);
      native.xr_js_chat_close(chat);
      native.xr_js_client_close(h);
      const out = await Promise.allSettled([wait, batch, raw]);
      const later = await Promise.allSettled([native.xr_js_chat_run(chat, [[7, "k"]], 0), native.xr_js_client_run(h, [["PING"]], false)]);
      await admin.close();
      await new Promise((r) => setTimeout(r, 50));
      console.log(r, out.map((o) => o.status === "rejected" ? o.reason.name : JSON.stringify(o.value)).join(" "),
        later.map((o) => o.reason?.name).join(" "), JSON.stringify(native.xr_js_stats(null), ["clients", "chats", "loops", "waits", "jobs"]));`);
    assert.equal(out, 'ClientClosedError ClientClosedError [null] ["OK"] ClientClosedError ClientClosedError ' +
      '{"clients":0,"chats":0,"loops":0,"waits":0,"jobs":0}\n');
  });
});
