// @ayepi/redis 0.4.0 as a module of our own: a re-implementation from /work/shared/SPEC.md section 3
// ("ayepi (TypeScript over ioredis)"), because the package is not on the npm registry and the interop
// suite needs something that behaves like deployed upstream: the same commands, the same bytes, the
// same retry policy, and the same defects (SPEC 3's last item lists them; they are kept on purpose,
// see "defect" below). Plain ESM, no build step, no dependency: the factories take structural
// clients (ioredis's Redis and Cluster satisfy them), as upstream's do.
//
// Besides the three factories of @ayepi/redis (redisBroker / redisPubSub, redisStore, redisCache)
// and the retry policy of @ayepi/core that wraps every store and cache call, it holds the few texts
// other ayepi packages write through them, so the driver and tests/node/ayepi_oracle.mjs share one
// definition: the broker envelope (@ayepi/core's emit), the work engine's notifications
// (@ayepi/work), a cache entry and the default cache key (@ayepi/cache).
//
// Nothing here talks to Redis except through the client handed in.

// ---------------------------------------------------------------------------------------------
// Retry (@ayepi/core): attempts 3 (the first try included), base 1000 ms, factor 2, max 30000,
// jitter 0.5; delay n = round(min(base * factor^(n-1), max) * (1 - jitter * random)); every error is
// retried; onError fires once after the last attempt, then the last error propagates.

export const DEFAULT_RETRY_OPTIONS = Object.freeze({ attempts: 3, base: 1000, factor: 2, max: 30000, jitter: 0.5 });

/** The backoff before retry `attempt` (1 = the first retry). */
export function backoff(attempt, opts = {}, random = Math.random) {
  const { base, factor, max, jitter } = { ...DEFAULT_RETRY_OPTIONS, ...definedOnly(opts) };
  const raw = base * Math.pow(factor, Math.max(0, attempt - 1));
  return Math.round(Math.min(raw, max) * (1 - jitter * random()));
}

const definedOnly = (o) => Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined));

const unrefSleep = (ms) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  t.unref?.();
});

/** Runs `fn` up to `attempts` times with the backoff between; options as @ayepi/core's `retry`
 * (attempts, base, factor, max, jitter, onRetry, onError, sleep, random). */
export async function retry(fn, options = {}) {
  const o = { ...DEFAULT_RETRY_OPTIONS, ...options };
  const sleep = o.sleep ?? unrefSleep;
  const random = o.random ?? Math.random;
  let lastError;
  for (let attempt = 1; attempt <= o.attempts; attempt++) {
    try {
      return await fn({ attempt, attempts: o.attempts });
    } catch (err) {
      lastError = err;
      if (attempt < o.attempts) {
        o.onRetry?.(err, { attempt, attempts: o.attempts });
        await sleep(backoff(attempt, o, random));
        continue;
      }
      o.onError?.(err, { attempt, attempts: o.attempts });
    }
  }
  throw lastError;
}

/** The runner each store and cache call goes through: the retry (the caller's `retry` options over
 * the defaults), and `onError` once after the last attempt; a throwing onError is swallowed. */
function makeRun(opts) {
  const report = (err) => {
    try {
      opts.onError?.(err);
    } catch {
      // reporting never masks the error itself
    }
  };
  return (fn) => retry(fn, { ...opts.retry, onError: report });
}

// ---------------------------------------------------------------------------------------------
// redisStore: the @ayepi/work Store. Defect kept: the retry wraps the whole function, so
// increment's INCRBY runs again when its PEXPIRE fails, and a lost SET NX reply is retried into a
// refused claim.

