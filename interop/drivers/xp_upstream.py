"""An upstream-shaped xml-pipeline RedisBackend (impl py-xmlpipeline of the xp matrix): a small class
over redis-py sending exactly the commands SPEC.md 4 describes, defects included, written from that
description (xml-pipeline's release on the package index does not ship its RedisBackend):

- keys <prefix>buffer:<thread_id> (a LIST of slots), <prefix>chain:<chain> -> uuid,
  <prefix>uuid:<uuid> -> chain; the TTL on every key written (0: none);
- buffer_append: RPUSH, then a separate EXPIRE (a crash between them leaves no TTL); the index the
  backend returns is RPUSH's reply - 1 (the LLEN-before-RPUSH index is the caller's, ContextBuffer's,
  not the backend's: not modelled here);
- listings and clears with KEYS <prefix>...* (the prefix an unescaped glob); buffer_list_threads
  returns the keys, not the thread ids;
- registry_set: one MULTI pipeline of the two SETs (CROSSSLOT on a Cluster: the keys are in
  different slots); registry_delete: GET the reverse key, then one DEL of both keys (racy; a stale
  reverse key from a re-map makes it delete the wrong forward key).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional


class UpstreamRedisBackend:
    def __init__(self, client: Any, prefix: str = "xp:", ttl: int = 86400) -> None:
        self.redis = client  # redis-py, decode_responses=False: slots are bytes
        self.prefix = prefix
        self.ttl = ttl

    def _buffer_key(self, thread_id: str) -> str:
        return f"{self.prefix}buffer:{thread_id}"

    def _chain_key(self, chain: str) -> str:
        return f"{self.prefix}chain:{chain}"

    def _uuid_key(self, uuid: str) -> str:
        return f"{self.prefix}uuid:{uuid}"

    @staticmethod
    def _text(v: Optional[bytes]) -> Optional[str]:
        return None if v is None else v.decode()

    # -- the buffer --

    def buffer_append(self, thread_id: str, slot_data: bytes) -> int:
        key = self._buffer_key(thread_id)
        length = self.redis.rpush(key, slot_data)
        if self.ttl > 0:
            self.redis.expire(key, self.ttl)
        return int(length) - 1

    def buffer_get_thread(self, thread_id: str) -> List[bytes]:
        return list(self.redis.lrange(self._buffer_key(thread_id), 0, -1))

    def buffer_get_slot(self, thread_id: str, index: int) -> Optional[bytes]:
        return self.redis.lindex(self._buffer_key(thread_id), index)  # type: ignore[no-any-return]

    def buffer_thread_len(self, thread_id: str) -> int:
        return int(self.redis.llen(self._buffer_key(thread_id)))

    def buffer_thread_exists(self, thread_id: str) -> bool:
        return bool(self.redis.exists(self._buffer_key(thread_id)))

    def buffer_delete_thread(self, thread_id: str) -> bool:
        return bool(self.redis.delete(self._buffer_key(thread_id)))

    def buffer_list_threads(self) -> List[str]:
        return [k.decode() for k in self.redis.keys(f"{self.prefix}buffer:*")]  # keys, not ids (SPEC 4)

    def buffer_clear(self) -> None:
        keys = self.redis.keys(f"{self.prefix}buffer:*")
        if keys:
            self.redis.delete(*keys)

    # -- the registry --

    def registry_set(self, chain: str, uuid: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        ex = self.ttl if self.ttl > 0 else None
        pipe.set(self._chain_key(chain), uuid, ex=ex)
        pipe.set(self._uuid_key(uuid), chain, ex=ex)
        pipe.execute()

    def registry_get_uuid(self, chain: str) -> Optional[str]:
        return self._text(self.redis.get(self._chain_key(chain)))

    def registry_get_chain(self, uuid: str) -> Optional[str]:
        return self._text(self.redis.get(self._uuid_key(uuid)))

    def registry_delete(self, uuid: str) -> bool:
        chain = self.redis.get(self._uuid_key(uuid))
        if chain is None:
            return False
        self.redis.delete(self._chain_key(chain.decode()), self._uuid_key(uuid))
        return True

    def registry_list_all(self) -> Dict[str, str]:
        head = f"{self.prefix}uuid:"
        out = {}
        for k in self.redis.keys(f"{head}*"):
            chain = self.redis.get(k)
            if chain is not None:
                out[k.decode()[len(head):]] = chain.decode()
        return out

    def registry_clear(self) -> None:
        keys = self.redis.keys(f"{self.prefix}chain:*") + self.redis.keys(f"{self.prefix}uuid:*")
        if keys:
            self.redis.delete(*keys)

    def info(self) -> Dict[str, int]:
        return {"buffer_threads": len(self.redis.keys(f"{self.prefix}buffer:*")),
                "registry_entries": len(self.redis.keys(f"{self.prefix}uuid:*")), "ttl_seconds": self.ttl}

    def close(self) -> None:
        self.redis.close()
