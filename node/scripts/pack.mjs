// Packs crossredis into an npm tarball that installs and loads with no SWIG, no compiler and no
// node-gyp: run `npm run build` first, then `npm pack` or `npm run pack` (in node/).
//
// `npm pack` runs this as its prepack step with --in-place: it checks the inputs and the addon's
// libraries (below) and copies the addon to prebuilds/<platform>-<arch>/ and the wrapper to
// src-generated/ in node/ itself (both git-ignored), which package.json's "files" then ships with
// dist/ and README.md. That tarball's package.json is node/'s: its scripts are build tools only
// (no install hook runs on install) and "gypfile": false keeps npm from running node-gyp.
//
// `npm run pack` (this script without --in-place) makes a leaner tarball: it stages, in a temporary
// folder,
//   dist/                       the JS layer and its types (npm run build:js: dist/cjs/*.js,
//                               *.d.ts, dist/index.mjs, dist/index.d.mts)
//   prebuilds/<platform>-<arch>/crossredis_native.node
//                               the addon, from build/Release/ (src/native.ts looks there when
//                               build/Release/ is absent, as it is in an installed package)
//   src-generated/crossredis_wrap.cxx
//                               the SWIG wrapper the addon was compiled from, shipped for reference
//                               only: nothing is compiled on install
//   README.md
//   package.json                node/package.json without "private", "scripts" (so no install or
//                               build hook) and "devDependencies", with "gypfile": false and
//                               "files" (node/package.json's list), the version unchanged
// then runs `npm pack --pack-destination <dir>` there and prints the tarball's path on stdout
// (the rest goes to stderr). <dir> is node/ by default (node/.gitignore ignores *.tgz):
//   node scripts/pack.mjs [--pack-destination <dir>]    (a relative <dir>: from the current
//                                                        folder, node/ under `npm run pack --`)
//
// The tarball carries one prebuild: the platform and architecture it was packed on (linux-x64
// here). What the target machine needs, from `ldd build/Release/crossredis_native.node` on the
// Debian 12 build machine (jansson and hiredis are linked in: nothing to install beside Node):
//   libstdc++.so.6, libgcc_s.so.1, libm.so.6, libc.so.6 (glibc >= 2.34; Debian 12 has 2.36),
//                     ld-linux: already there wherever node runs (node itself links them)
//   Node >= 18 (Node-API 8) whose process exports OpenSSL 3's symbols: the addon links no
//                     libssl/libcrypto; tls.c and hiredis' ssl.c resolve them from node (the
//                     nodejs.org/NodeSource binaries' bundled OpenSSL, or the libssl3 Debian's
//                     nodejs package loads).
// The script checks that ldd finds nothing beyond that list (and no libssl/libcrypto) before
// packing, and that the tarball holds no build inputs (.i, .c, .cc, .h, .ts sources, binding.gyp).
import { execFileSync } from "node:child_process";
import {
  chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync,
  rmSync, statSync, writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url))); // node/
const ADDON = "crossredis_native.node";
const WRAPPER = "crossredis_wrap.cxx";
const log = (msg) => process.stderr.write(`pack: ${msg}\n`);

class PackError extends Error {}
function fail(msg) {
  throw new PackError(msg); // the staging folder's finally still runs
}
process.on("uncaughtException", (e) => {
  process.stderr.write(`pack: ${e instanceof PackError ? e.message : e.stack}\n`);
  process.exit(1);
});

// --- arguments -------------------------------------------------------------------------------
let dest = here;
let inPlace = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--in-place") inPlace = true;
  else if (a === "--pack-destination" && i + 1 < argv.length) dest = resolve(argv[++i]);
  else if (a.startsWith("--pack-destination=")) dest = resolve(a.slice("--pack-destination=".length));
  else fail(`unknown argument ${a} (usage: node scripts/pack.mjs [--pack-destination <dir>])`);
}

// --- inputs ----------------------------------------------------------------------------------
const addon = join(here, "build", "Release", ADDON);
const wrapper = join(here, "build-swig", WRAPPER);
const dist = join(here, "dist");
const required = [
  addon, wrapper, join(here, "README.md"),
  join(dist, "index.mjs"), join(dist, "index.d.mts"),
  join(dist, "cjs", "index.js"), join(dist, "cjs", "index.d.ts"),
];
for (const f of required) {
  if (!existsSync(f)) fail(`${f} is missing: run npm run build (or npm run build:js for dist/) first`);
}
for (const f of readdirSync(join(dist, "cjs"))) {
  if (f.endsWith(".js") && !existsSync(join(dist, "cjs", f.replace(/\.js$/, ".d.ts")))) {
    fail(`dist/cjs/${f} has no .d.ts next to it: run npm run build:js`);
  }
}
// Staleness: warnings only (a build may be under way elsewhere; the caller decides).
const mtime = (f) => statSync(f).mtimeMs;
const srcDir = join(here, "src");
if (existsSync(srcDir)) {
  const newer = readdirSync(srcDir).filter((f) => f.endsWith(".ts") && mtime(join(srcDir, f)) > mtime(join(dist, "cjs", "index.js")));
  if (newer.length) log(`warning: src/${newer.join(", src/")} newer than dist/: npm run build:js?`);
}
if (mtime(wrapper) > mtime(addon)) log(`warning: build-swig/${WRAPPER} is newer than the addon: npm run build?`);

