// The crossredis client for Node: every option of the C core's client (URL, timeouts, pool, ACL,
// db, client name, TLS with a CA, client certificates and SNI). Commands return Promises; the
// commands of one event-loop turn are sent as one pipeline from libuv's thread pool, so the
// event loop never waits on the network.
import { native, type Handle } from "./native";
import { ClientClosedError } from "./errors";
import { Pipeline } from "./pipeline";

/** TLS settings (a `rediss://` URL turns TLS on as well). Verification is on unless `insecure`. */
export interface TlsOptions {
  /** CA bundle file to verify the server with (default: the system's roots). */
  caFile?: string;
  /** CA certificates as PEM text (wins over caFile). */
  caPem?: string;
  /** Client certificate and key (mutual TLS), as files or as PEM text. */
  certFile?: string;
  keyFile?: string;
  certPem?: string;
  keyPem?: string;
  /** The name sent for SNI and checked against the certificate (default: the host). */
  serverName?: string;
  /** Skip verifying the server's certificate (tests only). */
  insecure?: boolean;
}

/** What `createClient` takes; each option overrides what the URL says. */
export interface ClientOptions {
  /** redis://[[user]:password@]host[:port][/db][?option=value], rediss://..., unix:///path.
   * Default: REDIS_URL, else redis://127.0.0.1:6379. */
  url?: string;
  /** Milliseconds to connect (default 5000; 0: as long as the system waits). */
  connectTimeoutMs?: number;
  /** Milliseconds per reply (default 3000; 0: none). */
  commandTimeoutMs?: number;
  /** Connections at most (default 8). */
  poolSize?: number;
  username?: string;
  password?: string;
  db?: number;
  /** CLIENT SETNAME on each connection. */
  clientName?: string;
  tls?: TlsOptions;
}

/** A reply: bulk strings as strings (Buffers from commandBuffers), integers as numbers (bigint
 * past 2^53), nil as null, arrays as Arrays. Error replies reject with ResponseError. */
export type Reply = string | number | bigint | Buffer | null | Reply[];

export type Argument = string | Buffer | Uint8Array | number | bigint;

type Command = { args: Argument[]; buffers: boolean };

const INT_OPTIONS = ["connectTimeoutMs", "commandTimeoutMs", "poolSize", "db"] as const;
const STRING_OPTIONS = ["url", "username", "password", "clientName"] as const;
const TLS_STRINGS = ["caFile", "caPem", "certFile", "keyFile", "certPem", "keyPem", "serverName"] as const;

function checkOptions(o: ClientOptions): Record<string, unknown> {
  if (typeof o !== "object" || o === null) throw new TypeError("createClient: options must be a URL string or an object");
  const flat: Record<string, unknown> = {};
  for (const k of STRING_OPTIONS) {
    if (o[k] === undefined || o[k] === null) continue;
    if (typeof o[k] !== "string") throw new TypeError(`createClient: ${k} must be a string`);
    flat[k] = o[k];
  }
  for (const k of INT_OPTIONS) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number") throw new TypeError(`createClient: ${k} must be a number`);
    if (!Number.isInteger(v) || v < 0 || v > 2147483647) throw new RangeError(`createClient: ${k} must be an integer from 0 to 2147483647`);
    flat[k] = v;
  }
  if (o.tls !== undefined && o.tls !== null) {
    if (typeof o.tls !== "object") throw new TypeError("createClient: tls must be an object");
    for (const k of TLS_STRINGS) {
      const v = o.tls[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== "string") throw new TypeError(`createClient: tls.${k} must be a string`);
      flat[k] = v;
    }
    if (o.tls.insecure !== undefined && typeof o.tls.insecure !== "boolean") {
      throw new TypeError("createClient: tls.insecure must be a boolean");
    }
    if (o.tls.insecure !== undefined) flat.insecure = o.tls.insecure;
  }
  for (const k of Object.keys(o)) {
    if (!(STRING_OPTIONS as readonly string[]).includes(k) && !(INT_OPTIONS as readonly string[]).includes(k) && k !== "tls") {
      throw new TypeError(`createClient: unknown option ${k}`);
    }
  }
  return flat;
}

function checkArgs(args: Argument[]): void {
  if (args.length === 0) throw new TypeError("command: the command name is missing");
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const t = typeof a;
    if (t !== "string" && t !== "number" && t !== "bigint" && !(a instanceof Uint8Array)) {
      throw new TypeError(`command argument ${i}: expected a string, Buffer, Uint8Array, number or bigint, got ${a === null ? "null" : t}`);
    }
    if (t === "number" && !Number.isFinite(a)) throw new RangeError(`command argument ${i}: ${String(a)} is not a finite number`);
  }
}

/** Handles the registry frees when a Client is dropped without close(): the loop connection
 * (the one the event loop drives; null when it could not be opened) first, then the client. */
type Held = { client: Handle | null; loop: Handle | null };

function closeHandles(h: Held): void {
  if (h.loop) native.xr_js_loop_close(h.loop);
  if (h.client) native.xr_client_close(h.client);
  h.loop = null;
  h.client = null;
}

