// The Chat SDK lock cycle from Node (bench/README.md, "node_lock_cycle"): crossredis's two adapters
// against the two upstream Redis state adapters, in the same run, against one throwaway redis-server
// on a free loopback port.
//
// One cycle is `lock = await acquireLock(threadId, 30000)` then `await releaseLock(lock)`:
// `SET chat-sdk:lock:<threadId> <token> PX 30000 NX`, then the compare-and-delete script.
//
// Implementations (all created with {url, logger: a silent logger}, connect() before use,
// disconnect() after):
//   ioredis     @chat-adapter/state-ioredis  createIoRedisState
//   redis       @chat-adapter/state-redis    createRedisState
//   xr-ioredis  crossredis createIoRedisState  (node/dist/index.mjs)
//   xr-redis    crossredis createRedisState    (node/dist/index.mjs)
// Modes, for each implementation <impl>:
//   <impl>-seq  N cycles awaited one after another, thread id `bench:0`
//   <impl>-c64  64 cycles in flight: Promise.all of 64 async loops, loop k doing K cycles on thread
//               id `bench:<k>` one after another; cycles/s = 64 K / wall time
//
// Every result is checked: an acquire must return a lock for its thread. releaseLock returns
// nothing, so a release that did not delete shows as a failed acquire of the same thread on the
// loop's next cycle, and after every run a separate connection checks that none of the 64 keys is
// left. A failed check ends the program with status 1.
//
// Usage:
//   node bench/node/lock_cycle.mjs suite [--url URL] [--seq N] [--per-loop K] [-r REPEATS]
//        [--only upstream|crossredis|MODE,...] [--json FILE] [--check]
//   node bench/node/lock_cycle.mjs MODE [--url URL] [-n CYCLES]   one mode, after a warm-up
// Without --url a throwaway redis-server is started (XR_REDIS_SERVER names the binary).
// Exit status: 0; 1 when a check failed or something is missing; 2 on a usage error; 3 when
// --check was given and a target was missed.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

import {
  CycleFailed, Fatal, KEYS, MiB, NODE_DIR, SILENT, THREADS, THREAD_IDS, TTL_MS, XR_MODULE, die, fail, fmt,
  importPackage, median, parseOptions, percentile, r1, r3, readPackageVersion, requireFromNode, usageOf, version,
  withTimeout,
} from "./common.mjs";

const IMPLS = {
  ioredis: { upstream: true, pkg: "@chat-adapter/state-ioredis", factory: "createIoRedisState" },
  redis: { upstream: true, pkg: "@chat-adapter/state-redis", factory: "createRedisState" },
  "xr-ioredis": { upstream: false, pkg: null, factory: "createIoRedisState" },
  "xr-redis": { upstream: false, pkg: null, factory: "createRedisState" },
};
// The order of a repeat (reversed every other repeat): a target's two modes always run back to back.
const SEQ_MODES = ["ioredis-seq", "xr-ioredis-seq", "redis-seq", "xr-redis-seq"];
const C64_MODES = ["ioredis-c64", "xr-ioredis-c64", "redis-c64", "xr-redis-c64"];
const MODES = [...SEQ_MODES, ...C64_MODES];
const implOf = (mode) => mode.replace(/-(seq|c64)$/, "");
const isSeq = (mode) => mode.endsWith("-seq");
// Targets from the brief: [mode, baseline, minimum ratio]. "64 concurrent crossredis >= 1.0x the
// node-redis adapter" holds for both crossredis adapters.
const TARGETS = [
  ["xr-ioredis-seq", "ioredis-seq", 1.1],
  ["xr-redis-c64", "redis-c64", 1.0],
  ["xr-ioredis-c64", "redis-c64", 1.0],
];
// For context (no target).
const CONTEXT = [
  ["xr-redis-seq", "redis-seq"],
  ["xr-ioredis-c64", "ioredis-c64"],
];

// ---- loading the implementations ----------------------------------------------------------------

