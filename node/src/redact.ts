// Secrets kept out of what is printed: a URL's password becomes *** (the core's xr_url_redact:
// redis://user:***@host:6379/0?..., redis://***@host for a lone password).
import { native } from "./native";

/** The URL with its password replaced by ***. */
export function redactUrl(url: string): string {
  if (typeof url !== "string") throw new TypeError("url must be a string");
  return native.xr_binding_url_redact(url);
}
