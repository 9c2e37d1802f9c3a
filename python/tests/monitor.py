"""MONITOR, as tests/integration/itest.h does it: a raw socket in MONITOR mode collects what the
server runs (scripts' redis.call()s included, as "[0 lua]"); a block of operations ends with an
ECHO marker sent by the client under test. Lines are normalized the same way for ours and for
the captures in tests/vectors:

    <ts> [0 127.0.0.1:39152] "SET" "k" "v"   ->  client "SET" "k" "v"
    <ts> [0 lua] "pexpire" "k" "30000"       ->  lua "PEXPIRE" "k" "30000"

A client EVAL or EVALSHA loses its script or digest (runtimes differ in the script's white space;
the keys, arguments and lua effects must match), and an EVALSHA refused with NOSCRIPT (the same
line twice) counts once. Masks: tokens <prefix>_<13 digits>_<suffix> become <prefix>_<MS>_<SFX>,
other 13-digit numbers <MS>."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Callable

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"

_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])([A-Za-z0-9-]+)_\d{13}_[0-9a-z]+(?![A-Za-z0-9_-])")
_MS = re.compile(r"(?<!\d)\d{13}(?!\d)")


def normalize_line(line: str, mask: bool = True) -> str | None:
    close = line.find("] ")
    if close < 0 or "[" not in line[:close]:
        return None
    lua = line[:close].endswith(" lua")
    args = _ARG.findall(line[close + 2:])
    if not args:
        return None
    name = args[0].upper()
    rest = args[1:]
    if not lua and name in ("EVAL", "EVALSHA"):
        name, rest = "EVAL", rest[1:]
    out = " ".join([("lua" if lua else "client"), f'"{name}"', *[f'"{a}"' for a in rest]])
    if mask:
        out = _MS.sub("<MS>", _TOKEN.sub(r"\1_<MS>_<SFX>", out))
    return out


def normalize(lines: list[str], mask: bool = True) -> list[str]:
    got = [n for n in (normalize_line(l, mask) for l in lines) if n is not None]
    out: list[str] = []
    for i, l in enumerate(got):
        if i + 1 < len(got) and l.startswith('client "EVAL"') and got[i + 1] == l:
            continue  # EVALSHA refused with NOSCRIPT, then EVAL
        out.append(l)
    return out


def capture(name: str, first: int, last: int, mask: bool = True) -> list[str]:
    """Lines first..last (1-based) of tests/vectors/<name>, normalized."""
    lines = (VECTORS / name).read_text(encoding="utf-8").splitlines()
    assert len(lines) >= last, f"{name} has {len(lines)} lines"
    return normalize(lines[first - 1:last], mask)


class Monitor:
    """A MONITOR connection to a server on 127.0.0.1:<port>."""

    def __init__(self, port: int, ignore: tuple[str, ...] = ()) -> None:
        self.ignore = tuple(f"[0 {addr}]" for addr in ignore)  # other connections (the checker's)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.marks = 0
        self.sock.sendall(b"MONITOR\r\n")
        assert self._line() == "+OK"

    def _line(self) -> str:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            assert chunk, "MONITOR: the server closed the connection"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def take(self, send_marker: Callable[[str], object]) -> list[str]:
        """Raw lines up to the marker, which `send_marker(text)` sends (ECHO <text>) through
        the client under test."""
        self.marks += 1
        mark = f"py-monitor-mark-{self.marks}"
        send_marker(mark)
        lines: list[str] = []
        while True:
            line = self._line()
            if f'"{mark}"' in line:
                return lines
            assert line.startswith("+"), line
            if not any(tag in line for tag in self.ignore):
                lines.append(line[1:])

    def collect(self, send_marker: Callable[[str], object], mask: bool = True) -> list[str]:
        return normalize(self.take(send_marker), mask)

    def close(self) -> None:
        self.sock.close()
