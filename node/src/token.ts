import { native } from "./native";

// crossredis first (what tokenOrigin answers), then the others in the core's enum order
// (token.h: unknown 0 ... python-ioredis 6, crossredis 7).
const CROSSREDIS = 7;
const ORDER = [CROSSREDIS, 0, 1, 2, 3, 4, 5, 6];

/** The first runtime that may have written a lock token: "crossredis" for a token that passes
 * crossredis's check, else the upstream writer of its shape ("ts-node-redis", "ts-ioredis",
 * "python-redis", ...; "unknown" when no known shape). Whether that is certain: tokenOrigins. */
export function tokenOrigin(token: string): string {
  if (typeof token !== "string") throw new TypeError("token must be a string");
  return native.xr_binding_token_origin(token);
}

/** Every runtime that may have written a lock token, the first as tokenOrigin says it. One name
 * when the shape tells; two (["crossredis", "ts-ioredis"]) for a token that passes crossredis's
 * check in an upstream writer's shape: crossredis writes those, and the upstream writer does too
 * once in 1296 (13 base36 characters) or 256 (32 hex digits) tokens. */
export function tokenOrigins(token: string): string[] {
  if (typeof token !== "string") throw new TypeError("token must be a string");
  const bits = native.xr_chat_origins(token);
  return ORDER.filter((o) => (bits >>> o) & 1).map((o) => native.xr_chat_origin_name(o));
}
