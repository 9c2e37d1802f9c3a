// The crossredis client for Node: every option of the C core's client (URL, timeouts, pool, ACL,
// db, client name, TLS with a CA, client certificates and SNI). Commands return Promises; the
// commands of one event-loop turn are sent as one pipeline from libuv's thread pool, so the
// event loop never waits on the network.
import { EventEmitter } from "node:events";
import { inspect } from "node:util";
import { native, type Handle } from "./native";
import { ClientClosedError, InvalidArgumentError } from "./errors";
import { Pipeline } from "./pipeline";
import { text } from "./check";
import { redactUrl, scrubUrlMessage } from "./redact";

/** TLS settings. Giving `tls` at all (even `{}`) means TLS, as a `rediss://` URL does; the server's
 * certificate is verified against `caFile`/`caPem`, else the system's trust store, unless
 * `insecure`. */
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
  /** redis://[[user]:password@]host[:port][/db][?option=value], rediss://..., unix:///path,
   * redis+sentinel://host:26379,host:26379/masterName[/db], redis+cluster://host:7000,host:7001
   * (rediss+... for TLS). Default: REDIS_URL, else redis://127.0.0.1:6379. */
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
  /** TLS (any object, even `{}`, or `true`): see TlsOptions. */
  tls?: TlsOptions | boolean;
  /** Sentinel: the sentinels to ask for the master, "host:port,host:port" (port 26379 by default). */
  sentinels?: string;
  /** Sentinel: the name of the master the sentinels monitor. */
  masterName?: string;
  /** Cluster: seed nodes, "host:port,host:port" (port 6379 by default). */
  clusterNodes?: string;
  /** Sentinel: the sentinels' own ACL user and password (never the data nodes'). */
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** Sentinel: TLS toward the sentinels too (default: as toward the data nodes). */
  sentinelTls?: boolean;
  /** Sentinel and Cluster: read-only commands may go to a replica (which may lag). */
  replicaReads?: boolean;
  /** Cluster: MOVED/ASK redirections followed per command (default 16). */
  maxRedirects?: number;
}

/** A reply: bulk strings as strings (Buffers from commandBuffers), integers as numbers (bigint
 * past 2^53), nil as null, arrays as Arrays. Error replies reject with ResponseError. */
export type Reply = string | number | bigint | Buffer | null | Reply[];

export type Argument = string | Buffer | Uint8Array | number | bigint;

type Command = { args: Argument[]; buffers: boolean };

/** The kind of each of the core's client options (core/include/crossredis/client_options.def)
 * by Node's name of it ("poolSize", "tls.keyPem"): `options` hides the secret ones. */
const KINDS: ReadonlyMap<string, number> = (() => {
  const kinds = new Map<string, number>();
  for (let i = 0, row; (row = native.xr_client_option_info_at(i)) !== null; i++) kinds.set(row.node_name, row.kind);
  return kinds;
})();

/** The URL set on `config`; its errors lose any quoted piece of the password and name where it
 * came from (`source`: REDIS_URL). */
function setUrl(config: Handle, url: unknown, source: string | null): void {
  try {
    native.xr_js_client_config_set(config, "url", url);
  } catch (e) {
    if (!(e instanceof InvalidArgumentError) || typeof url !== "string") throw e;
    const message = scrubUrlMessage(e.message, url);
    throw new InvalidArgumentError(source ? `${source}: ${message}` : message);
  }
}

/** The core's configuration of `o`: each option the caller gave goes to the core as it is (a
 * missing one is undefined or null), which judges it; here only the shape of Node's options (the
 * nested `tls`, the URL from REDIS_URL). */
