// ayepi's broker and response cache from Node (bench/README.md, "ayepi"): crossredis's redisBroker
// and redisCache over a crossredis Client (node/dist/index.mjs) against @ayepi/redis 0.4's
// factories over ioredis (interop/drivers/ayepi_upstream.mjs: how upstream drives ioredis);
// bench/ayepi/run runs these modes beside Python's against one throwaway redis-server.
//
// Every implementation is opened once (its brokers subscribed, a probe message seen) and kept.
// Each side's brokers use channels of their own (bench:ayepi:node:<impl>:<mode>), so one side's
// messages never reach the other's subscribers.
//
// Modes (N a run):
//   <impl>-latency  one broker (PUBLISH on the client, the subscriber its duplicate, as
//                   redisBroker makes it): publish message i, await its arrival at the listener,
//                   then i+1; N round trips, each timed (p50, p99)
//   <impl>-tput1    N messages published with at most 64 publish promises in flight, one
//                   subscribing broker: from the first publish to the last arrival
//   <impl>-tput8    the same with 8 brokers, each with a subscriber connection of its own, all
//                   hearing every message (N is the messages published; 8N arrivals)
//   <impl>-cache-seq  redisCache: set(key, entry) then get(key), awaited one after the other; cycle
//                   i on key i % 64
//   <impl>-cache-c64  64 loops in flight (Promise.all), loop k doing N/64 cycles on key k
// <impl>: xr (crossredis) or ioredis (upstream's factories over ioredis 5).
//
// The messages are ayepi envelopes of the work engine's done notification, each with its sequence
// number (`{"ch":"work","params":{},"data":{"kind":"done","id":"item-<i>","groupId":"bench"}}`,
// about 90 bytes); every arrival is compared with the text published, in order, at every
// subscriber. The cache entry is a 300-byte JSON body with ayepi's other fields
// (bench/python/ayepi_bench.py's `entry`, the same bytes); every get is compared with the entry set.
// A wrong, missing or extra message or entry ends the program with status 1.
//
// Usage:
//   node bench/node/ayepi_bench.mjs MODE --url URL [-n N]   one mode after a warm-up
//   node bench/node/ayepi_bench.mjs worker --url URL   every implementation opened, "ready {versions}";
//        then per stdin line "MODE N" one run, answered "MODE COUNT SECONDS CPU_SECONDS P50_US P99_US"
//        (latency modes; 0 0 for the others) (bench/ayepi/suite.py)
// Environment: XR_NODE_DIR (where node_modules and dist/index.mjs are; default node/).

import { existsSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

import {
  CycleFailed, Fatal, NODE_DIR, ROOT, XR_MODULE, die, fail, parseOptions, percentile, readPackageVersion,
  requireFromNode, usageOf, version, withTimeout,
} from "./common.mjs";

const N = 64; // cache keys, the cache's loops in flight, and the publish window
const SUBSCRIBERS = 8;
const KINDS = ["latency", "tput1", "tput8", "cache-seq", "cache-c64"];
const IMPLS = ["xr", "ioredis"];
const MODES = IMPLS.flatMap((impl) => KINDS.map((k) => `${impl}-${k}`));
const CONNECT_TIMEOUT_MS = 5000; // crossredis's defaults, given to ioredis too
const COMMAND_TIMEOUT_MS = 3000;

// ---- what is sent: the same bytes as bench/python/ayepi_bench.py -----------------------------------

export const message = (i) => `{"ch":"work","params":{},"data":{"kind":"done","id":"item-${i}","groupId":"bench"}}`;
export const cacheKey = (k) => `["GET","/users/:id",[["fields","all"]],null,"user-${k}"]`;
export const STORED_AT = 2000000000000; // fixed (2033): the same bytes from every run; PX about 7 years
export function entry(k) {
  const body = `{"id":"user-${k}","name":"Bench User ${k}","email":"user-${k}@example.com","roles":["reader","writer"],` +
    `"team":{"id":"team-7","name":"Platform"},"settings":{"theme":"dark","locale":"en-GB","tz":"Europe/London"},` +
    `"createdAt":"2026-12-05T09:00:00.000Z","updatedAt":"2026-12-05T09:30:00.000Z","bio":"${"x".repeat(60)}"}`;
  return {
    body, status: 200, headers: [["content-type", "application/json"]], storedAt: STORED_AT, expires: STORED_AT + 30000,
    staleUntil: STORED_AT + 35000, bytes: Buffer.byteLength(body), method: "GET", path: "/users/:id", key: cacheKey(k),
  };
}
const ENTRIES = Array.from({ length: N }, (_, k) => entry(k));
const ENTRY_JSON = ENTRIES.map((e) => JSON.stringify(e));

// ---- a broker with its listener switchable per run ---------------------------------------------------

/** A broker (crossredis's or upstream's factory) on `channel`, its listener calling `on(message)`;
 * resolves once a probe message went round (so the SUBSCRIBE was answered). */
async function listening(redisBroker, client, channel) {
  const b = { broker: null, on: () => {} };
  b.broker = redisBroker(client, { channel, onError: (e) => { b.error = e; } });
  b.broker.subscribe((m) => b.on(m));
  let seen = false;
  b.on = (m) => {
    if (m === "probe") seen = true;
  };
  for (let t = 0; !seen; t++) {
    if (t >= 500) die(`${channel}: the subscriber never heard the probe`);
    await b.broker.publish("probe");
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 20)); // probes still on the way
  b.on = () => {};
  return b;
}

