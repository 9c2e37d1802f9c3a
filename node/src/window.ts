// Key families and migration windows (core/include/crossredis/family.h, window.h) from Node: moving
// one kind of key from an old shape to a new one (`mpp:browser:session:<id:uuid>` to
// `mpp:browser:session:{session:<id:uuid>}`, so related keys share a Cluster slot) while programs
// keep reading and writing it, without missing a value that exists and without leaving a key
// behind. The Python module crossredis.window in camelCase:
//
// - Family: the old and the new shape (key patterns with the same fields), from the two patterns or
//   a family file ({"families": [{"name", "old", "new", "notes"}]}); its keys.
// - Window (Window.open / createWindow): reads and writes through a family on a Client: while open,
//   writes go to the new key and to the old one where it still exists (the old key copied forward
//   first when the new one is missing), reads take the new key then fall back to the old one
//   (copying it forward with its remaining TTL when copyForward), deletes remove both; once close()
//   found no old-shape key left (or closeAfterMs passed) only the new shape is touched.
//
// Every call takes the member's field values first: one value (string, Buffer, number, bigint) for
// a family of one field, an Array in the family's field order (family.fields), or an object by
// field name. write / read take a command without its key (`w.write("abc", "SET", "v", "EX", 60)`:
// the window puts the key in as the first argument) and resolve with its reply as client.command
// does (writeBuffers / readBuffers: bulk strings as Buffers). Each call runs in the core on libuv's
// thread pool (several round trips, on whichever nodes hold the two keys). Every rule about a value
// and every failure is the core's (InvalidArgumentError with its message).
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import { native, type Handle } from "./native";
import { checkArgs, Client, type Argument, type Reply } from "./client";
import { ClientClosedError, InvalidArgumentError } from "./errors";
import { cText, int64 } from "./check";

/** One field value: a string (its UTF-8), bytes, or a number / bigint (its decimal text). */
export type FieldValue = string | Buffer | Uint8Array | number | bigint;

/** A member's field values: one value (a family of one field), an Array in field order, or an
 * object by field name. */
export type FieldValues = FieldValue | readonly FieldValue[] | { readonly [field: string]: FieldValue };

/** What Window.open takes; every value is checked by the core. */
export interface WindowOptions {
  /** A read that finds only the old key copies it to the new shape, value and expiry (default false). */
  copyForward?: boolean;
  /** Unix time in ms from which the window acts closed without a scan (default 0: never). */
  closeAfterMs?: number;
  /** "existing" (default): writes go to old keys that still exist; "always": they create old keys
   * too, while programs that only know the old shape still run. */
  oldWrites?: "existing" | "always";
  /** How long a delete keeps copies forward away, in ms (default 0: 10 s). */
  deleteGuardMs?: number;
}

/** SET's options, as the Python helper's keywords. */
export interface WindowSetOptions {
  ex?: number;
  px?: number;
  nx?: boolean;
  xx?: boolean;
  keepTtl?: boolean;
}

// xr_js_window_call's calls (bridge.h)
const CALL = { write: 0, read: 1, delete: 2, close: 3 } as const;

function isValue(v: unknown): v is FieldValue {
  return typeof v === "string" || typeof v === "number" || typeof v === "bigint" || v instanceof Uint8Array;
}

/** A family's errors name the file they came from. */
function fromFile<T>(path: string, parse: (text: Buffer) => T): T {
  const text = readFileSync(path);
  try {
    return parse(text);
  } catch (e) {
    if (e instanceof Error && "code" in e && typeof (e as { code: unknown }).code === "number") e.message = `${path}: ${e.message}`;
    throw e;
  }
}

/** One kind of key in two shapes, the old one a deployment writes today and the new one it moves
 * to: `new Family("sessions", "app:sess:<id>", "app:sess:{s:<id>}")`. Both are key patterns with
 * the same fields; the core refuses shapes that collide (a key that has both), naming the key, and
 * values that do not fit a field's class. Immutable. */
export class Family {
  readonly name: string;
  /** What the family file says about it ("" when nothing). */
  readonly notes: string;
  /** The old shape's pattern. */
  readonly old: string;
  /** The new shape's pattern. */
  readonly new: string;
  /** The field names, in the order positional values follow (the old shape's). */
  readonly fields: readonly string[];
  /** @internal the native family (freed when this object is collected) */
  readonly handle: Handle;

