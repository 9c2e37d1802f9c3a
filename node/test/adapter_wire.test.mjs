// Wire test of the Chat SDK Redis state adapters (SPEC section 1): every StateAdapter method is
// driven against a fresh redis-server, what reaches the server (MONITOR) is compared step by step
// with the upstream captures in tests/vectors, and the return values and the stored bytes (read by
// a separate plain RESP connection) are checked against what upstream returns and writes.
//
//   upstream @chat-adapter/state-redis   createRedisState   vs chat-ts-node-redis.monitor.txt
//   upstream @chat-adapter/state-ioredis createIoRedisState vs chat-ts-ioredis.monitor.txt
//   crossredis createRedisState / createIoRedisState (../dist/index.mjs) vs the same two captures
//
// Run: cd node && node --test test/adapter_wire.test.mjs
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { Monitor, capture, normalize, startRedis } from "./support/redis.mjs";

const STEP = { timeout: 5000 }; // per test: a client that never answers fails instead of hanging

const T = "slack:C123:1700000000.000100";
const P = "chat-sdk";
const LOCK_KEY = `${P}:lock:${T}`;
const QUEUE_KEY = `${P}:queue:${T}`;
const HISTORY = `msg-history:${T}`;
const HISTORY_KEY = `${P}:list:${HISTORY}`;
const STATE_VALUE = { foo: "bär", n: 1 };

// The message of the captured queue entry, members in the order the TS core emits them.
const MESSAGE = {
  _type: "chat:Message",
  id: "1700000000.000200",
  threadId: T,
  text: "héllo <@U999>",
  formatted: {
    type: "root",
    children: [{ type: "paragraph", children: [{ type: "text", value: "héllo" }] }],
  },
  raw: { ts: "1700000000.000200" },
  author: { userId: "U123", userName: "alice", fullName: "Alice A", isBot: false, isMe: false },
  metadata: { dateSent: "2023-11-14T22:13:20.200Z", edited: false },
  attachments: [{ type: "image", url: "https://x/y.png", mimeType: "image/png" }],
};
// Pinned entry times (the capture had enqueuedAt = Date.now(), expiresAt = enqueuedAt + 90000; both
// are 13-digit ms, masked as <MS> in the comparison, and checked exactly in the stored bytes).
// expiresAt lies in the past, so the queue TTL the adapter sends, max(expiresAt - now, 60000), is
// always exactly 60000 and nothing clock-derived is left to mask in this run.
const ENTRY = { message: MESSAGE, enqueuedAt: 1700000000200, expiresAt: 1700000090200 };
const QUEUE_TTL = "60000";

const TOKEN_SHAPE = {
  redis: /^redis_(\d{13})_[0-9a-z]{1,13}$/,
  ioredis: /^ioredis_(\d{13})_[0-9a-z]{1,13}$/,
};

// ---------------------------------------------------------------------------------------------
// Implementations under test.

const upstreamNodeRedis = {
  load: async () => (await import("@chat-adapter/state-redis")).createRedisState,
  send: (state, ...args) => state.getClient().sendCommand(args.map(String)),
  forceClose: (state) => { const c = state.getClient(); if (c.isOpen) c.destroy(); },
};
const upstreamIoredis = {
  load: async () => (await import("@chat-adapter/state-ioredis")).createIoRedisState,
  send: (state, ...args) => state.getClient().call(...args.map(String)),
  forceClose: (state) => state.getClient().disconnect(),
};
const CROSSREDIS = "../dist/index.mjs";
const crossredisSend = (state, ...args) => state.getClient().command(...args.map(String));
const crossredisClose = (state) => { const c = state.getClient(); (c.close ?? c.disconnect)?.call(c); };
// Connecting and disconnecting are each client library's own (node-redis sends nothing, ioredis
// INFO then QUIT): crossredis checks the server with one PING when it connects (a wrong address or
// password fails in connect()) and closes without QUIT. No key is touched either way.
const crossredisHandshake = { connect: ['client "PING"'], disconnect: [] };

