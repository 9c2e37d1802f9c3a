// The ayepi operations of the interop contract (interop/CONTRACT.md, "ayepi (work Store, cache,
// broker)") over any implementation of @ayepi/redis's factories: ayepi_driver.mjs runs them over the
// re-implementation of upstream (ts-ayepi), ts_driver.mjs --system ayepi over crossredis's
// (ts-crossredis). The request and response lines are driver_common.mjs's.
import { RequestError } from "./driver_common.mjs";

const badRequest = (message) => new RequestError("BadRequest", message);

function text(a, name) {
  if (typeof a[name] !== "string") throw badRequest(`args.${name} must be a string`);
  return a[name];
}

function number(a, name) {
  if (typeof a[name] !== "number") throw badRequest(`args.${name} must be a number`);
  return a[name];
}

/** An optional number: absent or null -> undefined. */
function ttl(a, name) {
  if (a[name] === undefined || a[name] === null) return undefined;
  return number(a, name);
}

function object(a, name) {
  const v = a[name];
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw badRequest(`args.${name} must be a JSON object`);
  return v;
}

/** The handlers of CONTRACT.md's ayepi operations over a library's factories (`f`: redisStore,
 * redisCache, redisBroker, subscribed(broker): a Promise of whether its SUBSCRIBE was answered,
 * envelope(ch, params, data): the event text) and its command client. */
export function makeAyepiHandlers(f, client, opts, log) {
  const onError = (err) => log("onError", err);
  const store = f.redisStore(client, { prefix: opts.prefix, onError });
  let pinned; // the cache's clock while a cache_set with now_ms runs
  const cache = f.redisCache(client, { prefix: opts.cachePrefix, onError, now: () => pinned ?? Date.now() });
  let broker = null;
  const brokerOf = () => (broker ??= f.redisBroker(client, { channel: opts.channel, onError }));
  let subscribed = false;
  const received = [];
  let arrived = () => {};

  return {
    "ayepi.get": async (a) => (await store.get(text(a, "key"))) ?? null,
    "ayepi.set": async (a) => {
      await store.set(text(a, "key"), text(a, "value"), ttl(a, "ttl_ms"));
      return null;
    },
    "ayepi.delete": async (a) => {
      await store.delete(text(a, "key"));
      return null;
    },
    "ayepi.set_if_not_exists": async (a) => await store.setIfNotExists(text(a, "key"), text(a, "value"), ttl(a, "ttl_ms")),
    "ayepi.increment": async (a) => await store.increment(text(a, "key"), number(a, "by"), ttl(a, "ttl_ms")),

    "ayepi.cache_get": async (a) => (await cache.get(text(a, "key"))) ?? null,
    "ayepi.cache_set": async (a) => {
      const key = text(a, "key");
      const entry = object(a, "entry");
      const now = ttl(a, "now_ms");
      pinned = now;
      try {
        await cache.set(key, entry);
      } finally {
        pinned = undefined;
      }
      return null;
    },
    "ayepi.cache_delete": async (a) => await cache.delete(text(a, "key")),
    "ayepi.cache_clear": async () => {
      await cache.clear();
      return null;
    },
    "ayepi.cache_invalidate": async (a) => {
      const path = text(a, "path");
      return await cache.invalidate((meta) => meta.path === path);
    },

    "ayepi.envelope": async (a) => {
      const ch = text(a, "ch");
      if (!("data" in a)) throw badRequest("args.data is required");
      return f.envelope(ch, a.params, a.data);
    },
    "ayepi.publish": async (a) => {
      await brokerOf().publish(text(a, "message"));
      return null;
    },
    "ayepi.subscribe": async () => {
      const b = brokerOf();
      if (!subscribed) {
        subscribed = true;
        b.subscribe((message) => {
          received.push(message);
          arrived();
        });
      }
      if (!(await f.subscribed(b))) throw new Error(`SUBSCRIBE ${opts.channel} failed (see stderr)`);
      return null;
    },
    "ayepi.received": async (a) => {
      const count = number(a, "count");
      const timeout = ttl(a, "timeout_ms") ?? 0;
      if (received.length < count && timeout > 0) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, timeout);
          arrived = () => {
            if (received.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          };
        });
        arrived = () => {};
      }
      return [...received];
    },
  };
}