  constructor(name: string, oldShape: string | Buffer, newShape: string | Buffer);
  /** @internal */
  constructor(handle: Handle);
  constructor(nameOrHandle: string | Handle, oldShape?: string | Buffer, newShape?: string | Buffer) {
    this.handle = typeof nameOrHandle === "string"
      ? native.xr_js_family_new(cText("name", nameOrHandle), Family.#shape("old", oldShape), Family.#shape("new", newShape))
      : nameOrHandle;
    const info = native.xr_js_family_info(this.handle);
    this.name = info.name;
    this.notes = info.notes;
    this.old = info.old;
    this.new = info.new;
    this.fields = Object.freeze(info.fields);
  }

  static #shape(name: string, v: unknown): string | Buffer {
    return Buffer.isBuffer(v) ? v : cText(name, v);
  }

  /** The family named `name` of a family file's text (absent: the file must hold exactly one).
   * NotFoundError when none has that name (the message lists the names), DataError for text that
   * is not a family file, InvalidArgumentError for a family the core refuses. */
  static fromJson(text: string | Buffer, name?: string): Family {
    return new Family(native.xr_js_family_load(Family.#text(text), name === undefined ? null : cText("name", name)));
  }

  /** Every family of a family file's text, in file order. */
  static allFromJson(text: string | Buffer): Family[] {
    return native.xr_js_family_load_all(Family.#text(text)).map((h) => new Family(h));
  }

  /** fromJson of a family file (its errors name the file). */
  static load(path: string, name?: string): Family {
    return fromFile(path, (text) => Family.fromJson(text, name));
  }

  /** allFromJson of a family file (its errors name the file). */
  static loadAll(path: string): Family[] {
    return fromFile(path, (text) => Family.allFromJson(text));
  }

  static #text(v: unknown): string | Buffer {
    return Buffer.isBuffer(v) ? v : cText("text", v);
  }

  /** `values` as an Array in field order (what every call does with them first). */
  values(values: FieldValues): FieldValue[] {
    if (isValue(values)) return [values];
    if (Array.isArray(values)) return [...values];
    if (typeof values !== "object" || values === null) {
      throw new TypeError(`field values must be a string, Buffer, number, bigint, an Array of them, or an object by field name, got ${values === null ? "null" : typeof values}`);
    }
    const byName = values as Record<string, FieldValue>;
    const unknown = Object.keys(byName).find((k) => !this.fields.includes(k));
    if (unknown !== undefined) throw new InvalidArgumentError(`family ${this.name}: no field '${unknown}' (its fields: ${this.fields.join(", ")})`);
    const missing = this.fields.find((k) => byName[k] === undefined);
    if (missing !== undefined) throw new InvalidArgumentError(`family ${this.name}: no value for field '${missing}'`);
    return this.fields.map((k) => byName[k]);
  }

  /** [old key, new key] of the member with these field values. */
  keys(values: FieldValues): [string, string] {
    const v = this.values(values);
    checkArgs(v, "field value");
    return native.xr_js_family_keys(this.handle, v);
  }

  /** The new key of an old-shape key; null when it does not have the old shape. */
  newKeyOf(oldKey: string | Buffer): string | null {
    return native.xr_js_family_new_key_of(this.handle, Buffer.isBuffer(oldKey) ? oldKey : cText("old key", oldKey));
  }

  toJSON(): { name: string; old: string; new: string; fields: readonly string[]; notes: string } {
    return { name: this.name, old: this.old, new: this.new, fields: this.fields, notes: this.notes };
  }

  [inspect.custom](_depth: number, opts: object): string {
    return `Family ${inspect(this.toJSON(), opts)}`;
  }
}

function pairs(r: Reply): [string, string][] {
  const a = r as string[];
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < a.length; i += 2) out.push([a[i], a[i + 1]]);
  return out;
}

function flatten(what: string, o: Record<string, Argument>, swap = false): Argument[] {
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw new TypeError(`${what} must be an object`);
  return Object.entries(o).flatMap(([k, v]) => (swap ? [v, k] : [k, v]));
}

/** A migration window over a family on a client (borrowed: it must stay open while the window is
 * used; closing it frees the window too). Made by Window.open (or createWindow), which connects
 * the client and lets the core check the options. Usable from many callers at once. */
export class Window {
  readonly family: Family;
  readonly client: Client;
  readonly options: Readonly<WindowOptions>;
  #handle: Handle | null;

