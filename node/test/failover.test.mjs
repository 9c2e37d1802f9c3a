// Failover under load, on topologies of this file's own (xr-topology --sentinel / --cluster: the
// shared ones are never failed over). 64 concurrent Promise chains on one adapter run lock cycles
// (acquire, extend, release, on 8 lock ids they contend for) and queue cycles (enqueue an entry
// with a unique id, dequeue one) while the master is failed over twice:
//   Sentinel: SENTINEL FAILOVER, then kill -9 of the new master (the sentinels promote another);
//   Cluster: CLUSTER FAILOVER on a replica, then kill -9 of that new master (the old one is
//   promoted back).
// The killed node is restarted as a replica of the master that replaced it, as an operator would,
// so that minReplicas (all the replicas a master has: 2 under Sentinel, 1 in the Cluster) can be met
// again. One run per topology (a before hook) feeds two tests:
//   - every call succeeds or rejects with a CrossRedisError (never another error, a crash, or a
//     call past a generous bound); no two holders of one lock at once among the acquires the
//     client acknowledged (each chain's intervals: from the acquire's reply to the release's send
//     or the TTL's end, whichever is first); service (a successful call, an acquired lock) resumes;
//   - no queue entry dequeued twice on the Cluster; under Sentinel none before the first failover,
//     and the ones dequeued twice during it counted: a pop the old master ran between the
//     promotion and the client's move (at the sentinels' +promoted-slave), or one a killed master
//     had not replicated, is lost with that master and the entry comes again from the new one
//     (asynchronous replication; minReplicas covers the locks).
// Printed (not asserted): errors by operation and class, the longest time without service and
// without a lock, the longest call, the longest event-loop stall.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startPrivateTopology } from "./support/topology.mjs";
import * as xr from "../dist/index.mjs";

const LOCK_IDS = Array.from({ length: 8 }, (_, i) => `L${i}`);
const QUEUES = Array.from({ length: 4 }, (_, i) => `Q${i}`);
const TTL_MS = 2000;
const CHAINS = 64;
const OP_BOUND_MS = 15000; // no call may take longer (command timeout 1 s, connect 1 s; see WAIT_MS)
// A batch whose replicas do not acknowledge waits WAIT_MS once per connection's pipeline (one WAIT
// ends each): short, so the load keeps moving while a new master has too few replicas.
const WAIT_MS = 100;
const CLIENT = { commandTimeoutMs: 1000, connectTimeoutMs: 1000 };
const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

/** What the chains saw. */
class Record {
  intervals = new Map(); // lock id -> [[start, end, who]]
  dequeued = [];
  dequeuedAt = {}; // entry id: when each dequeue answered
  enqueued = 0;
  okTimes = [];
  lockTimes = [];
  errors = new Map(); // "op: Class" -> count
  examples = new Map(); // "op: Class" -> the first message
  foreign = [];
  ops = 0;
  longestCall = 0;
  longestName = "";
  loopStall = 0;

  async call(name, fn) {
    const t0 = now();
    let timer;
    const hang = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`hang: ${name} past ${2 * OP_BOUND_MS} ms`)), 2 * OP_BOUND_MS);
    });
    try {
      const value = await Promise.race([fn(), hang]);
      this.#done(name, t0, null);
      return [true, value];
    } catch (e) {
      this.#done(name, t0, e);
      return [false, e];
    } finally {
      clearTimeout(timer);
    }
  }

  #done(name, t0, error) {
    const t1 = now();
    this.ops++;
    if (t1 - t0 > this.longestCall) {
      this.longestCall = t1 - t0;
      this.longestName = `${name} ${error ? `${error.name}: ${error.message}` : "ok"}`;
    }
    if (!error) {
      this.okTimes.push(t1);
    } else if (error instanceof xr.CrossRedisError) {
      const kind = `${name}: ${error.name}`;
      this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
      if (!this.examples.has(kind)) this.examples.set(kind, error.message.slice(0, 200));
    } else {
      this.foreign.push(error);
    }
  }
}

