"""Values the captures in tests/vectors were made with."""

from __future__ import annotations

import datetime
from typing import Any

THREAD = "slack:C123:1700000000.000100"
PYTHON_CAPTURE = "chat-python-port.monitor.txt"


def captured_message() -> Any:
    """The chat_sdk Message of the captured Python queue entry (chat-python-port.monitor.txt line 20)."""
    from chat_sdk.types import Attachment, Author, Message, MessageMetadata

    return Message(
        id="1700000000.000200",
        thread_id=THREAD,
        text="h\u00e9llo <@U999>",
        formatted={"type": "root", "children": [{"type": "paragraph", "children": [{"type": "text", "value": "h\u00e9llo"}]}]},
        raw={"ts": "1700000000.000200"},
        author=Author(user_id="U123", user_name="alice", full_name="Alice A", is_bot=False, is_me=False),
        metadata=MessageMetadata(date_sent=datetime.datetime(2023, 11, 14, 22, 13, 20, 200000,
                                                             tzinfo=datetime.timezone.utc), edited=False),
        attachments=[Attachment(type="image", url="https://x/y.png", mime_type="image/png")],
    )
