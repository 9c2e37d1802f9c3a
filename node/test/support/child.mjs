// Test support: runs a piece of ESM code in a child `node` (its own process, so a crash, a hang or
// an exit code is the child's and the test reads it). The code gets XR (the path of the package's
// dist/index.mjs, or $XR_NODE_DIST to try another build), NATIVE (the addon's path) and the
// caller's env (REDIS_URL and the like: never a URL on the command line).
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const DIST = process.env.XR_NODE_DIST ?? join(here, "..", "..", "dist", "index.mjs");
export const NATIVE = join(dirname(DIST), "..", "build", "Release", "crossredis_native.node");

/** { status, signal, stdout, stderr, timedOut } of `node [flags] --input-type=module -e <code>`. */
export function runNode(code, { env = {}, flags = [], timeoutMs = 60000 } = {}) {
  const prelude = `const XR = ${JSON.stringify(DIST)}; const NATIVE = ${JSON.stringify(NATIVE)};\n`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, "--input-type=module", "-e", prelude + code], {
      env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (d) => { stdout += d; });
    child.stderr.setEncoding("utf8").on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill("SIGKILL"); }, timeoutMs);
    child.on("error", reject);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, timedOut });
    });
  });
}

/** A one-line account of a child's end, for assertion messages. */
export function describeEnd(r) {
  return `status ${r.status}, signal ${r.signal}${r.timedOut ? " (killed: too slow)" : ""}\n` +
    `--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}
