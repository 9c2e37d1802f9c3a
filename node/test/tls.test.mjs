// How TLS is chosen: any `tls` option (even `{}` or `true`) means TLS, verified against the CA given
// or the system's trust store; never a silent plaintext connection. Insecure only when asked.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startRedis, startTlsRedis } from "./support/redis.mjs";
import { DIST } from "./support/child.mjs";

const xr = await import(DIST); // $XR_NODE_DIST: another build to compare with

describe("TLS", () => {
  let plain;
  let tls;
  before(async () => {
    plain = await startRedis();
    tls = await startTlsRedis();
  });
  after(() => {
    plain?.stop();
    tls?.stop();
  });

  /** connect()'s outcome: "connected" (and closed) or the error's class name. */
  async function outcome(options) {
    const c = xr.createClient({ connectTimeoutMs: 3000, ...options });
    try {
      await c.connect();
      const pong = await c.ping();
      return pong ? "connected" : "no PONG";
    } catch (e) {
      return e.name;
    } finally {
      await c.close();
    }
  }

  test("a tls option against a plain server fails: never plaintext", async () => {
    const url = `redis://127.0.0.1:${plain.port}`;
    assert.equal(await outcome({ url }), "connected", "without tls: plaintext, as asked");
    for (const option of [{}, true, { insecure: false }, { insecure: true }, { serverName: "localhost" }, { caFile: tls.caFile }]) {
      const got = await outcome({ url, tls: option, connectTimeoutMs: 500 }); // the server may wait for more bytes
      assert.ok(got === "TLSError" || got === "ConnectionError" || got === "ConnectionLostError" || got === "TimeoutError",
        `tls: ${JSON.stringify(option)} against a plain server: ${got}`);
    }
  });

  test("tls: {} against a server whose CA is not in the system store fails verification", async () => {
    for (const url of [tls.url, `redis://127.0.0.1:${tls.port}`]) {
      const c = xr.createClient({ url, tls: {}, connectTimeoutMs: 3000 });
      await assert.rejects(c.connect(), (e) => e instanceof xr.TLSError && /verif/i.test(e.message), url);
      await c.close();
    }
  });

  test("with the CA (file or PEM) it connects, over a rediss:// or a redis:// URL; insecure only when asked", async () => {
    const pem = readFileSync(tls.caFile, "utf8");
    assert.equal(await outcome({ url: tls.url, tls: { caFile: tls.caFile } }), "connected");
    assert.equal(await outcome({ url: `redis://127.0.0.1:${tls.port}`, tls: { caFile: tls.caFile } }), "connected");
    assert.equal(await outcome({ url: `redis://127.0.0.1:${tls.port}`, tls: { caPem: pem } }), "connected");
    assert.equal(await outcome({ url: `redis://127.0.0.1:${tls.port}`, tls: { insecure: true } }), "connected");
    assert.equal(await outcome({ url: tls.url }), "TLSError", "rediss:// alone: verified against the system store");
    const s = xr.createIoRedisState({ url: `redis://127.0.0.1:${tls.port}`, clientOptions: { tls: { caFile: tls.caFile } },
      logger: { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } } });
    await s.connect();
    await s.set("over-tls", { ok: true });
    assert.deepEqual(await s.get("over-tls"), { ok: true });
    await s.disconnect();
  });
});
