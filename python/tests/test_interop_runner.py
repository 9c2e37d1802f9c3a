"""The interop runner (interop/run.py) itself: what it expects of token origins (decided from the
token, never by chance), that every driver's operations are the rows of the core's Chat table
(chat.<name>, results by result kind), how it keeps a password out of its output and off every child's command
line (checked in /proc/<pid>/cmdline of each child it starts), and that it removes its temporary
folder and deletes its keys when it ends: after a good run, a failed one, Ctrl-C and SIGTERM.

Children are observed through wrappers: a `crossredis`, a Python and a `node` that record their own
/proc/$$/cmdline and REDIS_URL, then exec the real program. Needs the build (build/cli/crossredis)
and the bootstrap (.venv, node/node_modules)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.cluster

from conftest import RedisServer

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "interop" / "run.py"
CROSSREDIS = ROOT / "build" / "cli" / "crossredis"
PW = "Run-Pw-9f3K"


def load_runner():
    spec = importlib.util.spec_from_file_location("interop_run", RUNNER)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["interop_run"] = mod
    spec.loader.exec_module(mod)
    return mod


run = load_runner()


# ---- origins -----------------------------------------------------------------------------------

def test_expected_origins_come_from_the_token() -> None:
    port = run.BY_NAME["py-port"]
    ts = run.BY_NAME["ts-ioredis"]
    c = run.BY_NAME["c"]
    # captured upstream tokens fail the check; the same shapes with passing check characters
    assert run.expected_origins(port, "redis_1795298445478_1e5da04afffc52455cb070715847468d") == ["python-redis"]
    assert run.expected_origins(port, "redis_1795298445478_1e5da04afffc52455cb070715847408b") == \
        ["crossredis", "python-redis"]
    assert run.expected_origins(ts, "ioredis_1795298431807_j5nlkbnyltf") == ["ts-ioredis"]  # 11 chars: no check
    assert run.expected_origins(ts, "ioredis_1795298431807_j5nlkbnyltfaa") == ["ts-ioredis"]
    assert run.expected_origins(ts, "ioredis_1795298431807_j5nlkbnyltfgc") == ["crossredis", "ts-ioredis"]
    # crossredis's own tokens: also valid tokens of the writer whose shape they have
    assert run.expected_origins(c, "redis_1796399484331_gx32ruu9olipl") == ["crossredis", "ts-node-redis"]
    assert run.BY_NAME["ts-crossredis"].shape == "ts-ioredis"


def test_the_check_matches_the_core(server: RedisServer) -> None:
    """The runner's own check against the one the core applies (crossredis.token_origins), on
    fixed tokens and on tokens crossredis makes (which always pass)."""
    import crossredis

    for tok in ["redis_1795298445478_1e5da04afffc52455cb070715847408b",
                "redis_1795298445478_1e5da04afffc52455cb070715847468d",
                "ioredis_1795298431807_j5nlkbnyltfgc", "ioredis_1795298431807_j5nlkbnyltfaa",
                "mem_1700000000000_abcdefghijk00"]:
        assert run.passes_check(tok) == ("crossredis" in crossredis.token_origins(tok)), tok
    for suffix in ["base36", "hex32"]:
        with crossredis.chat.State(server.url, key_prefix="runner-check", token_prefix="ioredis",
                                   token_suffix=suffix) as st:
            for i in range(20):
                lock = st.acquire_lock(f"{suffix}-{i}", 5000)
                assert lock is not None and run.passes_check(lock.token), lock


# ---- the drivers' operations: the core's table ----------------------------------------------------

UPSTREAM = {"py-port", "ts-node-redis", "ts-ioredis"}
BEYOND_UPSTREAM = {"dequeue_reliable", "ack", "requeue_processing"}  # rows upstream has no method for


@pytest.fixture()
def drivers(server: RedisServer, tmp_path: Path):
    """Every implementation's driver on the test server (keys under drv-table:)."""
    assert os.access(CROSSREDIS, os.X_OK), f"{CROSSREDIS} is missing: build it first"
    env = {**os.environ, "REDIS_URL": server.url}
    started: dict[str, object] = {}
    try:
        for impl in run.IMPLS:
            started[impl.name] = run.Driver(impl, run.driver_command(impl, CROSSREDIS, sys.executable), env,
                                            "drv-table", tmp_path / f"{impl.name}.log")
        yield started
    finally:
        for d in started.values():
            d.close()