function configure(o: ClientOptions, urlFrom: string | null): { config: Handle; url: string | undefined } {
  if (typeof o !== "object" || o === null) throw new TypeError("createClient: options must be a URL string or an object");
  const config = native.xr_js_client_config_new(null);
  let url: string | undefined;
  for (const [key, value] of Object.entries(o)) {
    if (value === undefined || value === null) continue;
    if (key === "url") {
      setUrl(config, value, urlFrom);
      url = value as string;
    } else if (key === "tls") {
      if (value === false) continue;
      if (value !== true && typeof value !== "object") throw new TypeError("createClient: tls must be an object (or true)");
      const tls = (value === true ? {} : value) as Record<string, unknown>;
      for (const [k, v] of Object.entries(tls)) {
        if (v !== undefined && v !== null) native.xr_js_client_config_set(config, `tls.${k}`, v);
      }
      // tls given at all means TLS, verified unless insecure says otherwise
      if (tls.insecure === undefined || tls.insecure === null) native.xr_js_client_config_set(config, "tls.insecure", false);
    } else {
      if (key.includes(".")) throw new TypeError(`unknown option ${key}`); // "tls.caFile" goes inside tls
      native.xr_js_client_config_set(config, key, value);
    }
  }
  if (url === undefined && process.env.REDIS_URL) {
    url = process.env.REDIS_URL;
    setUrl(config, url, "REDIS_URL");
  }
  return { config, url };
}

/** What `options` shows of a client's options: the URL's password as ***, a secret option
 * (password, tls.keyPem) as ***. */
function shown(o: ClientOptions, url: string | undefined): Readonly<ClientOptions> {
  const hide = (group: string, from: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...from };
    for (const [k, v] of Object.entries(out)) {
      if (v !== undefined && v !== null && KINDS.get(group + k) === native.XR_OPTION_SECRET) out[k] = "***";
    }
    return out;
  };
  const out = hide("", o as Record<string, unknown>) as ClientOptions;
  if (url !== undefined) out.url = redactUrl(url);
  if (out.tls && typeof out.tls === "object") out.tls = Object.freeze(hide("tls.", out.tls as Record<string, unknown>));
  return Object.freeze(out);
}

/** @internal Each of `args` a string (valid Unicode), bytes, a finite number or a bigint; `what`
 * names them in the errors ("command argument 2: ..."; a window's "field value 0: ..."). */
export function checkArgs(args: readonly unknown[], what = "command argument"): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const t = typeof a;
    if (t !== "string" && t !== "number" && t !== "bigint" && !(a instanceof Uint8Array)) {
      throw new TypeError(`${what} ${i}: expected a string, Buffer, Uint8Array, number or bigint, got ${a === null ? "null" : t}`);
    }
    if (t === "number" && !Number.isFinite(a)) throw new RangeError(`${what} ${i}: ${String(a)} is not a finite number`);
    if (t === "string") text(`${what} ${i}`, a);
  }
}

/** The flags of `set` as ioredis takes them (what @ayepi/redis sends: PX and NX). */
export type SetExpiry = "PX" | "EX";
export type SetCondition = "NX" | "XX";

/**
 * Events: "message" (channel, message) as strings and "messageBuffer" (channel, message) as
 * Buffers for each message of a channel subscribed with subscribe(); "error" (err) when the
 * subscriber stopped for good (it reconnects and subscribes again by itself otherwise).
 */
export class Client extends EventEmitter {
  /** The options given, with the URL's password, the password and a private key as ***. */
  readonly options: Readonly<ClientOptions>;
  #given: ClientOptions; // as given, for duplicate()
  #sub: Handle | null = null; // the native subscriber (subscribe), made on first use
  #subChain: Promise<unknown> = Promise.resolve(); // subscribe / unsubscribe calls, one at a time
  #config: Handle; // the core's configuration, checked when made
  #url: string; // redacted
  #handle: Handle | null = null; // the native client (freed by the addon once closed and unused)
  #opening: Promise<void> | null = null;
  #closed = false;
  #inflight = new Set<Promise<unknown>>(); // native calls of this client and of adapters over it
  #pipeline = new Pipeline<Command>((cmds) => this.#run(cmds));

  /** `urlFrom` (internal): the environment variable the URL was read from, for its errors. */
  constructor(options: string | ClientOptions = {}, urlFrom: string | null = null) {
    super();
    const o: ClientOptions = typeof options === "string" ? { url: options } : options;
    const { config, url } = configure(o, urlFrom);
    this.#given = { ...o, url: url ?? o.url };
    this.#config = config;
    this.#url = redactUrl(url ?? "redis://127.0.0.1:6379");
    this.options = shown(o, o.url);
  }

