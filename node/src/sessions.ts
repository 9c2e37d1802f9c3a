// toolhive's transport-session stores (Go github.com/stacklok/toolhive, pkg/transport/session,
// v0.48.0 .. v0.66.0) with their keys, commands and bytes: RedisStorage (proxy sessions, one
// record per session) and RedisSessionDataStorage (vMCP, one string map per session). Records are
// written byte for byte as toolhive writes them (Go's encoding/json of Go 1.27 by default, go
// "1.26" for toolhive up to v0.48.0) and read as it reads them; the C core does both
// (core/include/crossredis/session.h). Every method is a row of session.def, run by the addon by
// kind; the calls of one event-loop turn go to the core as one batch (one pipeline per store).
//
// Times keep their nanoseconds and UTC offset: a Session carries the exact RFC 3339 text next to
// the Date (which stops at milliseconds and has no offset), and the text is written back unchanged
// while the Date still says the same instant; the raw JSON of `data` likewise while the value is
// unchanged.
import { inspect } from "node:util";
import { native, type Handle, type OpInfo } from "./native";
import { Client, type ClientOptions } from "./client";
import { AlreadyExistsError, ClientClosedError, NotFoundError } from "./errors";
import { Pipeline } from "./pipeline";
import { cText, int64, text } from "./check";

/** toolhive's ErrSessionNotFound: the core's XR_ENOTFOUND, NotFoundError itself. */
export const SessionNotFoundError = NotFoundError;
export type SessionNotFoundError = NotFoundError;
/** toolhive's ErrSessionAlreadyExists: the core's XR_EEXISTS, AlreadyExistsError itself. */
export const SessionExistsError = AlreadyExistsError;
export type SessionExistsError = AlreadyExistsError;

/** The metadata key whose value names a session's owner (toolhive's MetadataKeyIdentityBinding). */
export const BINDING_KEY: string = native.XR_SESSION_BINDING_KEY;

const GO: Readonly<Record<string, number>> = { "1.26": native.XR_GO_1_26, "1.27": native.XR_GO_1_27 };

/** Go's RFC 3339 text: 2006-01-02T15:04:05.999999999Z07:00. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** The instant of RFC 3339 text in ms since the epoch (the fraction cut to ms); NaN when it is not
 * such text. */
function instantOf(t: string): number {
  const m = RFC3339.exec(t);
  if (!m) return NaN;
  const d = new Date(0);
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3])); // years 0-99 stay themselves
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), m[7] ? Number((m[7] + "00").slice(0, 3)) : 0);
  const zone = m[8];
  const offset = zone === "Z" ? 0 : (zone[0] === "-" ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  return d.getTime() - offset * 60000;
}

function timeText(name: string, t: string): string {
  if (typeof t !== "string" || Number.isNaN(instantOf(t))) {
    throw new TypeError(`${name} must be RFC 3339 text as Go writes it (2006-01-02T15:04:05.999999999Z07:00), got ${JSON.stringify(t)}`);
  }
  return t;
}

function json(name: string, v: unknown): string {
  const s = JSON.stringify(v);
  if (typeof s !== "string") throw new TypeError(`${name} is not JSON-serializable (${typeof v})`);
  return s;
}

/** A time of a session: the Date, or RFC 3339 text (kept exactly). */
function dateOf(name: string, v: Date | string | undefined): { date: Date; text: string | undefined } {
  if (v === undefined) return { date: new Date(), text: undefined };
  if (typeof v === "string") return { date: new Date(instantOf(timeText(name, v))), text: v };
  if (!(v instanceof Date)) throw new TypeError(`${name} must be a Date or RFC 3339 text`);
  return { date: v, text: undefined };
}

/** What a Session is made from. */
export interface SessionInit {
  id: string;
  /** "mcp" (default), "sse", "streamable", or any other text (kept as it is). */
  type?: string;
  /** A Date, or RFC 3339 text as Go writes it (its nanoseconds and offset kept). Default: now. */
  createdAt?: Date | string;
  updatedAt?: Date | string;
  /** Any JSON value (undefined: none). */
  data?: unknown;
  /** The data as raw JSON text, kept exactly while `data` is unchanged (data, when given too, wins). */
  dataText?: string;
  /** Strings by key; the owner is metadata[BINDING_KEY]. */
  metadata?: Record<string, string>;
}