def test_every_row_is_an_op_of_every_driver(drivers) -> None:
    """Each driver answers chat.<name> for every row of the core's table (read here, as by the
    drivers, from the crossredis package): without arguments a BadRequest naming the row's first
    argument, or Unsupported for a row an upstream library has no method for; never UnknownOp.
    The contract's old names are gone."""
    from crossredis._chatcore import OPS

    assert len(OPS) >= 19
    for name, d in drivers.items():
        for row, op in OPS.items():
            good, err = d.call("chat." + row)
            assert not good, (name, row)
            if name in UPSTREAM and row in BEYOND_UPSTREAM:
                assert err["kind"] == "Unsupported" and "has no method" in err["message"], (name, row, err)
            else:
                assert err["kind"] == "BadRequest" and f"args.{op.arg_names[0]} " in err["message"], (name, row, err)
        good, err = d.call("lock.acquire", thread="t", ttl_ms=1000)
        assert not good and err["kind"] == "UnknownOp", (name, err)


def test_results_by_kind_in_every_driver(drivers) -> None:
    """One JSON per result kind, whatever the runtime (interop/CONTRACT.md): LOCK {token,
    expires_at}, VALUE and LIST parsed, ENTRY {message, enqueued_at, expires_at} (+ raw where the
    library hands the stored bytes out), BOOL, INTEGER, STATUS null; a method that returns nothing
    (release_lock everywhere but in the C core) gives null; a value's options may be left out."""
    for name, d in drivers.items():
        t = f"kinds-{name}"
        lock = d.ok("chat.acquire_lock", thread_id=t, ttl_ms=5000)
        assert set(lock) == {"token", "expires_at"} and isinstance(lock["expires_at"], int), (name, lock)
        assert d.ok("chat.acquire_lock", thread_id=t, ttl_ms=5000) is None
        assert d.ok("chat.extend_lock", thread_id=t, token=lock["token"], ttl_ms=5000) is True
        assert d.ok("chat.release_lock", thread_id=t, token=lock["token"]) is (True if name == "c" else None)
        assert d.ok("chat.extend_lock", thread_id=t, token=lock["token"], ttl_ms=5000) is False
        assert d.ok("chat.set", key=t, json={"a": [1, "x", None]}) is None
        assert d.ok("chat.get", key=t) == {"a": [1, "x", None]}
        assert d.ok("chat.get", key=t + "-missing") is None
        assert d.ok("chat.set_if_not_exists", key=t, json=1, ttl_ms=0) is False
        assert d.ok("chat.delete", key=t) is None
        assert d.ok("chat.append_to_list", key=t, json={"i": 1}, max_length=2) is None
        assert d.ok("chat.append_to_list", key=t, json={"i": 2}) is None
        assert d.ok("chat.get_list", key=t) == [{"i": 1}, {"i": 2}]
        assert d.ok("chat.subscribe", thread_id=t) is None
        assert d.ok("chat.is_subscribed", thread_id=t) is True
        for i in range(2):
            assert d.ok("chat.enqueue", thread_id=t, message_json={"id": f"m{i}"}, enqueued_at_ms=5 + i,
                        expires_at_ms=9 + i, max_size=10) == i + 1
        assert d.ok("chat.queue_depth", thread_id=t) == 2
        entry = d.ok("chat.dequeue", thread_id=t)
        assert {k: entry.get(k) for k in ("message", "enqueued_at", "expires_at")} == \
            {"message": {"id": "m0"}, "enqueued_at": 5, "expires_at": 9}, (name, entry)
        assert ("raw" in entry) == (name == "c"), (name, entry)
        if name in UPSTREAM:
            d.ok("chat.dequeue", thread_id=t)
        else:  # the stored bytes a reliable dequeue hands out are what ack takes
            reliable = d.ok("chat.dequeue_reliable", thread_id=t)
            assert reliable["message"] == {"id": "m1"} and "m1" in reliable["raw"], (name, reliable)
            assert d.ok("chat.requeue_processing", thread_id=t) == 1
            reliable = d.ok("chat.dequeue_reliable", thread_id=t)
            assert d.ok("chat.ack", thread_id=t, raw=reliable["raw"]) is True
            assert d.ok("chat.ack", thread_id=t, raw=reliable["raw"]) is False
        assert d.ok("chat.dequeue", thread_id=t) is None
        assert d.ok("chat.drain_queue", thread_id=t, now_ms=1) == {"delivered": [], "expired": 0}


# ---- secrets -----------------------------------------------------------------------------------

