// Type-checked by xp.test.mjs (tsc --noEmit -p xp.tsconfig.json): the xp backend's methods and the
// JSON slot codec have the types the README gives (slots are Buffers, ids strings, null where
// Python's RedisBackend returns None).
import {
  createClient, createXpBackend, decodeJsonSlot, encodeJsonSlot, XpBackend, type XpBackendOptions, type XpDecodedSlot, type XpInfo,
  type XpSlot,
} from "../../dist/cjs/index.js";

export async function shapes(): Promise<void> {
  const client = createClient("redis://127.0.0.1:6379");
  const options: XpBackendOptions = { url: "redis://127.0.0.1:6379", prefix: "xp:", ttl: 86400, commandTimeoutMs: 500 };
  const b: XpBackend = createXpBackend(client, { prefix: "xp:", ttl: 0 });
  const fromUrl: XpBackend = createXpBackend("redis://127.0.0.1:6379");
  const fromOptions: XpBackend = new XpBackend(options);
  const prefix: string = b.prefix;
  const ttl: number = b.ttl;
  const index: number = await b.bufferAppend("thread", Buffer.from("slot"));
  const fromBytes: number = await b.bufferAppend("thread", new Uint8Array([1, 2]));
  const thread: Buffer[] = await b.bufferGetThread("thread");
  const slot: Buffer | null = await b.bufferGetSlot("thread", -1);
  const len: number = await b.bufferThreadLen("thread");
  const exists: boolean = await b.bufferThreadExists("thread");
  const deleted: boolean = await b.bufferDeleteThread("thread");
  const threads: string[] = await b.bufferListThreads();
  const cleared: void = await b.bufferClear();
  const set: void = await b.registrySet("a.b", "uuid");
  const uuid: string | null = await b.registryGetUuid("a.b");
  const chain: string | null = await b.registryGetChain("uuid");
  const made: string = await b.registryGetOrCreate("a.b");
  const gone: boolean = await b.registryDelete("uuid");
  const all: Record<string, string> = await b.registryListAll();
  const regCleared: void = await b.registryClear();
  const up: boolean = await b.ping();
  const info: XpInfo = await b.info();
  const counts: [number, number, number] = [info.bufferThreads, info.registryEntries, info.ttlSeconds];
  await b.connect();
  await b.close();
  const s: XpSlot<{ text: string }> = {
    payload: { text: "hi" },
    metadata: { threadId: "t", fromId: "a", toId: "b", slotIndex: 0, timestamp: "2026-01-01T00:00:00", payloadType: "Greeting" },
  };
  const bytes: Buffer = encodeJsonSlot(s);
  const back: XpDecodedSlot<{ text: string }> = decodeJsonSlot<{ text: string }>(bytes);
  const own: string | null = back.metadata.ownName;
  const self: boolean = back.metadata.isSelfCall;
  const text: string = back.payload.text;
  // @ts-expect-error a slot is a Buffer, not a string
  await b.bufferAppend("thread", "slot");
  // @ts-expect-error ids are strings
  await b.bufferThreadLen(1);
  void [fromUrl, fromOptions, prefix, ttl, index, fromBytes, thread, slot, len, exists, deleted, threads, cleared, set, uuid, chain, made,
    gone, all, regCleared, up, counts, own, self, text];
}
