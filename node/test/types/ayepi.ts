// Type-checked by ayepi.test.mjs (tsc --noEmit -p ayepi.tsconfig.json): a crossredis Client is
// @ayepi/redis's RedisCommandClient and RedisLike, and the factories' shapes are upstream's.
import {
  createClient, redisBroker, redisCache, redisPubSub, redisStore, type Broker, type CacheEntry, type CacheStore, type RedisCommandClient,
  type RedisLike, type Store,
} from "../../dist/cjs/index.js";

const client = createClient("redis://127.0.0.1:6379");
const commands: RedisCommandClient = client;
const pubsub: RedisLike = client;

export async function shapes(): Promise<void> {
  const ok: "OK" = await client.set("k", "v");
  const nx: "OK" | null = await client.set("k", "v", "PX", 1000, "NX");
  const nx2: "OK" | null = await client.set("k", "v", "NX");
  const n: number = await client.del("a", "b");
  const [cursor, keys]: [string, string[]] = await client.scan("0", "MATCH", "p*", "COUNT", 256);
  const receivers: number = await client.publish("ch", "m");
  client.on("message", (channel: string, message: string) => void [channel, message]);
  const store: Store = redisStore(client, { prefix: "p:", retry: { attempts: 3, base: 1000, factor: 2, max: 30000, jitter: 0.5 },
    onError: (err: unknown) => void err });
  const v: string | undefined = await store.get("k");
  const won: boolean = await store.setIfNotExists("k", "1", 1000);
  const count: number = await store.increment("n", 1, 1000);
  const cache: CacheStore = redisCache(client, { now: () => Date.now() });
  const e: CacheEntry | undefined = await cache.get("k");
  const removed: number = await cache.invalidate((m) => m.path === "/x" && m.bytes > 0);
  const broker: Broker = redisBroker(client, { channel: "ayepi", subscriber: client.duplicate(), onError: () => undefined });
  const off: () => void = broker.subscribe((message: string) => void message);
  const same: Broker = redisPubSub(pubsub);
  await broker.publish("m");
  off();
  void [commands, ok, nx, nx2, n, cursor, keys, receivers, v, won, count, e, removed, same];
}
