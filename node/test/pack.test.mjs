// The packed tarball installs and loads without SWIG and without a compiler, made either way: by
// `npm pack` in node/ (its prepack step stages the addon in place) and by `npm run pack` (the
// lean staged package). For each: packs into a temporary folder, installs the tarball offline into a fresh project (npm run with a
// PATH that holds node and nothing else, so no node-gyp, cc, make or python could run), then loads
// it with require() and import() in a child whose PATH is /usr/bin:/bin (no swig there), checks
// that the addon came from the installed prebuilds/ folder, and round-trips through a
// redis-server spawned here. The addon in the tarball needs nothing beyond libc, libm, libstdc++,
// libgcc_s and ld-linux (ldd), and the tarball, unpacked in a private mount namespace (unshare -m)
// where an empty file covers the system's libjansson.so.4 (the loader's failing to load it there is
// checked too), loads with every symbol bound at once and talks to Redis.
// Run after `npm run build` (build:js for dist/): node --test test/pack.test.mjs
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startRedis } from "./support/redis.mjs";

const run = promisify(execFile);
const node = dirname(dirname(fileURLToPath(import.meta.url))); // node/
const pkg = JSON.parse(readFileSync(join(node, "package.json"), "utf8"));
const PREBUILD = `prebuilds/${process.platform}-${process.arch}/crossredis_native.node`;
const WRAPPER = "src-generated/crossredis_wrap.cxx";
const NO_SWIG_PATH = "/usr/bin:/bin";
// What the addon may need from the system; OpenSSL and Node-API come from the node binary.
const SYSTEM_OK = [/^linux-vdso\.so\.1$/, /^\/?\S*ld-linux[-\w.]*\.so\.\d+$/, /^libc\.so\.6$/, /^libm\.so\.6$/,
  /^libstdc\+\+\.so\.6$/, /^libgcc_s\.so\.1$/];
const HIDDEN = ["libjansson.so.4"];

// npm's CLI script: the npm running this test (npm test), else the npm on PATH.
function npmCli() {
  const ep = process.env.npm_execpath;
  if (ep && /npm-cli\.c?js$/.test(ep)) return ep;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const f = join(dir, "npm");
    if (dir && existsSync(f)) return realpathSync(f);
  }
  throw new Error("npm not found on PATH");
}

function onPath(path, name) {
  return path.split(delimiter).some((dir) => {
    try {
      return statSync(join(dir, name)).isFile();
    } catch {
      return false;
    }
  });
}

// Runs in the installed project, PATH /usr/bin:/bin; prints one JSON line.
const CHECK = `
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const out = { path: process.env.PATH };
out.swig = spawnSync("swig", ["-version"]).error?.code ?? "found";
const cjs = require("crossredis");
const esm = await import("crossredis");
out.resolved = require.resolve("crossredis");
out.cjsNames = Object.keys(cjs).filter((n) => n !== "__esModule").sort();
out.esmNames = Object.keys(esm).filter((n) => n !== "default").sort();
out.same = out.esmNames.every((n) => esm[n] === cjs[n]);
out.addons = Object.keys(require.cache).filter((k) => k.endsWith(".node"));
out.mapped = [...new Set(readFileSync("/proc/self/maps", "utf8").split("\\n")
  .map((l) => l.split(/\\s+/)[5]).filter((p) => p && p.endsWith(".node")))];
out.errorIsError = new cjs.CrossRedisError("x") instanceof Error;

const state = esm.createRedisState({ url: process.env.REDIS_URL, keyPrefix: "packtest" });
await state.connect();
await state.set("k", { via: "esm", n: 1 }, 60000);
out.get = await state.get("k");
const lock = await state.acquireLock("thread-1", 30000);
out.lock = lock && { threadId: lock.threadId, token: lock.token };
out.again = await state.acquireLock("thread-1", 30000);
await state.releaseLock(lock);
await state.disconnect();

const io = cjs.createIoRedisState({ url: process.env.REDIS_URL, keyPrefix: "packtest" });
await io.connect();
out.ioGet = await io.get("k");
const ioLock = await io.acquireLock("thread-1", 30000);
out.ioToken = ioLock?.token ?? null;
await io.disconnect();
console.log(JSON.stringify(out));
`;

/** [name, where it resolved] for each line of `ldd file`. */
function ldd(file) {
  return execFileSync("ldd", [file], { encoding: "utf8" }).split("\n").filter((l) => l.trim()).map((l) => {
    const m = l.trim().match(/^(\S+)(?:\s+=>\s+(.*?))?\s*(?:\(0x[0-9a-f]+\))?$/);
    assert.ok(m, l);
    return [m[1], m[2] ?? ""];
  });
}

