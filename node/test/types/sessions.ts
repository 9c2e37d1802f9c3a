// Type-checked by sessions.test.mjs (tsc --noEmit -p sessions.tsconfig.json): the public types of
// toolhive's session stores say what the README says.
import {
  AlreadyExistsError, BINDING_KEY, createClient, NotFoundError, RedisSessionDataStorage, RedisStorage, Session, SessionExistsError,
  SessionNotFoundError, type SessionInit, type SessionStorageOptions,
} from "../../dist/cjs/index.js";

const options: SessionStorageOptions = { url: "redis+cluster://n1:7000", keyPrefix: "p:", ttlMs: 1000, go: "1.26", poolSize: 2 };
const storage = new RedisStorage(options);
const data = new RedisSessionDataStorage({ client: createClient(), ttlMs: 60000 });
const init: SessionInit = { id: "s", type: "sse", createdAt: "2026-01-02T03:04:05.123456789+05:30", updatedAt: new Date(),
  data: { any: ["json"] }, metadata: { [BINDING_KEY]: "owner" } };

export async function roundTrip(): Promise<void> {
  await storage.store(new Session(init));
  await storage.create(new Session({ id: "t", dataText: "[1]" }));
  const s: Session = await storage.load("s");
  const when: Date = s.createdAt;
  const exactly: string = s.updatedAtText;
  const raw: string | undefined = s.dataText;
  const owner: string | undefined = s.metadata[BINDING_KEY];
  const metadata: Record<string, string> | null = await storage.loadMetadata("s");
  const mine: Session = await storage.loadIfOwner("s", "owner");
  const stored: boolean = await storage.storeIfOwner(mine, "owner");
  const deleted: boolean = await storage.deleteIfOwner("s", "owner");
  await storage.delete("s");
  await storage.deleteExpired(new Date());
  const created: boolean = await data.create("v", { k: "v" });
  const updated: boolean = await data.update("v", null);
  const map: Record<string, string> | null = await data.load("v");
  const again: Record<string, string> | null = await data.loadMetadata("v");
  await data.delete("v");
  void [when, exactly, raw, owner, metadata, stored, deleted, created, updated, map, again];
  try {
    await storage.load("missing");
  } catch (e) {
    if (e instanceof SessionNotFoundError) {
      const n: NotFoundError = e;
      void n;
    }
    if (e instanceof SessionExistsError) {
      const a: AlreadyExistsError = e;
      void a;
    }
  }
  await storage.close();
  await data.close();
}

// @ts-expect-error go is "1.26" or "1.27"
export const wrongGo = new RedisStorage({ go: "1.25" });
// @ts-expect-error a session has an id
export const noId = new Session({ type: "sse" });
