// What the interop drivers written in JavaScript share (ts_driver.mjs, ayepi_driver.mjs): finding
// packages from the crossredis Node package next to this repository (../../node/), the
// redis+cluster:// URL, the protocol's output and errors (interop/CONTRACT.md), keeping a URL's
// password out of what is printed, and the stdin loop.

import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

export const NODE_PKG_JSON = fileURLToPath(new URL("../../node/package.json", import.meta.url));
export const NODE_PKG_DIR = dirname(NODE_PKG_JSON);
export const requireFromNode = createRequire(NODE_PKG_JSON);

export function findPackageDir(name) {
  if (name === "crossredis") return NODE_PKG_DIR; // the package that ../../node/ itself is
  for (const base of requireFromNode.resolve.paths(name) ?? []) {
    const dir = join(base, name);
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  throw new Error(`package ${name} not found from ${NODE_PKG_DIR}`);
}

/** The seeds and credentials of a redis+cluster:// URL, or null for any other URL. */
export function parseClusterUrl(url) {
  const m = /^(rediss?)\+cluster:\/\/(?:([^@/?#]*)@)?([^/?#]+)/.exec(url);
  if (!m) return null;
  if (m[1] === "rediss") throw new Error("rediss+cluster:// is not supported by the upstream drivers (plain TCP only)");
  let username;
  let password;
  if (m[2] !== undefined) {
    const i = m[2].indexOf(":");
    username = decodeURIComponent(i < 0 ? m[2] : m[2].slice(0, i)) || undefined;
    password = i < 0 ? undefined : decodeURIComponent(m[2].slice(i + 1));
  }
  const nodes = m[3].split(",").filter(Boolean).map((hp) => {
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hp);
    const [host, port] = v6 ? [v6[1], v6[2]] : [hp.replace(/:\d+$/, ""), /:(\d+)$/.exec(hp)?.[1]];
    return { host, port: port ? Number(port) : 6379 };
  });
  return { username, password, nodes };
}

function jsonReplacer(_k, v) {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v === undefined) return null;
  return v;
}

export function emit(obj) {
  let line;
  try {
    line = JSON.stringify(obj, jsonReplacer);
  } catch (err) {
    line = JSON.stringify({
      id: obj?.id ?? null,
      ok: false,
      error: { kind: "DriverError", message: `unserializable result: ${err?.message ?? err}` },
    });
  }
  process.stdout.write(line + "\n");
}

export function errorKind(err) {
  if (err === null || err === undefined) return "Error";
  if (typeof err === "object" || typeof err === "function") {
    const ctor = err.constructor?.name;
    if (ctor && ctor !== "Object") return ctor;
    if (typeof err.name === "string" && err.name) return err.name;
    return "Error";
  }
  return typeof err;
}

export function errorMessage(err) {
  if (err && typeof err === "object" && "message" in err) return String(err.message);
  return String(err);
}

export class RequestError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/** The password of a URL (crossredis's forms: several hosts after the @), as written and decoded. */
export function urlSecrets(url) {
  const m = /^[a-z+]+:\/\/([^@/?#]*)@/i.exec(url ?? "");
  const i = m ? m[1].indexOf(":") : -1;
  if (i < 0) return [];
  const raw = m[1].slice(i + 1);
  let decoded = raw;
  try { decoded = decodeURIComponent(raw); } catch {}
  return [...new Set([raw, decoded])].filter(Boolean);
}

export function scrub(text, secrets) {
  return secrets.reduce((t, s) => t.split(s).join("***"), String(text));
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Each non-empty line of stdin (trimmed) to `handle`, one at a time and in order, until stdin closes. */
export async function eachLine(handle) {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  for await (const raw of rl) {
    const line = raw.trim();
    if (line) await handle(line);
  }
}

export function flushAndExit(code) {
  process.stdout.write("", () => process.exit(code));
}

/** One request line of the JSON-lines protocol (interop/CONTRACT.md): the op's handler, by name,
 * gets the request's args (an object) and its result is the response's; a thrown RequestError is
 * its kind, any other error its class name. A URL's `secrets` are taken out of error messages;
 * `debug` prints the error to stderr. */
export async function handleLine(line, handlers, { secrets = [], debug = false } = {}) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    emit({ id: null, ok: false, error: { kind: "BadRequest", message: `not JSON: ${errorMessage(err)}` } });
    return;
  }
  const id = req && typeof req === "object" && "id" in req ? req.id : null;
  try {
    if (!req || typeof req !== "object" || Array.isArray(req)) {
      throw new RequestError("BadRequest", "a request must be a JSON object");
    }
    const op = req.op;
    const fn = typeof op === "string" && Object.hasOwn(handlers, op) ? handlers[op] : null;
    if (!fn) throw new RequestError("UnknownOp", `unknown op ${JSON.stringify(op)}`);
    const args = req.args ?? {};
    if (typeof args !== "object" || Array.isArray(args)) {
      throw new RequestError("BadRequest", "args must be a JSON object");
    }
    const result = await fn(args);
    emit({ id, ok: true, result: result === undefined ? null : result });
  } catch (err) {
    const kind = err instanceof RequestError ? err.kind : errorKind(err);
    if (debug) console.error(err);
    emit({ id, ok: false, error: { kind, message: scrub(errorMessage(err), secrets) } });
  }
}