  private constructor(client: Client, family: Family, options: Readonly<WindowOptions>, handle: Handle) {
    this.client = client;
    this.family = family;
    this.options = options;
    this.#handle = handle;
  }

  /** Opens a window over `family` on `client` (connecting the client first). A bad option fails
   * here with the core's InvalidArgumentError. */
  static async open(client: Client, family: Family, options: WindowOptions = {}): Promise<Window> {
    if (!(client instanceof Client)) throw new TypeError("client must be a crossredis Client (createClient)");
    if (!(family instanceof Family)) throw new TypeError("family must be a crossredis Family");
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    const { copyForward = false, closeAfterMs = 0, oldWrites = "existing", deleteGuardMs = 0 } = options;
    if (typeof copyForward !== "boolean") throw new TypeError(`copyForward must be a boolean, got ${typeof copyForward}`);
    if (typeof oldWrites !== "string") throw new TypeError(`oldWrites must be a string, got ${typeof oldWrites}`);
    const native_options = {
      copyForward,
      closeAfterMs: int64("close_after_ms", closeAfterMs, "closeAfterMs"),
      oldWrites: native.xr_window_old_writes_parse(oldWrites), // its names are the core's
      deleteGuardMs: int64("delete_guard_ms", deleteGuardMs, "deleteGuardMs"),
    };
    const handle = native.xr_js_window_new(await client.handle(), family.handle, native_options);
    return new Window(client, family, Object.freeze({ copyForward, closeAfterMs, oldWrites, deleteGuardMs }), handle);
  }

  /** A write through the window: the command without its key ("SET", "v"); the new key's reply, as
   * client.command gives it. */
  write(values: FieldValues, ...args: Argument[]): Promise<Reply> {
    return this.#command(CALL.write, values, args, false);
  }

  /** A read through the window ("GET"; "LRANGE", 0, -1): the reply of the key that holds the value
   * (the new key's when neither does). */
  read(values: FieldValues, ...args: Argument[]): Promise<Reply> {
    return this.#command(CALL.read, values, args, false);
  }

  /** As write, bulk strings as Buffers. */
  writeBuffers(values: FieldValues, ...args: Argument[]): Promise<Reply> {
    return this.#command(CALL.write, values, args, true);
  }

  /** As read, bulk strings as Buffers. */
  readBuffers(values: FieldValues, ...args: Argument[]): Promise<Reply> {
    return this.#command(CALL.read, values, args, true);
  }

  /** Deletes both keys of the member (old first): how many of the two existed. */
  delete(values: FieldValues): Promise<number> {
    return this.#call(CALL.delete, values, [], false) as Promise<number>;
  }

  /** Closes the window once no old-shape key is left (a SCAN of every master): AlreadyExistsError
   * with their count and one of them while some remain (the window stays open). Closed, the old
   * shape is never read nor written again. */
  async close(): Promise<void> {
    await this.#call(CALL.close, [], [], false);
  }