const IMPLEMENTATIONS = [
  { name: "upstream @chat-adapter/state-redis", flavor: "redis", ...upstreamNodeRedis },
  { name: "upstream @chat-adapter/state-ioredis", flavor: "ioredis", ...upstreamIoredis },
  {
    name: "crossredis createRedisState",
    flavor: "redis",
    load: async () => (await import(CROSSREDIS)).createRedisState,
    send: crossredisSend,
    forceClose: crossredisClose,
    handshake: crossredisHandshake,
  },
  {
    name: "crossredis createIoRedisState",
    flavor: "ioredis",
    load: async () => (await import(CROSSREDIS)).createIoRedisState,
    send: crossredisSend,
    forceClose: crossredisClose,
    handshake: crossredisHandshake,
  },
];

// Line ranges (1-based, inclusive) of the adapter session in each capture, per step; null: the
// step sends nothing in that capture. chat-ts-ioredis.monitor.txt lines 45..158 are other
// sessions (Python port, TS core) and are not used here.
const CAPTURES = {
  redis: {
    file: "chat-ts-node-redis.monitor.txt",
    connect: null, // node-redis 5 sends nothing that reaches MONITOR on 7.0 (CLIENT SETINFO fails)
    subscribe: [2, 2],
    isSubscribed: [3, 3],
    unsubscribe: [4, 4],
    acquireLock: [5, 5],
    acquireLockHeld: [6, 6],
    extendLockOwn: [7, 9],
    extendLockWrong: [10, 11],
    releaseLockWrong: [12, 13],
    releaseLockOwn: [14, 16],
    acquireLockAgain: [17, 17],
    forceReleaseLock: [18, 18],
    setTtl: [19, 19],
    setNoTtl: [20, 20],
    get: [21, 21],
    setIfNotExistsFirst: [22, 22],
    setIfNotExistsSecond: [23, 23],
    setIfNotExistsNoTtl: [24, 24],
    delete: [25, 25],
    appendToListOptions: [26, 29],
    appendToListPlain: [30, 31],
    getList: [32, 32],
    enqueue: [33, 37],
    queueDepth: [38, 38],
    lindex: [39, 39],
    pttl: [40, 40],
    dequeue: [41, 41],
    dequeueEmpty: [42, 42],
    disconnect: null, // client.close() sends no QUIT
  },
  ioredis: {
    file: "chat-ts-ioredis.monitor.txt",
    connect: [2, 2], // ioredis ready check: "info"
    subscribe: [3, 3],
    isSubscribed: [4, 4],
    unsubscribe: [5, 5],
    acquireLock: [6, 6],
    acquireLockHeld: [7, 7],
    extendLockOwn: [8, 10],
    extendLockWrong: [11, 12],
    releaseLockWrong: [13, 14],
    releaseLockOwn: [15, 17],
    acquireLockAgain: [18, 18],
    forceReleaseLock: [19, 19],
    setTtl: [20, 20],
    setNoTtl: [21, 21],
    get: [22, 22],
    setIfNotExistsFirst: [23, 23],
    setIfNotExistsSecond: [24, 24],
    setIfNotExistsNoTtl: [25, 25],
    delete: [26, 26],
    appendToListOptions: [27, 30],
    appendToListPlain: [31, 32],
    getList: [33, 33],
    enqueue: [34, 38],
    queueDepth: [39, 39],
    lindex: [40, 40],
    pttl: [41, 41],
    dequeue: [42, 42],
    dequeueEmpty: [43, 43],
    disconnect: [44, 44], // quit
  },
};

