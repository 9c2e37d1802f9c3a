#!/usr/bin/env node
// The JavaScript oracle of the C tests of ayepi's texts (as tests/go/session_oracle is Go's for the
// session records): one JSON request per line on stdin, one answer per line on stdout,
// {"id": <the request's id>, "text": <the exact string JSON.stringify gives>}, or
// {"id", "error": "<class>: <message>"} when JS itself throws on the request. Each text comes from the
// definitions the ts-ayepi interop driver writes with (interop/drivers/ayepi_upstream.mjs: @ayepi/redis
// 0.4 and the ayepi packages around it, from SPEC.md 3), so numbers and strings are written as
// JSON.stringify writes them (-0 as 0, 1e21 as 1e+21, U+2028 raw, a lone surrogate as its \u escape, e.g. \ud800).
//
//   {"id", "kind": "cache_entry", body? | result?, status?, headers?, storedAt, expires, staleUntil,
//    bytes?, method, path, key}
//       the cache entry in SPEC 3's key order (body, status, headers, storedAt, expires, staleUntil,
//       bytes, method, path, key); body absent: JSON.stringify(result), as the cache middleware
//       writes a handler's result; status absent: 200; headers absent: [["content-type",
//       "application/json"]]; bytes absent: the UTF-8 length of body (TextEncoder: a lone surrogate
//       counts 3). Any other field absent is left out, as JSON.stringify leaves out undefined.
//   {"id", "kind": "envelope", ch, params?, data}   {"ch","params": params ?? {},"data"}
//   {"id", "kind": "done", itemId, groupId, error?} {"kind":"done","id","groupId"[,"error"]}
//   {"id", "kind": "group_done", groupId}           {"kind":"group-done","groupId"}
//   {"id", "kind": "cache_key", method, path, query?, body?, vary?}
//       the default cache key, JSON.stringify([method.toUpperCase(), path, sorted query pairs,
//       body ?? null, vary ?? null]) with every object's keys sorted (UTF-16 code units; integer-like
//       keys then come first, in numeric order, as JS orders an object's own keys); query is the raw
//       query string (parsed by URLSearchParams: "+" and %XX decoded) or an array of [name, value]
//       pairs (made USVStrings by URLSearchParams: a lone surrogate becomes U+FFFD).
//
// Usage: node tests/node/ayepi_oracle.mjs < requests > answers

import { createInterface } from "node:readline";
import { cacheEntry, cacheKey, doneNotification, envelope, groupDoneNotification } from "../../interop/drivers/ayepi_upstream.mjs";

const KINDS = {
  cache_entry: (r) => JSON.stringify(cacheEntry(r)),
  envelope: (r) => envelope(r.ch, r.params, r.data),
  done: (r) => doneNotification(r.itemId, r.groupId, r.error),
  group_done: (r) => groupDoneNotification(r.groupId),
  cache_key: (r) => cacheKey(r),
};

function answer(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    return { id: null, error: `${err.constructor.name}: ${err.message}` };
  }
  const id = req?.id ?? null;
  try {
    if (!Object.hasOwn(KINDS, req?.kind)) throw new TypeError(`unknown kind ${JSON.stringify(req?.kind)}`);
    const text = KINDS[req.kind](req);
    if (typeof text !== "string") throw new TypeError(`JSON.stringify gave ${text} (nothing to write)`);
    return { id, text };
  } catch (err) {
    return { id, error: `${err?.constructor?.name ?? "Error"}: ${err?.message ?? err}` };
  }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
for await (const line of rl) {
  if (line.trim()) process.stdout.write(JSON.stringify(answer(line)) + "\n");
}