/** A wrong message seen by a listener, or what onError heard. */
function checkError(what, b) {
  if (b.error) fail(`${what}: ${typeof b.error === "string" ? b.error : `onError heard ${b.error?.stack ?? b.error}`}`);
}

async function latency(mode, b, n) {
  const samples = new Float64Array(n);
  let want = null;
  let arrived = null;
  b.on = (m) => {
    if (m !== want) b.error ??= `got ${JSON.stringify(m)}, want ${JSON.stringify(want)}`;
    arrived();
  };
  const msgs = Array.from({ length: n }, (_, i) => message(i));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    want = msgs[i];
    const heard = new Promise((r) => { arrived = r; });
    const s = performance.now();
    await b.broker.publish(want);
    await heard;
    samples[i] = performance.now() - s;
    if (b.error) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  checkError(mode, b);
  samples.sort();
  return { done: n, seconds, p50: percentile(samples, 50) * 1000, p99: percentile(samples, 99) * 1000 };
}

/** N messages through `pub`, at most N publishes in flight; every broker of `subs` must hear each,
 * in order. */
async function throughput(mode, pub, subs, n) {
  const msgs = Array.from({ length: n }, (_, i) => message(i));
  let complete = 0;
  let finished;
  const all = new Promise((r) => { finished = r; });
  for (const s of subs) {
    let next = 0;
    s.on = (m) => {
      if (m !== msgs[next]) {
        s.error ??= `arrival ${next}: got ${JSON.stringify(m)}, want ${JSON.stringify(msgs[next])}`;
        finished();
      }
      if (++next === n && ++complete === subs.length) finished();
    };
  }
  const t0 = performance.now();
  let pending = [];
  for (let i = 0; i < n; i++) {
    pending.push(pub.broker.publish(msgs[i]));
    if (pending.length === N) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  await all;
  const seconds = (performance.now() - t0) / 1000;
  for (const s of [pub, ...subs]) checkError(mode, s);
  return { done: n, seconds };
}

async function cycle(mode, cache, k) {
  await cache.set(ENTRIES[k].key, ENTRIES[k]);
  const got = await cache.get(ENTRIES[k].key);
  if (got === undefined || JSON.stringify(got) !== ENTRY_JSON[k]) fail(`${mode}: get ${ENTRIES[k].key}: got ${JSON.stringify(got)}`);
}

async function cacheRun(mode, cache, n) {
  const t0 = performance.now();
  let done;
  if (mode.endsWith("-seq")) {
    for (let i = 0; i < n; i++) await cycle(mode, cache, i % N);
    done = n;
  } else {
    const per = Math.ceil(n / N);
    await Promise.all(ENTRIES.map(async (_, k) => {
      for (let i = 0; i < per; i++) await cycle(mode, cache, k);
    }));
    done = per * N;
  }
  return { done, seconds: (performance.now() - t0) / 1000 };
}

// ---- the two implementations ----------------------------------------------------------------------

/** One side: `client` for the commands, `make()` a fresh command client (the tput8 brokers each
 * get their own subscriber through the factory's duplicate()). */
async function openSide(impl, url) {
  let mod, client, close;
  if (impl === "xr") {
    if (!existsSync(XR_MODULE)) die(`${XR_MODULE} not found: build crossredis for Node first (node/: npm run build)`);
    mod = await import(pathToFileURL(XR_MODULE).href);
    client = mod.createClient({ url });
    await client.connect();
  } else {
    const upstream = join(ROOT, "interop", "drivers", "ayepi_upstream.mjs");
    mod = await import(pathToFileURL(upstream).href);
    const Redis = requireFromNode("ioredis");
    client = new Redis(url, { lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, commandTimeout: COMMAND_TIMEOUT_MS });
    await client.connect();
  }
  const chan = (kind) => `bench:ayepi:node:${impl}:${kind}`;
  const brokers = [await listening(mod.redisBroker, client, chan("latency")), await listening(mod.redisBroker, client, chan("tput1"))];
  const eight = [];
  for (let s = 0; s < SUBSCRIBERS; s++) eight.push(await listening(mod.redisBroker, client, chan("tput8")));
  // the subscribers' duplicates, to close: crossredis's broker has close(); upstream's none (its
  // duplicate is reachable only through the broker), so the process exit closes them
  close = async () => {
    for (const b of [...brokers, ...eight]) await b.broker.close?.();
    if (impl === "xr") await client.close();
    else client.disconnect();
  };
  const cache = mod.redisCache(client, {});
  return {
    run(mode, n) {
      const kind = mode.slice(impl.length + 1);
      switch (kind) {
        case "latency": return latency(mode, brokers[0], n);
        case "tput1": return throughput(mode, brokers[1], [brokers[1]], n);
        case "tput8": return throughput(mode, eight[0], eight, n);
        default: return cacheRun(mode, cache, n);
      }
    },
    close,
  };
}

const implOf = (mode) => mode.slice(0, mode.indexOf("-"));

async function worker(url) {
  const sides = {};
  for (const impl of IMPLS) sides[impl] = await openSide(impl, url);
  const versions = { node: process.versions.node, ioredis: version("ioredis"), crossredis: readPackageVersion(NODE_DIR) ?? "unknown" };
  process.stdout.write(`ready ${JSON.stringify(versions)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const [mode, n] = line.trim().split(/\s+/);
    if (!MODES.includes(mode) || !(Number(n) >= 1)) die(`worker: want "MODE N", got ${line}`);
    const cpu = process.cpuUsage();
    const r = await withTimeout(sides[implOf(mode)].run(mode, Number(n)), mode);
    const used = process.cpuUsage(cpu);
    process.stdout.write(`${mode} ${r.done} ${r.seconds.toFixed(9)} ${((used.user + used.system) / 1e6).toFixed(6)} ` +
      `${(r.p50 ?? 0).toFixed(1)} ${(r.p99 ?? 0).toFixed(1)}\n`);
  }
  for (const side of Object.values(sides)) await side.close();
}

const usage = usageOf(import.meta.url);
let status = 0;
try {
  const args = parseOptions(process.argv.slice(2), { url: "", n: 10000 }, usage);
  if (!args.url || (args.mode !== "worker" && !MODES.includes(args.mode))) usage(2);
  if (args.mode === "worker") {
    await worker(args.url);
  } else {
    const side = await openSide(implOf(args.mode), args.url);
    await side.run(args.mode, Math.min(args.n, 640));
    const r = await withTimeout(side.run(args.mode, args.n), args.mode);
    await side.close();
    const lat = r.p50 === undefined ? "" : ` p50 ${r.p50.toFixed(1)} us p99 ${r.p99.toFixed(1)} us`;
    console.log(`${args.mode} ${r.done} ${r.seconds.toFixed(6)} ${Math.round(r.done / r.seconds)}/s${lat}`);
  }
} catch (e) {
  process.stderr.write(`ayepi_bench.mjs: ${e instanceof Fatal ? e.message : `FAILED: ${e instanceof CycleFailed ? e.message : e?.stack ?? e}`}\n`);
  status = e instanceof Fatal ? e.status : 1;
}
process.exit(status);
