import { native } from "./native";

/** Which runtime wrote a lock token: "ts-node-redis", "ts-ioredis", "python-redis", "crossredis",
 * ... ("unknown" when no known shape). */
export function tokenOrigin(token: string): string {
  if (typeof token !== "string") throw new TypeError("token must be a string");
  return native.xr_binding_token_origin(token);
}
