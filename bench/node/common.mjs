// What bench/node's lock-cycle benchmarks share (lock_cycle.mjs on one server, cluster_lock_cycle.mjs
// on a Redis Cluster): where the packages are, the keys, the errors that end a run, package
// loading, timeouts and the report's numbers.

import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, "..", "..");
// The packages come from node/node_modules (node/package.json's devDependencies); crossredis from
// node/dist. XR_NODE_DIR points both elsewhere.
export const NODE_DIR = resolve(process.env.XR_NODE_DIR || join(ROOT, "node"));
export const XR_MODULE = join(NODE_DIR, "dist", "index.mjs");
export const requireFromNode = createRequire(join(NODE_DIR, "package.json"));

export const THREADS = 64; // distinct thread ids in the concurrent modes, and the concurrency
export const TTL_MS = 30000;
export const KEY_PREFIX = "chat-sdk"; // the adapters' default; keys chat-sdk:lock:bench:0..63
export const THREAD_IDS = Array.from({ length: THREADS }, (_, k) => `bench:${k}`);
export const KEYS = THREAD_IDS.map((t) => `${KEY_PREFIX}:lock:${t}`);
export const RUN_TIMEOUT_MS = 120000; // a run that takes longer has hung (a dead server, a lost reply)

export const SILENT = {
  debug() {}, info() {}, warn() {}, error() {},
  child() { return this; },
};

export class CycleFailed extends Error {}
export function fail(msg) {
  throw new CycleFailed(msg);
}
/** Something missing or a usage error: the message alone, exit status `status` (after cleanup). */
export class Fatal extends Error {
  constructor(msg, status) {
    super(msg);
    this.status = status;
  }
}
export function die(msg, status = 1) {
  throw new Fatal(msg, status);
}

// ---- loading the implementations ----------------------------------------------------------------

export function packageJson(name) {
  // The package.json itself is not always exported; find it by walking up from node/.
  let dir = NODE_DIR;
  for (;;) {
    const p = join(dir, "node_modules", name, "package.json");
    if (existsSync(p)) return { path: p, json: JSON.parse(readFileSync(p, "utf8")) };
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export function version(name) {
  return packageJson(name)?.json.version ?? "not installed";
}

/** import() of an installed package by its ESM entry, resolved from node/ (ESM-only exports included). */
export async function importPackage(name) {
  const pj = packageJson(name);
  if (!pj) die(`${name} is not installed in ${NODE_DIR}/node_modules (cd node && npm install)`);
  const exp = pj.json.exports?.["."] ?? pj.json.exports;
  const entry =
    (typeof exp === "string" ? exp : exp?.import?.default ?? exp?.import ?? exp?.default) ??
    pj.json.module ?? pj.json.main ?? "index.js";
  return import(pathToFileURL(join(dirname(pj.path), entry)).href);
}

export function withTimeout(promise, mode) {
  let timer;
  const t = new Promise((_, ko) => {
    timer = setTimeout(() => ko(new CycleFailed(`${mode}: a run took longer than ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// ---- report helpers -----------------------------------------------------------------------------

export function median(xs) {
  const s = Float64Array.from(xs).sort();
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Nearest-rank percentile of a sorted Float64Array. */
export function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const MiB = (bytes) => Math.round((bytes / 1048576) * 10) / 10;
export const r3 = (x) => Math.round(x * 1000) / 1000;
export const r1 = (x) => Math.round(x * 10) / 10;
export const fmt = (x) => Math.round(x).toLocaleString("en-US");

export function readPackageVersion(dir) {
  try {
    return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;
  } catch {
    return null;
  }
}

// ---- command line -------------------------------------------------------------------------------

/** A function that prints the "// Usage:" comment block of the program at `fileUrl` and exits. */
export function usageOf(fileUrl) {
  return (status) => {
    const text = readFileSync(fileURLToPath(fileUrl), "utf8").split("\n");
    const start = text.findIndex((l) => l.startsWith("// Usage:"));
    const end = text.findIndex((l, i) => i > start && !l.startsWith("//"));
    process.stderr.write(`${text.slice(start, end).map((l) => l.replace(/^\/\/ ?/, "")).join("\n")}\n`);
    process.exit(status);
  };
}

/** MODE and the options named by `defaults` (camelCase of the --kebab-case flag; -n is n, -r is
 * repeats): a boolean default is a flag, a number one a positive integer, anything else a text. */
export function parseOptions(argv, defaults, usage) {
  const args = { mode: null, ...defaults };
  const short = { "-n": "n", "-r": "repeats" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") usage(0);
    const k = short[a] ?? (a.startsWith("--") ? a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase()) : null);
    if (k === null || !(k in defaults)) {
      if (a.startsWith("-") || args.mode) usage(2);
      args.mode = a;
    } else if (typeof defaults[k] === "boolean") {
      args[k] = true;
    } else {
      if (i + 1 >= argv.length) die(`${a} wants a value`, 2);
      const v = argv[++i];
      if (typeof defaults[k] === "number") {
        const x = Number(v);
        if (!Number.isInteger(x) || x < 1) die(`${a} wants a positive integer, got '${v}'`, 2);
        args[k] = x;
      } else {
        args[k] = v;
      }
    }
  }
  if (!args.mode) usage(2);
  return args;
}
