// toolhive's session cycle from Node (bench/README.md, "session_cycle"): crossredis's RedisStorage
// (node/dist/index.mjs), and ioredis sending the same commands for context; bench/sessions/run runs
// these modes beside the real Go RedisStorage, C and Python against one throwaway redis-server.
//
// One cycle is RedisStorage's Store then Load (SPEC.md 2.1): `set thv:proxy:session:<id> <record>
// ex 7200`, then `getex <key> ex 7200` and the record read back. The 64 sessions are the
// benchmark's (bench/README.md): ids 5e55104e-be4c-4000-8000-<k as 12 hex digits>, type "mcp",
// fixed times with nanoseconds, three metadata entries (the owner among them).
//
// Modes (N cycles a run):
//   xr-seq       new RedisStorage({url}): `await store(session)`, `await load(id)`; cycle i on
//                session i % 64
//   xr-c64       64 loops in flight (Promise.all), loop k doing N/64 cycles on session k
//   ioredis-seq  ioredis (context, no target): the record made per store as Go writes it
//                (JSON.stringify of the fields in Go's order: for these values Go's bytes),
//                `set key record EX 7200`, then `getex key EX 7200` and JSON.parse
//   ioredis-c64  the same, 64 loops in flight
//
// Every load is checked (id, type, owner); a failed check ends the program with status 1.
//
// Usage:
//   node bench/node/session_cycle.mjs MODE --url URL [-n CYCLES]   one mode after a warm-up
//   node bench/node/session_cycle.mjs worker --url URL   every mode opened once, "ready {versions}";
//        then per stdin line "MODE N" one run, answered "MODE CYCLES SECONDS CPU_SECONDS"
//        (bench/sessions/suite.py)
// Environment: XR_NODE_DIR (where node_modules and dist/index.mjs are; default node/).

import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

import {
  CycleFailed, Fatal, NODE_DIR, XR_MODULE, die, fail, parseOptions, readPackageVersion, requireFromNode, usageOf, version,
} from "./common.mjs";

const N = 64; // sessions, and the loops in flight of the c64 modes
const PREFIX = "thv:proxy:session:";
const TTL_S = 7200;
const CREATED_AT = "2026-12-05T09:00:00.123456789Z";
const UPDATED_AT = "2026-12-05T09:30:00.987654321Z";
const OWNER = "user:bench@example.com";
const BINDING = "vmcp.identity.binding";
const METADATA = { backend_sid: "mcp-session-7f3a9c2e", backend_url: "http://127.0.0.1:8080/mcp", [BINDING]: OWNER };
const IDS = Array.from({ length: N }, (_, k) => `5e55104e-be4c-4000-8000-${k.toString(16).padStart(12, "0")}`);
const KEYS = IDS.map((id) => PREFIX + id);
const MODES = ["xr-seq", "xr-c64", "ioredis-seq", "ioredis-c64"];

function check(mode, id, got) {
  if (got?.id !== id || got.type !== "mcp" || got.metadata?.[BINDING] !== OWNER) {
    fail(`${mode}: load ${id}: got ${JSON.stringify(got)}`);
  }
}

/** crossredis's RedisStorage: its Session values made once, stored and loaded. */
async function openXr(url) {
  if (!existsSync(XR_MODULE)) die(`${XR_MODULE} not found: build crossredis for Node first (node/: npm run build)`);
  const { RedisStorage, Session } = await import(pathToFileURL(XR_MODULE).href);
  const st = new RedisStorage({ url });
  await st.connect();
  const sessions = IDS.map((id) => new Session({ id, type: "mcp", createdAt: CREATED_AT, updatedAt: UPDATED_AT, metadata: { ...METADATA } }));
  return {
    async cycle(mode, k) {
      await st.store(sessions[k]);
      check(mode, IDS[k], await st.load(IDS[k]));
    },
    close: () => st.close(),
  };
}

/** ioredis with the same commands; the record made per store, as a store over ioredis would. */
async function openIoredis(url) {
  const Redis = requireFromNode("ioredis");
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 5000, commandTimeout: 3000 });
  await r.connect();
  return {
    async cycle(mode, k) {
      const id = IDS[k];
      const record = JSON.stringify({ id, type: "mcp", created_at: CREATED_AT, updated_at: UPDATED_AT, metadata: METADATA });
      await r.set(KEYS[k], record, "EX", TTL_S);
      check(mode, id, JSON.parse(await r.getex(KEYS[k], "EX", TTL_S)));
    },
    close: () => r.quit(),
  };
}

/** Runs about n cycles of mode: cycles done and seconds. */
async function timed(impl, mode, n) {
  const t0 = performance.now();
  let done;
  if (mode.endsWith("-seq")) {
    for (let i = 0; i < n; i++) await impl.cycle(mode, i % N);
    done = n;
  } else {
    const per = Math.ceil(n / N);
    await Promise.all(IDS.map(async (_, k) => {
      for (let i = 0; i < per; i++) await impl.cycle(mode, k);
    }));
    done = per * N;
  }
  return { done, seconds: (performance.now() - t0) / 1000 };
}

const implOf = (mode) => (mode.startsWith("xr-") ? "xr" : "ioredis");
const OPENERS = { xr: openXr, ioredis: openIoredis };

async function worker(url) {
  const impls = { xr: await openXr(url), ioredis: await openIoredis(url) };
  const versions = { node: process.versions.node, ioredis: version("ioredis"), crossredis: readPackageVersion(NODE_DIR) ?? "unknown" };
  process.stdout.write(`ready ${JSON.stringify(versions)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const [mode, n] = line.trim().split(/\s+/);
    if (!MODES.includes(mode) || !(Number(n) >= 1)) die(`worker: want "MODE N", got ${line}`);
    const cpu = process.cpuUsage();
    const { done, seconds } = await timed(impls[implOf(mode)], mode, Number(n));
    const used = process.cpuUsage(cpu);
    process.stdout.write(`${mode} ${done} ${seconds.toFixed(9)} ${((used.user + used.system) / 1e6).toFixed(6)}\n`);
  }
  for (const impl of Object.values(impls)) await impl.close();
}

const usage = usageOf(import.meta.url);
let status = 0;
try {
  const args = parseOptions(process.argv.slice(2), { url: "", n: 10000 }, usage);
  if (!args.url || (args.mode !== "worker" && !MODES.includes(args.mode))) usage(2);
  if (args.mode === "worker") {
    await worker(args.url);
  } else {
    const impl = await OPENERS[implOf(args.mode)](args.url);
    await timed(impl, args.mode, Math.min(args.n, 640));
    const { done, seconds } = await timed(impl, args.mode, args.n);
    await impl.close();
    console.log(`${args.mode} ${done} ${seconds.toFixed(6)} ${Math.round(done / seconds)}`);
  }
} catch (e) {
  process.stderr.write(`session_cycle.mjs: ${e instanceof Fatal ? e.message : `FAILED: ${e instanceof CycleFailed ? e.message : e?.stack ?? e}`}\n`);
  status = e instanceof Fatal ? e.status : 1;
}
process.exit(status);
