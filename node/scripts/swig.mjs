// Generates the Node-API wrapper of the addon: swig -javascript -napi over
// bindings/javascript/javascript.i, into build-swig/crossredis_wrap.cxx (compiled by binding.gyp).
// SWIG comes from $SWIG, else the repository's .venv (pip install 'swig>=4.2'), else PATH.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url))); // node/
const root = resolve(here, "..");
const candidates = [process.env.SWIG, join(root, ".venv", "bin", "swig"), "swig"].filter(Boolean);
const swig = candidates.find((c) => c === "swig" || existsSync(c));

const version = execFileSync(swig, ["-version"], { encoding: "utf8" }).match(/SWIG Version (\d+)\.(\d+)/);
if (!version || Number(version[1]) < 4 || (Number(version[1]) === 4 && Number(version[2]) < 2)) {
  console.error(`${swig}: SWIG >= 4.2 is needed for -napi (pip install 'swig>=4.2' into ${root}/.venv)`);
  process.exit(1);
}
const out = join(here, "build-swig");
mkdirSync(out, { recursive: true });
const args = [
  "-javascript", "-napi", "-c++",
  "-I" + join(root, "bindings"),
  "-I" + join(root, "core", "include"),
  "-o", join(out, "crossredis_wrap.cxx"),
  join(root, "bindings", "javascript", "javascript.i"),
];
execFileSync(swig, args, { stdio: "inherit" });
console.log(`swig: ${join(out, "crossredis_wrap.cxx")}`);