/** The files the loader would open for soname (ldconfig's cache), symbolic links resolved. */
function libraryFiles(soname) {
  const files = new Set(execFileSync("/sbin/ldconfig", ["-p"], { encoding: "utf8" }).split("\n")
    .filter((l) => l.trim().split(/\s+/)[0] === soname && l.includes(" => "))
    .map((l) => realpathSync(l.split(" => ")[1].trim())));
  assert.ok(files.size > 0, `ldconfig -p does not list ${soname}: install it (scripts/bootstrap does)`);
  return [...files];
}

/** Runs argv in a private mount namespace (unshare -m) where an empty file covers each file behind
 * the sonames, so the loader finds none of them. */
function runHiding(sonames, empty, argv, opts) {
  const hide = [...new Set(sonames.flatMap(libraryFiles))].sort();
  const script = 'set -e\nfor f in $XR_HIDE; do mount --bind "$XR_EMPTY" "$f"; done\nexec "$@"\n';
  return run("unshare", ["--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", ...argv], {
    encoding: "utf8", timeout: 30000, ...opts, env: { ...opts.env, XR_HIDE: hide.join(" "), XR_EMPTY: empty },
  });
}

// Tries to load each soname the way the loader resolves a DT_NEEDED entry; a library that loads
// fails only as "did not self-register" (it is no addon). Defines probe(names) -> {name: null
// (loaded) or the loader's error}.
const PROBE = `
function probe(names) {
  const out = {};
  for (const name of names) {
    try {
      process.dlopen({ exports: {} }, name);
      out[name] = "no error at all";
    } catch (e) {
      out[name] = /did not self-register/.test(e.message) ? null : e.message;
    }
  }
  return out;
}
`;

// Run in the namespace, from the project the tarball was unpacked into; prints one JSON line.
const HIDDEN_CHECK = `${PROBE}
const out = { probe: probe(process.argv.slice(2)) };
const cr = require("crossredis");
out.resolved = require.resolve("crossredis");
(async () => {
  const client = cr.createClient({ url: process.env.REDIS_URL });
  out.ping = await client.ping();
  out.set = await client.command("SET", "packtest:hidden", "v\u00e9");
  out.get = await client.command("GET", "packtest:hidden");
  await client.close();
  const state = cr.createRedisState({ url: process.env.REDIS_URL, keyPrefix: "packtest-hidden" });
  await state.connect();
  await state.set("doc", { a: [1, "\u00e9", null], b: { c: true } }, 60000); // JSON through jansson
  out.doc = await state.get("doc");
  await state.disconnect();
  out.maps = [...new Set(require("fs").readFileSync("/proc/self/maps", "utf8").split("\\n")
    .map((l) => l.split(/\\s+/)[5]).filter((p) => p && /\\.so|\\.node$/.test(p)))];
  console.log(JSON.stringify(out));
})();
`;

// The two ways to make the tarball; each returns its path.
const VARIANTS = [
  {
    name: "npm pack in node/ (prepack stages the addon in place)",
    lean: false,
    pack: async (dest) => {
      mkdirSync(dest, { recursive: true });
      const { stdout } = await run(process.execPath, [npmCli(), "pack", "--json", "--pack-destination", dest],
        { cwd: node, encoding: "utf8" });
      return join(dest, JSON.parse(stdout)[0].filename);
    },
  },
  {
    name: "npm run pack (scripts/pack.mjs: a staged, lean package.json)",
    lean: true,
    pack: async (dest) => {
      const { stdout } = await run(process.execPath, [join(node, "scripts", "pack.mjs"), "--pack-destination", dest],
        { cwd: node, encoding: "utf8" });
      return stdout.trim().split("\n").pop();
    },
  },
];

