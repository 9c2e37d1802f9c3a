"""Fixtures: real redis-server processes on free loopback ports, started and stopped by the tests;
the run's Sentinel set and Clusters (``topo``: one test body on each topology)."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL when it has not ended within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
        if self.proc is not None:
            terminate(self.proc, 5)
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


# ---- topologies: standalone, Sentinel, Cluster ---------------------------------------------------
# The Chat SDK suites run one test body on each topology (the way valkey-glide's tests take a
# cluster_mode parameter): the ``topo`` fixture. Sentinel and Cluster are the run's shared ones,
# named by the XR_TEST_* variables scripts/test exports (tests/harness/topology.h); a run by hand
# without them starts one xr-topology for the whole session here. The shared topologies are
# read-mostly: each test writes under a key prefix of its own, pauses a node for 400 ms at most
# (well below the sentinels' down-after of 1 s) and never kills, fails over or reconfigures
# anything (test_failover.py starts topologies of its own for that).

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY_KINDS = ("standalone", "sentinel", "cluster")
_ENV_NAMES = ("XR_TEST_CLUSTER_NODES", "XR_TEST_SENTINELS", "XR_TEST_SENTINEL_MASTER", "XR_TEST_TLS_CLUSTER_NODES",
              "XR_TEST_TLS_CERTS_DIR")


def xr_topology_binary() -> str:
    path = os.environ.get("XR_TOPOLOGY_BIN") or str(ROOT / "build" / "tests" / "harness" / "xr-topology")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is missing: build it first (scripts/test does; or cmake -S . -B build && "
                           "cmake --build build --target xr-topology), or point XR_TOPOLOGY_BIN at it")
    return path


def read_env_file(path: str) -> dict[str, str]:
    """NAME=value lines, as xr-topology writes them (no quotes)."""
    out: dict[str, str] = {}
    with open(path) as f:
        for line in f:
            name, sep, value = line.rstrip("\n").partition("=")
            if sep:
                out[name] = value
    return out


class TopologyProcess:
    """``xr-topology <kinds> --env FILE --json FILE`` of this process's own: started, waited for
    ("ready"), its variables read; stopped by closing its stdin (EOF), then SIGTERM."""

    def __init__(self, *kinds: str, timeout: float = 120.0) -> None:
        self.dir = tempfile.mkdtemp(prefix="xr-py-topology-")
        env_file, json_file = os.path.join(self.dir, "env"), os.path.join(self.dir, "topology.json")
        self._stderr = open(os.path.join(self.dir, "stderr"), "wb")
        self.proc = subprocess.Popen([xr_topology_binary(), *kinds, "--env", env_file, "--json", json_file],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while line.strip() != b"ready":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"xr-topology {' '.join(kinds)} did not start: {self.stderr()}")
            line = self.proc.stdout.readline()
        self.env = read_env_file(env_file)
        with open(json_file) as f:
            self.json = json.load(f)

    def stderr(self) -> str:
        try:
            with open(os.path.join(self.dir, "stderr"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # EOF: it stops everything it started
                self.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                terminate(self.proc, 20)
        self._stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class SharedTopologies:
    """Where the run's Sentinel set and Clusters are (the XR_TEST_* contract)."""

    def __init__(self, env: dict[str, str]) -> None:
        missing = [n for n in _ENV_NAMES if not env.get(n)]
        if missing:
            raise RuntimeError(f"the topology variables are incomplete: {', '.join(missing)} missing "
                               "(scripts/test exports them all from xr-topology --all)")
        self.cluster_nodes = env["XR_TEST_CLUSTER_NODES"]
        self.sentinels = env["XR_TEST_SENTINELS"]
        self.sentinel_master = env["XR_TEST_SENTINEL_MASTER"]
        self.tls_cluster_nodes = env["XR_TEST_TLS_CLUSTER_NODES"]
        self.tls_certs_dir = env["XR_TEST_TLS_CERTS_DIR"]
        self.ca_file = os.path.join(self.tls_certs_dir, "ca.crt")

    @staticmethod
    def addresses(text: str) -> list[tuple[str, int]]:
        return [(h, int(p)) for h, _, p in (a.rpartition(":") for a in text.split(","))]


@pytest.fixture(scope="session")
def topologies() -> Iterator[SharedTopologies]:
    if any(os.environ.get(n) for n in _ENV_NAMES):
        yield SharedTopologies(dict(os.environ))
        return
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError("CI=true but the XR_TEST_* topology variables are not set: run the suites through "
                           "scripts/test, which starts xr-topology --all and exports them")
    own = TopologyProcess("--cluster", "--sentinel", "--tls-cluster")
    try:
        yield SharedTopologies(own.env)
    finally:
        own.close()


