// Loads the addon crossredis_native (SWIG -napi wrappers plus the async bridge) and registers the
// error classes it throws. The addon is looked up where `npm run build` puts it, then where a
// packed tarball carries it (prebuilds/<platform>-<arch>/).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { errorClasses } from "./errors";

/** An opaque handle made by the addon: a client or an adapter (a JS External over the native
 * object; the addon frees it when it is closed and no call uses it, or when it is collected). */
export type Handle = object & { readonly __handle?: never };

/** A row of a system's operation table (core/include/crossredis/chat.def, session.def): `result` is an
 * xr_result_kind, each argument's `kind` an xr_arg_kind (op.h). */
export interface OpInfo {
  code: number;
  name: string;
  wire: string;
  result: number;
  args: { name: string; kind: number }[];
}

/** The addon's functions the JS layer uses (see bindings/javascript/bridge.h). */
export interface Native {
  xr_js_set_error_classes(classes: object): void;
  xr_error_info_at(i: number): { code: number; name: string; class_name: string; parent_class: string; description: string } | null;
  xr_binding_url_redact(url: string): string;
  xr_binding_chat_check(keyPrefix: string, emptyPrefix: number, tokenPrefix: string, tokenSuffix: number, json: number,
    queue: number, minReplicas: number, minReplicasTimeoutMs: number, layout: number): number;
  /** xr_chat_layout_parse: "upstream" or "tagged" to its value; throws InvalidArgumentError. */
  xr_chat_layout_parse(name: string): number;
  /** Row i of core/include/crossredis/client_options.def; null past the last. */
  xr_client_option_info_at(i: number): { name: string; node_name: string; kind: number } | null;
  xr_js_client_config_new(unused: null): Handle;
  xr_js_client_config_set(config: Handle, name: string, value: unknown): void;
  xr_js_client_open(config: Handle): Promise<Handle>;
  xr_js_client_run(client: Handle, commands: unknown[][], buffers: boolean): Promise<unknown[]>;
  xr_js_client_address(client: Handle): string | null;
  xr_js_client_cancel(client: Handle): void;
  xr_js_client_close(client: Handle): void;
  xr_js_chat_new(client: Handle, options: { keyPrefix: string; emptyPrefix: number; tokenPrefix: string;
    tokenSuffix: number; json: number; queue: number; minReplicas: number; minReplicasTimeoutMs: number;
    layout: number }): Handle;
  xr_js_chat_key_prefix(chat: Handle): string | null;
  xr_js_chat_ops(unused?: unknown): OpInfo[];
  xr_js_chat_run(chat: Handle, ops: unknown[][], lane?: number): Promise<unknown[]>;
  xr_js_chat_lanes(chat: Handle, ops: unknown[][], lanes: Uint8Array): number;
  readonly XR_JS_LANES: number;
  xr_js_chat_acquire_wait(chat: Handle, threadId: string, ttlMs: number, waitMs: number): Promise<[string, number] | null>;
  xr_js_chat_release_if_queue_empty(chat: Handle, threadId: string, token: string): Promise<[boolean, number]>;
  xr_js_chat_cancel(chat: Handle): void;
  xr_js_chat_close(chat: Handle): void;
  xr_js_session_new(client: Handle, options: { keyPrefix: string; ttlMs: number; go: number }): Handle;
  xr_js_session_ops(unused?: unknown): OpInfo[];
  xr_js_session_run(storage: Handle, ops: unknown[][]): Promise<unknown[]>;
  xr_js_session_close(storage: Handle): void;
  xr_binding_session_check(keyPrefix: string, ttlMs: number, go: number): number;
  xr_js_ayepi_new(client: Handle, options: { keyPrefix?: string; cache: boolean; attempts: number; base: number; factor: number;
    max: number; jitter: number }): Handle;
  xr_js_ayepi_ops(unused?: unknown): OpInfo[];
  xr_js_ayepi_run(store: Handle, ops: unknown[][]): Promise<unknown[]>;
  xr_js_ayepi_retry_next(store: Handle, op: number, rc: number, attempt: number): [number, number];
  xr_js_ayepi_sweep_new(store: Handle, entries: boolean): Handle;
  xr_js_ayepi_sweep_step(sweep: Handle, chosen: number[]): Promise<{ removed: number; keys: string[]; entries: (string | null)[];
    done: boolean }>;
  xr_js_ayepi_sweep_close(sweep: Handle): void;
  xr_js_ayepi_close(store: Handle): void;
  xr_js_xp_new(client: Handle, options: { keyPrefix: string; ttl: number }): Handle;
  xr_js_xp_ops(unused?: unknown): OpInfo[];
  xr_js_xp_run(store: Handle, ops: unknown[][]): Promise<unknown[]>;
  xr_js_xp_call(store: Handle, op: unknown[]): Promise<unknown>;
  xr_js_xp_job(store: Handle, what: number): Promise<unknown>;
  xr_js_xp_slot_write(fields: unknown[]): Buffer;
  xr_js_xp_slot_read(data: Buffer): [string, string, string, number, string, string, string | null, boolean, string, string];
  xr_js_xp_cluster(store: Handle): boolean;
  xr_js_xp_close(store: Handle): void;
  xr_js_family_new(name: string, oldShape: string | Buffer, newShape: string | Buffer): Handle;
  xr_js_family_load(text: string | Buffer, name: string | null): Handle;
  xr_js_family_load_all(text: string | Buffer): Handle[];
  xr_js_family_info(family: Handle): { name: string; notes: string; old: string; new: string; fields: string[] };
  xr_js_family_keys(family: Handle, values: unknown[]): [string, string];
  xr_js_family_new_key_of(family: Handle, oldKey: string | Buffer): string | null;
  xr_js_window_new(client: Handle, family: Handle, options: { copyForward: boolean; closeAfterMs: number; oldWrites: number;
    deleteGuardMs: number }): Handle;
  xr_js_window_call(window: Handle, what: number, values: unknown[], args: unknown[], buffers: boolean): Promise<unknown>;
  xr_js_window_is_closed(window: Handle): boolean;
  xr_js_window_release(window: Handle): void;
  xr_js_subscriber_new(client: Handle, onMessage: (channel: string, message: string) => void, onError: (err: Error) => void): Handle;
  xr_js_subscriber_message_bytes(sub: Handle): [Buffer, Buffer] | null;
  xr_js_subscriber_subscribe(sub: Handle, channels: (string | Buffer)[]): Promise<number>;
  xr_js_subscriber_unsubscribe(sub: Handle, channels: (string | Buffer)[]): Promise<number>;
  xr_js_subscriber_close(sub: Handle): void;
  xr_js_stats(unused?: unknown): { clients: number; chats: number; sessions: number; ayepi: number; xp: number; windows: number; subscribers: number; loops: number;
    waits: number; jobs: number };
  xr_binding_token_origin(token: string): string;
  xr_binding_token_shape(token: string): string;
  xr_chat_origins(token: string): number;
  xr_chat_origin_name(origin: number): string;
  // the enums' values, from the core's headers (token.h, json.h, chat.h, config.h)
  readonly XR_TOKEN_BASE36: number;
  readonly XR_TOKEN_HEX32: number;
  readonly XR_JSON_JS: number;
  readonly XR_JSON_PYTHON: number;
  readonly XR_CHAT_QUEUE_TS: number;
  readonly XR_CHAT_QUEUE_PYTHON: number;
  readonly XR_CHAT_QUEUE_BOTH: number;
  readonly XR_CHAT_EMPTY_PREFIX_DEFAULT: number;
  readonly XR_CHAT_EMPTY_PREFIX_KEEP: number;
  readonly XR_CHAT_LAYOUT_UPSTREAM: number;
  readonly XR_CHAT_LAYOUT_TAGGED: number;
  readonly XR_OPTION_TEXT: number;
  readonly XR_OPTION_SECRET: number;
  readonly XR_OPTION_INTEGER: number;
  readonly XR_OPTION_BOOLEAN: number;
  // session.h, session_record.h, op.h
  readonly XR_SESSION_BINDING_KEY: string;
  readonly XR_SESSION_PROXY_PREFIX: string;
  readonly XR_SESSION_VMCP_PREFIX: string;
  readonly XR_SESSION_PROXY_TTL_MS: number;
  readonly XR_SESSION_VMCP_TTL_MS: number;
  readonly XR_GO_1_26: number;
  readonly XR_GO_1_27: number;
  readonly XR_RESULT_SESSION: number;
  readonly XR_RESULT_MAP: number;
  // ayepi.h
  readonly XR_AYEPI_GIVE_UP: number;
  readonly XR_AYEPI_TRY_AGAIN: number;
  readonly XR_AYEPI_READ_BACK: number;
  // xp.h
  readonly XR_XP_PREFIX: string;
  readonly XR_XP_TTL_S: number;
  // window.h
  /** xr_window_old_writes_parse: "existing" or "always" to its value; throws InvalidArgumentError. */
  xr_window_old_writes_parse(name: string): number;
}

function load(): Native {
  const file = "crossredis_native.node";
  const candidates = [
    join(__dirname, "..", "..", "build", "Release", file),
    join(__dirname, "..", "..", "prebuilds", `${process.platform}-${process.arch}`, file),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`crossredis: the native addon is missing (looked in ${candidates.join(", ")}); run npm run build`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = require(found) as Native;
  addon.xr_js_set_error_classes(errorClasses);
  return addon;
}

export const native: Native = load();
