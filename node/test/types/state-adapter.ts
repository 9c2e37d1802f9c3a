// Type-checked by adapter.test.mjs (tsc --noEmit): crossredis's adapters are chat@4.41
// StateAdapters, and the public types say what the README says.
import type { StateAdapter, Lock as ChatLock, QueueEntry as ChatQueueEntry } from "chat";
import {
  createClient, createIoRedisState, createRedisState, ConnectionError, CrossRedisError, IoRedisStateAdapter,
  RedisStateAdapter, type Lock, type QueueEntry, type Reply,
} from "../../dist/cjs/index.js";

const client = createClient({ url: "redis://127.0.0.1:6379", tls: { caFile: "ca.pem" }, poolSize: 2, commandTimeoutMs: 1000 });
export const states: StateAdapter[] = [
  createRedisState({ url: "redis://127.0.0.1:6379" }),
  createIoRedisState({ url: "redis://127.0.0.1:6379", tokenSuffix: "hex32", queueEntries: "both", json: "python" }),
  createRedisState({ client, keyPrefix: "p" }),
  new RedisStateAdapter({ url: "redis://x" }),
  new IoRedisStateAdapter({ url: "redis://x" }),
];
export async function roundTrip(s: RedisStateAdapter): Promise<number> {
  const lock: Lock | null = await s.acquireLock("t", 1000);
  const chatLock: ChatLock | null = lock;
  const entry: QueueEntry | null = await s.dequeue("t");
  const chatEntry: ChatQueueEntry | null = entry as ChatQueueEntry | null;
  const r: Reply = await s.getClient().command("PING");
  void chatLock; void chatEntry; void r;
  const e: CrossRedisError = new ConnectionError("x");
  return e.code;
}