/** One chain: lock cycles and queue cycles until stop.done. */
async function chain(s, rec, who, stop) {
  let n = 0;
  while (!stop.done) {
    const lid = LOCK_IDS[Math.floor(Math.random() * LOCK_IDS.length)];
    const tSend = now();
    const [ok, lock] = await rec.call("acquireLock", () => s.acquireLock(lid, TTL_MS));
    if (ok && lock) {
      const start = now();
      rec.lockTimes.push(start);
      let expiry = tSend + TTL_MS;
      const tExt = now();
      const [extOk, extended] = await rec.call("extendLock", () => s.extendLock(lock, TTL_MS));
      if (extOk && extended) expiry = tExt + TTL_MS;
      const end = Math.min(now(), expiry);
      await rec.call("releaseLock", () => s.releaseLock(lock));
      if (!rec.intervals.has(lid)) rec.intervals.set(lid, []);
      rec.intervals.get(lid).push([start, end, `${who}:${lock.token}`]);
    }
    n++;
    const q = QUEUES[Math.floor(Math.random() * QUEUES.length)];
    const t = Date.now();
    const [enqOk] = await rec.call("enqueue", () => s.enqueue(q, { message: { id: `${who}-${n}` }, enqueuedAt: t, expiresAt: t + 600000 }, 0));
    if (enqOk) rec.enqueued++;
    const [deqOk, entry] = await rec.call("dequeue", () => s.dequeue(q));
    if (deqOk && entry) {
      rec.dequeued.push(entry.message.id);
      (rec.dequeuedAt[entry.message.id] ??= []).push(now());
    }
  }
}

/** The longest time within [since, until] with none of `times`. */
function longestGap(times, since, until) {
  const points = [since, ...times.filter((t) => t > since && t < until).sort((a, b) => a - b), until];
  let gap = 0;
  for (let i = 1; i < points.length; i++) gap = Math.max(gap, points[i] - points[i - 1]);
  return gap;
}

