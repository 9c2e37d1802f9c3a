"""The shapes of xml-pipeline's slot classes (SPEC.md 4: BufferSlot(payload, SlotMetadata(thread_id,
from_id, to_id, slot_index, timestamp, payload_type, own_name, is_self_call, usage_instructions))),
under upstream's module path so that pickle.dumps of them names what upstream's pickles name. The
defaults are those crossredis's JSON slot documents as upstream's (own_name None, is_self_call False,
usage_instructions "")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class SlotMetadata:
    thread_id: str
    from_id: str
    to_id: str
    slot_index: int
    timestamp: str
    payload_type: str
    own_name: Optional[str] = None
    is_self_call: bool = False
    usage_instructions: str = ""


@dataclass(frozen=True)
class BufferSlot:
    payload: Any
    metadata: SlotMetadata
