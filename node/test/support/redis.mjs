// Test support: a throwaway redis-server on a free loopback port (started by the test, killed
// after), and MONITOR as python/tests/monitor.py does it, for comparing what a client sends with
// the captures in tests/vectors, normalized by the one normaliser of the C, Python and Node suites
// (tests/harness/monitor.h holds its rules; run here as build/tests/harness/xr-monitor-normalize):
//
//   <ts> [0 127.0.0.1:39152] "SET" "k" "v"   ->  client "SET" "k" "v"
//   <ts> [0 lua] "pexpire" "k" "30000"       ->  lua "PEXPIRE" "k" "30000"
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const VECTORS = join(here, "..", "..", "..", "tests", "vectors");

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port, child, ms = 10000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => { s.destroy(); resolve(true); });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

/** Starts redis-server with `args` (no persistence); the caller passes --port/--tls-port.
 * `child.ready` settles once it listens (its log says so), or rejects when it exits first (a port
 * another process took, say). */
export function spawnRedis(args) {
  const child = spawn("redis-server", ["--save", "", "--appendonly", "no", "--logfile", "", ...args],
    { stdio: ["ignore", "pipe", "ignore"] });
  let log = "";
  child.ready = new Promise((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (d) => { // read to the end: a full pipe would stall it
      if (log === null) return;
      log += d;
      if (/Ready to accept connections/.test(log)) {
        log = null;
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${log ?? ""}`.trim())));
  });
  child.ready.catch(() => {});
  return child;
}

export function kill(child) {
  if (child && child.exitCode === null) child.kill("SIGKILL");
}

/** Starts redis-server on a port freePort() found; when another process took that port in the
 * meantime (the server exits: it cannot bind), tries another: a free port is a guess. */
async function onFreePort(args) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawnRedis(args(port));
    try {
      await child.ready;
      return { port, child };
    } catch (e) {
      kill(child);
      if (attempt >= 5) throw e;
    }
  }
}

/** A plain redis-server on a free port: { port, url, child, stop() }. */
export async function startRedis(extra = []) {
  const { port, child } = await onFreePort((p) => ["--port", String(p), "--bind", "127.0.0.1", ...extra]);
  return { port, url: `redis://127.0.0.1:${port}`, child, stop: () => kill(child) };
}

/** A TLS-only redis-server with a CA and a server certificate made by openssl for 127.0.0.1:
 * { port, url (rediss://), caFile, dir, child, stop() }. */
export async function startTlsRedis() {
  const dir = mkdtempSync(join(tmpdir(), "xr-node-tls-"));
  const ossl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
    "-subj", "/CN=crossredis test CA");
  ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
    "server.crt", "-days", "2", "-extfile", "ext.cnf");
  const { port, child } = await onFreePort((p) => ["--port", "0", "--tls-port", String(p), "--bind", "127.0.0.1",
    "--tls-cert-file", join(dir, "server.crt"), "--tls-key-file", join(dir, "server.key"),
    "--tls-ca-cert-file", join(dir, "ca.crt"), "--tls-auth-clients", "no"]);
  return {
    port, dir, child, url: `rediss://127.0.0.1:${port}`, caFile: join(dir, "ca.crt"),
    stop: () => { kill(child); rmSync(dir, { recursive: true, force: true }); },
  };
}

// The one normaliser of every test suite (tests/harness/monitor.c), built with the C tests.
const NORMALIZER = process.env.XR_MONITOR_NORMALIZE ||
  join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "build", "tests", "harness", "xr-monitor-normalize");

/** The lines normalized by xr-monitor-normalize (which must exist: a missing one fails the test). */
export function normalize(lines, mask = true) {
  if (!existsSync(NORMALIZER)) {
    throw new Error(`${NORMALIZER} is missing: build it first (scripts/test does; or cmake -S . -B build && ` +
      "cmake --build build --target xr-monitor-normalize), or point XR_MONITOR_NORMALIZE at it");
  }
  const r = spawnSync(NORMALIZER, [mask ? "--mask" : "--no-mask"], { input: lines.join("\n") + "\n", encoding: "latin1" });
  if (r.status !== 0) throw new Error(`xr-monitor-normalize failed: ${r.stderr || r.error}`);
  return r.stdout.split("\n").filter((l) => l !== "");
}

/** Lines first..last (1-based) of tests/vectors/<name>, normalized. */
export function capture(name, first, last, mask = true) {
  const lines = readFileSync(join(VECTORS, name), "utf8").split("\n");
  if (lines.length < last) throw new Error(`${name} has ${lines.length} lines`);
  return normalize(lines.slice(first - 1, last), mask);
}

/** A MONITOR connection to 127.0.0.1:<port>. take()/collect() read up to a marker that the
 * client under test sends (ECHO <marker>) through `sendMarker(text)`. */
export class Monitor {
  static async open(port) {
    const m = new Monitor();
    await m.#connect(port);
    return m;
  }

  #sock = null;
  #buf = "";
  #waiters = [];
  #marks = 0;

  #connect(port) {
    return new Promise((resolve, reject) => {
      this.#sock = net.connect(port, "127.0.0.1");
      this.#sock.setEncoding("latin1"); // bytes 1:1; MONITOR escapes non-ASCII as \xNN anyway
      this.#sock.once("error", reject);
      this.#sock.on("data", (d) => {
        this.#buf += d;
        this.#wake();
      });
      this.#sock.once("connect", async () => {
        this.#sock.write("MONITOR\r\n");
        const ok = await this.#line();
        if (ok !== "+OK") reject(new Error(`MONITOR answered ${ok}`));
        else resolve();
      });
    });
  }

  #wake() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  async #line() {
    for (;;) {
      const i = this.#buf.indexOf("\r\n");
      if (i >= 0) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 2);
        return line;
      }
      await new Promise((r) => this.#waiters.push(r));
    }
  }

  /** Raw lines up to the marker; `ignore` drops lines of other connections ("127.0.0.1:port"). */
  async take(sendMarker, ignore = []) {
    this.#marks += 1;
    const mark = `js-monitor-mark-${this.#marks}`;
    await sendMarker(mark);
    const lines = [];
    for (;;) {
      const line = await this.#line();
      if (line.includes(`"${mark}"`)) return lines;
      if (!line.startsWith("+")) throw new Error(`MONITOR: ${line}`);
      if (!ignore.some((a) => line.includes(`[0 ${a}]`))) lines.push(line.slice(1));
    }
  }

  async collect(sendMarker, { mask = true, ignore = [] } = {}) {
    return normalize(await this.take(sendMarker, ignore), mask);
  }

  close() {
    this.#sock?.destroy();
  }
}