@pytest.mark.parametrize("url, shown", [
    ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
    ("redis://alice:s3cret@h:1/2?timeout_ms=5", "redis://alice:***@h:1/2?timeout_ms=5"),
    ("redis://:s3cret@h", "redis://:***@h"),
    ("redis://s3cret@h", "redis://:***@h"),
    ("rediss://u:p@ss@h:6380?ca_file=/x", "rediss://u:***@h:6380?ca_file=/x"),
    ("redis://:pa?ss@h:1", "redis://:***@h:1"),
    ("redis://u:@h", "redis://u:***@h"),  # an empty password is shown as one too
    ("unix://:pw@/tmp/redis.sock", "unix://:***@/tmp/redis.sock"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert run.redact_url(url) == shown


def test_scrub() -> None:
    s = run.Secrets()
    s.add_url("redis://alice:p%40ss-W0rd@127.0.0.1:1")
    assert s.scrub("cannot AUTH with p@ss-W0rd or p%40ss-W0rd at redis://alice:p%40ss-W0rd@127.0.0.1:1") == \
        "cannot AUTH with *** or *** at redis://alice:***@127.0.0.1:1"


# ---- runs --------------------------------------------------------------------------------------

WRAPPER = """#!/bin/sh
# records what ps shows of this process and the server it was given, then runs the real program
{{ tr '\\000' ' ' < /proc/$$/cmdline; printf '\\tREDIS_URL=%s\\n' "${{REDIS_URL-}}"; }} >> "{log}"
{extra}
exec "{real}" "$@"
"""


@pytest.fixture()
def secured() -> RedisServer:
    s = RedisServer("--requirepass", PW)
    yield s
    s.close()


def make_wrappers(tmp: Path, locks_extra: str = "", driver_extra: str = "") -> tuple[dict[str, str], Path]:
    """Wrappers for crossredis, Python and node in tmp/bin (the crossredis one runs locks_extra
    before `crossredis locks`, driver_extra before `crossredis driver`); the environment that
    makes the runner use them; the log they write."""
    bindir = tmp / "bin"
    bindir.mkdir()
    log = tmp / "children.log"
    node = subprocess.run(["sh", "-c", "command -v node"], capture_output=True, text=True).stdout.strip()
    assert node, "node is not installed (scripts/bootstrap installs it)"
    extra = "\n".join(f'[ "$1" = {sub} ] && {{ {code}; }}' for sub, code in [("locks", locks_extra),
                                                                               ("driver", driver_extra)] if code)
    for name, real, more in [("crossredis", str(CROSSREDIS), extra), ("python", sys.executable, ""),
                             ("node", node, "")]:
        p = bindir / name
        p.write_text(WRAPPER.format(log=log, real=real, extra=more))
        p.chmod(0o755)
    runs_tmp = tmp / "runner-tmp"
    runs_tmp.mkdir()
    env = {**os.environ, "XR_PYTHON": str(bindir / "python"), "PATH": f"{bindir}:{os.environ['PATH']}",
           "TMPDIR": str(runs_tmp)}
    return env, log


def run_runner(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    assert os.access(CROSSREDIS, os.X_OK), f"{CROSSREDIS} is missing: build it first"
    return subprocess.run([sys.executable, str(RUNNER), "--crossredis", str(Path(env["PATH"].split(":")[0]) / "crossredis"),
                           *args], env=env, capture_output=True, text=True, timeout=timeout)


def assert_cleaned(env: dict[str, str], server: RedisServer) -> None:
    assert os.listdir(env["TMPDIR"]) == [], "the runner left its temporary folder"
    with redis.Redis(port=server.port, password=PW) as r:
        assert [k for k in r.scan_iter(match="interop-*")] == [], "the runner left keys"


def test_password_only_in_the_environment(tmp_path: Path, secured: RedisServer) -> None:
    env, log = make_wrappers(tmp_path)
    url = f"redis://:{PW}@127.0.0.1:{secured.port}"
    env["REDIS_URL"] = url
    res = run_runner(env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert PW not in res.stdout and PW not in res.stderr
    assert f"on redis://:***@127.0.0.1:{secured.port} (keys under interop-" in res.stdout
    children = log.read_text().splitlines()
    cmdlines = [line.split("\t")[0] for line in children]
    # every driver, and the crossredis command's locks and drain, were started and watched
    for part in ["crossredis driver --impl c", "py_driver.py --impl py-port", "py_driver.py --impl py-crossredis-both",
                 "ts_driver.mjs --impl ts-ioredis", "crossredis locks", "crossredis drain --origin ts-ioredis",
                 "crossredis driver --system sessions", "py_driver.py --system sessions",
                 "ts_driver.mjs --system sessions"]:
        assert any(part in c for c in cmdlines), (part, cmdlines)
    for line in children:
        cmdline, env_url = line.split("\t")
        assert PW not in cmdline, cmdline
        assert env_url == f"REDIS_URL={url}", line
    assert_cleaned(env, secured)


def test_cleaned_after_a_failure(tmp_path: Path, secured: RedisServer) -> None:
    env, _ = make_wrappers(tmp_path, locks_extra="exit 3")
    env["REDIS_URL"] = f"redis://:{PW}@127.0.0.1:{secured.port}"
    res = run_runner(env, "--only", "c,py-crossredis", "--scenarios", "lock,cache", "--no-migration")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAIL lock c -> c: crossredis locks: exit 3" in res.stdout
    assert PW not in res.stdout + res.stderr
    assert_cleaned(env, secured)


def test_cleaned_when_a_driver_does_not_come_up(tmp_path: Path, secured: RedisServer) -> None:
    """The C driver exits at once: the run ends saying so, with the end of its log, and cleans up."""
    env, _ = make_wrappers(tmp_path, driver_extra="echo 'c driver refuses' >&2; exit 7")
    env["REDIS_URL"] = f"redis://:{PW}@127.0.0.1:{secured.port}"
    res = run_runner(env, "--only", "c,py-crossredis", "--no-migration")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "interop: c: the driver exited (7); the end of its log follows" in res.stderr
    assert "--- c driver log (last 1 line):\n  c driver refuses" in res.stderr
    assert PW not in res.stdout + res.stderr
    assert_cleaned(env, secured)


@pytest.mark.parametrize("sig", ["INT", "TERM"])
def test_cleaned_when_interrupted(tmp_path: Path, secured: RedisServer, sig: str) -> None:
    """The signal arrives while the lock scenario holds locks (sent by the crossredis wrapper when
    the runner starts `crossredis locks`): no timing involved."""
    env, _ = make_wrappers(tmp_path, locks_extra=f"kill -{sig} $PPID")
    env["REDIS_URL"] = f"redis://:{PW}@127.0.0.1:{secured.port}"
    res = run_runner(env, "--only", "c,py-crossredis", "--no-migration")
    assert res.returncode == 130, res.stdout + res.stderr
    assert f"interop: interrupted (SIG{sig}); cleaning up" in res.stderr
    assert_cleaned(env, secured)


def test_throwaway_server_and_keep_logs(tmp_path: Path) -> None:
    env, _ = make_wrappers(tmp_path)
    env.pop("REDIS_URL", None)
    res = run_runner(env, "--only", "c", "--scenarios", "lock", "--keep-logs")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "interop: on redis://127.0.0.1:" in res.stdout and "Chat SDK state: 1 implementation" in res.stdout
    assert "toolhive sessions" not in res.stdout  # no session scenario chosen
    assert "1 pair: 1 ok, 0 known upstream incompatibilities, 0 failed, 0 unexpected passes" in res.stdout
    kept = [line for line in res.stderr.splitlines() if line.startswith("interop: driver logs kept in ")]
    assert len(kept) == 1
    logs = Path(kept[0].split(" kept in ")[1])
    assert (logs / "c.log").exists()
    subprocess.run(["rm", "-rf", str(logs.parent)], check=True)
    assert os.listdir(env["TMPDIR"]) == []


# ---- Redis Cluster -------------------------------------------------------------------------------

def test_cluster_url_parsing() -> None:
    assert run.parse_cluster_url("redis://127.0.0.1:6379") is None
    assert run.parse_cluster_url("redis+sentinel://127.0.0.1:26379/m") is None
    assert run.parse_cluster_url("redis+cluster://127.0.0.1:7000,127.0.0.1:7001") == \
        ([("127.0.0.1", 7000), ("127.0.0.1", 7001)], None, None)
    assert run.parse_cluster_url("redis+cluster://alice:p%40ss@h1:7000,[::1]:7001,h3/0?max_redirects=3") == \
        ([("h1", 7000), ("::1", 7001), ("h3", 6379)], "alice", "p@ss")
    assert run.parse_cluster_url("redis+cluster://:pw@h1:7000") == ([("h1", 7000)], None, "pw")


class _Stub:
    def __init__(self, name: str) -> None:
        self.impl = run.BY_NAME[name]


def test_known_limits_are_marked_and_an_unexpected_success_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A limited implementation (it could not start, as its known limit says) gives known-limit
    cells for every pair it is in, as producer or consumer; one with a known limit that started
    after all makes its passing pairs UNEXPECTED-PASS, so the table gets updated."""
    monkeypatch.setattr(run, "SCENARIOS", [("lock", lambda ctx, a, b, tag: "passed")])
    lim = run.KNOWN_LIMITS["cluster"]["ts-node-redis"]
    names = ["c", "ts-node-redis", "py-port"]
    drivers = {n: _Stub(n) for n in ("c", "py-port")}
    cells = run.run_matrix(None, names, drivers, {"ts-node-redis": (lim, "not ready: connect timed out")}, {},
                           ["lock"])
    status = {(c.producer, c.consumer): c.status for c in cells}
    assert len(cells) == 9
    assert {k for k, v in status.items() if v == "known-limit"} == \
        {(a, b) for a in names for b in names if "ts-node-redis" in (a, b)}
    assert all(c.good for c in cells)
    drivers["ts-node-redis"] = _Stub("ts-node-redis")
    cells = run.run_matrix(None, names, drivers, {}, {"ts-node-redis": lim}, ["lock"])
    unexpected = [c for c in cells if c.status == "UNEXPECTED-PASS"]
    assert len(unexpected) == 5 and not any(c.good for c in unexpected)
    assert all(lim.why in c.detail for c in unexpected)


def test_cluster_refuses_a_standalone_url(tmp_path: Path) -> None:
    env, _ = make_wrappers(tmp_path)
    res = run_runner(env, "--cluster", "--url", "redis://127.0.0.1:1")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--cluster: the server redis://127.0.0.1:1 (from --url) is not a redis+cluster:// URL" in res.stderr


def cluster_run_json(tmp_path: Path, only: str, scenarios: str) -> tuple[dict[str, str], Any]:
    """The runner on a Cluster (the shared one, else its own) with --json, which must succeed:
    its environment and its report."""
    env, _ = make_wrappers(tmp_path)
    env.pop("REDIS_URL", None)
    res = run_runner(env, "--cluster", "--only", only, "--scenarios", scenarios, "--no-migration", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    return env, __import__("json").loads(res.stdout)


def test_cluster_run(tmp_path: Path) -> None:
    """The matrix on a Redis Cluster: the suite run's shared one (XR_TEST_CLUSTER_NODES), else one
    the runner starts (xr-topology --cluster). The upstream ioredis adapter and the port run on their
    libraries' cluster clients; the node-redis adapter cannot (a known limit: every pair it is in
    says so, none is missing); the run's keys reach every master and are deleted at the end."""
    env, doc = cluster_run_json(tmp_path, "c,py-port,ts-node-redis,ts-ioredis,ts-crossredis", "lock,queue")
    assert doc["topology"] == "cluster" and doc["ok"] is True
    assert doc["url"].startswith("redis+cluster://127.0.0.1:")
    libs = doc["implementations"]
    assert "over ioredis@" in libs["ts-ioredis"]["library"] and " Cluster" in libs["ts-ioredis"]["library"]
    assert "over redis-py@" in libs["py-port"]["library"] and "RedisCluster" in libs["py-port"]["library"]
    assert "ts-node-redis" not in libs and "connect timed out" in doc["limits"]["ts-node-redis"]["driver"]
    cells = doc["results"]
    assert len(cells) == 2 * 5 * 5
    for c in cells:
        limited = "ts-node-redis" in (c["producer"], c["consumer"])
        assert c["status"] == ("known-limit" if limited else c["status"]), c
        assert limited or c["status"] in ("ok", "known-incompatible"), c
    assert sum(c["status"] == "known-limit" for c in cells) == 2 * 9
    # the queue's upstream incompatibilities: c, ts-ioredis, ts-crossredis -> py-port; py-port -> ts-ioredis
    assert sum(c["status"] == "known-incompatible" for c in cells) == 4
    assert sum(c["status"] == "ok" for c in cells) == 2 * 16 - 4
    spread = doc["keys_spread"]
    assert spread["masters_reached"] == spread["masters"] >= 3
    assert os.listdir(env["TMPDIR"]) == [], "the runner left its temporary folder"
    nodes = run.parse_cluster_url(doc["url"])[0]
    with redis.cluster.RedisCluster(startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in nodes]) as r:
        assert list(r.scan_iter(match=doc["prefix"] + ":*")) == [], "the runner left keys"


def test_tagged_layout_matrix_on_a_cluster(tmp_path: Path) -> None:
    """The Chat SDK tagged layout on a Redis Cluster: crossredis's drivers with --layout tagged and
    the real upstream packages given "{<thread>}" as the thread id meet on <prefix>:lock:{T} and
    <prefix>:queue:{T} (one slot per thread): every lock pair excludes, every queue pair passes
    but upstream's own queue-entry incompatibilities, and the entries are the bytes the upstream
    layout writes."""
    _, doc = cluster_run_json(tmp_path, "c,py-crossredis,py-port,ts-ioredis,ts-crossredis",
                              "queue,tagged-lock,tagged-queue")
    cells = doc["tagged_layout"]["results"]
    assert len(cells) == 2 * 5 * 5
    assert all(c["status"] == "ok" for c in cells if c["scenario"] == "tagged-lock"), cells
    broken = {(c["producer"], c["consumer"]) for c in cells if c["status"] == "known-incompatible"}
    # the upstream queue incompatibilities (SPEC.md 1.5), exactly as in upstream's layout
    assert broken == {("c", "py-port"), ("ts-ioredis", "py-port"), ("ts-crossredis", "py-port"),
                      ("py-crossredis", "ts-ioredis"), ("py-port", "ts-ioredis")}
    assert all(c["status"] in ("ok", "known-incompatible") for c in cells)
    groups = doc["tagged_layout"]["entries"]
    assert groups and all(g["identical"] for g in groups)
    assert {g["producers"][0] for g in groups if g["entries"] == "tagged vs upstream layout"} == \
        {"c", "py-crossredis", "py-port", "ts-ioredis", "ts-crossredis"}


def test_bridge_layout_matrix(tmp_path: Path, secured: RedisServer) -> None:
    """The bridge layout beside the real upstream packages, in upstream's layout (the move's first
    step) and given "{<thread>}" ids (the tagged layout, its second step): a lock of either
    excludes the other both ways, and a message queued while the other holds the thread reaches
    the holder (upstream's own entry incompatibilities aside). On a Cluster the bridge is refused
    (one node only)."""
    env, _ = make_wrappers(tmp_path)
    env["REDIS_URL"] = f"redis://:{PW}@127.0.0.1:{secured.port}"
    res = run_runner(env, "--only", "c,py-port,ts-ioredis,ts-crossredis", "--scenarios",
                     "bridge-lock,bridge-queue,bridge-tagged-lock,bridge-tagged-queue", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    cells = __import__("json").loads(res.stdout)["bridge_layout"]["results"]
    assert len(cells) == 4 * 4 * 4
    assert all(c["status"] == "ok" for c in cells if c["scenario"].endswith("lock")), cells
    broken = {(c["scenario"], c["producer"], c["consumer"]) for c in cells if c["status"] == "known-incompatible"}
    assert broken == {(s, p, "py-port") for s in ("bridge-queue", "bridge-tagged-queue")
                      for p in ("c", "ts-ioredis", "ts-crossredis")} | \
        {(s, "py-port", "ts-ioredis") for s in ("bridge-queue", "bridge-tagged-queue")}
    assert all(c["status"] in ("ok", "known-incompatible") for c in cells)
    assert_cleaned(env, secured)
    res = run_runner(env, "--cluster", "--url", "redis+cluster://127.0.0.1:1", "--scenarios", "bridge-lock")
    assert res.returncode == 2 and "the bridge scenarios need one node" in res.stderr, res.stderr


# ---- toolhive sessions -----------------------------------------------------------------------------

GO_RELEASES = "go-toolhive-v0.48.0,go-toolhive-v0.66.0"


def test_session_matrix_with_the_go_drivers(tmp_path: Path, secured: RedisServer) -> None:
    """The sessions matrix between the C driver and the Go drivers over the real toolhive module,
    on a server with a password: every scenario passes, the ownership pairs of v0.48.0 are known
    limits (its driver answered Unsupported), and every record the C core wrote is the bytes the
    Go code wrote for the same session."""
    env, _ = make_wrappers(tmp_path)
    env["REDIS_URL"] = f"redis://:{PW}@127.0.0.1:{secured.port}"
    res = run_runner(env, "--only", "c," + GO_RELEASES, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert PW not in res.stdout and PW not in res.stderr
    doc = __import__("json").loads(res.stdout)
    sessions = doc["sessions"]
    libs = sessions["implementations"]
    assert libs["go-toolhive-v0.48.0"]["library"].startswith("github.com/stacklok/toolhive@v0.48.0 (go1.26")
    assert libs["go-toolhive-v0.66.0"]["library"].startswith("github.com/stacklok/toolhive@v0.66.0 (go1.27")
    cells = sessions["results"]
    scenarios = [n for n, _ in run.SESSION_SCENARIOS]
    assert len(cells) == len(scenarios) * 9
    limits = [c for c in cells if c["status"] == "known-limit"]
    assert {c["scenario"] for c in limits} == {"session-ownership"} and len(limits) == 5
    assert all("go-toolhive-v0.48.0" in (c["producer"], c["consumer"]) for c in limits)
    assert all("no RedisStorage.LoadIfOwner" in c["detail"] for c in limits), limits
    assert all(c["status"] == "ok" for c in cells if c not in limits), [c for c in cells if c["status"] != "ok"]
    records = {g["what"]: g for g in sessions["records"]}
    for typ in ("mcp", "sse", "streamable"):
        for what in (f"a {typ} session", f"a {typ} session loaded and changed"):
            assert records[what]["identical"] and set(records[what]["writers"]) == {"c", *GO_RELEASES.split(",")}
    assert records["a vMCP data map"]["identical"]
    assert_cleaned(env, secured)


def test_session_records_that_differ_fail_the_run() -> None:
    """compare_records names a writer whose bytes are not the Go code's."""
    ctx = run.SessionCtx(None, "p:", "d:")
    ctx.record("a session", "go-toolhive-v0.66.0", b'{"id":"<id>","type":"sse"}')
    ctx.record("a session", "c", b'{"id":"<id>","type":"sse"}')
    ctx.record("a session", "py-crossredis", b'{"id":"<id>", "type":"sse"}')
    (g,) = run.compare_records(ctx)
    assert g["identical"] is False and g["differing"] == ["py-crossredis"]
    with pytest.raises(run.Failure, match="c wrote a session differently"):
        ctx.record("a session", "c", b'{"id":"<id>","type":"mcp"}')


def test_a_missing_go_driver_fails_the_run(tmp_path: Path, secured: RedisServer) -> None:
    env, _ = make_wrappers(tmp_path)
    env["REDIS_URL"] = f"redis://:{PW}@127.0.0.1:{secured.port}"
    res = run_runner(env, "--only", "c,go-toolhive-v0.66.0", "--scenarios", "session-sse",
                     "--go-drivers", str(tmp_path / "none"))
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"{tmp_path / 'none' / 'toolhive-v0.66.0'} is missing: scripts/bootstrap builds it" in res.stderr
    assert_cleaned(env, secured)


def test_ayepi_matrix(tmp_path: Path, secured: RedisServer) -> None:
    """The ayepi matrix between the C driver and ts-ayepi (upstream's factories over ioredis), on a
    server with a password: every scenario passes both ways, and the envelope and the cache entry the
    C core wrote are the bytes JSON.stringify wrote for the same event and entry."""
    env, _ = make_wrappers(tmp_path)
    env["REDIS_URL"] = f"redis://:{PW}@127.0.0.1:{secured.port}"
    res = run_runner(env, "--only", "c,ts-ayepi", "--scenarios", ",".join(n for n, _ in run.AYEPI_SCENARIOS), "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert PW not in res.stdout and PW not in res.stderr
    doc = __import__("json").loads(res.stdout)
    ayepi = doc["ayepi"]
    assert ayepi["implementations"]["ts-ayepi"]["library"].startswith("@ayepi/redis@0.4.0")
    cells = ayepi["results"]
    assert len(cells) == len(run.AYEPI_SCENARIOS) * 4
    assert all(c["status"] == "ok" for c in cells), cells
    texts = {t["what"]: t for t in ayepi["texts"]}
    assert set(texts) == {"an event envelope", "a cache entry"}
    assert all(t["identical"] and t["writers"] == ["c", "ts-ayepi"] for t in texts.values()), texts
    assert doc["results"] == [] and doc["sessions"]["results"] == []  # ayepi's scenarios only: the others not run


# ---- xp (xml-pipeline's context buffer and registry) -------------------------------------------------

XP = "py-xmlpipeline"
XP_KNOWN = {  # (scenario, producer, consumer) that fail as upstream's defects make them fail
    "standalone": {("xp-remap", XP, XP)} | {("xp-listing", a, XP) for a in ("c", "py-crossredis", XP)}
    | {("xp-listing", XP, b) for b in ("c", "py-crossredis")},
    "cluster": {(s, XP, b) for s in ("xp-registry", "xp-remap", "xp-listing") for b in ("c", "py-crossredis", XP)}
    | {("xp-listing", a, XP) for a in ("c", "py-crossredis")},
}


def xp_run(env: dict[str, str], *more: str) -> dict:
    res = run_runner(env, *more, "--only", "c,py-crossredis,py-xmlpipeline",
                     "--scenarios", ",".join(n for n, _ in run.XP_SCENARIOS), "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    doc = __import__("json").loads(res.stdout)
    assert doc["results"] == [] and doc["ayepi"]["results"] == []  # xp's scenarios only: the others not run
    return doc


def assert_xp_cells(doc: dict, topology: str) -> None:
    """Every pair passes but those upstream's defects fail on purpose, which fail that way."""
    cells = doc["xp"]["results"]
    assert len(cells) == len(run.XP_SCENARIOS) * 9
    known = {(c["scenario"], c["producer"], c["consumer"]) for c in cells if c["status"] == "known-incompatible"}
    assert known == XP_KNOWN[topology], cells
    assert all(c["status"] == "ok" for c in cells if (c["scenario"], c["producer"], c["consumer"]) not in known), cells


def test_xp_matrix(tmp_path: Path, secured: RedisServer) -> None:
    """The xp matrix between the C driver, crossredis's Python backend and py-xmlpipeline (upstream's
    commands over redis-py) on a server with a password: what one writes the others read, the
    known upstream defects fail as upstream fails (keys, not ids, from its listing; its glob prefix
    reaching another tenant; re-map then delete by the old uuid), and every writer's JSON slot,
    pickled slot and registry values are the same bytes."""
    env, _ = make_wrappers(tmp_path)
    env["REDIS_URL"] = f"redis://:{PW}@127.0.0.1:{secured.port}"
    doc = xp_run(env)
    assert PW not in __import__("json").dumps(doc)
    assert "redis-py@" in doc["xp"]["implementations"][XP]["library"]
    assert_xp_cells(doc, "standalone")
    written = {g["what"]: g for g in doc["xp"]["bytes"]}
    assert set(written) == {"a json slot", "a pickle slot", "a registry forward value", "a registry reverse value"}
    assert written["a json slot"]["writers"] == ["c", "py-crossredis"]
    assert written["a pickle slot"]["writers"] == ["py-crossredis", XP]
    assert all(g["identical"] for g in written.values()), written


def test_xp_matrix_cluster(tmp_path: Path) -> None:
    """The xp matrix on a Redis Cluster: crossredis's pairs all pass (no CROSSSLOT, every master
    scanned); upstream's registry set is a CROSSSLOT MULTI there, a known incompatibility."""
    env, _ = make_wrappers(tmp_path)
    env.pop("REDIS_URL", None)
    doc = xp_run(env, "--cluster")
    assert doc["topology"] == "cluster" and doc["ok"] is True
    assert "RedisCluster" in doc["xp"]["implementations"][XP]["library"]
    assert_xp_cells(doc, "cluster")
    assert doc["keys_spread"]["masters_reached"] == doc["keys_spread"]["masters"]


def test_xp_expected_failures_must_fail_the_expected_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pair upstream's defects fail on purpose is a known incompatibility only when it fails that
    way: a pass is an UNEXPECTED-PASS, another failure a FAIL; every other pair must pass."""
    xm = sys.modules["xp_matrix"]
    names = ["c", XP]
    drivers = {n: type("D", (), {"impl": xm.XP_BY_NAME[n]})() for n in names}

    def statuses(fn: Any, cluster: bool = False) -> dict[tuple[str, str], str]:
        monkeypatch.setattr(xm, "XP_SCENARIOS", [("xp-listing", fn)])
        cells = xm.run_xp_matrix(type("Ctx", (), {"cluster": cluster})(), names, drivers, ["xp-listing"])
        return {(c.producer, c.consumer): c.status for c in cells}

    def listed_keys(ctx: Any, a: Any, b: Any, tag: str) -> str:
        if b.impl.upstream:
            raise run.Failure(f"{b.impl.name} listed threads ['x:buffer:t'], not the 1 ids")
        if a.impl.upstream:
            raise run.Failure(f"{a.impl.name} lists another tenant's t:buffer:x")
        return "fine"

    assert statuses(listed_keys) == {("c", "c"): "ok", ("c", XP): "known-incompatible",
                                     (XP, "c"): "known-incompatible", (XP, XP): "known-incompatible"}
    assert statuses(lambda *_: "fine") == {("c", "c"): "ok", ("c", XP): "UNEXPECTED-PASS",
                                           (XP, "c"): "UNEXPECTED-PASS", (XP, XP): "UNEXPECTED-PASS"}

    def other(ctx: Any, a: Any, b: Any, tag: str) -> str:
        raise run.Failure("something else")

    assert set(statuses(other).values()) == {"FAIL"}
    assert statuses(other, cluster=True)[(XP, "c")] == "FAIL"  # the Cluster's reason wants CROSSSLOT
