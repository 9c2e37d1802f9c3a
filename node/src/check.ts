// Argument conversion shared by the client's commands and the adapters (the client's options go to
// the core one by one, converted by the addon: bindings/javascript/bridge.cc, SetOption). The core
// checks values and names them (its InvalidArgumentError messages reach the caller unchanged);
// here only what cannot reach it is refused, with the texts the Python binding uses for the same
// inputs:
//   a number that is not an integer            TypeError
//   an integer outside [-2^63, 2^63)           InvalidArgumentError "<name>: <value> is out of range for a 64-bit integer"
//   (an int argument: outside [-2^31, 2^31)    InvalidArgumentError "<name>: <value> is out of range for a 32-bit integer")
//   a string with a lone surrogate             InvalidArgumentError "<name>: not valid Unicode (a lone surrogate U+D83D at index 3)"
//   NUL in a string that becomes a C string    InvalidArgumentError "<name>: contains NUL (U+0000) at index 3"
// <name> is the core's snake_case name of the argument (thread_id, ttl_ms, key_prefix, ...).
import { InvalidArgumentError } from "./errors";

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function kind(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an Array" : typeof v;
}

function wellFormed(s: string): boolean {
  const f = (s as { isWellFormed?: () => boolean }).isWellFormed; // Node >= 20
  return f ? f.call(s) : !LONE_SURROGATE.test(s);
}

/** A string the core takes with its length (ids, keys, tokens): a TypeError unless a string,
 * InvalidArgumentError when it is not valid Unicode. `label` names it in the TypeError. */
export function text(name: string, v: unknown, label: string = name): string {
  if (typeof v !== "string") throw new TypeError(`${label} must be a string, got ${kind(v)}`);
  if (!wellFormed(v)) {
    const m = LONE_SURROGATE.exec(v) as RegExpExecArray;
    const hex = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    throw new InvalidArgumentError(`${name}: not valid Unicode (a lone surrogate U+${hex} at index ${m.index})`);
  }
  return v;
}

/** A string that becomes a NUL-terminated C string (prefixes, URL, password, paths): also refuses
 * NUL, which would cut it short. */
export function cText(name: string, v: unknown, label: string = name): string {
  const s = text(name, v, label);
  const nul = s.indexOf("\0");
  if (nul >= 0) throw new InvalidArgumentError(`${name}: contains NUL (U+0000) at index ${nul}`);
  return s;
}

/** An integer for an int64 argument of the core, which checks its range (negative TTLs, ...). */
export function int64(name: string, v: unknown, label: string = name): number {
  if (typeof v !== "number") throw new TypeError(`${label} must be a number, got ${kind(v)}`);
  if (!Number.isInteger(v)) throw new TypeError(`${label} must be an integer, got ${String(v)}`);
  if (v < -(2 ** 63) || v >= 2 ** 63) {
    throw new InvalidArgumentError(`${name}: ${BigInt(v).toString()} is out of range for a 64-bit integer`);
  }
  return v;
}

/** An integer for an int argument of the core (min_replicas, ...): as int64, within 32 bits. */
export function int32(name: string, v: unknown, label: string = name): number {
  int64(name, v, label);
  if ((v as number) < -(2 ** 31) || (v as number) >= 2 ** 31) {
    throw new InvalidArgumentError(`${name}: ${BigInt(v as number).toString()} is out of range for a 32-bit integer`);
  }
  return v as number;
}

/** As int32; undefined or null give `absent`. */
export function optInt32(name: string, v: unknown, label: string, absent: number): number {
  return v === undefined || v === null ? absent : int32(name, v, label);
}

/** As int64; undefined or null give `absent`. */
export function optInt64(name: string, v: unknown, label: string, absent: number): number {
  return v === undefined || v === null ? absent : int64(name, v, label);
}
