"""Fixtures: real redis-server processes on free loopback ports, started and stopped by the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own, in a temporary directory."""

    def __init__(self, *extra: str) -> None:
        binary = shutil.which(os.environ.get("XR_REDIS_SERVER", "redis-server"))
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/bootstrap installs it)")
        self.dir = tempfile.mkdtemp(prefix="xr-py-redis-")
        self.extra = extra
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.start()

    def start(self) -> None:
        for _ in range(5):
            self.port = self.port or free_port()
            args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log"),
                    *self.extra]
            log = os.path.join(self.dir, "redis.log")
            self._log_from = os.path.getsize(log) if os.path.exists(log) else 0  # this start's lines
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready():
                return
            self.stop()
            self.port = 0
        raise RuntimeError(f"redis-server did not start; log in {self.dir}")

    def _ready_logged(self) -> bool:
        """Whether this server said it accepts connections: it bound its port then, so what answers
        there is this server, not another process that took the port after free_port() chose it."""
        try:
            with open(os.path.join(self.dir, "redis.log"), "rb") as f:
                f.seek(self._log_from)
                return b"Ready to accept connections" in f.read()
        except OSError:
            return False

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return False
            if not self._ready_logged():
                time.sleep(0.02)
                continue
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith((b"+PONG", b"-NOAUTH")):  # up (with a password or not)
                        return True
            except OSError:
                time.sleep(0.02)
        return False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.close()


@pytest.fixture()
def server(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The session's server, emptied (data and script cache) for this test."""
    import redis

    with redis.Redis(port=redis_server.port) as r:
        r.flushall()
        r.script_flush()
    yield redis_server


@pytest.fixture()
def checker(server: RedisServer) -> Iterator[object]:
    """A second connection (redis-py, bytes in and out) to look at what crossredis left in Redis."""
    import redis

    with redis.Redis(port=server.port) as r:
        r.addr = r.client_info()["addr"]  # its MONITOR lines are not the adapter's
        yield r


@pytest.fixture()
def monitor(server: RedisServer, checker) -> Iterator[object]:
    from monitor import Monitor

    m = Monitor(server.port, ignore=(checker.addr,))
    yield m
    m.close()
