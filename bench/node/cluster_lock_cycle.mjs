// The Chat SDK lock cycle from Node on a Redis Cluster (bench/README.md, "cluster"): crossredis
// against the Node cluster clients sending the same commands, in the same run, on one cluster.
//
// One cycle is acquire + release of the lock on thread `bench:<k>`: `SET chat-sdk:lock:bench:<k>
// <token> PX 30000 NX`, then the compare-and-delete script (EVALSHA where the client does it). The 64
// keys spread over the masters by their slots; sequential cycle i uses key i % 64 (consecutive
// cycles go to different masters); the concurrent mode runs 64 loops, loop k on key k.
//
// Implementations (peers: the clients a Node program on a Cluster would use for these commands):
//   ioredis     ioredis Cluster: set(key, token, "PX", 30000, "NX"), the script by defineCommand
//               (EVALSHA, EVAL on NOSCRIPT)
//   noderedis   node-redis createCluster: set(key, token, {NX, PX}), the script by defineScript
//               (EVALSHA, EVAL on NOSCRIPT)
//   glide       @valkey/valkey-glide GlideClusterClient: set(key, token, {conditionalSet, expiry}),
//               invokeScript(Script) (EVALSHA, loads on NOSCRIPT)
//   xr          crossredis createIoRedisState({url: "redis+cluster://..."}): acquireLock, releaseLock
//   adapter     @chat-adapter/state-ioredis on an ioredis Cluster (context: what a Chat SDK
//               deployment on a Cluster runs; EVAL of the script text each time)
// Peers' tokens are made as the TS adapters make them (`redis_<ms>_<Math.random base36>`).
// Modes: <impl>-seq (N cycles awaited one after another) and <impl>-c64 (64 loops in flight, K cycles
// each; cycles/s = 64 K / wall time).
//
// Every reply is checked: a peer's SET must answer OK and its release 1; crossredis's and the
// adapter's releaseLock return nothing, so a release that did not delete shows as a failed acquire
// of the same key at most 64 cycles later (or on the loop's next cycle); after every run a separate
// connection checks that none of the 64 keys is left. A failed check ends the program with status 1.
// Targets: crossredis >= 1.0x the fastest peer (the one with the higher median) of its kind, as
// the median of the paired ratios.
//
// Usage:
//   node bench/node/cluster_lock_cycle.mjs suite --url redis+cluster://host:port,... [--seq N]
//        [--per-loop K] [-r REPEATS] [--only xr,IMPL,...] [--json FILE]
//   node bench/node/cluster_lock_cycle.mjs MODE --url redis+cluster://host:port,... [-n CYCLES]
// Exit status: 0; 1 when a check failed or something is missing; 2 on a usage error.

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

import {
  CycleFailed, Fatal, HERE, KEYS, NODE_DIR, SILENT, THREADS, THREAD_IDS, TTL_MS, XR_MODULE, die, fail, fmt,
  importPackage, median, parseOptions, r3, readPackageVersion, requireFromNode, usageOf, version, withTimeout,
} from "./common.mjs";

// valkey-glide comes from bench/node/node_modules (bench/node/package.json; bench/node/run --cluster
// installs it), the rest from node/ as for lock_cycle.mjs.
const requireFromBench = createRequire(join(HERE, "package.json"));
const RELEASE_SCRIPT = `
      if redis.call("get", KEYS[1]) == ARGV[1] then
        return redis.call("del", KEYS[1])
      else
        return 0
      end
    `; // the TS adapters' text
const token = () => `redis_${Date.now()}_${Math.random().toString(36).substring(2, 15)}`;

const IMPLS = ["ioredis", "noderedis", "glide", "xr", "adapter"];
const PEERS = ["ioredis", "noderedis", "glide"];
const SEQ_MODES = IMPLS.map((i) => `${i}-seq`);
const C64_MODES = IMPLS.map((i) => `${i}-c64`);
const MODES = [...SEQ_MODES, ...C64_MODES];
const implOf = (mode) => mode.replace(/-(seq|c64)$/, "");
const isSeq = (mode) => mode.endsWith("-seq");

