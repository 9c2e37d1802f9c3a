// The addon crossredis_native against its own redis-server (plain and TLS), spawned here on free
// ports and killed after. Run: node --test node/test/ (after npm run build in node/).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, kill as stop, spawnRedis as startRedis, startTlsRedis, waitForPort } from "./support/redis.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const native = require(join(here, "..", "build", "Release", "crossredis_native.node"));

const XR_ECONNECT = -3;
const XR_ETLS = -7;
const XR_EWRONGTYPE = -10;

// Opens a client: url plus the TLS CA file (every other option at its default, not set).
function open(url, { caFile = null, connectTimeoutMs = -1 } = {}) {
  const [, config] = native.xr_client_config_new();
  try {
    native.xr_client_config_set_text(config, "url", url);
    if (caFile !== null) native.xr_client_config_set_text(config, "ca_file", caFile);
    if (connectTimeoutMs >= 0) native.xr_client_config_set_integer(config, "connect_timeout_ms", connectTimeoutMs);
    const [rc, client] = native.xr_tls_client_open_config(config);
    assert.equal(rc, 0);
    return client;
  } finally {
    native.xr_client_config_free(config);
  }
}

function mappedLibraries() {
  return readFileSync("/proc/self/maps", "utf8").split("\n").map((l) => l.split(/\s+/)[5]).filter(Boolean);
}

describe("crossredis_native over a plain redis-server", () => {
  let server;
  let port;
  let client;

  before(async () => {
    port = await freePort();
    server = await startRedis(["--port", String(port), "--bind", "127.0.0.1"]);
    await waitForPort(port, server);
    client = open(`redis://127.0.0.1:${port}`);
  });

  after(() => {
    if (client) native.xr_client_close(client);
    stop(server);
  });

  test("PING", () => {
    assert.equal(native.xr_client_ping(client), 0);
  });

  test("SET and GET through xr_client_command", () => {
    assert.deepEqual(native.xr_client_command(client, ["SET", "k", "v"]), [0, "OK"]);
    const [rc, value] = native.xr_client_command(client, ["GET", "k"]);
    assert.equal(rc, 0);
    assert.ok(Buffer.isBuffer(value));
    assert.equal(value.toString(), "v");
    assert.deepEqual(native.xr_client_command(client, ["GET", "missing"]), [0, null]);
  });

  test("arguments: Buffers, numbers and bigints; replies: integers and arrays", () => {
    assert.deepEqual(native.xr_client_command(client, ["SET", Buffer.from("bin\0key"), Buffer.from([0, 255])]), [0, "OK"]);
    assert.deepEqual(native.xr_client_command(client, ["GET", "bin\0key"])[1], Buffer.from([0, 255]));
    assert.deepEqual(native.xr_client_command(client, ["INCRBY", "n", 5]), [0, 5]);
    assert.deepEqual(native.xr_client_command(client, ["INCRBY", "n", 10n]), [0, 15]);
    native.xr_client_command(client, ["RPUSH", "l", "a", "b"]);
    const [, items] = native.xr_client_command(client, ["LRANGE", "l", 0, -1]);
    assert.deepEqual(items.map(String), ["a", "b"]);
    assert.throws(() => native.xr_client_command(client, ["GET", {}]), TypeError);
    assert.throws(() => native.xr_client_command(client, []), RangeError);
  });

  test("chat lock: acquire, contend, release", () => {
    const [rc, chat] = native.xr_binding_chat_new(client, "chat-sdk", 0, null, 0, 0, 0, 0, 0, 0);
    assert.equal(rc, 0);
    try {
      const [rc1, acquired, [token, expiresAt]] = native.xr_chat_acquire_lock(chat, "thread-1", 30000);
      assert.equal(rc1, 0);
      assert.equal(acquired, true);
      assert.equal(typeof token, "string");
      assert.ok(token.length > 0);
      assert.ok(expiresAt > Date.now());
      const [, again] = native.xr_chat_acquire_lock(chat, "thread-1", 30000);
      assert.equal(again, false);
      assert.deepEqual(native.xr_chat_release_lock(chat, "thread-1", "not-the-token"), [0, false]);
      assert.deepEqual(native.xr_chat_release_lock(chat, "thread-1", token), [0, true]);
      const [, reacquired, [token2]] = native.xr_chat_acquire_lock(chat, "thread-1", 30000);
      assert.equal(reacquired, true);
      assert.deepEqual(native.xr_chat_release_lock(chat, "thread-1", Buffer.from(token2)), [0, true]);
    } finally {
      native.xr_chat_free(chat);
    }
  });

  test("chat key/value, list and queue; a bad queue entry throws with .raw", () => {
    const [, chat] = native.xr_binding_chat_new(client, "chat-sdk", 0, undefined, 0, 0, 0, 0, 0, 0);
    try {
      assert.equal(native.xr_chat_set(chat, "kv", JSON.stringify({ a: 1 }), 60000), 0); // no outputs: the plain rc
      assert.equal(native.xr_chat_get(chat, "kv")[1].toString(), '{"a":1}');
      assert.deepEqual(native.xr_chat_get(chat, "nokey"), [0, null]);
      native.xr_chat_append_to_list(chat, "lst", '"x"', 10, 60000);
      assert.deepEqual(native.xr_chat_get_list(chat, "lst")[1].map(String), ['"x"']);
      const now = Date.now();
      assert.deepEqual(native.xr_chat_enqueue(chat, "t2", JSON.stringify({ text: "hi" }), now, now + 60000, 10), [0, 1]);
      const [, found, [message, enqueuedAt, expiresAt, raw]] = native.xr_chat_dequeue(chat, "t2");
      assert.equal(found, true);
      assert.equal(message.toString(), '{"text":"hi"}');
      assert.equal(enqueuedAt, now);
      assert.equal(expiresAt, now + 60000);
      assert.ok(Buffer.isBuffer(raw));
      native.xr_client_command(client, ["RPUSH", "chat-sdk:queue:t3", "garbage"]);
      assert.throws(() => native.xr_chat_dequeue(chat, "t3"), (e) => {
        assert.equal(e.code, -12);
        assert.equal(e.raw.toString(), "garbage");
        return true;
      });
    } finally {
      native.xr_chat_free(chat);
    }
  });

  test("a server error throws an Error with the core's message and .code", () => {
    native.xr_client_command(client, ["SET", "s", "v"]);
    assert.throws(() => native.xr_client_command(client, ["LPUSH", "s", "x"]), (e) => {
      assert.ok(e instanceof Error);
      assert.equal(e.code, XR_EWRONGTYPE);
      assert.equal(e.codeName, "EWRONGTYPE");
      assert.match(e.message, /^WRONGTYPE/);
      return true;
    });
  });

  test("a refused connection throws ECONNECT", async () => {
    const closed = await freePort();
    assert.throws(() => open(`redis://127.0.0.1:${closed}`, { connectTimeoutMs: 1000 }), (e) => {
      assert.equal(e.code, XR_ECONNECT);
      assert.match(e.message, /127\.0\.0\.1/);
      return true;
    });
  });

  test("error classes registered by the JS layer are used", () => {
    class WrongTypeError extends Error {}
    native.xr_js_set_error_classes({ [XR_EWRONGTYPE]: WrongTypeError });
    try {
      assert.throws(() => native.xr_client_command(client, ["LPUSH", "s", "x"]), (e) => {
        assert.ok(e instanceof WrongTypeError);
        assert.equal(e.code, XR_EWRONGTYPE);
        return true;
      });
    } finally {
      native.xr_js_set_error_classes(null);
    }
  });
});