function expected(flavor, step) {
  const c = CAPTURES[flavor];
  const range = c[step];
  if (range === null) return [];
  let lines = capture(c.file, range[0], range[1]);
  if (step === "enqueue") {
    // The capture's queue TTL came from Date.now() (node-redis 90000, ioredis 89999); this run pins
    // expiresAt so the TTL is exactly 60000: substitute it in the client EVAL's last argument and in
    // the lua PEXPIRE, after checking the capture had a clock-derived TTL >= 60000 there.
    lines = lines.map((l) => {
      if (!l.startsWith('client "EVAL"') && !l.startsWith(`lua "PEXPIRE" "${QUEUE_KEY}"`)) return l;
      const m = l.match(/ "(\d+)"$/);
      assert.ok(m && Number(m[1]) >= 60000 && Number(m[1]) <= 90000, `capture TTL in ${l}`);
      return l.slice(0, m.index) + ` "${QUEUE_TTL}"`;
    });
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// A plain RESP2 connection for checking stored bytes (bulk replies as Buffers), not the client
// under test; its MONITOR lines are ignored by address.

class Plain {
  static open(port) {
    return new Promise((resolve, reject) => {
      const p = new Plain();
      p.sock = net.connect(port, "127.0.0.1");
      p.sock.once("error", reject);
      p.sock.on("data", (d) => { p.buf = Buffer.concat([p.buf, d]); p.drain(); });
      p.sock.once("connect", () => resolve(p));
    });
  }

  buf = Buffer.alloc(0);
  pending = [];

  get address() { return `127.0.0.1:${this.sock.localPort}`; }

  cmd(...args) {
    const parts = [`*${args.length}\r\n`];
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), "utf8");
      parts.push(`$${b.length}\r\n`, b, "\r\n");
    }
    this.sock.write(Buffer.concat(parts.map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(x)))));
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  async str(...args) {
    const r = await this.cmd(...args);
    return r === null ? null : r.toString("utf8");
  }

  drain() {
    for (;;) {
      const r = this.parse(0);
      if (!r) return;
      this.buf = this.buf.subarray(r.end);
      const w = this.pending.shift();
      if (r.value instanceof Error) w.reject(r.value);
      else w.resolve(r.value);
    }
  }

  parse(at) {
    const nl = this.buf.indexOf("\r\n", at);
    if (nl < 0) return null;
    const kind = String.fromCharCode(this.buf[at]);
    const head = this.buf.toString("utf8", at + 1, nl);
    if (kind === "+") return { value: head, end: nl + 2 };
    if (kind === "-") return { value: new Error(head), end: nl + 2 };
    if (kind === ":") return { value: Number(head), end: nl + 2 };
    const n = Number(head);
    if (kind === "$") {
      if (n < 0) return { value: null, end: nl + 2 };
      if (this.buf.length < nl + 2 + n + 2) return null;
      return { value: Buffer.from(this.buf.subarray(nl + 2, nl + 2 + n)), end: nl + 2 + n + 2 };
    }
    if (kind === "*") {
      if (n < 0) return { value: null, end: nl + 2 };
      const out = [];
      let end = nl + 2;
      for (let i = 0; i < n; i++) {
        const r = this.parse(end);
        if (!r) return null;
        out.push(r.value);
        end = r.end;
      }
      return { value: out, end };
    }
    throw new Error(`RESP: unexpected ${kind}`);
  }

  close() { this.sock.destroy(); }
}

const utf8 = (s) => Buffer.from(s, "utf8");
const json = (v) => utf8(JSON.stringify(v));

// ---------------------------------------------------------------------------------------------