function seeds(url) {
  const m = /^redis\+cluster:\/\/([^@/?#]+)$/.exec(url ?? "");
  if (!m) die(`--url must be redis+cluster://host:port,... without credentials (got ${url})`, 2);
  return m[1].split(",").map((hp) => {
    const i = hp.lastIndexOf(":");
    return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
  });
}

// ---- the implementations: open(url) -> { cycle(key, tid), close() } --------------------------------

async function openIoredis(url) {
  const Redis = requireFromNode("ioredis");
  const c = new Redis.Cluster(seeds(url), {
    redisOptions: { connectTimeout: 5000, commandTimeout: 3000 }, // crossredis's defaults
  });
  c.defineCommand("releaseLock", { numberOfKeys: 1, lua: RELEASE_SCRIPT });
  await new Promise((ok, ko) => { c.once("ready", ok); c.once("error", ko); });
  return {
    async cycle(key) {
      const t = token();
      if ((await c.set(key, t, "PX", TTL_MS, "NX")) !== "OK") fail(`ioredis: SET NX of ${key} did not acquire`);
      if ((await c.releaseLock(key, t)) !== 1) fail(`ioredis: the release script did not delete ${key}`);
    },
    close: () => c.quit(),
  };
}

async function openNodeRedis(url) {
  const { createCluster, defineScript } = requireFromNode("redis");
  const releaseLock = defineScript({
    SCRIPT: RELEASE_SCRIPT,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser, key, t) {
      parser.pushKey(key);
      parser.push(t);
    },
    transformReply: (reply) => reply,
  });
  const c = createCluster({
    rootNodes: seeds(url).map(({ host, port }) => ({ socket: { host, port } })),
    defaults: { socket: { connectTimeout: 5000 } },
    scripts: { releaseLock },
  });
  c.on("error", () => {});
  await c.connect();
  return {
    async cycle(key) {
      const t = token();
      if ((await c.set(key, t, { NX: true, PX: TTL_MS })) !== "OK") fail(`noderedis: SET NX of ${key} did not acquire`);
      if ((await c.releaseLock(key, t)) !== 1) fail(`noderedis: the release script did not delete ${key}`);
    },
    close: () => c.close(),
  };
}

async function openGlide(url) {
  let G;
  try {
    G = requireFromBench("@valkey/valkey-glide");
  } catch (e) {
    die(`@valkey/valkey-glide is not installed in ${HERE}/node_modules (bench/node/run --cluster installs it): ${e.message}`);
  }
  const c = await G.GlideClusterClient.createClient({ addresses: seeds(url), requestTimeout: 3000 });
  const script = new G.Script(RELEASE_SCRIPT);
  const opts = { conditionalSet: "onlyIfDoesNotExist", expiry: { type: G.TimeUnit.Milliseconds, count: TTL_MS } };
  return {
    async cycle(key) {
      const t = token();
      if ((await c.set(key, t, opts)) !== "OK") fail(`glide: SET NX of ${key} did not acquire`);
      if ((await c.invokeScript(script, { keys: [key], args: [t] })) !== 1) {
        fail(`glide: the release script did not delete ${key}`);
      }
    },
    close: async () => c.close(),
  };
}

/** A Chat SDK state adapter's cycle (crossredis's, or upstream's on an ioredis Cluster). */
function stateCycle(name, state, close) {
  return {
    async cycle(_key, tid) {
      const lock = await state.acquireLock(tid, TTL_MS);
      if (lock == null || lock.threadId !== tid) fail(`${name}: acquireLock(${tid}) returned ${JSON.stringify(lock)}`);
      await state.releaseLock(lock);
    },
    close,
  };
}

async function openXr(url) {
  const xr = await import(pathToFileURL(XR_MODULE).href);
  const state = xr.createIoRedisState({ url, logger: SILENT });
  await state.connect();
  return stateCycle("xr", state, () => state.disconnect());
}

async function openAdapter(url) {
  const Redis = requireFromNode("ioredis");
  const { createIoRedisState } = await importPackage("@chat-adapter/state-ioredis");
  const client = new Redis.Cluster(seeds(url));
  const state = createIoRedisState({ client, logger: SILENT });
  await state.connect();
  return stateCycle("adapter", state, async () => { await state.disconnect(); await client.quit(); });
}

const OPEN = { ioredis: openIoredis, noderedis: openNodeRedis, glide: openGlide, xr: openXr, adapter: openAdapter };

// ---- runs ---------------------------------------------------------------------------------------

async function seqRun(impl, n) {
  for (let i = 0; i < n; i++) await impl.cycle(KEYS[i % THREADS], THREAD_IDS[i % THREADS]);
  return n;
}

async function c64Run(impl, perLoop) {
  await Promise.all(THREAD_IDS.map(async (tid, k) => {
    for (let i = 0; i < perLoop; i++) await impl.cycle(KEYS[k], tid);
  }));
  return perLoop * THREADS;
}

// This process's CPU time (user + system, every thread: glide's Rust threads too) per cycle, in µs,
// summed over the timed runs of each mode: unlike cycles/s it hardly moves with the machine's load.
const cpu = {};

async function timed(impl, mode, size) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const done = await withTimeout((isSeq(mode) ? seqRun : c64Run)(impl, size), mode);
  const rate = done / ((performance.now() - t0) / 1000);
  const c = process.cpuUsage(c0);
  cpu[mode] ??= { us: 0, cycles: 0 };
  cpu[mode].us += c.user + c.system;
  cpu[mode].cycles += done;
  return rate;
}
const cpuPerCycle = (mode) => r3(cpu[mode].us / cpu[mode].cycles);