  /** Whether the window acts closed: close() succeeded, or closeAfterMs passed. */
  isClosed(): boolean {
    return native.xr_js_window_is_closed(this.#live());
  }

  /** Frees the native window once its calls in flight finished (later calls reject with
   * ClientClosedError); the client stays open. Not the migration's close(). */
  release(): void {
    const h = this.#handle;
    this.#handle = null;
    if (h) native.xr_js_window_release(h);
  }

  // -- typed helpers (replies as ioredis gives them) --

  /** SET: true when written (false when nx or xx said no). */
  async set(values: FieldValues, value: Argument, options: WindowSetOptions = {}): Promise<boolean> {
    const args: Argument[] = ["SET", value];
    if (options.ex !== undefined) args.push("EX", options.ex);
    if (options.px !== undefined) args.push("PX", options.px);
    if (options.nx) args.push("NX");
    if (options.xx) args.push("XX");
    if (options.keepTtl) args.push("KEEPTTL");
    return (await this.write(values, ...args)) === "OK";
  }

  /** GET: the value, null when there is none. */
  get(values: FieldValues): Promise<string | null> {
    return this.read(values, "GET") as Promise<string | null>;
  }

  /** RPUSH: the list's length after. */
  rpush(values: FieldValues, ...items: Argument[]): Promise<number> {
    return this.write(values, "RPUSH", ...items) as Promise<number>;
  }

  /** LRANGE: the items from start to stop (inclusive; negative: from the end). */
  lrange(values: FieldValues, start = 0, stop = -1): Promise<string[]> {
    return this.read(values, "LRANGE", start, stop) as Promise<string[]>;
  }

  /** SADD: how many members were new. */
  sadd(values: FieldValues, ...members: Argument[]): Promise<number> {
    return this.write(values, "SADD", ...members) as Promise<number>;
  }

  /** SMEMBERS: the members (in the server's order). */
  smembers(values: FieldValues): Promise<string[]> {
    return this.read(values, "SMEMBERS") as Promise<string[]>;
  }

  /** HSET of every field of `fields`: how many fields were new. */
  async hset(values: FieldValues, fields: Record<string, Argument>): Promise<number> {
    return (await this.write(values, "HSET", ...flatten("fields", fields))) as number;
  }

  /** HGETALL: the fields and their values as an object. */
  async hgetall(values: FieldValues): Promise<Record<string, string>> {
    return Object.fromEntries(pairs(await this.read(values, "HGETALL")));
  }

  /** ZADD of {member: score}: how many members were new. */
  async zadd(values: FieldValues, members: Record<string, number>): Promise<number> {
    return (await this.write(values, "ZADD", ...flatten("members", members, true))) as number;
  }

  /** Members by rank; with withScores, [member, score] pairs. */
  zrange(values: FieldValues, start?: number, stop?: number, withScores?: false): Promise<string[]>;
  zrange(values: FieldValues, start: number, stop: number, withScores: true): Promise<[string, number][]>;
  async zrange(values: FieldValues, start = 0, stop = -1, withScores = false): Promise<string[] | [string, number][]> {
    if (!withScores) return (await this.read(values, "ZRANGE", start, stop)) as string[];
    return pairs(await this.read(values, "ZRANGE", start, stop, "WITHSCORES")).map(([m, s]): [string, number] => [m, Number(s)]);
  }

  /** EXPIRE of the new key (and of the old one while it exists): true when the key exists. */
  async expire(values: FieldValues, seconds: number): Promise<boolean> {
    return (await this.write(values, "EXPIRE", seconds)) === 1;
  }

  toJSON(): { family: string; old: string; new: string; state: string; options: Readonly<WindowOptions>; client: ReturnType<Client["toJSON"]> } {
    let state = "released";
    if (this.#handle) {
      try {
        state = this.isClosed() ? "closed" : "open";
      } catch {
        state = "released"; // its client closed
      }
    }
    return { family: this.family.name, old: this.family.old, new: this.family.new, state, options: this.options, client: this.client.toJSON() };
  }

  [inspect.custom](_depth: number, opts: object): string {
    return `Window ${inspect(this.toJSON(), opts)}`;
  }

  #live(): Handle {
    if (!this.#handle) throw new ClientClosedError(`the window of family ${this.family.name} was released`);
    return this.#handle;
  }

  #command(what: number, values: FieldValues, args: Argument[], buffers: boolean): Promise<Reply> {
    try {
      if (args.length === 0) throw new TypeError("the command's name is missing");
      checkArgs(args);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#call(what, values, args, buffers) as Promise<Reply>;
  }

  #call(what: number, values: FieldValues, args: Argument[], buffers: boolean): Promise<unknown> {
    let v: FieldValue[];
    let h: Handle;
    try {
      h = this.#live();
      v = what === CALL.close ? [] : this.family.values(values);
      checkArgs(v, "field value");
    } catch (e) {
      return Promise.reject(e);
    }
    return this.client.track(() => native.xr_js_window_call(h, what, v, args, buffers));
  }
}

/** Window.open. */
export function createWindow(client: Client, family: Family, options: WindowOptions = {}): Promise<Window> {
  return Window.open(client, family, options);
}