describe("crossredis_native over TLS (Node's own OpenSSL)", () => {
  let tls;
  let port;
  let dir;

  before(async () => {
    tls = await startTlsRedis();
    port = tls.port;
    dir = tls.dir;
  });

  after(() => tls?.stop());

  test("connects with ca_file, PINGs, SET/GET", () => {
    const client = open(`rediss://127.0.0.1:${port}`, { caFile: join(dir, "ca.crt") });
    try {
      assert.equal(native.xr_client_ping(client), 0);
      assert.deepEqual(native.xr_client_command(client, ["SET", "tk", "tv"]), [0, "OK"]);
      assert.equal(native.xr_client_command(client, ["GET", "tk"])[1].toString(), "tv");
    } finally {
      native.xr_client_close(client);
    }
  });

  test("an unknown CA fails verification with ETLS", () => {
    assert.throws(() => open(`rediss://127.0.0.1:${port}`, { connectTimeoutMs: 2000 }), (e) => {
      assert.equal(e.code, XR_ETLS);
      assert.match(e.message, /verify/);
      return true;
    });
  });

  test("no second OpenSSL: neither the addon nor the process maps libssl/libcrypto", () => {
    const libs = mappedLibraries();
    assert.ok(libs.some((l) => l.endsWith("crossredis_native.node")));
    assert.deepEqual(libs.filter((l) => /lib(ssl|crypto)\.so/.test(l)), []);
    const addon = join(here, "..", "build", "Release", "crossredis_native.node");
    const ldd = execFileSync("ldd", [addon], { encoding: "utf8" });
    assert.doesNotMatch(ldd, /lib(ssl|crypto)\.so/);
  });
});
