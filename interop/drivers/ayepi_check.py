"""The ayepi driver (interop/drivers/ayepi_driver.mjs, --impl ts-ayepi) against the capture of the real
@ayepi/redis 0.4.0 (tests/vectors/ayepi-0.4.0.monitor.txt, a copy of ../shared/vectors): started on a
throwaway redis-server as interop/CONTRACT.md says ("ayepi"), it replays the capture's calls (store
prefix p:, the default cache prefix and channel) under MONITOR and must give

  (a) the captured command lines, whole and in the captured order across both connections (the
      command connection, then the subscriber that redisBroker duplicates from it): names, keys,
      values, PX/NX, the cache entry's JSON and its PX "1", SCAN's MATCH/COUNT, the envelope;
      the handshake ("info", ioredis's ready check) included;
  (b) the results @ayepi/redis gives for those calls, and what they left on the server;
  (c) beyond the capture, SPEC.md 3's retry with its defect: an increment whose PEXPIRE fails runs
      INCRBY again on each of the 3 attempts (the counter ends at 3, not 1), with the backoff
      between them, and fails with Redis's error (ReplyError);
  (d) a ready line naming @ayepi/redis and ioredis, BadRequest/UnknownOp, and a wrong password that
      gives a ready error and is printed nowhere.

Standard library only; the Redis and driver plumbing is check.py's (the Go drivers' checker), by
import. Usage: ayepi_check.py. A missing redis-server or node fails; nothing is skipped. Exit status 1
with every mismatch listed."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "go"))
from check import Calls, Conn, Driver, Failed, Monitor, monitor_args, run_check, short  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests" / "vectors" / "ayepi-0.4.0.monitor.txt"
DRIVER = ROOT / "interop" / "drivers" / "ayepi_driver.mjs"
PREFIX, CACHE = "p:", "ayepi:cache:"
LINE = re.compile(r"^\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$")

# The capture program's own setup on the command connection: not a call of @ayepi/redis.
SETUP = ('"flushall"',)
# ioredis 5.11 sends CLIENT SETINFO LIB-VER / LIB-NAME before its ready check; the capture's server
# (7.0) refuses the subcommand before MONITOR sees it, a 7.2+ server logs it: not compared.
IGNORED = re.compile(r'^"client" "SETINFO" ', re.I)


class Capture:
    """The capture's command lines as (connection, command part): connection 0 is the first address
    seen (the command client), 1 the next (the subscriber)."""

    def __init__(self, path: Path) -> None:
        self.lines: list[tuple[int, str]] = []
        self.wall: list[float] = []
        addrs: dict[str, int] = {}
        for raw in path.read_text(encoding="latin-1").splitlines():
            m = LINE.match(raw)
            if not m or m.group(2) in SETUP:
                continue
            self.lines.append((addrs.setdefault(m.group(1), len(addrs)), m.group(2)))
            self.wall.append(float(raw.split(" ", 1)[0]))

    def args(self, command: str) -> list[list[bytes]]:
        return [monitor_args(cmd)[1:] for _, cmd in self.lines if monitor_args(cmd)[0].decode().lower() == command]

    def at(self, command: str, key: bytes) -> float:
        """The wall clock (s) of the first line running `command` on `key`."""
        return next(t for t, (_, cmd) in zip(self.wall, self.lines)
                    if monitor_args(cmd)[0].decode().lower() == command and monitor_args(cmd)[1] == key)


class Run(Calls):
    def __init__(self, port: int, failures: list[str]) -> None:
        self.port, self.failures = port, failures
        self.cap = Capture(CAPTURE)
        self.r = Conn(port)
        self.r("FLUSHALL")
        self.monitor = Monitor(port)
        self.drv: Driver | None = None
        self.node = shutil.which("node")
        if self.node is None:
            raise Failed("node is not installed (scripts/bootstrap installs it)")

    def fail(self, what: str) -> None:
        self.failures.append(what)

    def start(self, url: str, *flags: str) -> Driver:
        return Driver(Path(self.node), url, str(DRIVER), "--impl", "ts-ayepi", *flags)  # type: ignore[arg-type]

    def value(self, key: str, want: bytes | None, ttl_at_most: int | None = None) -> None:
        got = self.r("GET", key)
        if got != want:
            self.fail(f"GET {key}: {got!r}, want {want!r}")
        if ttl_at_most is not None and not 0 < self.r("PTTL", key) <= ttl_at_most:
            self.fail(f"PTTL {key} = {self.r('PTTL', key)}, want 1..{ttl_at_most}")

    def monitor_lines(self, end: str) -> list[tuple[str, str]]:
        """(address, command part) of every line until the check's ECHO `end`, its own lines left out."""
        self.r("ECHO", end)
        out = []
        for line in self.monitor.until(end):
            m = LINE.match(line)
            if m and m.group(1) != self.r.addr and not IGNORED.match(m.group(2)):
                out.append((m.group(1), m.group(2)))
        return out


