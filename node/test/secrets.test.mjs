// No password (nor a private key) in anything a program prints: console.log, util.inspect (even
// with showHidden), util.format, JSON.stringify, String() of clients, adapters, the options they
// keep, and errors (a bad URL, a wrong password, a bad REDIS_URL); a child process's real
// console.log output too. The URL shows as redis://user:***@host:port.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { format, inspect } from "node:util";
import { startRedis } from "./support/redis.mjs";
import { DIST, describeEnd, runNode } from "./support/child.mjs";

const xr = await import(DIST); // $XR_NODE_DIST: another build to compare with

const PW = "Pa55-w0rd-in-url";
const PW2 = "0pti0n-Pa55";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIsecretKeyMaterial\n-----END PRIVATE KEY-----\n";
const PIECE = "Fr4gment-0f-pw"; // a piece of a password the parser could read as a host, port or option
const SECRETS = [PW, PW2, "MIIsecretKeyMaterial", "in-url", PIECE];
const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };

/** Every way a program turns x into text. */
function renderings(x) {
  return [
    inspect(x), inspect(x, { showHidden: true, depth: Infinity, getters: true }), format("%o %O %s %j", x, x, x, x),
    JSON.stringify(x) ?? "", String(x), `${x}`,
  ];
}

function assertNoSecret(x, what) {
  for (const text of renderings(x)) {
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `${what} shows ${secret}: ${text}`);
  }
}

describe("secrets", () => {
  let server;
  before(async () => { server = await startRedis(["--requirepass", PW]); });
  after(() => server?.stop());

  const url = () => `redis://default:${PW}@127.0.0.1:${server.port}/0`;

  test("clients, their options and adapters print the URL as user:***@host:port", async () => {
    const c = xr.createClient({ url: url(), password: PW2, tls: { keyPem: KEY, insecure: true } });
    assert.equal(c.url, `redis://default:***@127.0.0.1:${server.port}/0`);
    assert.equal(c.options.url, c.url);
    assert.equal(c.options.password, "***");
    assert.equal(c.options.tls.keyPem, "***");
    assertNoSecret(c, "a client");
    assertNoSecret(c.options, "a client's options");
    assert.match(inspect(c), /redis:\/\/default:\*\*\*@127\.0\.0\.1/);

    const open = xr.createClient(url());
    assert.equal(await open.ping(), true, "the password itself still works");
    assertNoSecret(open, "an open client");
    const a = xr.createRedisState({ url: url(), logger: silent, clientOptions: { password: PW } });
    const b = xr.createIoRedisState({ client: open, logger: silent });
    await a.connect();
    await b.connect();
    for (const [x, what] of [[a, "an adapter"], [b, "an adapter over a client"], [a.getClient(), "its client"]]) {
      assertNoSecret(x, what);
    }
    assert.match(String(a), /^RedisStateAdapter\(redis:\/\/default:\*\*\*@/);
    await a.disconnect();
    await b.disconnect();
    await open.close();
    for (const [given, shown] of [[`rediss://u:${PW}@h:1/2?client_name=n`, "rediss://u:***@h:1/2?client_name=n"],
      [`redis://${PW}@h`, "redis://:***@h"], [`redis://:${PW}@h`, "redis://:***@h"], [`unix://u:${PW}@/tmp/s.sock`, "unix://u:***@/tmp/s.sock"],
      [`redis://u:a#${PW}@h:1`, "redis://u:***@h:1"], [`redis://u:a@b${PW}@h`, "redis://u:***@h"],
      [`redis://u:x?${PW}@h`, "redis://u:***@h"]]) {
      assert.equal(xr.redactUrl(given), shown);
    }
    const hash = xr.createClient(`redis://default:a#${PW}@127.0.0.1:${server.port}`); // '#' is part of the password
    assertNoSecret(hash, "a client whose password holds '#'");
  });

  test("errors: a wrong password, URLs the parser refuses, a bad REDIS_URL", async () => {
    const errors = [];
    const catching = async (f) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
        return;
      }
      assert.fail(`no error from ${f}`);
    };
    await catching(() => xr.createClient(`redis://default:${PW}x@127.0.0.1:${server.port}`).connect());
    assert.ok(errors[0] instanceof xr.AuthenticationError);
    for (const bad of [`redis://u:${PW}@h:port`, `redis://u:${PW}/x@h`, `redis://u:${PW}@h/${PW}`, `http://u:${PW}@h`,
      `redis://:${PW}@h:99999`, `redis://u:${PW}%zz@h`,
      // a password with an unescaped '?' or '/': the parser reads part of it as the query or the path
      `redis://u:${PIECE}?x@h`, `redis://x?${PIECE}@h`, `redis://u:${PIECE}?timeout_ms=1@h`, `redis://u:${PW.slice(0, 4)}/${PW.slice(4)}@h`]) {
      await catching(() => xr.createClient(bad));
      await catching(() => xr.createRedisState({ url: bad, logger: silent }));
    }
    const saved = process.env.REDIS_URL;
    process.env.REDIS_URL = `redis://u:${PW}@h:notaport`;
    try {
      await catching(() => xr.createClient());
      await catching(() => xr.createRedisState({ logger: silent }));
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL; else process.env.REDIS_URL = saved;
    }
    assert.match(errors.at(-1).message, /^REDIS_URL: /);
    for (const e of errors) {
      assertNoSecret(e, `${e.name}: ${e.message}`);
      assertNoSecret(e.stack, "a stack");
    }
  });

  test("what a child process really prints: console.log, console.error, the default logger", async () => {
    const r = await runNode(`
      const xr = await import(XR);
      const c = xr.createClient({ password: ${JSON.stringify(PW2)} });
      console.log(c, c.options, [c], { c }, String(c), JSON.stringify(c));
      const s = xr.createRedisState(); // REDIS_URL, with its password
      await s.connect();
      console.log(s, { s }, JSON.stringify(s));
      console.error(s.getClient());
      await s.set("k", 1);
      const bad = xr.createRedisState({ url: process.env.REDIS_URL.replace(/@/, "x@") }); // a wrong password
      await bad.connect().catch((e) => console.error(e));   // the default logger prints the error too
      await s.disconnect();`, { env: { REDIS_URL: url() } });
    assert.equal(r.status, 0, describeEnd(r));
    assert.match(r.stdout, /default:\*\*\*@127\.0\.0\.1/);
    assert.match(r.stderr, /AuthenticationError/);
    for (const secret of SECRETS) assert.ok(!`${r.stdout}${r.stderr}`.includes(secret), describeEnd(r));
  });
});