// --- what the addon needs at run time ----------------------------------------------------------
// ldd lists every shared object the loader would map; each must be on the list above.
const ALLOWED = [
  /^linux-vdso\.so\.1$/, /^\/?.*ld-linux[-\w.]*\.so\.\d+$/, /^libstdc\+\+\.so\.6$/,
  /^libgcc_s\.so\.1$/, /^libm\.so\.6$/, /^libc\.so\.6$/, /^libpthread\.so\.0$/, /^libdl\.so\.2$/,
];
if (process.platform === "linux") {
  let out;
  try {
    out = execFileSync("ldd", [addon], { encoding: "utf8" });
  } catch (e) {
    fail(`ldd ${addon} failed: ${e.message}`);
  }
  const libs = out.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const m = l.match(/^(\S+)(?:\s+=>\s+(.*?))?\s*(?:\(0x[0-9a-f]+\))?$/);
    return { name: m ? m[1] : l, where: m?.[2] ?? "", line: l };
  });
  const missing = libs.filter((l) => /not found/.test(l.line));
  if (missing.length) fail(`ldd: not found: ${missing.map((l) => l.name).join(", ")}\n${out}`);
  const ssl = libs.filter((l) => /^lib(ssl|crypto)\./.test(l.name));
  if (ssl.length) fail(`the addon links ${ssl.map((l) => l.name).join(", ")}: OpenSSL must come from node\n${out}`);
  const extra = libs.filter((l) => !ALLOWED.some((re) => re.test(l.name)));
  if (extra.length) {
    fail(`the addon needs ${extra.map((l) => l.name).join(", ")}, beyond what pack.mjs documents; update its header\n${out}`);
  }
  log(`addon needs: ${libs.map((l) => l.name).filter((n) => !n.startsWith("linux-vdso")).join(" ")}`);
}

// --- staging ---------------------------------------------------------------------------------
/** Copies the addon and the wrapper under `root` (the staging folder, or node/ itself). */
function stageBinaries(root) {
  const pre = join(root, "prebuilds", `${process.platform}-${process.arch}`);
  rmSync(join(root, "prebuilds"), { recursive: true, force: true });
  mkdirSync(pre, { recursive: true });
  copyFileSync(addon, join(pre, ADDON));
  chmodSync(join(pre, ADDON), 0o755);
  rmSync(join(root, "src-generated"), { recursive: true, force: true });
  mkdirSync(join(root, "src-generated"));
  copyFileSync(wrapper, join(root, "src-generated", WRAPPER));
}

if (inPlace) {
  stageBinaries(here);
  log(`staged prebuilds/${process.platform}-${process.arch}/${ADDON} and src-generated/${WRAPPER} for npm pack`);
  process.exit(0);
}

const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));
const files = pkg.files ?? ["dist/", "prebuilds/", "src-generated/", "README.md"];
const shipped = {};
for (const [k, v] of Object.entries(pkg)) {
  if (k === "private" || k === "scripts" || k === "devDependencies") continue;
  shipped[k] = v;
}
shipped.gypfile = false;
shipped.files = files;

const stage = mkdtempSync(join(tmpdir(), "crossredis-pack-"));
let tarball;
try {
  const keep = /(\.js|\.mjs|\.d\.ts|\.d\.mts|^package\.json)$/;
  cpSync(dist, join(stage, "dist"), {
    recursive: true,
    filter: (src) => statSync(src).isDirectory() || keep.test(basename(src)),
  });
  stageBinaries(stage);
  copyFileSync(join(here, "README.md"), join(stage, "README.md"));
  writeFileSync(join(stage, "package.json"), JSON.stringify(shipped, null, 2) + "\n");
  for (const f of files) {
    if (!existsSync(join(stage, f))) fail(`"files" lists ${f}, which pack.mjs does not stage`);
  }

  // --- npm pack ------------------------------------------------------------------------------
  mkdirSync(dest, { recursive: true });
  // The npm that runs `npm run pack`, else the one on PATH.
  const execpath = process.env.npm_execpath;
  const [cmd, ...npmArgs] = execpath && /npm-cli\.c?js$/.test(execpath) ? [process.execPath, execpath] : ["npm"];
  const json = execFileSync(cmd, [...npmArgs, "pack", "--json", "--pack-destination", dest], {
    cwd: stage, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"],
  });
  const [info] = JSON.parse(json);
  tarball = join(dest, info.filename);
  const paths = info.files.map((f) => f.path).sort();
  const inputs = paths.filter((p) => p !== `src-generated/${WRAPPER}` &&
    (/\.(i|c|cc|cxx|cpp|h|hpp|gyp|gypi)$/.test(p) || (/\.ts$/.test(p) && !/\.d\.ts$/.test(p)) || /(^|\/)binding\.gyp$/.test(p)));
  if (inputs.length) {
    rmSync(tarball, { force: true });
    fail(`build inputs in the tarball: ${inputs.join(", ")}`);
  }
  for (const f of info.files.sort((a, b) => a.path.localeCompare(b.path))) log(`  ${String(f.size).padStart(8)}  ${f.path}`);
  log(`${info.filename}: ${info.files.length} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
process.stdout.write(tarball + "\n");
