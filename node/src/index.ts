// crossredis for Node: the client, the Chat SDK state adapters, toolhive's session stores, ayepi's
// stores and broker, xml-pipeline's buffer and registry (xp), key families and migration windows,
// the errors.
import { native } from "./native";

export { createClient, Client } from "./client";
export type { ClientOptions, TlsOptions, Reply, Argument } from "./client";
export {
  RedisStateAdapter, IoRedisStateAdapter, createRedisState, createIoRedisState,
} from "./chat";
export type {
  Lock, QueueEntry, ReliableQueueEntry, Logger, WireOptions,
  RedisStateAdapterOptions, RedisStateAdapterUrlOptions, RedisStateAdapterClientOptions, RedisStateClientOptions,
  CreateRedisStateOptions, IoRedisStateAdapterOptions, IoRedisStateAdapterUrlOptions, IoRedisStateAdapterClientOptions,
  IoRedisStateClientOptions,
} from "./chat";
export {
  Session, RedisStorage, RedisSessionDataStorage, SessionNotFoundError, SessionExistsError, BINDING_KEY,
} from "./sessions";
export type { SessionInit, SessionStorageOptions } from "./sessions";
export { redisStore, redisCache, redisBroker, redisPubSub } from "./ayepi";
export type {
  RedisCommandClient, RedisLike, RetryOptions, RedisStoreOptions, RedisCacheOptions, RedisBrokerOptions, Store, CacheStore,
  CacheEntry, CacheEntryInfo, Broker,
} from "./ayepi";
export { XpBackend, createXpBackend, encodeJsonSlot, decodeJsonSlot } from "./xp";
export type { XpBackendOptions, XpInfo, XpSlot, XpSlotMetadata, XpDecodedSlot } from "./xp";
export { Family, Window, createWindow } from "./window";
export type { FieldValue, FieldValues, WindowOptions, WindowSetOptions } from "./window";
export type { SetExpiry, SetCondition } from "./client";
export * from "./errors";
export { tokenOrigin, tokenOrigins } from "./token";
export { ConsoleErrorLogger } from "./logger";
export type { ConsoleErrorLoggerOptions } from "./logger";
export { redactUrl } from "./redact";

/**
 * A Chat SDK state operation as the core describes it once: a row of
 * core/include/crossredis/chat.def. `name` is the C and Python name (`acquire_lock`), `wire` the
 * upstream StateAdapter's method (chat@4.41) and this package's (`acquireLock`); `args` are in call
 * order with the C API's names (`thread_id`, `ttl_ms`) and kinds (text: a string, bytes: a Buffer,
 * int: a number); `result` is the shape of what the operation returns (op.h's xr_result_kind).
 * The interop drivers build their operations from these rows.
 */
export interface ChatOperation {
  readonly code: number;
  readonly name: string;
  readonly wire: string;
  readonly result: "status" | "bool" | "integer" | "value" | "list" | "lock" | "entry";
  readonly args: readonly { readonly name: string; readonly kind: "text" | "bytes" | "int" }[];
}

/** The Chat operations in the core's order (a new array each call); the kinds' values are the
 * core's (XR_RESULT_*, XR_ARG_*), only their names are spelled here. */
export function chatOperations(): ChatOperation[] {
  const consts = native as unknown as Record<string, unknown>;
  const kind = <T extends string>(prefix: string, names: readonly T[], value: number): T => {
    const found = names.find((n) => consts[prefix + n.toUpperCase()] === value);
    if (found === undefined) throw new Error(`crossredis: the native addon has no ${prefix}* of value ${value}`);
    return found;
  };
  const results = ["status", "bool", "integer", "value", "list", "lock", "entry"] as const;
  const argKinds = ["text", "bytes", "int"] as const;
  return native.xr_js_chat_ops(null).map((o) => ({
    code: o.code,
    name: o.name,
    wire: o.wire,
    result: kind("XR_RESULT_", results, o.result),
    args: o.args.map((a) => ({ name: a.name, kind: kind("XR_ARG_", argKinds, a.kind) })),
  }));
}
