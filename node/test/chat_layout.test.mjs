// The Chat SDK state's opt-in tagged layout (`layout: "tagged"`; C API XR_CHAT_LAYOUT_TAGGED): a
// thread's lock, queue and processing list under <prefix>:lock:{<id>}, :queue:{<id>} and
// :queue-processing:{<id>}, so releaseLockIfQueueEmpty and dequeueReliable run on a Cluster
// (CrossSlotError there in upstream's layout), on each topology; the option's values are the
// core's to check; the default stays upstream's; the bridge layout ("bridge": both layouts' keys
// in one script, one node only) excludes holders of either layout.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TOPOLOGY_KINDS, onTopology as on } from "./support/topology.mjs";
import * as xr from "../dist/index.mjs";

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };
const THREAD = "slack:C123:1700000000.000100";

for (const kind of TOPOLOGY_KINDS) {
  describe(`tagged layout on ${kind}`, () => {
    test("tagged keys; the two-key operations work", () => on(kind, "tagged", async (t) => {
      const s = xr.createRedisState({ url: t.url, keyPrefix: t.prefix, layout: "tagged", logger: silent });
      assert.equal(s.layout, "tagged");
      await s.connect();
      try {
        const c = t.admin;
        const lock = await s.acquireLock(THREAD, 30000);
        assert.equal(await c.command("GET", t.key(`lock:{${THREAD}}`)), lock.token);
        assert.equal(await c.command("EXISTS", t.key(`lock:${THREAD}`)), 0);
        assert.equal(await s.enqueue(THREAD, { message: { m: 1 }, enqueuedAt: 1, expiresAt: 1e13 }, 10), 1);
        assert.equal(await c.command("LLEN", t.key(`queue:{${THREAD}}`)), 1);
        assert.deepEqual(await s.releaseLockIfQueueEmpty(lock), { released: false, depth: 1 });
        const [e, depth] = await Promise.all([s.dequeueReliable(THREAD), s.queueDepth(THREAD)]); // one batch
        assert.deepEqual([e.message, depth], [{ m: 1 }, 0]);
        assert.equal(await c.command("LLEN", t.key(`queue-processing:{${THREAD}}`)), 1);
        assert.equal(await s.requeueProcessing(THREAD), 1);
        const again = await s.dequeueReliable(THREAD);
        assert.equal(await s.ack(THREAD, again), true);
        assert.deepEqual(await s.releaseLockIfQueueEmpty(lock), { released: true, depth: 0 });
        await s.subscribe(THREAD);
        assert.equal(await c.command("SISMEMBER", t.key("subscriptions"), THREAD), 1, "subscriptions: upstream's key");
        await assert.rejects(s.acquireLock("}x", 30000),
          (err) => err instanceof xr.InvalidArgumentError && err.message.includes("may not start with '}'"));
      } finally {
        await s.disconnect();
      }
    }));

    test("the default is upstream's layout (CrossSlotError on a Cluster)", () => on(kind, "upstream", async (t) => {
      const s = xr.createRedisState({ url: t.url, keyPrefix: t.prefix, logger: silent });
      assert.equal(s.layout, "upstream");
      await s.connect();
      try {
        const lock = await s.acquireLock(THREAD, 30000);
        assert.equal(await t.admin.command("GET", t.key(`lock:${THREAD}`)), lock.token);
        if (kind === "cluster") {
          await assert.rejects(s.releaseLockIfQueueEmpty(lock), (e) => e instanceof xr.CrossSlotError);
        } else {
          assert.deepEqual(await s.releaseLockIfQueueEmpty(lock), { released: true, depth: 0 });
        }
      } finally {
        await s.disconnect();
      }
    }));

    test("bridge: both layouts' locks; refused on a Cluster", () => on(kind, "bridge", async (t) => {
      const mk = (layout) => xr.createRedisState({ url: t.url, keyPrefix: t.prefix, layout, logger: silent });
      const [br, up, tg] = [mk("bridge"), mk("upstream"), mk("tagged")];
      assert.equal(br.layout, "bridge");
      await Promise.all([br.connect(), up.connect(), tg.connect()]);
      try {
        if (kind === "cluster") {
          await assert.rejects(br.acquireLock(THREAD, 30000), (e) => e instanceof xr.CrossSlotError);
          return;
        }
        const lock = await br.acquireLock(THREAD, 30000);
        assert.equal(await t.admin.command("GET", t.key(`lock:${THREAD}`)), lock.token);
        assert.equal(await t.admin.command("GET", t.key(`lock:{${THREAD}}`)), lock.token);
        assert.deepEqual([await up.acquireLock(THREAD, 30000), await tg.acquireLock(THREAD, 30000)], [null, null]);
        await br.releaseLock(lock);
        const held = await tg.acquireLock(THREAD, 30000);
        assert.equal(await br.acquireLock(THREAD, 30000), null);
        await br.enqueue(THREAD, { message: { m: 1 }, enqueuedAt: 1, expiresAt: 1e13 }, 10);
        assert.deepEqual((await tg.dequeue(THREAD)).message, { m: 1 }, "queued where the tagged holder reads");
        await tg.releaseLock(held);
      } finally {
        await Promise.all([br.disconnect(), up.disconnect(), tg.disconnect()]);
      }
    }));
  });
}

test("layout values are the core's to check", () => {
  assert.throws(() => xr.createRedisState({ url: "redis://127.0.0.1:1", layout: "sharded", logger: silent }),
    (e) => e instanceof xr.InvalidArgumentError && e.message === 'chat: layout must be "upstream", "tagged" or "bridge", got "sharded"');
  assert.throws(() => xr.createRedisState({ url: "redis://127.0.0.1:1", layout: 1, logger: silent }), TypeError);
  assert.throws(() => xr.createRedisState({ url: "redis://127.0.0.1:1", keyPrefix: "{app}", layout: "tagged", logger: silent }),
    (e) => e instanceof xr.InvalidArgumentError && e.message.includes("key_prefix '{app}' holds '{'"));
  xr.createRedisState({ url: "redis://127.0.0.1:1", keyPrefix: "{app}", logger: silent }); // upstream's layout takes it
});