_prefixes = itertools.count()


class Topo:
    """One topology for one test: ``url`` for a Client or adapter, ``prefix``: a key prefix of the
    test's own (so parallel runs on the shared topologies never collide), ``checker``: redis-py on
    the same topology (bytes), to look at what crossredis left."""

    def __init__(self, kind: str, url: str, checker: Any, prefix: str, server: RedisServer | None = None) -> None:
        self.kind = kind
        self.url = url
        self.checker = checker
        self.prefix = prefix
        self.server = server
        self._siblings: list[Topo] = []

    def tagged(self) -> Topo:
        """The same topology under the hash-tagged prefix ``{chat-sdk}:<prefix>``: every key of it in
        the one slot of "chat-sdk" (on a Cluster, one node), so two-key operations work there."""
        t = Topo(self.kind, self.url, self.checker, "{chat-sdk}:" + self.prefix, self.server)
        self._siblings.append(t)
        return t

    def key(self, rest: str) -> str:
        return f"{self.prefix}:{rest}"

    def _masters(self) -> list[Any]:
        if self.kind == "cluster":
            return [n.redis_connection for n in self.checker.get_primaries()]
        return [self.checker]

    def keys(self, pattern: str = "*") -> list[bytes]:
        """The keys under this test's prefix matching ``<prefix>:<pattern>``, from every master."""
        out: list[bytes] = []
        for r in self._masters():
            out.extend(r.scan_iter(match=f"{self.prefix}:{pattern}", count=1000))
        return sorted(out)

    def masters_holding(self, pattern: str = "*") -> int:
        """How many masters hold keys under ``<prefix>:<pattern>`` (several on a Cluster: a batch
        split over the nodes)."""
        return sum(1 for r in self._masters() if next(r.scan_iter(match=f"{self.prefix}:{pattern}", count=1000), None))

    def pause(self, key: str, ms: int) -> None:
        """The node serving ``key`` answers nobody (but its replicas) for ms; at most 400 ms on the
        shared topologies (the sentinels take a master down after 1 s without a reply)."""
        assert self.kind == "standalone" or ms <= 400, "a longer pause could make the sentinels fail over"
        if self.kind == "cluster":
            self.checker.execute_command("CLIENT", "PAUSE", ms, target_nodes=self.checker.get_node_from_key(key))
        else:
            self.checker.execute_command("CLIENT", "PAUSE", ms)

    def cleanup(self) -> None:
        for t in self._siblings:
            t.cleanup()
        for r in self._masters():
            keys = list(r.scan_iter(match=f"{self.prefix}:*", count=1000))
            for k in keys:
                r.delete(k)

    def close(self) -> None:
        self.checker.close()


def _prefix_for(request: Any) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name.removeprefix("test_"))[:40]
    return f"py-{name}-{os.getpid()}-{next(_prefixes)}"


def make_topo(kind: str, request: Any, prefix: str | None = None) -> Topo:
    import redis
    from redis.cluster import ClusterNode, RedisCluster
    from redis.sentinel import Sentinel

    prefix = prefix or _prefix_for(request)
    if kind == "standalone":
        server = request.getfixturevalue("redis_server")
        return Topo(kind, server.url, redis.Redis(port=server.port), prefix, server)
    shared: SharedTopologies = request.getfixturevalue("topologies")
    if kind == "sentinel":
        sentinel = Sentinel(SharedTopologies.addresses(shared.sentinels), socket_timeout=5)
        master = sentinel.master_for(shared.sentinel_master, socket_timeout=5)
        return Topo(kind, f"redis+sentinel://{shared.sentinels}/{shared.sentinel_master}", master, prefix)
    if kind == "cluster":
        nodes = [ClusterNode(h, p) for h, p in SharedTopologies.addresses(shared.cluster_nodes)]
        return Topo(kind, f"redis+cluster://{shared.cluster_nodes}", RedisCluster(startup_nodes=nodes), prefix)
    raise AssertionError(f"unknown topology {kind}")


def opened_topo(kind: str, request: Any) -> Iterator[Topo]:
    """A fixture's body: the topology for the test, its keys cleaned up and its checker closed after."""
    t = make_topo(kind, request)
    try:
        yield t
    finally:
        try:
            t.cleanup()
        finally:
            t.close()


@pytest.fixture(params=TOPOLOGY_KINDS)
def topo(request: Any) -> Iterator[Topo]:
    """The test's topology (standalone, Sentinel, Cluster), one test body for each."""
    yield from opened_topo(request.param, request)
