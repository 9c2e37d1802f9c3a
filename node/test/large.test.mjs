// A 100 MiB value through set, get, appendToList, getList, enqueue and dequeue, each in a child
// process of its own (its peak RSS is its own): JSON.stringify and JSON.parse stay on the JS
// thread (only JS can run them); copying out of and into the JS heap too; everything else (UTF-8
// conversion, the core's JSON transcoding and command building, the I/O, decoding the reply) runs
// on the thread pool. Checked as behaviour: the addon's own account of where big texts were built
// and decoded (xr_js_stats), a timer that ticks while the call is in flight, and the peak RSS.
// The stall and RSS figures are printed as diagnostics.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRedis } from "./support/redis.mjs";
import { describeEnd, runNode } from "./support/child.mjs";

const MiB = 1048576;
const SIZE = 100 * MiB;

// What an operation may hold at its peak beyond the process before it, in multiples of the value
// (plus 32 MiB): a read holds the reply, the core's read buffer and the JS string; a write holds
// the text JSON.stringify made, a copy, and the core's transcoded text and command at once (the
// addon reports its copy to V8, whose collector then frees the JSON text and its pieces while the
// pool works); a dequeue decodes a whole entry in the core (the raw entry, its parse, the message).
const LIMIT = { set: 3.5, append: 3.5, enqueue: 3.5, get: 3, getList: 3, dequeue: 5.2 };

let server;
before(async () => { server = await startRedis(["--proto-max-bulk-len", "1gb", "--client-query-buffer-limit", "1gb"]); });
after(() => server?.stop());

/** Writes what the reads read (in a child, so that its memory is not the measured one). */
async function seed(text) {
  const r = await runNode(`
    const xr = await import(XR);
    const s = xr.createRedisState({ clientOptions: { commandTimeoutMs: 60000 } });
    await s.connect();
    const v = ${text}.repeat(${SIZE} / Buffer.byteLength(${text}));
    await s.getClient().command("DEL", "chat-sdk:list:big", "chat-sdk:queue:big");
    await s.set("big", v);
    await s.appendToList("big", v);
    await s.enqueue("big", { message: v, enqueuedAt: 1, expiresAt: 1e13 }, 0);
    await s.disconnect();`, { env: { REDIS_URL: server.url } });
  assert.equal(r.status, 0, describeEnd(r));
}

/** Runs one operation on a 100 MiB value in a child: { ticks, maxGap, grew (bytes of maxRSS), stats }. */
async function measure(op, text) {
  const r = await runNode(`
    import { createRequire } from "node:module";
    const native = createRequire(import.meta.url)(NATIVE);
    const xr = await import(XR);
    const s = xr.createRedisState({ clientOptions: { commandTimeoutMs: 60000 } });
    await s.connect();
    await s.queueDepth("warm-up");
    const op = ${JSON.stringify(op)};
    const v = op === "set" || op === "append" || op === "enqueue"
      ? ${text}.repeat(${SIZE} / Buffer.byteLength(${text})) + "" : null;
    if (v) v.charCodeAt(0); // a flat string before the baseline
    gc();
    const before = process.resourceUsage().maxRSS * 1024;
    let ticks = 0;
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 1);
    const call = {
      set: () => s.set("w", v), append: () => s.appendToList("w", v),
      enqueue: () => s.enqueue("w", { message: v, enqueuedAt: 1, expiresAt: 1e13 }, 0),
      get: () => s.get("big"), getList: () => s.getList("big"), dequeue: () => s.dequeue("big"),
    }[op]();
    const started = ticks; // what ticked before the call returned (nothing can)
    const result = await call;
    maxGap = Math.max(maxGap, performance.now() - last);
    clearInterval(timer);
    const grew = process.resourceUsage().maxRSS * 1024 - before;
    const size = result === undefined || typeof result === "number" ? ${SIZE}
      : JSON.stringify(Array.isArray(result) ? result[0] : result.message ?? result).length - 2;
    console.log(JSON.stringify({ ticks: ticks - started, maxGap, grew, size, stats: native.xr_js_stats(null) }));
    await s.getClient().command("DEL", "chat-sdk:cache:w", "chat-sdk:list:w", "chat-sdk:queue:w");
    await s.disconnect();`, { env: { REDIS_URL: server.url }, flags: ["--expose-gc"], timeoutMs: 120000 });
  assert.equal(r.status, 0, describeEnd(r));
  return JSON.parse(r.stdout);
}

for (const [kind, text] of [["ASCII", '"x"'], ["non-ASCII", '"\\u00e4\\u4e2d"']]) {
  describe(`100 MiB values, ${kind}`, () => {
    before(() => seed(text));
    for (const op of ["set", "get", "append", "getList", "enqueue", "dequeue"]) {
      test(op, async (t) => {
        const m = await measure(op, text);
        const mib = (n) => (n / MiB).toFixed(0);
        t.diagnostic(`${op} ${kind}: longest stall ${m.maxGap.toFixed(0)} ms, ${m.ticks} ticks, peak RSS +${mib(m.grew)} MiB ` +
          `(${(m.grew / SIZE).toFixed(2)}x); built on the pool ${mib(m.stats.bigBuiltOnPool)} MiB, decoded there ` +
          `${mib(m.stats.bigDecodedOnPool)} MiB`);
        assert.ok(m.size > SIZE / 4, "the whole value came back");
        assert.ok(m.ticks > 0, "the event loop turned while the call was in flight");
        assert.equal(m.stats.bigBuiltOnJsThread, 0, "no big batch built on the JS thread");
        assert.equal(m.stats.bigDecodedOnJsThread, 0, "no big result decoded on the JS thread");
        if (op === "set" || op === "append" || op === "enqueue") {
          assert.ok(m.stats.bigBuiltOnPool >= SIZE / 2, `${m.stats.bigBuiltOnPool} bytes built on the pool`);
        } else {
          assert.ok(m.stats.bigDecodedOnPool >= SIZE / 2, `${m.stats.bigDecodedOnPool} bytes decoded on the pool`);
        }
        assert.ok(m.grew < LIMIT[op] * SIZE + 32 * MiB, `peak RSS +${mib(m.grew)} MiB for a ${mib(SIZE)} MiB value`);
      });
    }
  });
}
