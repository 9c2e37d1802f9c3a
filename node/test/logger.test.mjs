// The default logger is rate-limited: the first error at once, then one line per interval saying
// how many more failed (an outage under 64 workers used to print thousands of lines a second).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DIST, describeEnd, runNode } from "./support/child.mjs";

const xr = await import(DIST); // $XR_NODE_DIST: another build to compare with
const here = dirname(fileURLToPath(import.meta.url));

describe("the default logger", () => {
  test("a burst prints its first error, then one line with the count (a fake clock)", () => {
    const lines = [];
    let now = 1000;
    const log = new xr.ConsoleErrorLogger("chat-sdk:redis", { intervalMs: 5000, write: (l) => lines.push(l), now: () => now });
    log.error("Redis client error", { error: new Error("first") });
    const child = log.child("sub");
    for (let i = 0; i < 5799; i++) (i % 2 ? child : log).error("Redis client error", { error: new Error(`n${i}`) });
    log.debug("x");
    log.info("x");
    log.warn("x");
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^\[chat-sdk:redis\] Redis client error .*first/s);
    now += 5000;
    log.flush(); // what the timer does when the interval ends
    assert.equal(lines.length, 2);
    assert.match(lines[1], /^\[chat-sdk:redis(:sub)?\] 5799 more errors in the last 5 s/);
    log.flush();
    assert.equal(lines.length, 2, "nothing more to say");
    now += 1000; // within the next interval: counted
    log.error("again");
    assert.equal(lines.length, 2);
    now += 10000; // the interval passed with that one error held back, then a quiet interval
    log.flush();
    assert.match(lines[2], /1 more error in the last 5 s/);
    now += 60000;
    log.error("after a quiet while");
    assert.equal(lines.length, 4, "after a quiet interval the next error prints at once");
    assert.match(lines[3], /after a quiet while/);
  });

  test("the interval's timer prints the count by itself", async () => {
    const lines = [];
    const log = new xr.ConsoleErrorLogger("t", { intervalMs: 30, write: (l) => lines.push(l) });
    for (let i = 0; i < 1000; i++) log.error(`e${i}`);
    assert.equal(lines.length, 1);
    while (lines.length < 2) await new Promise((r) => setTimeout(r, 10));
    assert.match(lines[1], /^\[t\] 999 more errors in the last 30 ms/);
  });

  test("an outage under 64 workers: a few lines, not one per failed batch", async () => {
    const r = await runNode(`
      const { startRedis } = await import(${JSON.stringify(join(here, "support", "redis.mjs"))});
      const xr = await import(XR);
      const server = await startRedis();
      const s = xr.createRedisState({ url: server.url, clientOptions: { connectTimeoutMs: 200, commandTimeoutMs: 200 } });
      await s.connect();
      await s.set("k", 1);
      server.stop();
      await new Promise((r) => server.child.once("exit", r));
      const until = Date.now() + 1000;
      let failed = 0;
      await Promise.all(Array.from({ length: 64 }, async (_, i) => {
        while (Date.now() < until) await s.acquireLock("w" + i, 1000).catch(() => { failed++; });
      }));
      console.log(failed);`);
    assert.equal(r.status, 0, describeEnd(r));
    const failed = Number(r.stdout.trim());
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("[chat-sdk:redis]"));
    assert.ok(failed >= 64, `${failed} calls failed`);
    assert.ok(lines.length >= 1 && lines.length <= 3, `${lines.length} lines for ${failed} failed calls:\n${r.stderr}`);
    assert.match(lines.at(-1), /\d+ more errors? in the last 5 s/, "the count, printed at exit at the latest");
  });
});
