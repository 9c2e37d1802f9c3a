// The adapters' default logger: errors to the console (a lost connection, a failed connect),
// nothing else (upstream's default ConsoleLogger("info") has nothing more to say here), and at
// most one line per interval: during an outage every failed batch reports an error (64 workers
// make thousands a second), so the first is printed at once and the ones after it are counted
// and summed up in one line when the interval ends ("… 5799 more errors in the last 5 s"). An
// interval without errors ends the summing; the next error is printed at once again. Counts not
// yet printed when the process exits are printed then.
import { inspect } from "node:util";
import type { Logger } from "./chat";

export interface ConsoleErrorLoggerOptions {
  /** Milliseconds between summary lines (default 5000). */
  intervalMs?: number;
  /** Where lines go (default console.error). */
  write?: (line: string) => void;
  /** The clock (default Date.now), for tests. */
  now?: () => number;
}

const pending = new Set<Limiter>();
let exitHooked = false;

/** One limiter per logger family (a logger and its children share it). */
class Limiter {
  #suppressed = 0;
  #last = "";
  #windowEnd = -Infinity;
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(readonly intervalMs: number, readonly write: (line: string) => void, readonly now: () => number) {}

  error(prefix: string, line: string): void {
    const t = this.now();
    if (this.#suppressed === 0 && t >= this.#windowEnd) {
      this.write(line);
      this.#windowEnd = t + this.intervalMs;
      this.#arm();
      return;
    }
    this.#suppressed++;
    this.#last = `[${prefix}]`;
    pending.add(this);
    if (!exitHooked) {
      exitHooked = true;
      process.once("exit", () => { for (const l of [...pending]) l.flush(); });
    }
    this.#arm();
  }

  /** Prints the count of errors held back, if any; they start a new interval. */
  flush(): void {
    pending.delete(this);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const n = this.#suppressed;
    if (n === 0) return;
    this.#suppressed = 0;
    const s = this.intervalMs % 1000 === 0 ? `${this.intervalMs / 1000} s` : `${this.intervalMs} ms`;
    this.write(`${this.#last} ${n} more error${n === 1 ? "" : "s"} in the last ${s} (one line per ${s} at most)`);
    this.#windowEnd = this.now() + this.intervalMs;
    this.#arm();
  }

  #arm(): void {
    if (this.#timer || this.#suppressed === 0) return;
    const wait = Math.max(0, this.#windowEnd - this.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.flush();
    }, wait);
    this.#timer.unref?.();
  }
}

/** The default logger of the adapters (beyond upstream, exported to be given with other options
 * or to tests): `error` lines on the console, rate-limited; debug, info and warn are dropped. */
export class ConsoleErrorLogger implements Logger {
  readonly #prefix: string;
  readonly #limiter: Limiter;

  constructor(prefix = "chat-sdk", options: ConsoleErrorLoggerOptions | Limiter = {}) {
    this.#prefix = prefix;
    if (options instanceof Limiter) {
      this.#limiter = options;
    } else {
      const interval = options.intervalMs ?? 5000;
      if (typeof interval !== "number" || !(interval > 0)) throw new TypeError("intervalMs must be a number > 0");
      // eslint-disable-next-line no-console
      this.#limiter = new Limiter(interval, options.write ?? ((line) => console.error(line)), options.now ?? Date.now);
    }
  }

  debug(): void {}
  info(): void {}
  warn(): void {}

  error(message: string, ...args: unknown[]): void {
    const rest = args.map((a) => (typeof a === "string" ? a : inspect(a, { depth: 4, breakLength: Infinity })));
    this.#limiter.error(this.#prefix, [`[${this.#prefix}] ${message}`, ...rest].join(" "));
  }

  child(prefix: string): Logger {
    return new ConsoleErrorLogger(`${this.#prefix}:${prefix}`, this.#limiter);
  }

  /** Prints the count held back now (tests; it is printed by itself after the interval). */
  flush(): void {
    this.#limiter.flush();
  }
}