def compare(failures: list[str], what: str, got: list[tuple[int, str]], want: list[tuple[int, str]]) -> None:
    if got != want:
        n = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        failures.append(f"{what} MONITOR: {len(got)} lines, want {len(want)}; first difference at line {n + 1}:\n"
                        f"      got  {got[n] if n < len(got) else None}\n      want {want[n] if n < len(want) else None}")


def by_connection(lines: list[tuple[str, str]]) -> list[tuple[int, str]]:
    addrs: dict[str, int] = {}
    return [(addrs.setdefault(addr, len(addrs)), cmd) for addr, cmd in lines]


def replay(run: Run, url: str) -> None:
    """The capture's calls, in its order."""
    run.drv = run.start(url, "--prefix", PREFIX)
    r = run.drv.ready
    if not (isinstance(r, dict) and r.get("ready") is True and r.get("impl") == "ts-ayepi"
            and r.get("runtime") == "typescript" and "@ayepi/redis@0.4.0" in str(r.get("library"))
            and "over ioredis@5." in str(r.get("library"))):
        raise Failed(f"ready line {r!r}, want ready, ts-ayepi, typescript, @ayepi/redis@0.4.0 over ioredis@5")

    # the work Store (the capture's values: the keys p:k, p:k2, p:c, p:c2, p:n)
    run.ok("ayepi.get", None, key="k")
    run.ok("ayepi.set", None, key="k", value="v")
    run.ok("ayepi.set", None, key="k2", value="v", ttl_ms=1000)
    run.ok("ayepi.delete", None, key="k")
    run.ok("ayepi.set_if_not_exists", True, key="c", value="1")
    run.ok("ayepi.set_if_not_exists", True, key="c2", value="1", ttl_ms=500)
    run.ok("ayepi.increment", 2, key="n", by=2)
    run.ok("ayepi.increment", 1, key="n", by=-1, ttl_ms=1000)
    run.value(PREFIX + "k", None)
    run.value(PREFIX + "k2", b"v", 1000)
    run.value(PREFIX + "c", b"1")
    run.value(PREFIX + "c2", b"1", 500)
    run.value(PREFIX + "n", b"1", 1000)

    # the cache: the captured entry, its clock pinned to the capture's wall clock at that SET (upstream's
    # Date.now() then: staleUntil 700 is long past, so PX is max(1, 700 - now) = 1)
    (key, stored, px, ms), = run.cap.args("set")[-1:]
    assert key == (CACHE + "K").encode() and px == b"PX", (key, px)
    entry = json.loads(stored)
    run.ok("ayepi.cache_set", None, key="K", entry=entry, now_ms=int(run.cap.at("set", key) * 1000))
    # PX 1: the entry is gone a millisecond later, and the capture's next calls ran within that
    # millisecond. The check puts the same bytes back, without a TTL, on its own connection (left out
    # of the comparison) so that get, invalidate and their MONITOR lines do not race the expiry.
    run.r("SET", CACHE + "K", stored)
    run.ok("ayepi.cache_get", entry, key="K")
    run.ok("ayepi.cache_invalidate", 1, path=entry["path"])  # SCAN, GET, DEL of the match
    run.ok("ayepi.cache_clear", None)  # SCAN finds nothing: no DEL
    run.ok("ayepi.cache_delete", False, key="K")  # DEL of a key already gone
    if run.r("EXISTS", CACHE + "K"):
        run.fail(f"{CACHE}K is still there")

    # the broker: the subscriber subscribes, then the core's envelope goes out on the command client
    (channel, message), = run.cap.args("publish")
    env = json.loads(message)
    run.ok("ayepi.subscribe", None)
    run.ok("ayepi.envelope", message.decode(), ch=env["ch"], params=env["params"], data=env["data"])
    run.ok("ayepi.publish", None, message=message.decode())
    run.ok("ayepi.received", [message.decode()], count=1, timeout_ms=5000)
    if channel != b"ayepi":
        run.fail(f"the capture published on {channel!r}")

    compare(run.failures, "capture", by_connection(run.monitor_lines("ayepi_check capture end")), run.cap.lines)