for (const variant of VARIANTS) describe(variant.name, () => {
  let tmp;
  let tarball;
  let entries; // the tarball's paths, without the leading package/
  let app; // the fresh project the tarball is installed into
  let redis;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "crossredis-packtest-"));
    tarball = await variant.pack(join(tmp, "out"));
    assert.ok(tarball.startsWith(join(tmp, "out")) && existsSync(tarball), `pack.mjs printed ${tarball}`);
    entries = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).split("\n").filter(Boolean)
      .map((p) => p.replace(/^package\//, "")).sort();
    redis = await startRedis();
  });

  after(() => {
    redis?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("the tarball ships dist/ with its types, the prebuild and the generated wrapper", (t) => {
    t.diagnostic(`${tarball}: ${statSync(tarball).size} bytes, ${entries.length} files`);
    for (const f of ["package.json", "README.md", "dist/cjs/index.js", "dist/cjs/index.d.ts", "dist/index.mjs",
      "dist/index.d.mts", PREBUILD, WRAPPER]) {
      assert.ok(entries.includes(f), `${f} missing from ${entries.join(" ")}`);
    }
    // Every module of the build, with its declarations.
    for (const f of readdirSync(join(node, "dist", "cjs")).filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"))) {
      assert.ok(entries.includes(`dist/cjs/${f}`), `dist/cjs/${f} missing`);
    }
    for (const f of entries.filter((f) => f.startsWith("dist/cjs/") && f.endsWith(".js"))) {
      assert.ok(entries.includes(f.replace(/\.js$/, ".d.ts")), `${f} has no .d.ts`);
    }
  });

  test("its addon needs nothing beyond libc, libm, libstdc++, libgcc_s and ld-linux (ldd)", () => {
    const dir = join(tmp, "ldd");
    mkdirSync(dir);
    execFileSync("tar", ["-xzf", tarball, "-C", dir, `package/${PREBUILD}`]);
    const rows = ldd(join(dir, "package", PREBUILD));
    assert.deepEqual(rows.filter(([, where]) => /not found/.test(where)), []);
    assert.deepEqual(rows.filter(([name]) => !SYSTEM_OK.some((re) => re.test(name))), [], JSON.stringify(rows));
  });

  test("unpacked where libjansson.so.4 is hidden from the loader (unshare -m), it loads and talks to Redis", async () => {
    const dir = join(tmp, "hidden");
    mkdirSync(dir);
    const empty = join(dir, "empty");
    writeFileSync(empty, "");
    writeFileSync(join(dir, "probe.cjs"), `${PROBE}\nconsole.log(JSON.stringify(probe(process.argv.slice(2))));\n`);
    const env = { PATH: NO_SWIG_PATH, HOME: tmp };

    // the probe loads libjansson here, and not in the namespace
    const here = JSON.parse((await run(process.execPath, [join(dir, "probe.cjs"), ...HIDDEN], { cwd: dir, env, encoding: "utf8" })).stdout);
    assert.deepEqual(here, Object.fromEntries(HIDDEN.map((n) => [n, null])));
    const hidden = JSON.parse((await runHiding(HIDDEN, empty, [process.execPath, join(dir, "probe.cjs"), ...HIDDEN], { cwd: dir, env })).stdout);
    for (const n of HIDDEN) assert.ok(hidden[n] !== null && hidden[n].includes(n), JSON.stringify(hidden));

    // in the namespace: the tarball unpacked into a fresh project, required with every symbol
    // bound at load (LD_BIND_NOW), so a symbol nothing provides fails there and then
    const app = join(dir, "app");
    mkdirSync(app);
    writeFileSync(join(app, "check.cjs"), HIDDEN_CHECK);
    const pkgDir = join(app, "node_modules", "crossredis");
    const script = 'set -e\nmkdir -p "$1"\ntar -xzf "$2" --strip-components=1 -C "$1"\nshift 2\nexec "$@"\n';
    const { stdout } = await runHiding(HIDDEN, empty,
      ["sh", "-c", script, "sh", pkgDir, tarball, process.execPath, join(app, "check.cjs"), ...HIDDEN],
      { cwd: app, env: { ...env, REDIS_URL: redis.url, LD_BIND_NOW: "1" } });
    const out = JSON.parse(stdout.trim().split("\n").pop());
    for (const n of HIDDEN) assert.ok(out.probe[n] !== null && out.probe[n].includes(n), JSON.stringify(out.probe));
    assert.equal(out.resolved, join(pkgDir, "dist", "cjs", "index.js"));
    assert.equal(out.ping, true);
    assert.equal(out.set, "OK");
    assert.equal(out.get, "v\u00e9");
    assert.deepEqual(out.doc, { a: [1, "\u00e9", null], b: { c: true } });
    assert.ok(out.maps.includes(join(pkgDir, PREBUILD)), JSON.stringify(out.maps));
    assert.deepEqual(out.maps.filter((p) => /jansson/.test(basename(p))), []);
  });

  test("the tarball holds no build inputs besides src-generated/crossredis_wrap.cxx", () => {
    const inputs = entries.filter((p) => p !== WRAPPER && (
      /\.(i|c|cc|cxx|cpp|h|hpp|gyp|gypi)$/.test(p) || (p.endsWith(".ts") && !p.endsWith(".d.ts")) ||
      /(^|\/)binding\.gyp$/.test(p) || /^(src|test|scripts|build|build-swig|bindings|core)\//.test(p)));
    assert.deepEqual(inputs, []);
    assert.deepEqual(entries.filter((p) => p.startsWith("src-generated/")), [WRAPPER]);
  });

  test("the tarball's package.json runs nothing on install (no install scripts, gypfile false)", () => {
    const shipped = JSON.parse(execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" }));
    for (const hook of ["preinstall", "install", "postinstall", "prepare"]) {
      assert.equal(shipped.scripts?.[hook], undefined, `${hook} script`);
    }
    if (variant.lean) {
      assert.equal(shipped.scripts, undefined);
      assert.equal(shipped.devDependencies, undefined);
      assert.equal(shipped.private, undefined);
    }
    assert.equal(shipped.gypfile, false);
    assert.deepEqual(shipped.files, pkg.files);
    assert.equal(shipped.name, pkg.name);
    assert.equal(shipped.version, pkg.version);
    assert.deepEqual(shipped.exports, pkg.exports);
    assert.equal(shipped.main, pkg.main);
    assert.equal(shipped.types, pkg.types);
    assert.deepEqual(shipped.dependencies ?? {}, {}, "runtime dependencies would need the registry");
  });

  test("npm install --offline of the tarball compiles nothing (no compiler on PATH)", async () => {
    // A PATH with node alone: were npm to run node-gyp or an install script, it would fail.
    const bin = join(tmp, "bin");
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "node"));
    for (const tool of ["swig", "cc", "gcc", "g++", "c++", "make", "python3", "node-gyp", "sh"]) {
      assert.ok(!onPath(bin, tool), `${tool} on the install PATH`);
    }
    app = join(tmp, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }) + "\n");
    writeFileSync(join(tmp, "npmrc"), "");
    const env = {
      PATH: bin,
      HOME: tmp,
      npm_config_userconfig: join(tmp, "npmrc"),
      npm_config_cache: join(tmp, "npm-cache"),
      npm_config_update_notifier: "false",
    };
    await run(process.execPath, [npmCli(), "install", "--offline", "--no-audit", "--no-fund", tarball],
      { cwd: app, env, encoding: "utf8" });
    const installed = join(app, "node_modules", "crossredis");
    assert.ok(existsSync(join(installed, PREBUILD)));
    assert.ok(!existsSync(join(installed, "build")), "something was built on install");
    assert.ok(!existsSync(join(installed, "binding.gyp")));
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    for (const types of [manifest.types, manifest.exports["."].import.types, manifest.exports["."].require.types]) {
      assert.ok(existsSync(join(installed, types)), `${types} not installed`);
    }
  });


  test("loads by require() and import() with no swig on PATH, from its own prebuilds/, and talks to Redis", async () => {
    assert.ok(app, "the install test ran");
    assert.ok(!onPath(NO_SWIG_PATH, "swig"), `swig is on ${NO_SWIG_PATH}`);
    writeFileSync(join(app, "check.mjs"), CHECK);
    const { stdout } = await run(process.execPath, ["check.mjs"], {
      cwd: app, encoding: "utf8", timeout: 20000,
      env: { PATH: NO_SWIG_PATH, HOME: tmp, REDIS_URL: redis.url },
    });
    const out = JSON.parse(stdout.trim().split("\n").pop());
    assert.equal(out.path, NO_SWIG_PATH);
    assert.equal(out.swig, "ENOENT");

    const installed = join(app, "node_modules", "crossredis");
    assert.equal(out.resolved, join(installed, "dist", "cjs", "index.js"));
    for (const name of ["createClient", "Client", "createRedisState", "createIoRedisState", "RedisStateAdapter",
      "IoRedisStateAdapter", "CrossRedisError", "ConnectionError", "ResponseError", "errorClasses", "tokenOrigin"]) {
      assert.ok(out.cjsNames.includes(name), `require: ${name} missing`);
      assert.ok(out.esmNames.includes(name), `import: ${name} missing`);
    }
    assert.deepEqual(out.esmNames, out.cjsNames);
    assert.ok(out.same, "import() and require() give different objects");
    assert.ok(out.errorIsError);

    const addon = join(installed, PREBUILD);
    assert.deepEqual(out.addons, [addon]);
    assert.deepEqual(out.mapped, [addon]);
    assert.ok(!out.mapped.some((p) => p.startsWith(node + "/")), `loaded from ${node}`);

    assert.deepEqual(out.get, { via: "esm", n: 1 });
    assert.equal(out.lock.threadId, "thread-1");
    assert.match(out.lock.token, /^redis_\d{13}_[0-9a-z]+$/);
    assert.equal(out.again, null);
    assert.deepEqual(out.ioGet, { via: "esm", n: 1 });
    assert.match(out.ioToken, /^ioredis_\d{13}_[0-9a-z]+$/);
  });
});
