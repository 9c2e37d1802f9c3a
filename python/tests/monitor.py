"""MONITOR, as tests/integration/itest.h does it: a raw socket in MONITOR mode collects what the
server runs (scripts' redis.call()s included, as "[0 lua]"); a block of operations ends with an
ECHO marker sent by the client under test. Lines are normalized the same way for ours and for
the captures in tests/vectors, by the one normaliser of the C, Python and Node suites
(tests/harness/monitor.h holds its rules; run here as build/tests/harness/xr-monitor-normalize):

    <ts> [0 127.0.0.1:39152] "SET" "k" "v"   ->  client "SET" "k" "v"
    <ts> [0 lua] "pexpire" "k" "30000"       ->  lua "PEXPIRE" "k" "30000"
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Callable

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"

# The one normaliser of every test suite (tests/harness/monitor.c), built with the C tests.
NORMALIZER = Path(os.environ.get("XR_MONITOR_NORMALIZE") or
                  Path(__file__).resolve().parents[2] / "build" / "tests" / "harness" / "xr-monitor-normalize")


def normalize(lines: list[str], mask: bool = True) -> list[str]:
    """The lines normalized by xr-monitor-normalize (which must exist: a missing one fails the test)."""
    if not NORMALIZER.is_file():
        raise AssertionError(f"{NORMALIZER} is missing: build it first (scripts/test does; or cmake -S . -B build "
                             "&& cmake --build build --target xr-monitor-normalize), or point XR_MONITOR_NORMALIZE at it")
    run = subprocess.run([str(NORMALIZER), "--mask" if mask else "--no-mask"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, encoding="latin-1", check=False)
    if run.returncode != 0:
        raise AssertionError(f"xr-monitor-normalize failed: {run.stderr.strip()}")
    return run.stdout.splitlines()


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
