// Type-checked by adapter.test.mjs (tsc --noEmit): crossredis's adapters are chat@4.41
// StateAdapters, and the public types say what the README says.
import type { StateAdapter, Lock as ChatLock, QueueEntry as ChatQueueEntry } from "chat";
import {
  createClient, createIoRedisState, createRedisState, ConnectionError, CrossRedisError, CrossSlotError, DataError, IoRedisStateAdapter,
  NoReplicasError,
  RedisStateAdapter, ConsoleErrorLogger, redactUrl, type Lock, type QueueEntry, type ReliableQueueEntry, type Reply,
} from "../../dist/cjs/index.js";

const client = createClient({ url: "redis://127.0.0.1:6379", tls: { caFile: "ca.pem" }, poolSize: 2, commandTimeoutMs: 1000 });
export const tlsClients = [createClient({ tls: {} }), createClient({ tls: true }), createClient({ tls: { insecure: false } })];
export const states: StateAdapter[] = [
  createRedisState({ url: "redis://127.0.0.1:6379" }),
  createIoRedisState({ url: "redis://127.0.0.1:6379", tokenSuffix: "hex32", queueEntries: "both", json: "python" }),
  createRedisState({ client, keyPrefix: "p" }),
  new RedisStateAdapter({ url: "redis://x" }),
  new IoRedisStateAdapter({ url: "redis://x" }),
  // Sentinel and Cluster through the client's options, and the locks' replica acknowledgements
  createRedisState({ url: "redis+sentinel://s1:26379/m", minReplicas: 1, minReplicasTimeoutMs: 500 }),
  createIoRedisState({ url: "redis://x", clientOptions: { clusterNodes: "n1:7000,n2:7001", maxRedirects: 8, replicaReads: true } }),
  createRedisState({ client: createClient({ sentinels: "s1:26379", masterName: "m", sentinelTls: false }), minReplicas: 2 }),
  // the Chat SDK layouts: upstream's (default), tagged, and the bridge that moves between them
  createRedisState({ url: "redis://x", layout: "tagged" }),
  createIoRedisState({ url: "redis://x", layout: "bridge" }),
  // @ts-expect-error: not a layout
  createRedisState({ url: "redis://x", layout: "sharded" }),
];
export const layouts: Array<"upstream" | "tagged" | "bridge"> = [new RedisStateAdapter({ url: "redis://x" }).layout];
export async function roundTrip(s: RedisStateAdapter): Promise<number> {
  const lock: Lock | null = await s.acquireLock("t", 1000);
  const chatLock: ChatLock | null = lock;
  const entry: QueueEntry | null = await s.dequeue("t");
  const chatEntry: ChatQueueEntry | null = entry as ChatQueueEntry | null;
  const r: Reply = await s.getClient().command("PING");
  void chatLock; void chatEntry; void r;
  const e: CrossRedisError = new ConnectionError("x");
  const unacked: CrossRedisError = new NoReplicasError("x");
  const crossed: CrossRedisError = new CrossSlotError("x");
  void unacked; void crossed;
  return e.code;
}
// every property the runtime sets on errors is typed
export async function dequeued(s: RedisStateAdapter): Promise<Buffer | undefined> {
  try {
    await s.dequeue("t");
  } catch (e) {
    if (e instanceof DataError) {
      const raw: Buffer | undefined = e.raw;
      const code: number = e.code;
      const name: string = e.codeName;
      void code; void name;
      return raw;
    }
  }
  const r: ReliableQueueEntry | null = await s.dequeueReliable("t");
  if (r) {
    const acked: boolean = await s.ack("t", r);
    const raw: Buffer = r.raw;
    void acked; void raw;
  }
  const moved: number = await s.requeueProcessing("t");
  void moved;
  return undefined;
}
export const logged = createRedisState({ url: "redis://x", logger: new ConsoleErrorLogger("app", { intervalMs: 1000 }) });
export const shown: string = redactUrl("redis://u:p@h") + client.url + String(client);