def retry_defect(run: Run) -> None:
    """SPEC.md 3's retry around increment: PEXPIRE with a ttl Redis refuses (1.5 ms is no integer)
    fails each attempt after INCRBY succeeded, so INCRBY runs 3 times; the backoffs are 500..1000 and
    1000..2000 ms (jitter 0.5), then ReplyError."""
    started = time.monotonic()
    e = run.err("ayepi.increment", "ReplyError", key="d", by=1, ttl_ms=1.5)
    took = time.monotonic() - started
    if "not an integer" not in str(e.get("message")):
        run.fail(f"increment with PEXPIRE 1.5: {e}, want Redis's 'value is not an integer' error")
    if not 1.45 <= took <= 3.5:
        run.fail(f"increment with 3 attempts took {took:.2f} s, want 1.5..3 s of backoff")
    run.value(PREFIX + "d", b"3")
    want = [(0, f'"incrby" "{PREFIX}d" "1"'), (0, f'"pexpire" "{PREFIX}d" "1.5"')] * 3
    compare(run.failures, "retry", by_connection(run.monitor_lines("ayepi_check retry end")), want)


def requests(run: Run) -> None:
    run.err("ayepi.get", "BadRequest")
    run.err("ayepi.set", "BadRequest", key="k", value=1)
    run.err("ayepi.increment", "BadRequest", key="k", by="1")
    run.err("ayepi.cache_set", "BadRequest", key="k", entry=[])
    run.err("ayepi.nope", "UnknownOp")
    run.ok("ayepi.envelope", '{"ch":"c","params":{},"data":null}', ch="c", params=None, data=None)
    run.ok("ayepi.received", [run.cap.args("publish")[0][1].decode()], count=5, timeout_ms=0)
    lines = run.monitor_lines("ayepi_check requests end")
    if lines:
        run.fail(f"requests the driver refused sent commands: {lines}")


def password_stays_hidden(run: Run) -> None:
    secret = "s3cr3t-Pa55word"
    d = run.start(f"redis://someone:{secret}@127.0.0.1:{run.port}")
    rc, err = d.close()
    if not (isinstance(d.ready, dict) and d.ready.get("ready") is False and d.ready.get("error")) or rc != 1:
        run.fail(f"a wrong password gave {d.ready} (exit {rc}), want a ready error, exit 1")
    if secret in json.dumps(d.ready) or secret in err:
        run.fail(f"the URL's password was printed: {d.ready} / {err!r}")


def main() -> int:
    def body(port: int, failures: list[str]) -> None:
        run = Run(port, failures)
        try:
            replay(run, f"redis://127.0.0.1:{port}")
            retry_defect(run)
            requests(run)
        finally:
            if run.drv is not None:
                rc, err = run.drv.close()
                if rc != 0:
                    failures.append(f"the driver exited {rc} at the end of its input: {err}")
        password_stays_hidden(run)
        print(f"ayepi driver: @ayepi/redis 0.4.0 capture: {run.drv.n if run.drv else 0} calls, "
              f"{len(run.cap.lines)} captured lines")

    return run_check("ayepi driver", body)

if __name__ == "__main__":
    sys.exit(main())
