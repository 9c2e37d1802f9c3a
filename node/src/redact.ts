// Secrets kept out of what is printed. A URL's password becomes *** by the core's xr_url_redact
// (the one redaction every runtime and the command use: redis://user:***@host:6379/0, a lone
// password as redis://:***@host, a password with an unescaped '?', '/', '#' or '@' hidden whole).
// And the message of a URL the parser refused loses every quoted piece that may belong to the
// password (the core's parser keeps quiet about such URLs too; this covers any message it misses):
// such a URL may hold a password with an unescaped '?', '/' or '@', so anything between the scheme
// and the last '@' of the whole text counts.
import { native } from "./native";

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** The URL with its password replaced by ***. */
export function redactUrl(url: string): string {
  if (typeof url !== "string") throw new TypeError("url must be a string");
  return native.xr_binding_url_redact(url);
}

function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A parser's message about `url` without any quoted piece of what may be its password. */
export function scrubUrlMessage(message: string, url: string): string {
  const m = SCHEME.exec(url);
  const start = m ? m[0].length : 0;
  const at = url.lastIndexOf("@");
  if (at <= start) return message;
  const info = url.slice(start, at);
  const colon = info.indexOf(":");
  const from = colon >= 0 ? start + colon + 1 : start;
  const secret = url.slice(from, at);
  if (secret === "") return message;
  const plain = decoded(secret);
  const inSecret = (piece: string): boolean => {
    if (piece === "") return false;
    if (secret.includes(piece) || plain.includes(piece)) return true;
    for (let i = url.indexOf(piece); i >= 0; i = url.indexOf(piece, i + 1)) {
      if (i < at && i + piece.length > from) return true; // overlaps it
    }
    return false;
  };
  let out = message.replace(/'([^']*)'/g, (whole, piece: string) => (inSecret(piece) ? "'***'" : whole));
  for (const s of [secret, plain]) {
    if (s.length >= 3) out = out.split(s).join("***");
  }
  return out;
}