for (const impl of IMPLEMENTATIONS) {
  describe(`${impl.name} vs ${CAPTURES[impl.flavor].file}`, () => {
    let server;
    let monitor;
    let plain;
    let state;
    let disconnected = false;
    let lock;

    // Runs fn (calls on the adapter), reads what reached the server up to a marker sent through
    // the client under test (or through the plain connection after disconnect), and compares it
    // with the capture lines of `step`. Returns fn's result and the raw (unmasked) MONITOR lines.
    async function step(name, fn, { viaPlain = false, want = null } = {}) {
      let result;
      let error = null;
      try {
        result = await fn();
      } catch (e) {
        error = e;
      }
      const send = viaPlain ? (m) => plain.cmd("ECHO", m) : (m) => impl.send(state, "ECHO", m);
      let raw;
      try {
        raw = await monitor.take(send, [plain.address]);
      } catch (e) {
        throw error ?? e;
      }
      if (error) throw error;
      // Masked comparison (the fixture's masks): lock tokens carry Date.now() and Math.random()
      // generated inside the adapter, and the capture's entry times are its own clock's; the
      // unmasked lines (r.raw) and the stored bytes are checked against this run's values below.
      assert.deepEqual(normalize(raw), want ?? expected(impl.flavor, name), `${name}: commands sent`);
      return { result, raw: normalize(raw, false).join("\n") };
    }

    function checkLock(got, before, afterMs) {
      assert.equal(typeof got, "object");
      assert.notEqual(got, null, "lock acquired");
      assert.deepEqual(Object.keys(got).sort(), ["expiresAt", "threadId", "token"]);
      assert.equal(got.threadId, T);
      const m = got.token.match(TOKEN_SHAPE[impl.flavor]);
      assert.ok(m, `token shape: ${got.token}`);
      assert.ok(Number(m[1]) >= before && Number(m[1]) <= afterMs, "token ms = Date.now()");
      assert.equal(typeof got.expiresAt, "number");
      assert.ok(got.expiresAt >= before + 30000 && got.expiresAt <= afterMs + 30000, "expiresAt");
    }

    async function pttl(key) {
      return plain.cmd("PTTL", key);
    }

    before(async () => {
      server = await startRedis();
      plain = await Plain.open(server.port);
      monitor = await Monitor.open(server.port);
    });

    after(async () => {
      if (state && !disconnected) {
        try {
          await Promise.race([state.disconnect(), new Promise((r) => setTimeout(r, 500))]);
        } catch {}
        try { impl.forceClose(state); } catch {}
      }
      monitor?.close();
      plain?.close();
      server?.stop();
    });

    test("connect", STEP, async () => {
      const create = await impl.load();
      // The monitor is open before the adapter exists: ioredis connects on construction.
      state = create({ url: server.url });
      const { result } = await step("connect", () => state.connect(), { want: impl.handshake?.connect });
      assert.equal(result, undefined);
    });

    test("subscribe / isSubscribed / unsubscribe", STEP, async () => {
      let r = await step("subscribe", () => state.subscribe(T));
      assert.equal(r.result, undefined);
      assert.equal(await plain.cmd("SISMEMBER", `${P}:subscriptions`, T), 1);
      assert.deepEqual((await plain.cmd("SMEMBERS", `${P}:subscriptions`)).map(String), [T]);
      assert.equal(await pttl(`${P}:subscriptions`), -1);

      r = await step("isSubscribed", () => state.isSubscribed(T));
      assert.equal(r.result, true);

      r = await step("unsubscribe", () => state.unsubscribe(T));
      assert.equal(r.result, undefined);
      assert.equal(await plain.cmd("EXISTS", `${P}:subscriptions`), 0);
    });

    test("acquireLock, held lock", STEP, async () => {
      const t0 = Date.now();
      const r = await step("acquireLock", () => state.acquireLock(T, 30000));
      const t1 = Date.now();
      checkLock(r.result, t0, t1);
      lock = r.result;
      assert.ok(r.raw.includes(`"SET" "${LOCK_KEY}" "${lock.token}" "PX" "30000" "NX"`));
      assert.deepEqual(await plain.cmd("GET", LOCK_KEY), utf8(lock.token), "lock value: bare token");
      const ttl = await pttl(LOCK_KEY);
      assert.ok(ttl > 0 && ttl <= 30000, `lock PTTL ${ttl}`);

      const held = await step("acquireLockHeld", () => state.acquireLock(T, 30000));
      assert.equal(held.result, null);
      assert.deepEqual(await plain.cmd("GET", LOCK_KEY), utf8(lock.token), "held lock untouched");
    });

    test("extendLock (own token, wrong token)", STEP, async () => {
      await plain.cmd("PEXPIRE", LOCK_KEY, 5000);
      let r = await step("extendLockOwn", () => state.extendLock(lock, 30000));
      assert.equal(r.result, true);
      assert.ok(r.raw.includes(`"${LOCK_KEY}" "${lock.token}" "30000"`));
      const ttl = await pttl(LOCK_KEY);
      assert.ok(ttl > 5000 && ttl <= 30000, `extended PTTL ${ttl}`);

      r = await step("extendLockWrong", () => state.extendLock({ ...lock, token: "nope" }, 30000));
      assert.equal(r.result, false);
      assert.deepEqual(await plain.cmd("GET", LOCK_KEY), utf8(lock.token));
    });

    test("releaseLock (wrong token, own token)", STEP, async () => {
      let r = await step("releaseLockWrong", () => state.releaseLock({ ...lock, token: "nope" }));
      assert.equal(r.result, undefined);
      assert.deepEqual(await plain.cmd("GET", LOCK_KEY), utf8(lock.token), "wrong token keeps lock");

      r = await step("releaseLockOwn", () => state.releaseLock(lock));
      assert.equal(r.result, undefined);
      assert.ok(r.raw.includes(`"${LOCK_KEY}" "${lock.token}"`));
      assert.equal(await plain.cmd("EXISTS", LOCK_KEY), 0);
    });

    test("acquireLock again, forceReleaseLock", STEP, async () => {
      const t0 = Date.now();
      const r = await step("acquireLockAgain", () => state.acquireLock(T, 30000));
      checkLock(r.result, t0, Date.now());
      assert.notEqual(r.result.token, lock.token);
      assert.deepEqual(await plain.cmd("GET", LOCK_KEY), utf8(r.result.token));

      const f = await step("forceReleaseLock", () => state.forceReleaseLock(T));
      assert.equal(f.result, undefined);
      assert.equal(await plain.cmd("EXISTS", LOCK_KEY), 0);
    });

    test("set (with and without ttl), get", STEP, async () => {
      const key = `${P}:cache:thread-state:${T}`;
      let r = await step("setTtl", () => state.set(`thread-state:${T}`, STATE_VALUE, 2592000000));
      assert.equal(r.result, undefined);
      // compact JS JSON, raw UTF-8 (ä = c3 a4)
      assert.deepEqual(await plain.cmd("GET", key), utf8('{"foo":"bär","n":1}'));
      assert.deepEqual(await plain.cmd("GET", key), Buffer.from("7b22666f6f223a2262c3a472222c226e223a317d", "hex"));
      const ttl = await pttl(key);
      assert.ok(ttl > 2592000000 - 10000 && ttl <= 2592000000, `PTTL ${ttl}`);

      r = await step("setNoTtl", () => state.set("nottl", "plain"));
      assert.equal(r.result, undefined);
      assert.deepEqual(await plain.cmd("GET", `${P}:cache:nottl`), utf8('"plain"'));
      assert.equal(await pttl(`${P}:cache:nottl`), -1);

      r = await step("get", () => state.get(`thread-state:${T}`));
      assert.deepEqual(r.result, STATE_VALUE);
    });

    test("setIfNotExists (ttl twice, no ttl), delete", STEP, async () => {
      const key = `${P}:cache:dedupe:slack:123.456`;
      let r = await step("setIfNotExistsFirst", () => state.setIfNotExists("dedupe:slack:123.456", true, 600000));
      assert.equal(r.result, true);
      assert.deepEqual(await plain.cmd("GET", key), utf8("true"));
      const ttl = await pttl(key);
      assert.ok(ttl > 590000 && ttl <= 600000, `PTTL ${ttl}`);

      r = await step("setIfNotExistsSecond", () => state.setIfNotExists("dedupe:slack:123.456", true, 600000));
      assert.equal(r.result, false);

      r = await step("setIfNotExistsNoTtl", () => state.setIfNotExists("x", { a: 1 }));
      assert.equal(r.result, true);
      assert.deepEqual(await plain.cmd("GET", `${P}:cache:x`), utf8('{"a":1}'));
      assert.equal(await pttl(`${P}:cache:x`), -1);

      r = await step("delete", () => state.delete("x"));
      assert.equal(r.result, undefined);
      assert.equal(await plain.cmd("EXISTS", `${P}:cache:x`), 0);
    });

    test("appendToList (maxLength+ttlMs, no options), getList", STEP, async () => {
      let r = await step("appendToListOptions", () =>
        state.appendToList(HISTORY, { a: 1 }, { maxLength: 100, ttlMs: 604800000 }));
      assert.equal(r.result, undefined);
      assert.deepEqual(await plain.cmd("LRANGE", HISTORY_KEY, 0, -1), [utf8('{"a":1}')]);
      const ttl = await pttl(HISTORY_KEY);
      assert.ok(ttl > 604800000 - 10000 && ttl <= 604800000, `PTTL ${ttl}`);

      r = await step("appendToListPlain", () => state.appendToList("nolimit", { a: 2 }));
      assert.equal(r.result, undefined);
      assert.deepEqual(await plain.cmd("LRANGE", `${P}:list:nolimit`, 0, -1), [utf8('{"a":2}')]);
      assert.equal(await pttl(`${P}:list:nolimit`), -1);

      r = await step("getList", () => state.getList(HISTORY));
      assert.deepEqual(r.result, [{ a: 1 }]);
    });

    test("enqueue, queueDepth, dequeue (entry, then empty)", STEP, async () => {
      const stored = json(ENTRY);
      let r = await step("enqueue", () => state.enqueue(T, ENTRY, 10));
      assert.equal(r.result, 1);
      assert.ok(r.raw.includes(`"enqueuedAt\\":1700000000200,\\"expiresAt\\":1700000090200}" "10" "${QUEUE_TTL}"`));
      assert.deepEqual(await plain.cmd("LRANGE", QUEUE_KEY, 0, -1), [stored]);
      assert.ok(stored.toString().startsWith('{"message":{"_type":"chat:Message","id":"1700000000.000200"'));
      assert.ok(stored.includes(utf8('"text":"héllo <@U999>"')));
      assert.ok(stored.toString().endsWith('},"enqueuedAt":1700000000200,"expiresAt":1700000090200}'));
      const ttl = await pttl(QUEUE_KEY);
      assert.ok(ttl > 50000 && ttl <= 60000, `queue PTTL ${ttl}`);

      r = await step("queueDepth", () => state.queueDepth(T));
      assert.equal(r.result, 1);

      // The capture session inspected the queue through the adapter's own client.
      r = await step("lindex", () => impl.send(state, "LINDEX", QUEUE_KEY, 0));
      assert.equal(String(r.result), stored.toString("utf8"));
      r = await step("pttl", () => impl.send(state, "PTTL", QUEUE_KEY));
      assert.ok(Number(r.result) > 50000 && Number(r.result) <= 60000, `PTTL ${r.result}`);

      r = await step("dequeue", () => state.dequeue(T));
      assert.deepEqual(r.result, ENTRY);
      assert.deepEqual(Object.keys(r.result), ["message", "enqueuedAt", "expiresAt"]);
      assert.equal(await plain.cmd("EXISTS", QUEUE_KEY), 0);

      r = await step("dequeueEmpty", () => state.dequeue(T));
      assert.equal(r.result, null);
    });

    // Beyond the capture: expected commands written from SPEC 1.2 (same command shapes as above).
    test("beyond the capture: raw strings, missing keys, multi-element lists, empty queue", STEP, async () => {
      await plain.cmd("SET", `${P}:cache:raw`, utf8("not json {ä"));
      let r = await step("getRaw", () => state.get("raw"), {
        want: [`client "GET" "${P}:cache:raw"`],
      });
      assert.equal(r.result, "not json {ä", "non-JSON value comes back as the raw string");

      r = await step("getPlain", () => state.get("nottl"), { want: [`client "GET" "${P}:cache:nottl"`] });
      assert.equal(r.result, "plain");

      r = await step("getMissing", () => state.get("missing"), {
        want: [`client "GET" "${P}:cache:missing"`],
      });
      assert.equal(r.result, null);

      r = await step("isSubscribedAfterUnsubscribe", () => state.isSubscribed(T), {
        want: [`client "SISMEMBER" "${P}:subscriptions" "${T}"`],
      });
      assert.equal(r.result, false);

      r = await step("queueDepthEmpty", () => state.queueDepth(T), { want: [`client "LLEN" "${QUEUE_KEY}"`] });
      assert.equal(r.result, 0);

      const nolimit = `${P}:list:nolimit`;
      r = await step("appendToListString", () => state.appendToList("nolimit", "s"), {
        want: [`client "EVAL" "1" "${nolimit}" "\\"s\\"" "0" "0"`, `lua "RPUSH" "${nolimit}" "\\"s\\""`],
      });
      r = await step("appendToListArray", () => state.appendToList("nolimit", [1, "ü", null]), {
        want: [
          `client "EVAL" "1" "${nolimit}" "[1,\\"\\xc3\\xbc\\",null]" "0" "0"`,
          `lua "RPUSH" "${nolimit}" "[1,\\"\\xc3\\xbc\\",null]"`,
        ],
      });
      assert.deepEqual(await plain.cmd("LRANGE", nolimit, 0, -1),
        [utf8('{"a":2}'), utf8('"s"'), utf8('[1,"ü",null]')]);
      r = await step("getListMany", () => state.getList("nolimit"), {
        want: [`client "LRANGE" "${nolimit}" "0" "-1"`],
      });
      assert.deepEqual(r.result, [{ a: 2 }, "s", [1, "ü", null]], "every element JSON-parsed");
    });

    test("disconnect", STEP, async () => {
      const r = await step("disconnect", () => state.disconnect(), { viaPlain: true, want: impl.handshake?.disconnect });
      disconnected = true;
      assert.equal(r.result, undefined);
    });
  });
}
