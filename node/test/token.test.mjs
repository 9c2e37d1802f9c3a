// tokenOrigin / tokenOrigins: which runtime wrote a lock token. Fixed vectors, so nothing depends
// on a random token passing or failing crossredis's check. Needs `npm run build` in node/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startRedis } from "./support/redis.mjs";
import * as xr from "../dist/index.mjs";

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return this; } };

// Captured from the upstream runtimes, then the same shapes with the two last characters that pass
// crossredis's check: what an upstream runtime writes once in 256 (hex) / 1296 (13 base36) tokens.
const cases = [
  ["redis_1795298445478_1e5da04afffc52455cb070715847468d", "python-redis", ["python-redis"]],
  ["ioredis_1795298431807_j5nlkbnyltf", "ts-ioredis", ["ts-ioredis"]],
  ["ioredis_1795298431807_j5nlkbnyltfaa", "ts-ioredis", ["ts-ioredis"]],
  ["redis_1795298445478_1e5da04afffc52455cb070715847408b", "crossredis", ["crossredis", "python-redis"]],
  ["ioredis_1795298431807_j5nlkbnyltfgc", "crossredis", ["crossredis", "ts-ioredis"]],
  ["pg_3b241101-e2bb-4255-8caf-4136c566a962", "ts-pg", ["ts-pg"]],
  ["something-else", "unknown", ["unknown"]],
  ["", "unknown", ["unknown"]],
];

test("origins of fixed tokens", () => {
  for (const [token, origin, origins] of cases) {
    assert.equal(xr.tokenOrigin(token), origin, token);
    assert.deepEqual(xr.tokenOrigins(token), origins, token);
  }
  assert.throws(() => xr.tokenOrigins(5), TypeError);
});

describe("tokens the adapters make", () => {
  let server;
  before(async () => { server = await startRedis(); });
  after(() => server?.stop());

  test("crossredis, or the upstream writer whose shape they have", async () => {
    for (const [make, upstream] of [[xr.createRedisState, "ts-node-redis"], [xr.createIoRedisState, "ts-ioredis"]]) {
      const s = make({ url: server.url, keyPrefix: "node-tokens", logger: silent });
      await s.connect();
      try {
        const lock = await s.acquireLock("t", 5000);
        assert.equal(xr.tokenOrigin(lock.token), "crossredis");
        assert.deepEqual(xr.tokenOrigins(lock.token), ["crossredis", upstream]);
        await s.releaseLock(lock);
      } finally {
        await s.disconnect();
      }
    }
  });
});
