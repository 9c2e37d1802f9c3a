// minReplicas (beyond upstream): a lock counts as acquired or extended only once that many replicas
// acknowledged it (the core sends WAIT on the lock's connection). A master with one real replica
// of this file's own: asking for one works (WAIT seen on the master, 64 concurrent acquires in
// one batch), asking for two rejects with NoReplicasError and leaves no lock behind: the core
// cannot give a lock back from inside a batch, the JS layer does before the caller hears.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedis } from "./support/redis.mjs";
import * as xr from "../dist/index.mjs";

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("minReplicas on a master with one replica", () => {
  let master;
  let replica;
  let check;
  let dir; // where the replica writes the RDB of its first sync
  const waits = async () => {
    const m = /cmdstat_wait:calls=(\d+)/.exec(await check.command("INFO", "commandstats"));
    return m ? Number(m[1]) : 0;
  };

  before(async () => {
    master = await startRedis(["--repl-diskless-sync-delay", "0"]); // the replica syncs at once
    dir = mkdtempSync(join(tmpdir(), "xr-node-replica-"));
    replica = await startRedis(["--replicaof", "127.0.0.1", String(master.port), "--dir", dir]);
    check = xr.createClient(master.url);
    // the replica acknowledges writes (WAIT answers 1) only once it is in sync
    const deadline = Date.now() + 20000;
    for (;;) {
      await check.command("SET", "sync-probe", "1");
      if (await check.command("WAIT", 1, 100) === 1) break;
      if (Date.now() > deadline) throw new Error("the replica never acknowledged a write");
      await sleep(50);
    }
  });
  after(async () => {
    await check?.close();
    replica?.stop();
    master?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("acknowledged: acquired, extended, waited for (one WAIT at the end of each batch)", async () => {
    const s = xr.createRedisState({ url: master.url, keyPrefix: "mr-ok", minReplicas: 1, minReplicasTimeoutMs: 2000, logger: silent });
    await s.connect();
    const before = await waits();
    const locks = await Promise.all(Array.from({ length: 64 }, (_, i) => s.acquireLock(`t${i}`, 30000)));
    assert.ok(locks.every((l) => l && l.token.startsWith("redis_")));
    assert.equal(await check.command("GET", "mr-ok:lock:t7"), locks[7].token);
    assert.deepEqual(await Promise.all(locks.map((l) => s.extendLock(l, 30000))), locks.map(() => true));
    const sent = (await waits()) - before;
    // the 64 acquires and the 64 extends each go out in a batch or a few: one WAIT ends each
    assert.ok(sent >= 2 && sent <= 8, `${sent} WAITs for 64 acquires and 64 extends: one per batch expected`);
    assert.equal(await s.acquireLock("t7", 30000), null, "held: refused as ever");
    await Promise.all(locks.map((l) => s.releaseLock(l)));
    await s.disconnect();
    // the default sends no WAIT
    const plain = xr.createRedisState({ url: master.url, keyPrefix: "mr-plain", logger: silent });
    await plain.connect();
    const n = await waits();
    await plain.releaseLock(await plain.acquireLock("t", 30000));
    assert.equal(await waits(), n);
    await plain.disconnect();
  });

  test("not acknowledged: NoReplicasError, and the locks are given back before the callers hear", async () => {
    for (const make of [xr.createRedisState, xr.createIoRedisState]) {
      const s = make({ url: master.url, keyPrefix: "mr-two", minReplicas: 2, minReplicasTimeoutMs: 300, logger: silent });
      await s.connect();
      const results = await Promise.allSettled([...Array.from({ length: 8 }, (_, i) => s.acquireLock(`u${i}`, 30000)),
        s.get("x")]);
      for (const r of results.slice(0, 8)) {
        assert.equal(r.status, "rejected");
        assert.ok(r.reason instanceof xr.NoReplicasError && r.reason instanceof xr.ResponseError, String(r.reason));
        assert.match(r.reason.message, /only 1 of 2 replicas acknowledged it within 300 ms: released, not held$/);
        assert.doesNotMatch(r.reason.message, /release it \(token/);
      }
      assert.deepEqual(results[8], { status: "fulfilled", value: null }, "the batch's other calls are not disturbed");
      for (let i = 0; i < 8; i++) assert.equal(await check.command("EXISTS", `mr-two:lock:u${i}`), 0, `u${i} given back`);
      // acquireLockWait runs alone: the core gives the lock back itself, in the same words
      await assert.rejects(s.acquireLockWait("w", 30000, 100), (e) => e instanceof xr.NoReplicasError &&
        /: released, not held$/.test(e.message));
      assert.equal(await check.command("EXISTS", "mr-two:lock:w"), 0);
      // a lock taken without the option, extended with it: the extension happened, but is not safe
      await check.command("SET", "mr-two:lock:v", "tok", "PX", 30000);
      await assert.rejects(s.extendLock({ threadId: "v", token: "tok", expiresAt: 0 }, 30000),
        (e) => e instanceof xr.NoReplicasError && /extended on the master, but only 1 of 2/.test(e.message));
      await s.disconnect();
    }
  });

  test("bad settings are refused when the adapter is made (or connects, for the command timeout)", async () => {
    const make = (o) => () => xr.createRedisState({ url: master.url, logger: silent, ...o });
    assert.throws(make({ minReplicas: -1 }), (e) => e instanceof xr.InvalidArgumentError && /min_replicas must be 0 \(off\) to 100, got -1/.test(e.message));
    assert.throws(make({ minReplicas: 2 ** 40 }), (e) => e instanceof xr.InvalidArgumentError &&
      e.message === "min_replicas: 1099511627776 is out of range for a 32-bit integer");
    assert.throws(make({ minReplicas: "1" }), TypeError);
    assert.throws(make({ minReplicasTimeoutMs: 1.5 }), TypeError);
    const s = xr.createRedisState({ url: master.url, logger: silent, minReplicas: 1, minReplicasTimeoutMs: 500,
      clientOptions: { commandTimeoutMs: 400 } });
    await assert.rejects(s.connect(), (e) => e instanceof xr.InvalidArgumentError &&
      /min_replicas_timeout_ms \(500\) must be below the client's command timeout \(400 ms\)/.test(e.message));
    await s.getClient().close();
  });
});