const registry = new FinalizationRegistry<Held>(closeHandles);

export class Client {
  readonly options: Readonly<ClientOptions>;
  #flat: Record<string, unknown>;
  #keep: Held = { client: null, loop: null }; // what the addon holds while a call runs
  #held: Held | null = null;      // the registry's copy
  #opening: Promise<void> | null = null;
  #closed = false;
  #inflight = new Set<Promise<unknown>>(); // native calls of this client and of adapters over it
  #pipeline = new Pipeline<Command>((cmds) => this.#run(cmds));

  constructor(options: string | ClientOptions = {}) {
    const o: ClientOptions = typeof options === "string" ? { url: options } : options;
    this.#flat = checkOptions(o);
    if (this.#flat.url === undefined && process.env.REDIS_URL) this.#flat.url = process.env.REDIS_URL;
    this.options = Object.freeze({ ...o });
  }

  /** Connects (one connection checked with AUTH, SELECT and PING; the pool grows on demand).
   * Commands connect on their own; connect() makes a wrong address or password fail early. */
  connect(): Promise<this> {
    if (this.#closed) return Promise.reject(new ClientClosedError("client is closed"));
    if (!this.#opening) {
      this.#opening = native.xr_js_client_open(this.#flat).then(([handle, loop]) => {
        if (this.#closed) { // closed while connecting
          closeHandles({ client: handle, loop });
          throw new ClientClosedError("client is closed");
        }
        this.#keep.client = handle;
        this.#keep.loop = loop;
        this.#held = { client: handle, loop };
        registry.register(this.#keep, this.#held, this);
      });
      this.#opening.catch(() => { this.#opening = null; }); // a failed connect may be retried
    }
    return this.#opening.then(() => this);
  }

  get isOpen(): boolean {
    return this.#keep.client !== null && !this.#closed;
  }

  /** "host:port" or the socket path once connected. */
  get address(): string | null {
    return this.#keep.client ? native.xr_client_address(this.#keep.client) : null;
  }

  /** Sends one command: `await client.command("SET", "k", "v", "PX", 1000)`. */
  command(...args: Argument[]): Promise<Reply> {
    return this.#submit(args, false);
  }

  /** As command(), with bulk strings as Buffers. */
  commandBuffers(...args: Argument[]): Promise<Reply> {
    return this.#submit(args, true);
  }

  async ping(): Promise<boolean> {
    return (await this.command("PING")) === "PONG";
  }

  /** Waits for the commands in flight, then closes every connection. Later calls reject with
   * ClientClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#opening?.catch(() => undefined);
    await this.#pipeline.idle();
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]); // adapters' calls too
    this.#release();
  }

  /** @internal a native call over this client's handles (close() waits for it), or
   * ClientClosedError once the client is closing. */
  track<T>(call: () => Promise<T>): Promise<T> {
    if (this.#closed || !this.#keep.client) return Promise.reject(new ClientClosedError("client is closed"));
    const p = call();
    this.#inflight.add(p);
    const done = (): void => { this.#inflight.delete(p); };
    p.then(done, done);
    return p;
  }

  /** @internal the handles for the Chat SDK adapter (connects first). */
  async handle(): Promise<{ handle: Handle; keep: { loop: Handle | null } }> {
    await this.connect();
    if (!this.#keep.client) throw new ClientClosedError("client is closed");
    return { handle: this.#keep.client, keep: this.#keep };
  }

  #release(): void {
    const h: Held = { ...this.#keep };
    this.#keep.client = null;
    this.#keep.loop = null;
    if (this.#held) {
      this.#held.client = null;
      this.#held.loop = null;
    }
    registry.unregister(this);
    closeHandles(h);
  }

  #submit(args: Argument[], buffers: boolean): Promise<Reply> {
    try {
      checkArgs(args);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#closed) return Promise.reject(new ClientClosedError("client is closed"));
    return this.#pipeline.push({ args, buffers }) as Promise<Reply>;
  }

  async #run(cmds: Command[]): Promise<unknown[]> {
    await this.connect();
    const client = this.#keep.client;
    if (!client) throw new ClientClosedError("client is closed");
    const mixed = cmds.some((c) => c.buffers !== cmds[0].buffers);
    const loop = this.#keep.loop;
    if (!mixed) return this.track(() => native.xr_js_client_run(client, this.#keep, cmds.map((c) => c.args), cmds[0].buffers, loop));
    // string and Buffer replies in one turn: one pipeline, replies as Buffers, decoded here
    const out = await this.track(() => native.xr_js_client_run(client, this.#keep, cmds.map((c) => c.args), true, loop));
    return out.map((r, i) => (cmds[i].buffers ? r : toStrings(r)));
  }
}

function toStrings(r: unknown): unknown {
  if (Buffer.isBuffer(r)) return r.toString("utf8");
  if (Array.isArray(r)) return r.map(toStrings);
  return r;
}

/** Makes a client (not yet connected: connect() or the first command connects). */
export function createClient(options: string | ClientOptions = {}): Client {
  return new Client(options);
}
