#!/usr/bin/env node
// The ayepi driver of the interop contract (interop/CONTRACT.md, "ayepi (work Store, cache, broker)").
//
//   REDIS_URL=redis://127.0.0.1:PORT node interop/drivers/ayepi_driver.mjs --impl ts-ayepi \
//        [--prefix P] [--cache-prefix P] [--channel C]
//
// ts-ayepi, the only implementation: @ayepi/redis 0.4.0 as deployed upstream runs it, over ioredis
// from the crossredis Node package (../../node/node_modules). The package is not on the npm
// registry, so its factories are our re-implementation from SPEC.md section 3
// (./ayepi_upstream.mjs): redisStore(client, {prefix}) (--prefix, default ''), redisCache(client,
// {prefix, now}) (--cache-prefix, default 'ayepi:cache:'), redisBroker(client, {channel}) (--channel,
// default 'ayepi'), each with upstream's retry policy and defects. The server is $REDIS_URL (or
// --url): redis[s]://... goes to `new Redis(url)`; redis+cluster://h:p,h:p to `new Redis.Cluster(seeds,
// {redisOptions: {username, password}})`, as ts_driver.mjs does for upstream adapters. The URL's
// password is never printed.
//
// The broker is made at the first broker request (ayepi.subscribe or ayepi.publish): upstream's
// redisBroker() duplicates the client for its subscriber when it is called (ayepi_upstream.mjs), and
// made then, that connection's handshake comes where the capture has it, right before its
// SUBSCRIBE, not before the first request.
//
// Requests (JSON lines, one at a time; results and errors as CONTRACT.md says, error kind = the JS
// error's class name, e.g. ReplyError; BadRequest, UnknownOp):
//   ayepi.get {key} -> string | null          ayepi.set {key, value, ttl_ms?} -> null
//   ayepi.delete {key} -> null                ayepi.set_if_not_exists {key, value, ttl_ms?} -> bool
//   ayepi.increment {key, by, ttl_ms?} -> number
//   ayepi.cache_get {key} -> entry | null     ayepi.cache_set {key, entry, now_ms?} -> null
//   ayepi.cache_delete {key} -> bool          ayepi.cache_clear {} -> null
//   ayepi.cache_invalidate {path} -> count (the predicate: entry.path === path)
//   ayepi.publish {message} -> null           ayepi.envelope {ch, params?, data} -> the envelope text
//   ayepi.subscribe {} -> null (once the SUBSCRIBE is answered; again: nothing more)
//   ayepi.received {count, timeout_ms?} -> the messages received so far, after waiting up to
//                                          timeout_ms (default 0) for `count` of them
// ttl_ms absent or null: none; any number is handed over as it is (upstream tests `!== undefined`,
// so 0 sends PX 0, which Redis refuses, retried). now_ms pins the cache's clock for that call.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  requireFromNode, findPackageDir, parseClusterUrl, emit, errorKind, errorMessage, urlSecrets,
  scrub, withTimeout, eachLine, flushAndExit, handleLine,
} from "./driver_common.mjs";
import { redisStore, redisCache, redisBroker, subscribedPromise, envelope } from "./ayepi_upstream.mjs";
import { makeAyepiHandlers } from "./ayepi_handlers.mjs";

// Keep stdout for the protocol.
console.log = console.error;
console.info = console.error;
console.debug = console.error;

const DEBUG = !!process.env.TS_DRIVER_DEBUG;
const IMPL = "ts-ayepi";
const LIBRARY = "@ayepi/redis@0.4.0 (re-implemented from SPEC.md 3: interop/drivers/ayepi_upstream.mjs)";

function parseArgv(argv) {
  const out = { url: process.env.REDIS_URL || undefined, prefix: "", cachePrefix: "ayepi:cache:", channel: "ayepi" };
  const flags = { "--impl": "impl", "--url": "url", "--prefix": "prefix", "--cache-prefix": "cachePrefix", "--channel": "channel" };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let value;
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) [a, value] = [a.slice(0, eq), a.slice(eq + 1)];
    if (!Object.hasOwn(flags, a)) throw new Error(`unknown argument ${a}`);
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      value = argv[++i];
    }
    out[flags[a]] = value;
  }
  if (!out.impl) throw new Error("--impl is required");
  if (out.impl !== IMPL) throw new Error(`unknown impl ${out.impl} (${IMPL})`);
  if (!out.url) throw new Error("no server: set REDIS_URL (or pass --url)");
  return out;
}

/** The command client: ioredis's Redis on the URL, or its Cluster on a redis+cluster:// URL's seeds;
 * resolves once it is ready (ioredis's ready check: INFO), rejects at its first error. */
async function connect(url) {
  const Redis = requireFromNode("ioredis");
  const { version } = JSON.parse(readFileSync(join(findPackageDir("ioredis"), "package.json"), "utf8"));
  const c = parseClusterUrl(url);
  const client = c
    ? new Redis.Cluster(c.nodes, { redisOptions: { username: c.username, password: c.password } })
    : new Redis(url);
  try {
    await withTimeout(new Promise((resolve, reject) => {
      client.once("ready", resolve);
      client.once("error", reject);
    }), 10000, "connect");
  } catch (err) {
    client.disconnect();
    throw err;
  }
  return { client, library: `${LIBRARY} over ioredis@${version}${c ? " Cluster" : ""}` };
}

async function main() {
  process.on("unhandledRejection", (err) => console.error("unhandledRejection:", err));
  process.on("uncaughtException", (err) => console.error("uncaughtException:", err));
  process.stdout.on("error", () => process.exit(0));
  let secrets = urlSecrets(process.env.REDIS_URL);
  const log = (what, err) => { if (DEBUG) console.error(`${what}:`, scrub(errorMessage(err), secrets)); };
  let client;
  let handlers;
  try {
    const opts = parseArgv(process.argv.slice(2));
    secrets = urlSecrets(opts.url);
    const c = await connect(opts.url);
    client = c.client;
    client.on("error", (err) => log("client error", err)); // ioredis would print an unhandled one itself
    handlers = makeAyepiHandlers({ redisStore, redisCache, redisBroker, subscribed: subscribedPromise, envelope }, client, opts, log);
    emit({ ready: true, impl: IMPL, runtime: "typescript", library: c.library });
  } catch (err) {
    emit({ ready: false, impl: IMPL, error: scrub(`${errorKind(err)}: ${errorMessage(err)}`, secrets) });
    flushAndExit(1);
    return;
  }
  await eachLine((line) => handleLine(line, handlers, { secrets, debug: DEBUG }));
  try {
    await withTimeout(client.quit(), 5000, "quit");
  } catch (err) {
    log("quit failed", err);
  }
  flushAndExit(0); // the broker's subscriber (upstream has no close) ends with the process
}

main().catch((err) => {
  console.error("fatal:", err);
  flushAndExit(1);
});