async function loadFactories(impls) {
  const factories = {};
  let xr = null;
  for (const impl of impls) {
    const spec = IMPLS[impl];
    let mod;
    if (spec.upstream) {
      mod = await importPackage(spec.pkg);
    } else {
      if (!existsSync(XR_MODULE)) {
        die(`${XR_MODULE} not found: build crossredis for Node first, or pass --only upstream`);
      }
      xr ??= await import(pathToFileURL(XR_MODULE).href);
      mod = xr;
    }
    if (typeof mod[spec.factory] !== "function") {
      die(`${spec.upstream ? spec.pkg : XR_MODULE} exports no function ${spec.factory}`);
    }
    factories[impl] = mod[spec.factory];
  }
  return { factories, xr };
}

// ---- a throwaway redis-server -------------------------------------------------------------------

function freePort() {
  return new Promise((ok, ko) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", ko);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

function ping(port) {
  return new Promise((ok) => {
    const s = net.connect(port, "127.0.0.1");
    let buf = "";
    const done = (v) => { s.destroy(); ok(v); };
    s.setTimeout(500, () => done(false));
    s.once("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => { buf += d; if (buf.includes("\r\n")) done(buf.startsWith("+PONG")); });
    s.once("error", () => done(false));
  });
}

class Server {
  static async start() {
    const binary = process.env.XR_REDIS_SERVER || "redis-server";
    const dir = mkdtempSync(join(tmpdir(), "xr-nodebench-"));
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const child = spawn(binary, [
        "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", dir, "--logfile", join(dir, "redis.log"),
      ], { stdio: "ignore" });
      let spawnError = null;
      child.once("error", (e) => { spawnError = e; });
      const deadline = Date.now() + 10000;
      while (Date.now() < deadline && child.exitCode === null && !spawnError) {
        if (await ping(port)) return Object.assign(new Server(), { dir, port, child });
        await new Promise((r) => setTimeout(r, 20));
      }
      if (spawnError?.code === "ENOENT") {
        rmSync(dir, { recursive: true, force: true });
        die(`${binary} not found (scripts/bootstrap installs redis-server)`);
      }
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
    die("the redis-server did not start");
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** SIGTERM and wait for the exit (reaped, no zombie left), SIGKILL after 5 s. */
  async close() {
    const c = this.child;
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((ok) => c.once("exit", ok));
      c.kill("SIGTERM");
      const timer = setTimeout(() => c.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    this.stop();
  }

  /** Synchronous, for the "exit" listener (a signal midway). */
  stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

/** A separate connection (ioredis, not one of the adapters) that clears and checks the bench keys. */
class Checker {
  static async open(url) {
    const Redis = requireFromNode("ioredis");
    const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    c.on("error", () => {});
    await c.connect();
    return Object.assign(new Checker(), { c });
  }

  async clear() {
    await this.c.del(...KEYS);
  }

  async check(mode) {
    const left = await this.c.exists(...KEYS);
    if (left) fail(`${mode}: ${left} lock keys remain after the run (a release did not delete)`);
  }

  async redisVersion() {
    const info = await this.c.info("server");
    return /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown";
  }

  async close() {
    await this.c.quit();
  }
}

// ---- the modes ----------------------------------------------------------------------------------
// Each implementation is created and connected once and kept for the whole suite; a run of a mode
// does `size` cycles (sequential) or `size` cycles per loop (concurrent) and, when given `lat`,
// writes each cycle's latency (ms) from `lat.off` on.

async function seqRun(state, mode, n, lat) {
  const tid = THREAD_IDS[0];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const lock = await state.acquireLock(tid, TTL_MS);
    if (lock == null || lock.threadId !== tid) fail(`${mode}: acquireLock(${tid}) returned ${JSON.stringify(lock)}`);
    await state.releaseLock(lock);
    if (lat) lat.a[lat.off + i] = performance.now() - t0;
  }
  return n;
}

async function c64Run(state, mode, perLoop, lat) {
  const loop = async (k) => {
    const tid = THREAD_IDS[k];
    const base = lat ? lat.off + k * perLoop : 0;
    for (let i = 0; i < perLoop; i++) {
      const t0 = performance.now();
      const lock = await state.acquireLock(tid, TTL_MS);
      if (lock == null || lock.threadId !== tid) fail(`${mode}: acquireLock(${tid}) returned ${JSON.stringify(lock)}`);
      await state.releaseLock(lock);
      if (lat) lat.a[base + i] = performance.now() - t0;
    }
  };
  await Promise.all(THREAD_IDS.map((_, k) => loop(k)));
  return perLoop * THREADS;
}

/** One run of `mode`: cycles per second. */
async function timed(state, mode, size, lat) {
  const run = isSeq(mode) ? seqRun : c64Run;
  const t0 = performance.now();
  const done = await withTimeout(run(state, mode, size, lat), mode);
  return done / ((performance.now() - t0) / 1000);
}

async function openAll(impls, factories, url) {
  const states = {};
  for (const impl of impls) {
    const state = factories[impl]({ url, logger: SILENT });
    await state.connect();
    states[impl] = state;
  }
  return states;
}

async function closeAll(states) {
  for (const state of Object.values(states)) await state.disconnect();
}

function rss(label) {
  const m = process.memoryUsage();
  return { at: label, rss_mib: MiB(m.rss), heap_used_mib: MiB(m.heapUsed), external_mib: MiB(m.external) };
}

// ---- suite --------------------------------------------------------------------------------------

function selectModes(only) {
  if (!only || only === "all") return MODES;
  if (only === "upstream") return MODES.filter((m) => IMPLS[implOf(m)].upstream);
  if (only === "crossredis") return MODES.filter((m) => !IMPLS[implOf(m)].upstream);
  const picked = only.split(",").map((s) => s.trim()).filter(Boolean);
  for (const m of picked) {
    if (!MODES.includes(m) && !(m in IMPLS)) die(`--only: unknown mode or implementation '${m}' (${MODES.join(", ")})`, 2);
  }
  return MODES.filter((m) => picked.includes(m) || picked.includes(implOf(m)));
}

async function suite(args, url) {
  const modes = selectModes(args.only);
  if (modes.length === 0) die("--only selects no mode", 2);
  const impls = [...new Set(modes.map(implOf))];
  const size = Object.fromEntries(modes.map((m) => [m, isSeq(m) ? args.seq : args.perLoop]));
  const cyclesPerRun = Object.fromEntries(modes.map((m) => [m, isSeq(m) ? args.seq : args.perLoop * THREADS]));
  // The latency buffers, written (made resident) before the first RSS snapshot: the snapshots
  // show the implementations' memory, not the benchmark's own.
  const lat = Object.fromEntries(modes.map((m) => [m, { a: new Float64Array(cyclesPerRun[m] * args.repeats).fill(1), off: 0 }]));
  const memory = [rss("start")];
  const { factories, xr } = await loadFactories(impls);
  memory.push(rss("after import"));
  const checker = await Checker.open(url);
  await checker.clear();
  const states = await openAll(impls, factories, url);
  memory.push(rss("after connect"));

  // Warm-up: one run's worth each (connections, JIT, script caches).
  for (const m of modes) {
    await timed(states[implOf(m)], m, size[m], null);
    await checker.check(m);
  }
  memory.push(rss("after warm-up"));

  // Interleaved, the order reversed every other repeat (seq and c64 each).
  const seq = SEQ_MODES.filter((m) => modes.includes(m));
  const c64 = C64_MODES.filter((m) => modes.includes(m));
  const runs = Object.fromEntries(modes.map((m) => [m, []]));
  const t0 = performance.now();
  for (let r = 0; r < args.repeats; r++) {
    const order = r % 2 === 0 ? [...seq, ...c64] : [...[...seq].reverse(), ...[...c64].reverse()];
    for (const m of order) {
      runs[m].push(await timed(states[implOf(m)], m, size[m], lat[m]));
      lat[m].off += cyclesPerRun[m];
      await checker.check(m);
    }
  }
  const wall = (performance.now() - t0) / 1000;
  memory.push(rss("after the runs"));
  const maxRssMib = MiB(process.resourceUsage().maxRSS * 1024);

  const redisVersion = await checker.redisVersion();
  await closeAll(states);
  await checker.close();
  memory.push(rss("after disconnect"));

  // ---- report
  const med = {};
  const latency = {};
  for (const m of modes) {
    med[m] = median(runs[m]);
    const s = lat[m].a.sort();
    latency[m] = { p50_us: r1(percentile(s, 50) * 1000), p99_us: r1(percentile(s, 99) * 1000) };
  }
  const ratio = (mode, base) => ({
    paired: r3(median(runs[mode].map((x, i) => x / runs[base][i]))),
    of_medians: r3(med[mode] / med[base]),
  });
  const ratios = {};
  const targets = [];
  for (const [mode, base, min] of TARGETS) {
    if (mode in runs && base in runs) {
      ratios[`${mode}/${base}`] = ratio(mode, base);
      const paired = ratios[`${mode}/${base}`].paired;
      targets.push({ mode, baseline: base, min, ratio: paired, result: paired >= min ? "PASS" : "MISS" });
    } else {
      ratios[`${mode}/${base}`] = null;
      targets.push({ mode, baseline: base, min, ratio: null, result: "n/a" });
    }
  }
  for (const [mode, base] of CONTEXT) ratios[`${mode}/${base}`] = mode in runs && base in runs ? ratio(mode, base) : null;

  const versions = {
    node: process.versions.node,
    v8: process.versions.v8,
    redis_server: redisVersion,
    "@chat-adapter/state-ioredis": version("@chat-adapter/state-ioredis"),
    "@chat-adapter/state-redis": version("@chat-adapter/state-redis"),
    chat: version("chat"),
    ioredis: version("ioredis"),
    redis: version("redis"),
    "@redis/client": version("@redis/client"),
    crossredis: xr ? (readPackageVersion(NODE_DIR) ?? "unknown") : "not loaded",
  };

  const byMode = Object.fromEntries(targets.filter((t) => t.ratio !== null).map((t) => [t.mode, t]));
  const line = (cols) => cols.map(([s, w]) => (w < 0 ? String(s).padEnd(-w) : String(s).padStart(w))).join(" ");
  const W = [[-15], [9], [9], [9], [8], [8], [-30], [-7], [0]];
  const row = (vals) => line(vals.map((v, i) => [v, W[i][0]]));
  console.log("");
  console.log(row(["mode", "cycles/s", "min", "max", "p50 us", "p99 us", "ratio", "target", "result"]));
  for (const m of MODES) {
    if (!(m in runs)) {
      console.log(row([m, "n/a", "", "", "", "", "", "", ""]));
      continue;
    }
    const t = byMode[m];
    console.log(row([
      m, fmt(med[m]), fmt(Math.min(...runs[m])), fmt(Math.max(...runs[m])),
      latency[m].p50_us.toFixed(1), latency[m].p99_us.toFixed(1),
      t ? `${t.ratio.toFixed(3)} vs ${t.baseline}` : "", t ? `>= ${t.min}` : "", t ? t.result : "",
    ]));
  }
  console.log("");
  for (const t of targets) {
    const r = t.ratio === null ? "n/a (not measured in this run)" : `${t.ratio.toFixed(3)} ${t.result}`;
    console.log(`target   ${t.mode}/${t.baseline} >= ${t.min}: ${r}`);
  }
  for (const [mode, base] of CONTEXT) {
    const r = ratios[`${mode}/${base}`];
    if (r) console.log(`context  ${mode}/${base}: ${r.paired.toFixed(3)}`);
  }
  console.log(`memory   process RSS (MiB): ${memory.map((x) => `${x.at} ${x.rss_mib}`).join(", ")}; peak ${maxRssMib}`);
  console.log(
    `\ncycles/s: lock cycles (acquire + release) per second, median of ${args.repeats} interleaved repeats ` +
      `(${args.seq} sequential cycles, or 64 loops x ${args.perLoop}, per run; ${wall.toFixed(1)} s of runs); ` +
      `p50/p99: per-cycle latency over all timed cycles; ratio: median of the ${args.repeats} paired ratios (runs back to back)`,
  );
  console.log(Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(", "));

  if (args.json) {
    const doc = {
      benchmark: "node_lock_cycle",
      command: args.command,
      date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      machine: args.machine,
      crossredis_commit: args.commit,
      versions,
      repeats: args.repeats,
      concurrency: THREADS,
      unit: "lock cycles (acquire + release) per second",
      latency_unit: "microseconds per cycle (acquire start to release end), over all timed cycles of the mode",
      modes: Object.fromEntries(MODES.map((m) => [m, m in runs ? {
        cycles_per_run: cyclesPerRun[m],
        median: Math.round(med[m]),
        min: Math.round(Math.min(...runs[m])),
        max: Math.round(Math.max(...runs[m])),
        latency_us: latency[m],
        runs: runs[m].map(Math.round),
      } : null])),
      ratios: { method: "median over the repeats of mode/baseline, the two runs of a repeat back to back", ...ratios },
      targets,
      memory: {
        note: "one process for all implementations: RSS is the whole process's, not per implementation",
        snapshots: memory,
        peak_rss_mib: maxRssMib,
      },
    };
    let text = JSON.stringify(doc, null, 2);
    // The runs on one line each, as bench/run writes them.
    text = text.replace(/\[\s*(\d[\d\s,]*?)\s*\]/g, (_, body) => `[${body.split(/\s+/).join("")}]`);
    writeFileSync(args.json, `${text}\n`);
    process.stderr.write(`wrote ${args.json}\n`);
  }
  const missed = targets.some((t) => t.result === "MISS");
  if (missed && args.check) {
    process.stderr.write("lock_cycle.mjs: a target was missed (--check)\n");
    return 3;
  }
  return 0;
}

async function oneMode(args, url) {
  const m = args.mode;
  const impl = implOf(m);
  const { factories } = await loadFactories([impl]);
  const checker = await Checker.open(url);
  await checker.clear();
  const states = await openAll([impl], factories, url);
  const size = isSeq(m) ? args.n : Math.max(1, Math.floor(args.n / THREADS));
  await timed(states[impl], m, Math.min(size, isSeq(m) ? 200 : 4), null);
  const rate = await timed(states[impl], m, size, null);
  await checker.check(m);
  await closeAll(states);
  await checker.close();
  console.log(`${m} ${isSeq(m) ? size : size * THREADS} cycles ${Math.round(rate)} cycles/s`);
  return 0;
}

// ---- main ---------------------------------------------------------------------------------------

const usage = usageOf(import.meta.url);

function parseArgs(argv) {
  const args = parseOptions(argv, {
    url: null, n: 10000, seq: 2000, perLoop: 40, repeats: 21, only: "all", json: null,
    check: false, command: "bench/node/run", machine: "", commit: "",
  }, usage);
  if (args.mode !== "suite" && !MODES.includes(args.mode)) die(`unknown mode '${args.mode}' (suite, ${MODES.join(", ")})`, 2);
  return args;
}

let server = null;
// A signal or an unexpected process.exit: the server must not outlive the program (SIGKILL, sync).
process.on("exit", () => server?.stop());
process.on("SIGINT", () => process.exit(130));
process.on("SIGTERM", () => process.exit(143));
let status = 1;
try {
  const args = parseArgs(process.argv.slice(2));
  const wanted = args.mode === "suite" ? selectModes(args.only) : [args.mode];
  if (wanted.some((m) => !IMPLS[implOf(m)].upstream) && !existsSync(XR_MODULE)) {
    die(`${XR_MODULE} not found: build crossredis for Node first, or pass --only upstream`);
  }
  server = args.url ? null : await Server.start();
  const url = args.url || server.url;
  status = args.mode === "suite" ? await suite(args, url) : await oneMode(args, url);
} catch (e) {
  if (e instanceof Fatal) {
    process.stderr.write(`lock_cycle.mjs: ${e.message}\n`);
    status = e.status;
  } else {
    process.stderr.write(`lock_cycle.mjs: FAILED: ${e instanceof CycleFailed ? e.message : e?.stack ?? e}\n`);
    status = 1;
  }
}
await server?.close();
// A client that keeps a handle open must not keep the process alive.
process.exit(status);
