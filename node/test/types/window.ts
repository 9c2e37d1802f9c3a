// Type-checked by window.test.mjs (tsc --noEmit -p window.tsconfig.json): families and windows have
// the types the README gives (replies as client.command's, the typed helpers as ioredis's).
import {
  createClient, createWindow, Family, Window, type FieldValues, type Reply, type WindowOptions, type WindowSetOptions,
} from "../../dist/cjs/index.js";

export async function shapes(): Promise<void> {
  const client = createClient("redis://127.0.0.1:6379");
  const f: Family = new Family("sessions", "app:sess:<id>", "app:sess:{s:<id>}");
  const fromFile: Family = Family.load("families.json", "sessions");
  const every: Family[] = Family.allFromJson('{"families": []}');
  const one: Family = Family.fromJson(Buffer.from("{}"));
  const keys: [string, string] = f.keys("abc");
  const byName: [string, string] = f.keys({ id: "abc" });
  const positional: [string, string] = f.keys(["abc"]);
  const moved: string | null = f.newKeyOf("app:sess:abc");
  const shape: [string, string, string, string, readonly string[]] = [f.name, f.notes, f.old, f.new, f.fields];
  const options: WindowOptions = { copyForward: true, closeAfterMs: 0, oldWrites: "existing", deleteGuardMs: 0 };
  const w: Window = await Window.open(client, f, options);
  const w2: Window = await createWindow(client, f);
  const values: FieldValues = { id: "abc" };
  const reply: Reply = await w.write(values, "SET", "v", "EX", 60);
  const read: Reply = await w.read("abc", "GET");
  const bytes: Reply = await w.readBuffers("abc", "GET");
  const deleted: number = await w.delete("abc");
  const closed: void = await w.close();
  const isClosed: boolean = w.isClosed();
  const setOptions: WindowSetOptions = { ex: 60, nx: true };
  const written: boolean = await w.set("abc", "v", setOptions);
  const value: string | null = await w.get("abc");
  const length: number = await w.rpush("abc", "a", Buffer.from("b"), 3);
  const items: string[] = await w.lrange("abc", 0, -1);
  const added: number = await w.sadd("abc", "m");
  const members: string[] = await w.smembers("abc");
  const fieldsNew: number = await w.hset("abc", { f: "v", n: 1 });
  const hash: Record<string, string> = await w.hgetall("abc");
  const zadded: number = await w.zadd("abc", { m: 1.5 });
  const ranked: string[] = await w.zrange("abc");
  const scored: [string, number][] = await w.zrange("abc", 0, -1, true);
  const expiring: boolean = await w.expire("abc", 60);
  w.release();
  w2.release();
  // @ts-expect-error oldWrites is "existing" or "always"
  await Window.open(client, f, { oldWrites: "sometimes" });
  // @ts-expect-error a window is opened with Window.open
  new Window(client, f);
  void [fromFile, every, one, keys, byName, positional, moved, shape, reply, read, bytes, deleted, closed, isClosed, written, value,
    length, items, added, members, fieldsNew, hash, zadded, ranked, scored, expiring];
}