async function waitFor(what, check, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch {
      // a node going down or not up yet: ask again
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A command to one node (a fresh connection each time: nodes die and come back here). */
async function on(port, ...args) {
  const c = xr.createClient({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1000, commandTimeoutMs: 2000 });
  try {
    return await c.command(...args);
  } finally {
    await c.close();
  }
}

/** Whether `replicas` replicas acknowledge a write on the master `port` within WAIT_MS, as each
 * lock write of the chains must (minReplicas, minReplicasTimeoutMs WAIT_MS). A restarted replica is
 * online once its full resync is sent but acknowledges only after loading it and catching up with
 * the writes since: a longer WAIT than the chains' (or one after no write, which counts the online
 * replicas) passes while their acquires still fail, and the load after the failover then measures
 * the resync, not the client resuming. */
const STEADY_MS = 1000; // how long the replicas must keep acknowledging before the load after is measured

async function acknowledged(port, replicas) {
  const c = xr.createClient({ url: `redis://127.0.0.1:${port}`, poolSize: 1, commandTimeoutMs: 2000 });
  try {
    let probe = "";
    for (let i = 0; ; i++) { // a key this node serves (a Cluster master sends the others' slots away)
      try {
        probe = `fo-probe-${i}`;
        await c.command("SET", probe, "1");
        break;
      } catch (e) {
        if (i >= 63 || !/^MOVED /.test(e.message)) throw e;
      }
    }
    // One acknowledged write is not enough: under load the sentinels may still be moving a replica
    // (another resync), so the writes must be acknowledged for STEADY_MS in a row.
    const until = Date.now() + STEADY_MS;
    for (;;) {
      if ((await c.command("WAIT", replicas, WAIT_MS)) < replicas) return false;
      if (Date.now() >= until) return true;
      await c.command("SET", probe, "1");
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await c.close();
  }
}

/** The killed node again, on its port and in its directory, as a replica of masterPort (0: as its
 * cluster config says). */
async function restartAsReplica(node, masterPort, extra) {
  const conf = join(node.dir, "redis.conf");
  const args = [...(existsSync(conf) ? [conf] : []), "--port", String(node.port), "--bind", "127.0.0.1", "--save", "",
    "--appendonly", "no", "--dir", node.dir, "--daemonize", "no", "--logfile", join(node.dir, "redis.log"), ...extra,
    ...(masterPort ? ["--replicaof", "127.0.0.1", String(masterPort)] : [])];
  const child = spawn("redis-server", args, { stdio: "ignore" });
  await waitFor(`node ${node.port} to come back`, async () => (await on(node.port, "PING")) === "PONG", 20000);
  return child;
}

/** Runs the chains on `url` while drive() fails the topology over; the record and the times. */
async function underLoad(url, drive, minReplicas) {
  const rec = new Record();
  const stop = { done: false };
  const s = xr.createRedisState({ url, keyPrefix: "fo", logger: silent, minReplicas, minReplicasTimeoutMs: WAIT_MS, clientOptions: CLIENT });
  await s.connect();
  let last = now();
  const lag = setInterval(() => {
    const t = now();
    rec.loopStall = Math.max(rec.loopStall, t - last);
    last = t;
  }, 10);
  const chains = Array.from({ length: CHAINS }, (_, i) => chain(s, rec, `chain${i}`, stop));
  let tFail;
  try {
    await sleep(1000); // load before
    tFail = now();
    await drive();
    await sleep(3000); // load after: service must be back
  } finally {
    stop.done = true;
    await Promise.all(chains);
    clearInterval(lag);
    await s.disconnect();
  }
  return { rec, tFail, tEnd: now() };
}

function report(kind, { rec, tFail, tEnd }) {
  const counts = new Map();
  for (const id of rec.dequeued) counts.set(id, (counts.get(id) ?? 0) + 1);
  const figures = {
    topology: kind, operations: rec.ops, errors: [...rec.errors.values()].reduce((a, b) => a + b, 0),
    errors_by_kind: Object.fromEntries([...rec.errors].sort((a, b) => b[1] - a[1])), locks_acquired: rec.lockTimes.length,
    entries_enqueued: rec.enqueued, entries_dequeued: rec.dequeued.length,
    dequeued_twice: [...counts.values()].filter((n) => n > 1).length,
    longest_without_service_s: +(longestGap(rec.okTimes, tFail, tEnd) / 1000).toFixed(3),
    longest_without_a_lock_s: +(longestGap(rec.lockTimes, tFail, tEnd) / 1000).toFixed(3),
    longest_call_s: +(rec.longestCall / 1000).toFixed(3), longest_call: rec.longestName,
    longest_loop_stall_s: +(rec.loopStall / 1000).toFixed(3),
  };
  console.log(`failover figures (Node, ${kind}): ${JSON.stringify(figures)}`);
  console.log(`failover errors (Node, ${kind}), the first message of each kind: ${JSON.stringify(Object.fromEntries(rec.examples))}`);
}

function checkSafeAndResumed({ rec, tEnd }) {
  assert.deepEqual(rec.foreign.slice(0, 3).map(String), [], `${rec.foreign.length} calls failed with a foreign error`);
  assert.ok(rec.longestCall < OP_BOUND_MS, `a call took ${rec.longestCall.toFixed(0)} ms: ${rec.longestName}`);
  assert.ok(rec.loopStall < OP_BOUND_MS, `the event loop stalled ${rec.loopStall.toFixed(0)} ms`);
  const overlaps = [];
  let cycles = 0;
  for (const [lid, spans] of rec.intervals) {
    spans.sort((a, b) => a[0] - b[0]);
    cycles += spans.length;
    let heldUntil = 0;
    let holder = "";
    for (const [start, end, who] of spans) {
      if (start < heldUntil - 2) overlaps.push([lid, holder, who, heldUntil - start]); // 2 ms: whole-ms clocks
      if (end > heldUntil) [heldUntil, holder] = [end, who];
    }
  }
  assert.deepEqual(overlaps.slice(0, 5), [], "two holders of one lock at once");
  assert.ok(cycles > 100, `too few lock cycles (${cycles}) to tell anything`);
  assert.ok(rec.okTimes.some((t) => t > tEnd - 2000), "no successful call in the last 2 s: no service");
  assert.ok(rec.lockTimes.some((t) => t > tEnd - 2000), "no lock acquired in the last 2 s");
}

function checkEachEntryOnce({ rec, tFail }, inFailoverOk) {
  const counts = new Map();
  for (const id of rec.dequeued) counts.set(id, (counts.get(id) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id).sort();
  assert.ok(rec.dequeued.length > 1000, `too few dequeues (${rec.dequeued.length}) to tell anything`);
  if (!inFailoverOk) {
    assert.deepEqual(twice.slice(0, 5), [], `${twice.length} entries dequeued twice`);
    return;
  }
  const early = twice.filter((id) => Math.min(...rec.dequeuedAt[id]) < tFail);
  assert.deepEqual(early.slice(0, 5), [], "entries dequeued twice before any failover");
  console.log(`${twice.length} entries dequeued twice during the failovers (lost pops; see the file's comment)`);
}

/** SENTINEL FAILOVER, then kill -9 of the new master; it comes back as a replica. */
function sentinelPlan(topo, restarted) {
  const { env, json } = topo;
  const name = env.XR_TEST_SENTINEL_MASTER;
  const sentinelPort = Number(env.XR_TEST_SENTINELS.split(",")[0].split(":")[1]);
  const byPort = new Map(json.sentinel.nodes.map((n) => [n.port, n]));
  const masterPort = async () => Number((await on(sentinelPort, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name))[1]);
  const drive = async () => {
    const first = await masterPort();
    await waitFor("SENTINEL FAILOVER accepted", async () => (await on(sentinelPort, "SENTINEL", "FAILOVER", name)) === "OK");
    const second = await waitFor("the sentinels to name a new master", async () => { const p = await masterPort(); return p !== first && p; });
    await waitFor("both replicas on the new master", () => acknowledged(second, 2));
    await sleep(1000); // load on the new master
    process.kill(byPort.get(second).pid, "SIGKILL");
    const third = await waitFor("the sentinels to replace the killed master", async () => { const p = await masterPort(); return p !== second && p; });
    restarted.push(await restartAsReplica(byPort.get(second), third, []));
    await waitFor("both replicas acknowledging again", () => acknowledged(third, 2));
  };
  return { url: `redis+sentinel://${env.XR_TEST_SENTINELS}/${name}`, drive };
}

/** A map of a RESP2 flat array of pairs. */
const pairs = (a) => (Array.isArray(a) ? Object.fromEntries(Array.from({ length: a.length / 2 }, (_, i) => [a[2 * i], a[2 * i + 1]])) : a);

/** CLUSTER FAILOVER on a replica, then kill -9 of that new master; it comes back as a replica. */
function clusterPlan(topo, restarted) {
  const { env, json } = topo;
  const nodes = json.cluster.nodes;
  const byPort = new Map(nodes.map((n) => [n.port, n]));
  const shards = async () => { // [{ master, replicas }] as a live node sees them
    for (const n of nodes) {
      let reply;
      try {
        reply = await on(n.port, "CLUSTER", "SHARDS");
      } catch {
        continue;
      }
      const out = [];
      for (const shard of reply) {
        const up = pairs(shard).nodes.map(pairs).filter((m) => m.health === "online");
        const masters = up.filter((m) => m.role === "master").map((m) => Number(m.port));
        if (masters.length) out.push({ master: masters[0], replicas: up.filter((m) => m.role === "replica").map((m) => Number(m.port)) });
      }
      return out;
    }
    throw new Error("no cluster node answers");
  };
  const role = async (port) => (await on(port, "ROLE"))[0];
  const drive = async () => {
    const shard = (await shards()).find((s) => s.replicas.length);
    const [old, promoted] = [shard.master, shard.replicas[0]];
    assert.equal(await on(promoted, "CLUSTER", "FAILOVER"), "OK");
    await waitFor("the replica to take over", async () => (await role(promoted)) === "master" && (await role(old)) === "slave");
    await waitFor("the old master to replicate it", async () => (await shards()).some((s) => s.master === promoted && s.replicas.join() === String(old)));
    await sleep(1000); // load on the new master
    process.kill(byPort.get(promoted).pid, "SIGKILL");
    await waitFor("the old master to be promoted back", async () => (await role(old)) === "master");
    restarted.push(await restartAsReplica(byPort.get(promoted), 0, ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
      "--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0"]));
    await waitFor("the killed node back as a replica", async () => (await shards()).some((s) => s.master === old && s.replicas.join() === String(promoted)));
    await waitFor("the replica to acknowledge", () => acknowledged(old, 1));
  };
  return { url: `redis+cluster://${env.XR_TEST_CLUSTER_NODES}`, drive };
}

for (const [kind, plan, minReplicas] of [["sentinel", sentinelPlan, 2], ["cluster", clusterPlan, 1]]) {
  describe(`${kind} failover under load (a private topology; minReplicas ${minReplicas}: every replica)`, () => {
    let run;
    let topo;
    const restarted = [];
    before(async () => {
      topo = await startPrivateTopology([`--${kind}`]);
      const { url, drive } = plan(topo, restarted);
      run = await underLoad(url, drive, minReplicas);
      report(kind, run);
    }, { timeout: 180000 });
    after(async () => {
      for (const child of restarted) child.kill("SIGKILL");
      await topo?.stop();
    });

    test("every call a success or a CrossRedisError within the bound; no two holders of a lock; service resumes", () => {
      checkSafeAndResumed(run);
    });

    test(`no queue entry dequeued twice${kind === "sentinel" ? " outside the failovers" : ""}`, () => {
      checkEachEntryOnce(run, kind === "sentinel");
    });
  });
}
