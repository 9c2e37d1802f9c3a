// Secrets kept out of what is printed: a URL's password becomes *** (the user and everything
// else are kept: redis://user:***@host:port/0?..., redis://:***@host with no user), and the
// messages of URL errors lose any piece of the password the parser quoted.

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** The URL with its password replaced by ***. The user information is what precedes the last '@'
 * before the first '/' or '?' after the scheme (as the core reads a URL). */
export function redactUrl(url: string): string {
  const m = SCHEME.exec(url);
  const start = m ? m[0].length : 0;
  let end = url.length;
  for (const c of ["/", "?", "#"]) {
    const i = url.indexOf(c, start);
    if (i >= 0 && i < end) end = i;
  }
  const at = url.lastIndexOf("@", end - 1);
  if (at < start) return url;
  const info = url.slice(start, at);
  const colon = info.indexOf(":");
  const user = colon >= 0 ? info.slice(0, colon) : "";
  return `${url.slice(0, start)}${user}:***@${url.slice(at + 1)}`;
}

function decoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A parser's message about `url` without any part of what could be its password: everything
 * between the scheme (or the start) and the last '@' of the whole text, after the first ':' there
 * (a URL the core refused may have its '@' past a '/' or '?' that belongs to the password). */
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
  const overlaps = (frag: string): boolean => {
    if (frag === "") return false;
    if (plain.includes(frag) || secret.includes(frag)) return true;
    for (let i = url.indexOf(frag); i >= 0; i = url.indexOf(frag, i + 1)) {
      if (i < at && i + frag.length > from) return true;
    }
    return false;
  };
  let out = message.replace(/'([^']*)'/g, (whole, frag: string) => (overlaps(frag) ? "'***'" : whole));
  for (const s of [secret, plain]) {
    if (s.length >= 3) out = out.split(s).join("***");
  }
  return out;
}
