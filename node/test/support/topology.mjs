// Test support: the topologies the Chat SDK suites run on, one test body for each (the way
// valkey-glide's tests take a cluster mode): a standalone redis-server of this file's own, and the
// run's shared Sentinel set and Clusters, named by the XR_TEST_* variables scripts/test exports
// (tests/harness/topology.h). A file run by hand without them starts one
// `xr-topology --cluster --sentinel --tls-cluster` for its process (it stops when this process
// ends: EOF on its stdin); under CI=true their absence fails the suites instead.
//
// The shared topologies are read-mostly: each test writes under a key prefix of its own (parallel
// runs never collide), pauses a node for 400 ms at most (the sentinels take a master down after
// 1 s without a reply) and never kills, fails over or reconfigures anything (failover.test.mjs
// starts topologies of its own: startPrivateTopology).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { startRedis } from "./redis.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const TOPOLOGY_KINDS = ["standalone", "sentinel", "cluster"];
const ENV_NAMES = ["XR_TEST_CLUSTER_NODES", "XR_TEST_SENTINELS", "XR_TEST_SENTINEL_MASTER", "XR_TEST_TLS_CLUSTER_NODES",
  "XR_TEST_TLS_CERTS_DIR"];

export function xrTopologyBinary() {
  const path = process.env.XR_TOPOLOGY_BIN || join(here, "..", "..", "..", "build", "tests", "harness", "xr-topology");
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build it first (scripts/test does; or cmake -S . -B build && ` +
      "cmake --build build --target xr-topology), or point XR_TOPOLOGY_BIN at it");
  }
  return path;
}

/** NAME=value lines, as xr-topology writes them. */
function readEnvFile(path) {
  const out = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** `xr-topology <kinds> --env FILE --json FILE` of this process's own: { env, json, stop() } once it
 * printed "ready". stop() closes its stdin (it stops everything it started) and waits. */
export async function startPrivateTopology(kinds, { timeoutMs = 120000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "xr-node-topology-"));
  const envFile = join(dir, "env");
  const jsonFile = join(dir, "topology.json");
  const child = spawn(xrTopologyBinary(), [...kinds, "--env", envFile, "--json", jsonFile], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d) => { stderr = (stderr + d).slice(-4000); });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGTERM"), 20000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`xr-topology ${kinds.join(" ")}: not ready in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
      createInterface({ input: child.stdout }).on("line", (line) => {
        if (line.trim() === "ready") {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`xr-topology ${kinds.join(" ")} exited (${code ?? signal}): ${stderr}`));
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  // the test process may end without calling stop(): the EOF on the pipe stops it then
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  child.stdout.resume();
  for (const s of [child, child.stdin, child.stdout, child.stderr]) s.unref();
  return { env: readEnvFile(envFile), json: JSON.parse(readFileSync(jsonFile, "utf8")), child, stop };
}

function sharedFrom(env) {
  const missing = ENV_NAMES.filter((n) => !env[n]);
  if (missing.length) {
    throw new Error(`the topology variables are incomplete: ${missing.join(", ")} missing ` +
      "(scripts/test exports them all from xr-topology --all)");
  }
  return {
    clusterNodes: env.XR_TEST_CLUSTER_NODES,
    sentinels: env.XR_TEST_SENTINELS,
    sentinelMaster: env.XR_TEST_SENTINEL_MASTER,
    tlsClusterNodes: env.XR_TEST_TLS_CLUSTER_NODES,
    caFile: join(env.XR_TEST_TLS_CERTS_DIR, "ca.crt"),
  };
}

let shared = null;

/** The run's shared topologies (from the environment, else started once for this process). */
export function sharedTopologies() {
  shared ??= (async () => {
    if (ENV_NAMES.some((n) => process.env[n])) return sharedFrom(process.env);
    if (String(process.env.CI).toLowerCase() === "true") {
      throw new Error("CI=true but the XR_TEST_* topology variables are not set: run the suites through scripts/test, " +
        "which starts xr-topology --all and exports them");
    }
    const own = await startPrivateTopology(["--cluster", "--sentinel", "--tls-cluster"]);
    return sharedFrom(own.env);
  })();
  return shared;
}

let standalone = null;
let prefixes = 0;

/** The URL of a topology of this kind for the adapters. */
export async function topologyUrl(kind) {
  if (kind === "standalone") {
    standalone ??= startRedis().then((server) => {
      // one per file process, stopped when it ends (the test runner waits for nothing of it)
      for (const h of [server.child, server.child.stdout]) h.unref();
      process.once("exit", () => server.stop());
      return server;
    });
    return (await standalone).url;
  }
  const t = await sharedTopologies();
  if (kind === "sentinel") return `redis+sentinel://${t.sentinels}/${t.sentinelMaster}`;
  if (kind === "cluster") return `redis+cluster://${t.clusterNodes}`;
  throw new Error(`unknown topology ${kind}`);
}

/** One topology for one test: `url`, `prefix` (a key prefix of the test's own), `key(rest)`,
 * `admin` (a crossredis client on the same topology, to look at what the adapter left: a keyed
 * command goes to the key's node), `keys(pattern)` from every master, `pause(key, ms)`,
 * `tagged()` (the hash-tagged twin "{chat-sdk}:<prefix>": one slot), `close()` (deletes the
 * test's keys). */
export async function topology(kind, name, prefix = null) {
  const xr = await import("../../dist/index.mjs"); // loaded here: a file whose other suites need no build loads without it
  const url = await topologyUrl(kind);
  prefix ??= `js-${kind}-${name.replace(/[^A-Za-z0-9_-]+/g, "-").slice(0, 32)}-${process.pid}-${prefixes++}`;
  const admin = xr.createClient(url);
  const nodes = new Map(); // port -> client of that master (a Cluster's)
  const masters = async () => {
    if (kind !== "cluster") return [admin];
    const slots = await admin.command("CLUSTER", "SLOTS");
    for (const [, , [host, port]] of slots) {
      if (!nodes.has(port)) nodes.set(port, xr.createClient(`redis://${host}:${port}`));
    }
    return [...new Set(slots.map((s) => nodes.get(s[2][1])))];
  };
  const nodeOf = async (key) => {
    if (kind !== "cluster") return admin;
    const slot = await admin.command("CLUSTER", "KEYSLOT", key);
    const range = (await admin.command("CLUSTER", "SLOTS")).find(([first, last]) => first <= slot && slot <= last);
    await masters();
    return nodes.get(range[2][1]);
  };
  const scan = async (client, match) => {
    const out = [];
    let cursor = "0";
    do {
      const [next, keys] = await client.command("SCAN", cursor, "MATCH", match, "COUNT", 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== "0");
    return out;
  };
  const siblings = [];
  const t = {
    kind,
    url,
    prefix,
    admin,
    key: (rest) => `${prefix}:${rest}`,
    /** Keys under `<prefix>:<pattern>` on every master, sorted. */
    async keys(pattern = "*") {
      const out = [];
      for (const m of await masters()) out.push(...await scan(m, `${prefix}:${pattern}`));
      return out.sort();
    },
    /** How many masters hold keys under `<prefix>:<pattern>`. */
    async mastersHolding(pattern = "*") {
      let n = 0;
      for (const m of await masters()) if ((await scan(m, `${prefix}:${pattern}`)).length) n++;
      return n;
    },
    /** The node serving `key` answers nobody but its replicas for ms (400 at most when shared). */
    async pause(key, ms, mode = "ALL") {
      if (kind !== "standalone" && ms > 400) throw new Error("a longer pause could make the sentinels fail over");
      await (await nodeOf(key)).command("CLIENT", "PAUSE", ms, mode);
    },
    async unpause(key) {
      await (await nodeOf(key)).command("CLIENT", "UNPAUSE");
    },
    async tagged() {
      const s = await topology(kind, name, `{chat-sdk}:${prefix}`);
      siblings.push(s);
      return s;
    },
    async close() {
      for (const s of siblings) await s.close();
      for (const m of await masters()) {
        const keys = await scan(m, `${prefix}:*`);
        for (const k of keys) await m.command("DEL", k);
      }
      for (const c of nodes.values()) await c.close();
      await admin.close();
    },
  };
  return t;
}

/** fn(t) on a topology of this kind for one test (topology(kind, name)), its keys deleted after. */
export async function onTopology(kind, name, fn) {
  const t = await topology(kind, name);
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}
