// crossredis for Node: the client, the Chat SDK state adapters, the errors.
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
export * from "./errors";
export { tokenOrigin, tokenOrigins } from "./token";
export { ConsoleErrorLogger } from "./logger";
export type { ConsoleErrorLoggerOptions } from "./logger";
export { redactUrl } from "./redact";