/** A separate ioredis Cluster connection that clears and checks the bench keys. */
async function openChecker(url) {
  const Redis = requireFromNode("ioredis");
  const c = new Redis.Cluster(seeds(url));
  c.on("error", () => {});
  await new Promise((ok, ko) => { c.once("ready", ok); c.once("error", ko); });
  const perKey = (cmd) => Promise.all(KEYS.map((k) => c[cmd](k))).then((r) => r.reduce((a, b) => a + b, 0));
  return {
    clear: () => perKey("del"),
    async check(mode) {
      const left = await perKey("exists");
      if (left) fail(`${mode}: ${left} lock keys remain after the run (a release did not delete)`);
    },
    /** How many of the 64 keys each master serves. */
    async spread() {
      const slots = await c.cluster("SLOTS");
      const out = {};
      for (const k of KEYS) {
        const s = keySlot(k);
        const [, , [host, port]] = slots.find(([lo, hi]) => s >= lo && s <= hi);
        out[`${host}:${port}`] = (out[`${host}:${port}`] ?? 0) + 1;
      }
      return out;
    },
    async redisVersion() {
      const info = await c.nodes("master")[0].info("server");
      return /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown";
    },
    close: () => c.quit(),
  };
}

/** The Cluster slot of a key without hash tags (the bench keys have none): CRC16/XMODEM mod 16384. */
function keySlot(key) {
  let crc = 0;
  for (const b of Buffer.from(key)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

async function suite(args) {
  const impls = args.only === "all" ? IMPLS : args.only.split(",").map((x) => x.trim()).filter(Boolean);
  const bad = impls.filter((i) => !IMPLS.includes(i));
  if (bad.length || !impls.includes("xr")) die(`--only: implementations of ${IMPLS.join(", ")}, xr among them (got ${args.only})`, 2);
  const SEQ = impls.map((i) => `${i}-seq`);
  const C64 = impls.map((i) => `${i}-c64`);
  const modes = [...SEQ, ...C64];
  const checker = await openChecker(args.url);
  await checker.clear();
  const loadBefore = load();
  const opened = {};
  for (const i of impls) opened[i] = await OPEN[i](args.url);
  const size = (m) => (isSeq(m) ? args.seq : args.perLoop);
  const perRun = (m) => (isSeq(m) ? args.seq : args.perLoop * THREADS);
  for (const m of modes) { // warm-up: one run's worth each (connections, slot maps, script caches, JIT)
    await timed(opened[implOf(m)], m, size(m));
    await checker.check(m);
  }
  for (const k of Object.keys(cpu)) delete cpu[k]; // only the timed runs count
  const runs = Object.fromEntries(modes.map((m) => [m, []]));
  const t0 = performance.now();
  for (let r = 0; r < args.repeats; r++) { // interleaved, the order reversed every other repeat
    const order = r % 2 === 0 ? [...SEQ, ...C64] : [...[...SEQ].reverse(), ...[...C64].reverse()];
    for (const m of order) {
      runs[m].push(await timed(opened[implOf(m)], m, size(m)));
      await checker.check(m);
    }
  }
  const wall = (performance.now() - t0) / 1000;
  const spread = await checker.spread();
  const redisVersion = await checker.redisVersion();
  for (const i of impls) await opened[i].close();
  await checker.close();
  const loadAfter = load();

  const med = Object.fromEntries(modes.map((m) => [m, median(runs[m])]));
  const paired = (a, b) => r3(median(runs[a].map((x, k) => x / runs[b][k])));
  const targets = ["seq", "c64"].map((kind) => {
    const mode = `xr-${kind}`;
    const peers = PEERS.filter((p) => impls.includes(p)).map((p) => `${p}-${kind}`);
    if (!peers.length) return null;
    const fastest = peers.reduce((a, b) => (med[b] > med[a] ? b : a));
    const ratios = Object.fromEntries(peers.map((p) => [p, paired(mode, p)]));
    return { mode, fastest_peer: fastest, min: 1.0, ratio: ratios[fastest], ratios,
             result: ratios[fastest] >= 1.0 ? "PASS" : "MISS" };
  }).filter(Boolean);
  const context = !impls.includes("adapter") ? {}
    : { "xr-seq/adapter-seq": paired("xr-seq", "adapter-seq"), "xr-c64/adapter-c64": paired("xr-c64", "adapter-c64") };
  const byMode = Object.fromEntries(targets.map((t) => [t.mode, t]));
  console.log(`\n${"mode".padEnd(15)} ${"cycles/s".padStart(9)} ${"min".padStart(9)} ${"max".padStart(9)} ${"CPU us".padStart(7)}  ratio (paired)`);
  for (const m of modes) {
    const t = byMode[m];
    const ratio = t
      ? `${Object.entries(t.ratios).map(([p, v]) => `${v.toFixed(3)} vs ${p}`).join(", ")}: ${t.result} (>= 1.0x ${t.fastest_peer})`
      : implOf(m) === "adapter" ? `(xr: ${context[`xr-${m.split("-")[1]}/${m}`].toFixed(3)}x this)` : "";
    console.log(`${m.padEnd(15)} ${fmt(med[m]).padStart(9)} ${fmt(Math.min(...runs[m])).padStart(9)} ${fmt(Math.max(...runs[m])).padStart(9)} ${cpuPerCycle(m).toFixed(1).padStart(7)}  ${ratio}`);
  }
  const versions = {
    node: process.versions.node, redis_server: redisVersion, ioredis: version("ioredis"), redis: version("redis"),
    "@valkey/valkey-glide": readPackageVersion(join(HERE, "node_modules", "@valkey", "valkey-glide")) ?? "unknown",
    "@chat-adapter/state-ioredis": version("@chat-adapter/state-ioredis"), crossredis: readPackageVersion(NODE_DIR) ?? "unknown",
  };
  console.log(`\ncycles/s: lock cycles (acquire + release) per second, median of ${args.repeats} interleaved repeats ` +
    `(${args.seq} sequential cycles, or 64 loops x ${args.perLoop}, per run; ${wall.toFixed(1)} s of runs); ` +
    `CPU us: this process's CPU time (user + system, all threads) per cycle over the timed runs; ` +
    `ratio: median of the ${args.repeats} paired ratios (runs back to back)`);
  console.log(`the 64 keys per master: ${Object.entries(spread).sort().map(([n, c]) => `${n} ${c}`).join(", ")}`);
  console.log(`${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(", ")}; load average (1, 5, 15 min) before ${loadBefore}, after ${loadAfter}`);
  if (args.json) {
    const doc = {
      benchmark: "cluster_node_lock_cycle", command: args.command,
      date: new Date().toISOString().replace(/\.\d+Z$/, "Z"), machine: args.machine,
      load_average: `before ${loadBefore}, after ${loadAfter}`, crossredis_commit: args.commit, versions,
      cluster: { masters: Object.keys(spread).length, keys_per_master: spread },
      repeats: args.repeats, concurrency: THREADS, unit: "lock cycles (acquire + release) per second",
      modes: Object.fromEntries(modes.map((m) => [m, {
        cycles_per_run: perRun(m), median: Math.round(med[m]), min: Math.round(Math.min(...runs[m])),
        max: Math.round(Math.max(...runs[m])), cpu_us_per_cycle: cpuPerCycle(m), runs: runs[m].map(Math.round),
      }])),
      targets, context,
    };
    let text = JSON.stringify(doc, null, 2);
    text = text.replace(/\[\s*(\d[\d\s,]*?)\s*\]/g, (_, body) => `[${body.split(/\s+/).join("")}]`);
    writeFileSync(args.json, `${text}\n`);
    process.stderr.write(`wrote ${args.json}\n`);
  }
  return 0;
}

async function oneMode(args) {
  const checker = await openChecker(args.url);
  await checker.clear();
  const impl = await OPEN[implOf(args.mode)](args.url);
  const size = isSeq(args.mode) ? args.n : Math.max(1, Math.floor(args.n / THREADS));
  await timed(impl, args.mode, isSeq(args.mode) ? Math.min(size, 200) : Math.min(size, 4));
  delete cpu[args.mode]; // the timed run only
  const rate = await timed(impl, args.mode, size);
  await checker.check(args.mode);
  await impl.close();
  await checker.close();
  console.log(`${args.mode} ${isSeq(args.mode) ? size : size * THREADS} cycles ${Math.round(rate)} cycles/s, ` +
    `${cpuPerCycle(args.mode).toFixed(1)} us CPU per cycle (this process, all threads)`);
  return 0;
}

function parseArgs(argv) {
  const args = parseOptions(argv, {
    url: null, n: 4000, seq: 1000, perLoop: 32, repeats: 21, only: "all", json: null,
    command: "bench/node/run --cluster", machine: "", commit: "",
  }, usageOf(import.meta.url));
  if (args.mode !== "suite" && !MODES.includes(args.mode)) die(`unknown mode '${args.mode}' (suite, ${MODES.join(", ")})`, 2);
  seeds(args.url);
  return args;
}

let status = 1;
try {
  const args = parseArgs(process.argv.slice(2));
  status = args.mode === "suite" ? await suite(args) : await oneMode(args);
} catch (e) {
  if (e instanceof Fatal) {
    process.stderr.write(`cluster_lock_cycle.mjs: ${e.message}\n`);
    status = e.status;
  } else {
    process.stderr.write(`cluster_lock_cycle.mjs: FAILED: ${e instanceof CycleFailed ? e.message : e?.stack ?? e}\n`);
    status = 1;
  }
}
process.exit(status);