  /** Connects (one connection checked with AUTH, SELECT and PING; the pool grows on demand).
   * Commands connect on their own; connect() makes a wrong address or password fail early. */
  connect(): Promise<this> {
    if (this.#closed) return Promise.reject(new ClientClosedError("client is closed"));
    if (!this.#opening) {
      this.#opening = native.xr_js_client_open(this.#config).then((handle) => {
        if (this.#closed) { // closed while connecting
          native.xr_js_client_close(handle);
          throw new ClientClosedError("client is closed");
        }
        this.#handle = handle;
      });
      this.#opening.catch(() => { this.#opening = null; }); // a failed connect may be retried
    }
    return this.#opening.then(() => this);
  }

  get isOpen(): boolean {
    return this.#handle !== null && !this.#closed;
  }

  /** "host:port" or the socket path once connected. */
  get address(): string | null {
    return this.#handle && !this.#closed ? native.xr_js_client_address(this.#handle) : null;
  }

  /** The URL connected to, its password as ***. */
  get url(): string {
    return this.#url;
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

  // ---- the commands of ioredis's shape that @ayepi/redis's RedisCommandClient and RedisLike use
  // (node/src/ayepi.ts): upstream's own factories run on a crossredis client.

  /** `GET key`: the value, or null. */
  get(key: string | Buffer): Promise<string | null> {
    return this.command("GET", key) as Promise<string | null>;
  }

  /** `SET key value [PX ms | EX s] [NX | XX]`, flags as ioredis takes them: "OK", or null when
   * NX / XX kept it from being set. */
  set(key: string | Buffer, value: Argument): Promise<"OK">;
  set(key: string | Buffer, value: Argument, condition: SetCondition): Promise<"OK" | null>;
  set(key: string | Buffer, value: Argument, expiry: SetExpiry, time: number | string): Promise<"OK">;
  set(key: string | Buffer, value: Argument, expiry: SetExpiry, time: number | string, condition: SetCondition): Promise<"OK" | null>;
  set(key: string | Buffer, value: Argument, ...flags: Argument[]): Promise<"OK" | null> {
    return this.command("SET", key, value, ...flags) as Promise<"OK" | null>;
  }

  /** `DEL key...`: how many were removed. */
  del(...keys: (string | Buffer)[]): Promise<number> {
    return this.command("DEL", ...keys) as Promise<number>;
  }

  /** `INCRBY key by`: the new value. */
  incrby(key: string | Buffer, by: number | string): Promise<number> {
    return this.command("INCRBY", key, by) as Promise<number>;
  }

  /** `PEXPIRE key ms`: 1 when set, 0 when there is no key. */
  pexpire(key: string | Buffer, ms: number | string): Promise<number> {
    return this.command("PEXPIRE", key, ms) as Promise<number>;
  }

  /** `SCAN cursor [MATCH pattern] [COUNT n] ...` on the node the client talks to: [next cursor, keys]. */
  scan(cursor: number | string, ...args: Argument[]): Promise<[string, string[]]> {
    return this.command("SCAN", cursor, ...args) as Promise<[string, string[]]>;
  }

  /** `PUBLISH channel message`: how many subscribers received it. */
  publish(channel: string | Buffer, message: string | Buffer): Promise<number> {
    return this.command("PUBLISH", channel, message) as Promise<number>;
  }

  /** Subscribes to channels on a connection of their own (subscriber.h: re-subscribed after a
   * reconnect or a failover; on a Cluster one master's, which hears every node's PUBLISH): their
   * messages arrive as "message" and "messageBuffer" events, from the event loop. Resolves with
   * how many channels are subscribed, once the servers were asked. The process stays alive while
   * any is subscribed (unsubscribe, or close). */
  subscribe(...channels: (string | Buffer)[]): Promise<number> {
    return this.#subscribe(channels, true);
  }

  /** Unsubscribes from the channels named (unknown ones are ignored; unlike ioredis, none named
   * is none). Resolves with how many remain. */
  unsubscribe(...channels: (string | Buffer)[]): Promise<number> {
    return this.#subscribe(channels, false);
  }

  /** A new client with the same options (not connected yet), as ioredis's duplicate(). */
  duplicate(): Client {
    return new Client(this.#given);
  }

  #subscribe(channels: (string | Buffer)[], on: boolean): Promise<number> {
    for (let i = 0; i < channels.length; i++) {
      const c = channels[i];
      if (typeof c === "string") text(`channel ${i}`, c);
      else if (!(c instanceof Uint8Array)) return Promise.reject(new TypeError(`channel ${i} must be a string or a Buffer`));
    }
    const run = async (): Promise<number> => {
      const handle = await this.handle();
      if (!this.#sub) {
        if (!on) return 0;
        this.#sub = native.xr_js_subscriber_new(handle, (ch, msg) => this.#message(ch, msg), (err) => this.#failed(err));
      }
      const sub = this.#sub;
      return this.track(() => (on ? native.xr_js_subscriber_subscribe(sub, channels) : native.xr_js_subscriber_unsubscribe(sub, channels)));
    };
    const p = this.#subChain.then(run, run);
    this.#subChain = p.catch(() => undefined);
    return p;
  }

  /** The addon hands over strings; the bytes are asked for only when "messageBuffer" is heard. */
  #message(channel: string, message: string): void {
    const bytes = this.#sub && this.listenerCount("messageBuffer") > 0 ? native.xr_js_subscriber_message_bytes(this.#sub) : null;
    if (bytes) this.#deliver("messageBuffer", bytes[0], bytes[1]);
    this.#deliver("message", channel, message);
  }

  #failed(err: Error): void {
    if (this.listenerCount("error") > 0) this.#deliver("error", err);
  }

  /** A listener that throws does not stop the delivery: its error is thrown again on its own,
   * as an uncaught exception, as an EventEmitter listener's would be. */
  #deliver(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (e) {
      queueMicrotask(() => { throw e; });
    }
  }

  /** Waits for the commands in flight (an acquireLockWait of an adapter over this client stops
   * waiting at once and rejects with ClientClosedError), then closes every connection. Later
   * calls reject with ClientClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#handle) native.xr_js_client_cancel(this.#handle);
    await this.#opening?.catch(() => undefined);
    await this.#subChain;
    if (this.#sub) native.xr_js_subscriber_close(this.#sub);
    this.#sub = null;
    await this.#pipeline.idle();
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]); // adapters' calls too
    const h = this.#handle;
    this.#handle = null;
    if (h) native.xr_js_client_close(h);
  }

  /** @internal a native call over this client's handle (close() waits for it), or
   * ClientClosedError once the client is closing. */
  track<T>(call: () => Promise<T>): Promise<T> {
    if (this.#closed || !this.#handle) return Promise.reject(new ClientClosedError("client is closed"));
    const p = call();
    this.#inflight.add(p);
    const done = (): void => { this.#inflight.delete(p); };
    p.then(done, done);
    return p;
  }

  /** @internal the native client for the Chat SDK adapter (connects first). */
  async handle(): Promise<Handle> {
    await this.connect();
    if (!this.#handle || this.#closed) throw new ClientClosedError("client is closed");
    return this.#handle;
  }

  override toString(): string {
    return `Client(${this.#url})`;
  }

  toJSON(): { url: string; isOpen: boolean } {
    return { url: this.#url, isOpen: this.isOpen };
  }

  [inspect.custom](depth: number, opts: object): string {
    return `Client ${inspect(this.toJSON(), opts)}`;
  }

  #submit(args: Argument[], buffers: boolean): Promise<Reply> {
    try {
      if (args.length === 0) throw new TypeError("command: the command name is missing");
      checkArgs(args);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#closed) return Promise.reject(new ClientClosedError("client is closed"));
    return this.#pipeline.push({ args, buffers }) as Promise<Reply>;
  }

  #run(cmds: Command[]): Promise<unknown[]> {
    const client = this.#handle;
    if (client) return this.#runOn(client, cmds); // connected: no Promise of connect() to wait for
    return this.connect().then(() => {
      if (!this.#handle) throw new ClientClosedError("client is closed");
      return this.#runOn(this.#handle, cmds);
    });
  }

  async #runOn(client: Handle, cmds: Command[]): Promise<unknown[]> {
    const mixed = cmds.some((c) => c.buffers !== cmds[0].buffers);
    if (!mixed) return this.track(() => native.xr_js_client_run(client, cmds.map((c) => c.args), cmds[0].buffers));
    // string and Buffer replies in one turn: one pipeline, replies as Buffers, decoded here
    const out = await this.track(() => native.xr_js_client_run(client, cmds.map((c) => c.args), true));
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