/**
 * A transport session as toolhive holds it. `createdAt` and `updatedAt` are Dates; the exact text
 * read from the store (nanoseconds, UTC offset) is `createdAtText` / `updatedAtText`, written
 * back unchanged while the Date still says the same instant (a changed Date is handed over as
 * toISOString() gives it and written as Go writes that instant: UTC, trailing zeros of the
 * fraction dropped, "…14.62Z"). `data` is the parsed JSON value (undefined: none; a
 * "streamable" session keeps none, as toolhive's); `dataText` its raw JSON, kept likewise.
 */
export class Session {
  id: string;
  type: string;
  createdAt: Date;
  updatedAt: Date;
  data: unknown;
  metadata: Record<string, string>;
  #createdText: string | undefined;
  #updatedText: string | undefined;
  #dataText: string | undefined;

  constructor(init: SessionInit) {
    if (typeof init !== "object" || init === null) throw new TypeError("a Session is made from an object ({ id, ... })");
    this.id = init.id;
    this.type = init.type ?? "mcp";
    ({ date: this.createdAt, text: this.#createdText } = dateOf("createdAt", init.createdAt));
    ({ date: this.updatedAt, text: this.#updatedText } = dateOf("updatedAt", init.updatedAt));
    if (init.dataText !== undefined && typeof init.dataText !== "string") throw new TypeError("dataText must be a string");
    this.#dataText = init.dataText;
    this.data = init.data !== undefined || init.dataText === undefined ? init.data : JSON.parse(init.dataText);
    this.metadata = init.metadata ?? {};
  }

  /** The created_at text written: as read while createdAt is unchanged, else createdAt's. */
  get createdAtText(): string {
    return Session.#text("createdAt", this.createdAt, this.#createdText);
  }

  /** Sets createdAt from RFC 3339 text, kept exactly. */
  set createdAtText(t: string) {
    ({ date: this.createdAt, text: this.#createdText } = dateOf("createdAtText", timeText("createdAtText", t)));
  }

  get updatedAtText(): string {
    return Session.#text("updatedAt", this.updatedAt, this.#updatedText);
  }

  set updatedAtText(t: string) {
    ({ date: this.updatedAt, text: this.#updatedText } = dateOf("updatedAtText", timeText("updatedAtText", t)));
  }

  /** The data's JSON written: as read while data is unchanged, else JSON.stringify's; undefined: none. */
  get dataText(): string | undefined {
    if (this.data === undefined) return undefined;
    const now = json("session data", this.data);
    const kept = this.#dataText;
    if (kept !== undefined) {
      try {
        if (JSON.stringify(JSON.parse(kept)) === now) return kept;
      } catch {
        // not JSON: the core refuses it when written; the value is what counts now
      }
    }
    return now;
  }

  /** updatedAt = now (toolhive's Touch). */
  touch(): void {
    this.updatedAt = new Date();
  }

  /** @internal The session as session.def's session_json: the core reads it as toolhive reads a
   * record (the times as their exact text, data as its raw JSON) and writes toolhive's bytes. */
  toRecordJson(): string {
    if (typeof this.type !== "string") throw new TypeError(`session type must be a string, got ${typeof this.type}`);
    if (typeof this.metadata !== "object" || this.metadata === null || Array.isArray(this.metadata)) {
      throw new TypeError("session metadata must be an object of strings");
    }
    const data = this.dataText;
    return `{"id":${JSON.stringify(text("id", this.id))},"type":${JSON.stringify(this.type)},` +
      `"created_at":${JSON.stringify(this.createdAtText)},"updated_at":${JSON.stringify(this.updatedAtText)},` +
      (data === undefined ? "" : `"data":${data},`) + `"metadata":${json("session metadata", this.metadata)}}`;
  }

  static #text(name: string, date: Date, kept: string | undefined): string {
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new TypeError(`session ${name} must be a valid Date`);
    return kept !== undefined && instantOf(kept) === date.getTime() ? kept : date.toISOString();
  }

  [inspect.custom](depth: number, opts: object): string {
    const shown = { id: this.id, type: this.type, createdAt: this.createdAtText, updatedAt: this.updatedAtText, data: this.data,
      metadata: this.metadata };
    return `Session ${inspect(shown, opts)}`;
  }
}

/** A SESSION result of the addon (xr_js_session_run). */
interface StoredSession {
  id: string;
  type: string;
  createdAt: string;
  updatedAt: string;
  data: string | null;
  metadata: string;
  raw: Buffer;
}

/** Each row of session.def by its wire name, and how its result becomes a JS value (by kind). */
const OPS: ReadonlyMap<string, { row: OpInfo; decode: (r: unknown) => unknown }> = (() => {
  const decoders = new Map<number, (r: unknown) => unknown>([
    [native.XR_RESULT_SESSION, (r) => {
      const s = r as StoredSession;
      return new Session({ id: s.id, type: s.type, createdAt: s.createdAt, updatedAt: s.updatedAt, dataText: s.data ?? undefined,
        metadata: JSON.parse(s.metadata) as Record<string, string> });
    }],
    [native.XR_RESULT_MAP, (r) => JSON.parse((r as { json: string }).json) as Record<string, string> | null],
  ]);
  const same = (r: unknown): unknown => r;
  return new Map(native.xr_js_session_ops(null).map((row) => [row.wire, { row, decode: decoders.get(row.result) ?? same }]));
})();

/** What the stores take: the client's (given, or made from `url` and the client options, as
 * createClient takes them), the key prefix, the TTL and whose JSON bytes are written. */
export interface SessionStorageOptions extends Omit<ClientOptions, "url"> {
  /** Redis URL (as createClient: default REDIS_URL, else redis://127.0.0.1:6379). */
  url?: string;
  /** An existing crossredis client (createClient); the store does not close it. */
  client?: Client;
  /** Ends in ':' (toolhive's rule). Default: "thv:proxy:session:" (RedisStorage),
   * "thv:vmcp:session:" (RedisSessionDataStorage). */
  keyPrefix?: string;
  /** Milliseconds, positive (absent: the default, 2 h for RedisStorage, 30 min for
   * RedisSessionDataStorage); 0 or less is refused, as toolhive refuses it. */
  ttlMs?: number;
  /** The Go toolchain whose encoding/json bytes are written: "1.27" (default; toolhive v0.50.0
   * and later) or "1.26" (up to v0.48.0). Their bytes differ for invalid UTF-8 only. */
  go?: "1.26" | "1.27";
}

type Wire = "store" | "load" | "delete" | "create" | "loadMetadata" | "loadIfOwner" | "storeIfOwner" | "deleteIfOwner" |
  "dataCreate" | "dataUpdate" | "dataLoad" | "dataLoadMetadata" | "dataDelete";

/** What both stores share: the options (checked by the core when made), the client, the native
 * store (made on the first call), one pipeline. */
abstract class SessionStore {
  readonly keyPrefix: string;
  readonly ttlMs: number;
  readonly go: "1.26" | "1.27";
  protected readonly client: Client;
  protected readonly ownsClient: boolean;
  #store: Handle | null = null; // the native store (freed by the addon once closed and unused)
  #connecting: Promise<void> | null = null;
  #closed = false;
  #pipeline = new Pipeline<unknown[]>((ops) => this.#run(ops));

  protected constructor(options: SessionStorageOptions, defaults: { keyPrefix: string; ttlMs: number }) {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    const { url, client, keyPrefix, ttlMs, go, ...clientOptions } = options;
    this.keyPrefix = keyPrefix === undefined ? defaults.keyPrefix : cText("key_prefix", keyPrefix, "keyPrefix");
    this.ttlMs = ttlMs === undefined ? defaults.ttlMs : int64("ttl_ms", ttlMs, "ttlMs"); // 0 is refused, as toolhive does
    const version = go ?? "1.27";
    if (typeof version !== "string" || !Object.hasOwn(GO, version)) throw new TypeError(`go must be "1.26" or "1.27", got ${String(go)}`);
    this.go = version;
    native.xr_binding_session_check(this.keyPrefix, this.ttlMs, GO[version]); // toolhive's refusals, now
    if (client !== undefined) {
      if (!(client instanceof Client)) throw new TypeError("client must be a crossredis Client (createClient)");
      if (url !== undefined || Object.values(clientOptions).some((v) => v !== undefined)) {
        throw new TypeError("url and client options apply only without a client");
      }
      this.client = client;
      this.ownsClient = false;
    } else {
      this.client = new Client({ ...clientOptions, url });
      this.ownsClient = true;
    }
  }

  /** Connects the client (unless given one already connected) and makes the core's store. Calls
   * connect by themselves; this makes a wrong address fail early. */
  async connect(): Promise<void> {
    if (this.#store) return;
    if (this.#closed) throw new ClientClosedError(`${this.constructor.name} is closed`);
    if (!this.#connecting) {
      const connecting = (async () => {
        const handle = await this.client.handle();
        if (this.#closed) throw new ClientClosedError(`${this.constructor.name} is closed`);
        this.#store = native.xr_js_session_new(handle, { keyPrefix: this.keyPrefix, ttlMs: this.ttlMs, go: GO[this.go] });
      })();
      this.#connecting = connecting;
      connecting.then(() => { this.#connecting = null; }, () => { this.#connecting = null; });
    }
    await this.#connecting;
  }

  /** Waits for the calls in flight, frees the store and closes the client it made. Later calls
   * reject with ClientClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#connecting?.catch(() => undefined);
    await this.#pipeline.idle();
    const store = this.#store;
    this.#store = null;
    if (store) native.xr_js_session_close(store);
    if (this.ownsClient) await this.client.close();
  }

  /** The crossredis client underneath. */
  getClient(): Client {
    return this.client;
  }

  toString(): string {
    return `${this.constructor.name}(${this.client.url}, keyPrefix ${JSON.stringify(this.keyPrefix)})`;
  }

  toJSON(): { keyPrefix: string; ttlMs: number; go: string; client: ReturnType<Client["toJSON"]> } {
    return { keyPrefix: this.keyPrefix, ttlMs: this.ttlMs, go: this.go, client: this.client.toJSON() };
  }

  [inspect.custom](depth: number, opts: object): string {
    return `${this.constructor.name} ${inspect(this.toJSON(), opts)}`;
  }

  /** Row `wire` of session.def with `args` (its order and kinds), its result by its kind. */
  protected async call(wire: Wire, args: () => unknown[]): Promise<unknown> {
    const op = OPS.get(wire);
    if (!op) throw new Error(`crossredis: the native addon has no session operation ${wire}`);
    const values = args(); // the arguments' types before anything else
    if (this.#closed) throw new ClientClosedError(`${this.constructor.name} is closed`);
    if (!this.#store) await this.connect();
    return op.decode(await this.#pipeline.push([op.row.code, ...values]));
  }

  #run(ops: unknown[][]): Promise<unknown[]> {
    const store = this.#store;
    if (!store) return Promise.reject(new ClientClosedError(`${this.constructor.name} is closed`));
    return this.client.track(() => native.xr_js_session_run(store, ops));
  }
}

const id = (v: unknown, name = "id"): string => text(name, v);

/** toolhive's RedisStorage: one record per session under `<keyPrefix><id>` with a TTL (default
 * prefix "thv:proxy:session:", TTL 2 h). */
export class RedisStorage extends SessionStore {
  constructor(options: SessionStorageOptions = {}) {
    super(options, { keyPrefix: native.XR_SESSION_PROXY_PREFIX, ttlMs: native.XR_SESSION_PROXY_TTL_MS });
  }

  /** `set <key> <record> ex <ttl>`: overwrites and re-applies the TTL. */
  async store(session: Session): Promise<void> {
    await this.call("store", () => [record(session)]);
  }

  /** `getex <key> ex <ttl>` (the TTL slides): the session, or SessionNotFoundError. */
  load(sessionId: string): Promise<Session> {
    return this.call("load", () => [id(sessionId)]) as Promise<Session>;
  }

  /** `del <key>`; a missing session is no error. */
  async delete(sessionId: string): Promise<void> {
    await this.call("delete", () => [id(sessionId)]);
  }

  /** Nothing to do, as toolhive's: Redis expires records by their TTL. Sends nothing. */
  async deleteExpired(before: Date): Promise<void> {
    if (!(before instanceof Date)) throw new TypeError("before must be a Date");
  }

  /** `set <key> <record> ex <ttl> nx`: SessionExistsError when the session exists (nothing changed). */
  async create(session: Session): Promise<void> {
    await this.call("create", () => [record(session)]);
  }

  /** The record's metadata by `get` (no TTL change); null when it has none (Go's nil map);
   * SessionNotFoundError when there is no record. */
  loadMetadata(sessionId: string): Promise<Record<string, string> | null> {
    return this.call("loadMetadata", () => [id(sessionId)]) as Promise<Record<string, string> | null>;
  }

  /** The session when metadata[BINDING_KEY] is `owner` (its TTL renewed), else
   * SessionNotFoundError (as toolhive's, a missing and another owner's session look the same). */
  loadIfOwner(sessionId: string, owner: string): Promise<Session> {
    return this.call("loadIfOwner", () => [id(sessionId), id(owner, "owner")]) as Promise<Session>;
  }

  /** Replaces the record when the stored one's owner and the new one's are both `owner`: whether it did. */
  storeIfOwner(session: Session, owner: string): Promise<boolean> {
    return this.call("storeIfOwner", () => [record(session), id(owner, "owner")]) as Promise<boolean>;
  }

  /** Deletes the record when its owner is `owner`: whether it did. */
  deleteIfOwner(sessionId: string, owner: string): Promise<boolean> {
    return this.call("deleteIfOwner", () => [id(sessionId), id(owner, "owner")]) as Promise<boolean>;
  }
}

function record(session: Session): string {
  if (!(session instanceof Session)) throw new TypeError("session must be a Session");
  return session.toRecordJson();
}

/** toolhive's RedisSessionDataStorage (vMCP): a JSON map of strings per session under
 * `<keyPrefix><id>` with a TTL (default prefix "thv:vmcp:session:", TTL 30 min). */
export class RedisSessionDataStorage extends SessionStore {
  constructor(options: SessionStorageOptions = {}) {
    super(options, { keyPrefix: native.XR_SESSION_VMCP_PREFIX, ttlMs: native.XR_SESSION_VMCP_TTL_MS });
  }

  /** `set <key> <map> ex <ttl> nx`: false when the session exists. null: "{}". */
  create(sessionId: string, data: Record<string, string> | null): Promise<boolean> {
    return this.call("dataCreate", () => [id(sessionId), json("data", data ?? null)]) as Promise<boolean>;
  }

  /** `set <key> <map> ex <ttl> XX`: false when there is none. */
  update(sessionId: string, data: Record<string, string> | null): Promise<boolean> {
    return this.call("dataUpdate", () => [id(sessionId), json("data", data ?? null)]) as Promise<boolean>;
  }

  /** `getex` (the TTL slides): the map, null for a stored `null`; SessionNotFoundError when missing. */
  load(sessionId: string): Promise<Record<string, string> | null> {
    return this.call("dataLoad", () => [id(sessionId)]) as Promise<Record<string, string> | null>;
  }

  /** The same by `get` (no TTL change). */
  loadMetadata(sessionId: string): Promise<Record<string, string> | null> {
    return this.call("dataLoadMetadata", () => [id(sessionId)]) as Promise<Record<string, string> | null>;
  }

  /** `del <key>`. */
  async delete(sessionId: string): Promise<void> {
    await this.call("dataDelete", () => [id(sessionId)]);
  }
}