export function redisStore(client, opts = {}) {
  const ns = opts.prefix ?? "";
  const run = makeRun(opts);
  return {
    get: (key) => run(async () => (await client.get(ns + key)) ?? undefined),
    set: (key, value, ttl) => run(async () => {
      if (ttl !== undefined) await client.set(ns + key, value, "PX", ttl);
      else await client.set(ns + key, value);
    }),
    delete: (key) => run(async () => {
      await client.del(ns + key);
    }),
    setIfNotExists: (key, value, ttl) => run(async () => {
      const reply = ttl !== undefined
        ? await client.set(ns + key, value, "PX", ttl, "NX")
        : await client.set(ns + key, value, "NX");
      return reply !== null; // nil: the key was there
    }),
    increment: (key, by, ttl) => run(async () => {
      const n = await client.incrby(ns + key, by);
      if (ttl !== undefined) await client.pexpire(ns + key, ttl);
      return n;
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// redisCache: the @ayepi/cache CacheStore. Defects kept: SCAN MATCH takes the prefix as a glob,
// unescaped; clear and invalidate DEL every key in one command (CROSSSLOT on a Cluster) and SCAN
// one node only (the client's).

export function redisCache(client, opts = {}) {
  const ns = opts.prefix ?? "ayepi:cache:";
  const now = opts.now ?? Date.now;
  const run = makeRun(opts);
  const scanKeys = async () => {
    const keys = [];
    let cursor = "0";
    do {
      const [next, batch] = await client.scan(cursor, "MATCH", `${ns}*`, "COUNT", 256);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== "0");
    return keys;
  };
  return {
    get: (key) => run(async () => {
      const raw = await client.get(ns + key);
      return raw ? JSON.parse(raw) : undefined;
    }),
    set: (key, entry) => run(async () => {
      await client.set(ns + key, JSON.stringify(entry), "PX", Math.max(1, entry.staleUntil - now()));
    }),
    delete: (key) => run(async () => (await client.del(ns + key)) > 0),
    clear: () => run(async () => {
      const keys = await scanKeys();
      if (keys.length) await client.del(...keys);
    }),
    invalidate: (pred) => run(async () => {
      const remove = [];
      for (const k of await scanKeys()) {
        const raw = await client.get(k);
        if (!raw) continue; // gone between the SCAN and the GET
        const e = JSON.parse(raw);
        const meta = { key: e.key, method: e.method, path: e.path, storedAt: e.storedAt, expires: e.expires, staleUntil: e.staleUntil, bytes: e.bytes };
        if (pred(meta)) remove.push(k);
      }
      if (remove.length) await client.del(...remove);
      return remove.length;
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// redisBroker / redisPubSub: PUBLISH on the command client; the subscriber (opts.subscriber, else
// client.duplicate(), made when the broker is) SUBSCRIBEs once, at the first subscribe(); listeners
// see the messages of the exact channel; a throwing listener goes to onError and the others still
// run; publish never rejects (its error goes to onError). No retry here (upstream has none).

const SUBSCRIBED = new WeakMap(); // broker -> promise of the SUBSCRIBE's reply (true) or failure (false)

export function redisBroker(client, opts = {}) {
  const channel = opts.channel ?? "ayepi";
  const sub = opts.subscriber ?? client.duplicate();
  const listeners = new Set();
  const onError = opts.onError;
  let wired = false;
  const broker = {
    publish(message) {
      return Promise.resolve()
        .then(() => client.publish(channel, message))
        .then(() => undefined, (err) => {
          onError?.(err);
        });
    },
    subscribe(listener) {
      wire();
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
  const wire = () => {
    if (wired) return;
    wired = true;
    sub.on("message", (ch, message) => {
      if (ch !== channel) return;
      for (const l of listeners) {
        try {
          l(message);
        } catch (err) {
          onError?.(err);
        }
      }
    });
    if (onError) {
      sub.on("error", onError);
      client.on("error", onError);
    }
    // once: ioredis subscribes again by itself after a reconnect
    const subscribing = Promise.resolve().then(() => sub.subscribe(channel));
    SUBSCRIBED.set(broker, subscribing.then(() => true, () => false));
    subscribing.catch((err) => onError?.(err));
  };
  return broker;
}

export const redisPubSub = redisBroker;

/** Not upstream's API: a hook for the driver, resolving once the broker's SUBSCRIBE was answered
 * (true) or failed (false); undefined before the first subscribe(). */
export function subscribedPromise(broker) {
  return SUBSCRIBED.get(broker);
}

// ---------------------------------------------------------------------------------------------
// The texts other ayepi packages write through these factories.

/** The envelope @ayepi/core's emit publishes: {"ch","params","data"}, in that order. */
export function envelope(ch, params, data) {
  return JSON.stringify({ ch, params: params ?? {}, data });
}

/** The work engine's notifications: {"kind":"done","id","groupId"[,"error"]} (error only on a
 * dead item) and {"kind":"group-done","groupId"}. */
export function doneNotification(id, groupId, error) {
  return JSON.stringify(error === undefined ? { kind: "done", id, groupId } : { kind: "done", id, groupId, error });
}

export function groupDoneNotification(groupId) {
  return JSON.stringify({ kind: "group-done", groupId });
}

/** A cache entry as the cache middleware builds it (the key order is the stored JSON's): `body`
 * the handler's result as JSON.stringify writes it (or given), `status` 200, `headers` the JSON
 * content type, `bytes` the UTF-8 length of body (TextEncoder: a lone surrogate counts 3, as
 * U+FFFD), unless given. */
export function cacheEntry(f) {
  const body = f.body !== undefined ? f.body : JSON.stringify(f.result);
  return {
    body,
    status: f.status ?? 200,
    headers: f.headers ?? [["content-type", "application/json"]],
    storedAt: f.storedAt,
    expires: f.expires,
    staleUntil: f.staleUntil,
    bytes: f.bytes ?? (typeof body === "string" ? new TextEncoder().encode(body).length : undefined),
    method: f.method,
    path: f.path,
    key: f.key,
  };
}

/** Query parameters as the default cache key takes them: through URLSearchParams (a raw query
 * string is parsed: '+' and %XX decoded; pairs are made USVStrings: a lone surrogate becomes
 * U+FFFD), sorted by name, then value, by UTF-16 code units. */
function normalizeQuery(query) {
  if (query === undefined || query === null) return [];
  const params = typeof query === "string"
    ? new URLSearchParams(query)
    : query instanceof URLSearchParams ? query : new URLSearchParams([...query].map(([k, v]) => [k, v]));
  return [...params].sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
}

/** Object keys sorted (JS's default sort: UTF-16 code units) at every depth. The sorted keys are
 * written into a fresh object, so JS's own order of property keys applies on top: integer-like
 * keys ("9", "10") come first, in numeric order. */
function sortDeep(v) {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = sortDeep(v[k]);
    return out;
  }
  return v;
}

export function stableStringify(value) {
  return JSON.stringify(sortDeep(value)) ?? "null";
}

/** The default cache key: [METHOD (toUpperCase), path, sorted query pairs, body ?? null, vary ?? null]. */
export function cacheKey({ method, path, query, body, vary }) {
  return stableStringify([method.toUpperCase(), path, normalizeQuery(query), body ?? null, vary ?? null]);
}
