"""The Go interop drivers against the captures of the real toolhive code (tests/vectors/
toolhive-v0.48.0.* and toolhive-v0.66.0.*, copies of ../shared/vectors): each driver, started as
interop/CONTRACT.md says ("Go drivers") on a throwaway redis-server, replays the captured
scenarios section by section under MONITOR and must give

  (a) the captured record bytes (GET) for the captured sessions, whose exact values (ids, types,
      times with nanoseconds and offsets, data, metadata) the driver is given;
  (b) the captured commands, whole lines: names, keys, values, ex/px/nx/xx, EVALSHA sha1s and the
      EVAL after NOSCRIPT, the scripts' own redis.call()s, each connection's handshake;
  (c) the captured results and Go error texts (SessionNotFound, SessionExists, the script errors,
      the empty-id errors), Unsupported for what v0.48.0 lacks, and a ready line that never shows
      the URL's password.

Standard library only. Usage: check.py [DRIVER_DIR] (default build/interop-go, where
interop/drivers/go/build puts them). A missing redis-server or driver fails; nothing is skipped.
Exit status 1 with every mismatch listed."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "tests" / "vectors"
PROXY, DATA = "thv:proxy:session:", "thv:vmcp:session:"
OWNER = "https://issuer.example\x00subject-42"
FOREIGN = "https://issuer.example\x00someone-else"
ID1, ID2, ID3 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", \
    "33333333-3333-4333-8333-333333333333"
ID4, ID5, ID6 = "44444444-4444-4444-8444-444444444444", "55555555-5555-4555-8555-555555555555", \
    "66666666-6666-4666-8666-666666666666"
MISSING, IDA, IDB = "99999999-9999-4999-8999-999999999999", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", \
    "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"


class Failed(Exception):
    pass


# ---- the captures ----------------------------------------------------------------------------

REPR_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", '"': b'"', "\\": b"\\"}


def monitor_args(text: str) -> list[bytes]:
    """The arguments of a MONITOR line's command part ("set" "k" "v\\x00"): redis-server's
    sdscatrepr undone."""
    args, i = [], 0
    while i < len(text):
        if text[i] == " ":
            i += 1
            continue
        if text[i] != '"':
            raise ValueError(f"not a MONITOR argument list: {text[:80]}")
        i += 1
        arg = bytearray()
        while text[i] != '"':
            if text[i] == "\\":
                if text[i + 1] == "x":
                    arg.append(int(text[i + 2:i + 4], 16))
                    i += 4
                    continue
                arg += REPR_ESCAPES[text[i + 1]]
                i += 2
                continue
            arg += text[i].encode("latin-1")
            i += 1
        args.append(bytes(arg))
        i += 1
    return args


LINE = re.compile(r"^\[(\w+)\]\s+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$")


class Capture:
    """A tagged MONITOR capture: the [toolhive] and [lua] lines of each ECHO-marked section (their
    command parts, as MONITOR prints them), and the [setup] commands."""

    def __init__(self, path: Path) -> None:
        self.lines: dict[str, list[tuple[str, str]]] = {}
        self.setup: dict[str, list[list[bytes]]] = {}
        section = ""
        for raw in path.read_text(encoding="latin-1").splitlines():
            m = LINE.match(raw)
            if not m:
                continue
            tag, cmd = m.group(1), m.group(3)
            if tag == "marker":
                section = monitor_args(cmd)[1].decode().strip("= ")
                self.lines[section], self.setup[section] = [], []
            elif tag in ("toolhive", "lua"):
                self.lines[section].append((tag, cmd))
            elif tag == "setup":
                self.setup[section].append(monitor_args(cmd))

    def args(self, section: str, command: str) -> list[list[bytes]]:
        """The arguments of the section's [toolhive] lines running `command`, in order."""
        out = []
        for tag, cmd in self.lines[section]:
            a = monitor_args(cmd)
            if tag == "toolhive" and a[0].decode().lower() == command:
                out.append(a[1:])
        return out


GO_ESCAPES = {"a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v", "\\": b"\\",
              '"': b'"', "'": b"'"}


def go_unquote(text: bytes, i: int) -> tuple[str, int]:
    """The Go %q string starting at text[i] (a quote) and the index after it."""
    assert text[i:i + 1] == b'"', text[i:i + 40]
    i += 1
    out = bytearray()
    while text[i:i + 1] != b'"':
        c = text[i:i + 1]
        if c != b"\\":
            out += c
            i += 1
            continue
        e = chr(text[i + 1])
        if e == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif e in "uU":
            n = 4 if e == "u" else 8
            out += chr(int(text[i + 2:i + 2 + n], 16)).encode("utf-8", "surrogatepass")
            i += 2 + n
        elif e in "01234567":
            out.append(int(text[i + 1:i + 4], 8))
            i += 4
        else:
            out += GO_ESCAPES[e]
            i += 2
    return out.decode("utf-8", "surrogateescape"), i + 1


class Values:
    """The capture program's printout (<release>.values.txt), by the same sections: the results
    and Go error texts each call gave."""

    def __init__(self, path: Path) -> None:
        self.sections: dict[str, list[bytes]] = {}
        section: list[bytes] = []
        for raw in path.read_bytes().split(b"\n"):
            m = re.match(rb"^=== (.*) ===$", raw)
            if m:
                section = self.sections.setdefault(m.group(1).decode(), [])
            else:
                section.append(raw)

    def line(self, section: str, prefix: str) -> tuple[bytes, int]:
        lines = self.sections[section]
        for n, raw in enumerate(lines):
            if raw.startswith(prefix.encode()):
                return raw[len(prefix.encode()):], n
        raise Failed(f"values: no line {prefix!r} in section {section!r}")

    def error(self, section: str, prefix: str) -> str | None:
        """The Go error text the line reports (err="..." or a bare "..."), None for <nil>."""
        rest, _ = self.line(section, prefix)
        rest = rest.lstrip()
        if b"err=" in rest:
            rest = rest[rest.index(b"err=") + 4:]
        if rest.startswith(b"<nil>"):
            return None
        return go_unquote(rest, 0)[0]

    def ok(self, section: str, prefix: str) -> bool:
        rest, _ = self.line(section, prefix)
        return re.search(rb"ok=(true|false)", rest).group(1) == b"true"  # type: ignore[union-attr]

    def session(self, section: str, prefix: str) -> dict[str, Any]:
        """The session printed under the line (go type=... id=... type=... created=... updated=...,
        metadata=<JSON>, data=<nil> or data (json.RawMessage)=<JSON>) as the driver reports one."""
        _, n = self.line(section, prefix)
        head, meta, data = self.sections[section][n + 1:n + 4]
        s: dict[str, Any] = {}
        for name in ("id", "type"):
            s[name] = go_unquote(head, head.index(f' {name}="'.encode()) + len(name) + 2)[0]
        for name, key in (("created", "created_at"), ("updated", "updated_at")):
            s[key] = re.search(rf" {name}=(\S+)".encode(), head).group(1).decode()  # type: ignore[union-attr]
        s["metadata"] = json.loads(meta.strip().removeprefix(b"metadata="))
        if data.strip() != b"data=<nil>":
            s["data"] = json.loads(data.strip().removeprefix(b"data (json.RawMessage)="))
        return s


def record(stored: bytes) -> dict[str, Any]:
    """A stored record as the driver reports the session toolhive loads from it (toolhive's
    StreamableSession holds no data)."""
    r = json.loads(stored)
    s = {k: r[k] for k in ("id", "type", "created_at", "updated_at")}
    s["metadata"] = r.get("metadata") or {}
    if "data" in r and r["type"] != "streamable":
        s["data"] = r["data"]
    return s


# ---- Redis, by hand --------------------------------------------------------------------------

class Conn:
    """A RESP2 connection of the check's own (setup, markers, read-backs)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        host, p = self.sock.getsockname()[:2]
        self.addr = f"{host}:{p}"

    def __call__(self, *args: str | bytes | int) -> Any:
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self._reply()

    def _reply(self) -> Any:
        line = self.file.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise Failed(f"redis: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        raise Failed(f"redis: unexpected reply {line!r}")


class Monitor:
    """MONITOR on a raw socket; lines read at the end, up to a marker."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.sock.sendall(b"MONITOR\r\n")
        assert self.file.readline() == b"+OK\r\n"

    def until(self, marker: str) -> list[str]:
        lines = []
        while True:
            raw = self.file.readline()
            if not raw:
                raise Failed("MONITOR: the server closed the connection")
            line = raw.rstrip(b"\r\n").decode("latin-1").removeprefix("+")
            lines.append(line)
            if f'"ECHO" "{marker}"' in line:
                return lines


def start_server(workdir: str) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise Failed("redis-server is not installed (scripts/bootstrap installs it)")
    for _ in range(5):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = os.path.join(workdir, f"redis-{port}.log")
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                 "no", "--dir", workdir, "--logfile", log], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:  # this server's own log says it bound the port: what answers there is ours
                if b"Ready to accept connections" in Path(log).read_bytes():
                    return proc, port
            except OSError:
                pass
            time.sleep(0.02)
        proc.kill()
        proc.wait()
    raise Failed("redis-server did not start")


# ---- the drivers -----------------------------------------------------------------------------

class Driver:
    def __init__(self, binary: Path, url: str, *flags: str) -> None:
        if not os.access(binary, os.X_OK):
            raise Failed(f"{binary} is missing: run interop/drivers/go/build (scripts/bootstrap does)")
        self.proc = subprocess.Popen([str(binary), *flags], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env={**os.environ, "REDIS_URL": url})
        self.ready = json.loads(self.line("the ready line") or b"null")
        self.n = 0

    def line(self, what: str) -> bytes:
        """The driver's next line; a driver silent for 30 s fails the check rather than hang it."""
        if not select.select([self.proc.stdout], [], [], 30)[0]:
            self.proc.kill()
            raise Failed(f"{what}: the driver said nothing for 30 s")
        return self.proc.stdout.readline()  # type: ignore[union-attr]

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        self.n += 1
        line = json.dumps({"id": self.n, "op": op, "args": args}, ensure_ascii=False) + "\n"
        self.proc.stdin.write(line.encode())  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        raw = self.line(f"{op} {short(args)}")
        if not raw:
            raise Failed(f"the driver ended at {op} {args}: {self.close()[1]}")
        reply = json.loads(raw)
        if reply.get("id") != self.n:
            raise Failed(f"{op}: reply for id {reply.get('id')}, not {self.n}: {reply}")
        return reply

    def close(self) -> tuple[int, str]:
        self.proc.stdin.close()  # type: ignore[union-attr]
        rc = self.proc.wait(10)
        return rc, self.proc.stderr.read().decode("utf-8", "replace")  # type: ignore[union-attr]


class Calls(ABC):
    """Requests to `self.drv` checked as they answer; a mismatch goes to `self.fail`."""

    drv: "Driver | None"

    @abstractmethod
    def fail(self, what: str) -> None:
        """Records a mismatch (the run goes on, the check fails at the end)."""

    def ok(self, op: str, want: Any = ..., **args: Any) -> Any:
        assert self.drv is not None
        reply = self.drv.call(op, **args)
        if not reply.get("ok"):
            self.fail(f"{op} {short(args)}: {reply.get('error')}, want ok")
            return None
        if "result" not in reply:
            self.fail(f"{op}: the reply has no result: {reply}")
        if want is not ... and reply.get("result") != want:
            self.fail(f"{op} {short(args)}: result {short(reply.get('result'))}, want {short(want)}")
        return reply.get("result")

    def err(self, op: str, kind: str, message: str | None = None, /, **args: Any) -> dict[str, Any]:
        """The error the request must give (its message too, unless None); returns it."""
        assert self.drv is not None
        reply = self.drv.call(op, **args)
        e = reply.get("error") or {}
        if reply.get("ok") or e.get("kind") != kind or (message is not None and e.get("message") != message):
            self.fail(f"{op} {short(args)}: {reply}, want error {kind}: {message}")
        return e


class Run(Calls):
    """One driver replaying one capture on the check's server."""

    def __init__(self, release: str, binary: Path, port: int, failures: list[str]) -> None:
        self.release, self.binary, self.port, self.failures = release, binary, port, failures
        self.cap = Capture(VECTORS / f"toolhive-{release}.tagged.txt")
        self.vals = Values(VECTORS / f"toolhive-{release}.values.txt")
        self.r = Conn(port)
        self.r("FLUSHALL")
        self.r("SCRIPT", "FLUSH")
        self.monitor = Monitor(port)
        self.ran: list[tuple[str, list[str], str]] = []  # (marker, the capture's sections it stands for, keep)
        self.title = ""
        self.drv: Driver | None = None

    def fail(self, what: str) -> None:
        self.failures.append(f"{self.release} [{self.title}] {what}")

    def section(self, title: str, *also: str, keep: str = "") -> None:
        """From here on, the calls of the capture's section `title` (and the lines of `also`); with
        `keep`, only its lines holding that text are replayed (and compared)."""
        if title not in self.cap.lines:
            raise Failed(f"{self.release}: the capture has no section {title!r}")
        self.title = title
        self.ran.append((title, [title, *also], keep))
        self.r("ECHO", f"=== {title} ===")

    def start(self, url: str) -> None:
        self.drv = Driver(self.binary, url, "--impl", f"check-{self.release}")
        want = f"github.com/stacklok/toolhive@{self.release} (go"
        r = self.drv.ready
        if not (isinstance(r, dict) and r.get("ready") is True and r.get("runtime") == "go"
                and r.get("impl") == f"check-{self.release}" and str(r.get("library", "")).startswith(want)
                and "go-redis v9." in str(r.get("library"))):
            raise Failed(f"{self.release}: ready line {r!r}, want ready, runtime go, library {want}..., go-redis")

    # -- calls (ok, err: Calls) -----------------------------------------------------------------

    def as_values(self, op: str, prefix: str, **args: Any) -> None:
        """The call answers what the capture printed for it: an error's text (kind by the text), or
        a session printed under the line, or (for ok=... lines) the boolean."""
        section = self.title
        message = self.vals.error(section, prefix)
        raw, _ = self.vals.line(section, prefix)
        if message is not None:
            kind = {"session not found": "SessionNotFound", "session already exists": "SessionExists"}.get(message,
                                                                                                         "Error")
            self.err(op, kind, message, **args)
        elif b"ok=" in raw:
            self.ok(op, self.vals.ok(section, prefix), **args)
        elif op in ("session.load", "session.load_if_owner"):
            self.ok(op, self.vals.session(section, prefix), **args)
        else:
            self.ok(op, **args)

    def loaded(self, prefix: str, stored: bytes) -> dict[str, Any]:
        """The session the driver is to report for a stored record: as the capture printed it
        (the section's line `prefix`), which must agree with the record's own fields."""
        want = self.vals.session(self.title, prefix)
        if record(stored) != want:
            self.fail(f"the capture's values {short(want)} and record {short(record(stored))} disagree")
        return want

    # -- the server --------------------------------------------------------------------------

    def stored(self, key: str, want: bytes, ttl_ms: int = 7200000) -> None:
        got = self.r("GET", key)
        if got != want:
            self.fail(f"GET {key}:\n      got  {got!r}\n      want {want!r}")
        pttl = self.r("PTTL", key)
        if not ttl_ms - 10000 < pttl <= ttl_ms:
            self.fail(f"PTTL {key} = {pttl}, want about {ttl_ms}")

    def pttl_at_most(self, key: str, ms: int) -> None:
        if not 0 < self.r("PTTL", key) <= ms:
            self.fail(f"PTTL {key} = {self.r('PTTL', key)}, want <= {ms} (no TTL refresh)")

    def pttl_refreshed(self, key: str, ms: int) -> None:
        if self.r("PTTL", key) <= ms - 10000:
            self.fail(f"PTTL {key} = {self.r('PTTL', key)}, want about {ms} (refreshed)")

    def setup(self, *args: bytes | str) -> None:
        self.r(*args)

    # -- the MONITOR comparison --------------------------------------------------------------

    def compare_monitor(self) -> None:
        end = f"check.py {self.release} end"
        self.r("ECHO", end)
        live = self.monitor.until(end)
        sections: dict[str, list[tuple[str, str]]] = {}
        current: list[tuple[str, str]] | None = None
        for line in live:
            m = re.match(r"^\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$", line)
            if not m:
                continue
            addr, cmd = m.group(1), m.group(2)
            if addr == self.r.addr:
                if cmd.startswith('"ECHO" "=== '):
                    current = sections.setdefault(monitor_args(cmd)[1].decode().strip("= "), [])
                continue
            if current is not None:
                current.append(("lua" if addr == "lua" else "toolhive", cmd))
        for title, parts, keep in self.ran:
            want = [(tag, self.reachable_line(cmd)) for part in parts for tag, cmd in self.cap.lines[part]
                    if keep in cmd]
            got = [(tag, cmd) for tag, cmd in sections.get(title, []) if keep in cmd]
            if got != want:
                n = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
                self.failures.append(
                    f"{self.release} [{title}] MONITOR: {len(got)} lines, the capture {len(want)}; first difference "
                    f"at line {n + 1}:\n      got  {got[n] if n < len(got) else None}\n"
                    f"      want {want[n] if n < len(want) else None}")

    # v0.48.0's capture wrote one invalid UTF-8 byte into a metadata value and a data map (Go 1.26
    # writes it as \ufffd); a JSON line carries only U+FFFD itself, which Go writes raw: those
    # values are compared with that one substitution, everything else byte for byte.
    def reachable(self, stored: bytes) -> bytes:
        return stored.replace(b"\\ufffd", "\ufffd".encode()) if self.release == "v0.48.0" else stored

    def reachable_line(self, cmd: str) -> str:
        return cmd.replace("\\\\ufffd", "\\xef\\xbf\\xbd") if self.release == "v0.48.0" else cmd


def short(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) < 300 else text[:300] + "..."


def as_session_json(stored: bytes) -> dict[str, Any]:
    """A captured record as the session the driver is to build (every field as toolhive holds it)."""
    r = json.loads(stored)
    return {k: r[k] for k in ("id", "type", "created_at", "updated_at", "data", "metadata") if k in r}


# ---- the scenarios -----------------------------------------------------------------------------

def stores(run: Run, title: str, op: str, *, as_text: bool = False, extra: dict[str, Any] | None = None) -> bytes:
    """The section's one captured SET: the driver gets its record as session_json (the JSON object,
    or its text), and GET must give the captured bytes again."""
    run.section(title)
    (key, value, *_), = run.cap.args(title, "set")
    value = run.reachable(value)
    session: Any = value.decode() if as_text else {**as_session_json(value), **(extra or {})}
    run.ok(op, None, session_json=session)
    run.stored(key.decode(), value, 7200000)
    return value


def data_writes(run: Run, title: str, *calls: tuple[str, str, str]) -> list[bytes]:
    """The section's captured SETs of the data store, one per call (op, the values line, id): the
    driver gets each map as data_json; what was written must be the captured bytes."""
    run.section(title)
    written = []
    for (key, value, *_), (op, prefix, sid) in zip(run.cap.args(title, "set"), calls, strict=True):
        value = run.reachable(value)
        run.as_values(op, prefix, id=sid, data_json=json.loads(value))
        if run.vals.ok(title, prefix):
            run.stored(key.decode(), value, 1800000)
        written.append(value)
    return written


def opening(run: Run, url: str, mcp_title: str, mcp_op: str) -> tuple[bytes, bytes, bytes]:
    """The captures' first sections: the driver starts (both stores connect: hello 3 and ping
    each), then an SSE, a streamable and an mcp session with data and metadata are stored (the
    last given as JSON text)."""
    run.section("NewRedisStorage(prefix=thv:proxy:session:, ttl=2h)",
                "NewRedisSessionDataStorage(prefix=thv:vmcp:session:, ttl=30m)")
    run.start(url)
    s1 = stores(run, "Store SSE session", "session.store")
    # a streamable session keeps no data (toolhive's StreamableSession.GetData is nil)
    s2 = stores(run, "Store streamable session", "session.store", extra={"data": {"dropped": True}})
    return s1, s2, stores(run, mcp_title, mcp_op, as_text=True)


def scenario_066(run: Run, url: str) -> None:
    s1, s2, s3 = opening(run, url, "Create mcp proxy session (SET NX) with metadata + data", "session.create")

    run.section("Create again (collision)")
    run.as_values("session.create", "Create dup:", session_json=as_session_json(s3))
    run.as_values("session.create", "Create(empty id):", session_json={**as_session_json(s3), "id": ""})

    run.section("Load each")
    for sid, stored in ((ID1, s1), (ID2, s2), (ID3, s3)):
        run.ok("session.load", run.loaded(f"Load {sid}:", stored), id=sid)

    t = "LoadMetadata (plain GET, no TTL refresh)"
    run.section(t)
    run.setup("PEXPIRE", PROXY + ID3, 1000000)
    run.ok("session.load_metadata", record(s3)["metadata"], id=ID3)
    run.pttl_at_most(PROXY + ID3, 1000000)
    run.as_values("session.load_metadata", "LoadMetadata missing:", id=MISSING)
    run.as_values("session.load_metadata", 'LoadMetadata(""):', id="")
    run.as_values("session.load_metadata", "LoadMetadata missing #2:", id=ID5)

    run.section("LoadIfOwner match (first call: EVALSHA -> NOSCRIPT -> EVAL)")
    run.setup("SCRIPT", "FLUSH")
    run.setup("PEXPIRE", PROXY + ID3, 1000000)
    run.as_values("session.load_if_owner", "LoadIfOwner owner:", id=ID3, owner=OWNER)
    run.pttl_refreshed(PROXY + ID3, 7200000)

    run.section("LoadIfOwner mismatch / missing / no-binding / empty owner")
    run.setup("PEXPIRE", PROXY + ID3, 1000000)
    run.as_values("session.load_if_owner", "LoadIfOwner foreign:", id=ID3, owner=FOREIGN)
    run.pttl_at_most(PROXY + ID3, 1000000)
    run.as_values("session.load_if_owner", "LoadIfOwner missing:", id=MISSING, owner=OWNER)
    run.as_values("session.load_if_owner", "LoadIfOwner no-binding session with empty owner:", id=ID2, owner="")
    run.as_values("session.load_if_owner", 'LoadIfOwner(""):', id="", owner=OWNER)
    run.as_values("session.load_if_owner", "LoadIfOwner prefix-before-NUL only:", id=ID3,
                  owner="https://issuer.example")

    t = "StoreIfOwner"
    run.section(t)
    calls = run.cap.args(t, "evalsha")  # sha, 1, key, binding key, owner, record, ttl
    prefixes = ["StoreIfOwner owner:", "StoreIfOwner foreign expected:", "StoreIfOwner replacement without binding:",
                "StoreIfOwner replacement with different binding:", "StoreIfOwner missing key:"]
    for (_, _, _, _, owner, rec, _), prefix in zip(calls, prefixes, strict=True):
        run.as_values("session.store_if_owner", prefix, session_json=as_session_json(rec), owner=owner.decode())
        if prefix == prefixes[0]:
            s3 = rec
    run.as_values("session.store_if_owner", "StoreIfOwner(empty id):",
                  session_json={**as_session_json(s3), "id": ""}, owner=OWNER)
    run.stored(PROXY + ID3, s3, 7200000)

    t = "Lua edge cases on odd stored values"
    run.section(t)
    values = [a for a in run.cap.setup[t] if a[0] == b"SET"][::2]  # each odd value is set twice
    records = [a[5] for a in run.cap.args(t, "evalsha") if a[0].startswith(b"592a")]  # StoreIfOwner's
    labels = [m.group(1).decode() for line in run.vals.sections[t]
              if (m := re.match(rb"^\[(.*)\] LoadIfOwner:", line))]
    for setv, rec, label in zip(values, records, labels, strict=True):
        run.setup(*setv)
        run.as_values("session.load_if_owner", f"[{label}] LoadIfOwner:", id=ID4, owner=OWNER)
        run.as_values("session.load_metadata", f"[{label}] LoadMetadata:", id=ID4)
        run.as_values("session.store_if_owner", f"[{label}] StoreIfOwner:", session_json=as_session_json(rec),
                      owner=OWNER)
        run.setup(*setv)
        run.as_values("session.delete_if_owner", f"[{label}] DeleteIfOwner:", id=ID4, owner=OWNER)
    run.setup("DEL", PROXY + ID4)

    t = "Plain Load on corrupt / non-string metadata value"
    run.section(t)
    bad, nonstring = [a for a in run.cap.setup[t] if a[0] == b"SET"]
    run.setup(*bad)
    run.as_values("session.load", "Load corrupt:", id=ID4)
    run.setup(*nonstring)
    run.as_values("session.load", "Load non-string metadata:", id=ID4)
    run.as_values("session.load_metadata", "LoadMetadata non-string metadata:", id=ID4)
    run.setup("DEL", PROXY + ID4)
    run.as_values("session.load", "Load missing:", id=MISSING)
    run.as_values("session.store", "Store(empty id):", session_json={**as_session_json(s1), "id": ""})
    run.as_values("session.load", 'Load(""):', id="")
    run.as_values("session.delete", 'Delete(""):', id="")

    run.section("DeleteIfOwner")
    run.as_values("session.delete_if_owner", "DeleteIfOwner foreign:", id=ID3, owner=FOREIGN)
    run.as_values("session.delete_if_owner", "DeleteIfOwner owner:", id=ID3, owner=OWNER)
    run.as_values("session.delete_if_owner", "DeleteIfOwner again (missing):", id=ID3, owner=OWNER)
    run.as_values("session.delete_if_owner", 'DeleteIfOwner(""):', id="", owner=OWNER)

    run.section("Delete")
    for sid in (ID1, ID2, MISSING):
        run.ok("session.delete", None, id=sid)
    run.ok("session.delete_expired", None, before="2026-12-04T13:23:50.733781078+05:30")  # a no-op: no command
    for key in (ID1, ID2, ID3):
        if run.r("EXISTS", PROXY + key):
            run.fail(f"{PROXY + key} is still there")

    data_066(run)


def data_066(run: Run) -> None:
    first, _ = data_writes(run, "DataStorage Create (new/existing)", ("session.data_create", "Create new:", IDA),
                           ("session.data_create", "Create existing:", IDA))
    run.stored(DATA + IDA, first, 1800000)
    updated, _ = data_writes(run, "DataStorage Update (existing/missing)",
                             ("session.data_update", "Update existing:", IDA),
                             ("session.data_update", "Update missing:", MISSING))
    if run.r("EXISTS", DATA + MISSING):
        run.fail("data_update created a missing key")

    t = "DataStorage Load / LoadMetadata"
    run.section(t)
    run.setup("PEXPIRE", DATA + IDA, 1000000)
    run.ok("session.data_load_metadata", json.loads(updated), id=IDA)
    run.pttl_at_most(DATA + IDA, 1000000)
    run.ok("session.data_load", json.loads(updated), id=IDA)
    run.pttl_refreshed(DATA + IDA, 1800000)
    run.as_values("session.data_load", "Load missing:", id=MISSING)
    run.as_values("session.data_load_metadata", "LoadMetadata missing:", id=MISSING)

    run.section("DataStorage empty id")
    run.as_values("session.data_create", 'Create(""):', id="", data_json={})
    run.as_values("session.data_update", 'Update(""):', id="", data_json={})
    run.as_values("session.data_load", 'Load(""):', id="")
    run.as_values("session.data_load_metadata", 'LoadMetadata(""):', id="")
    run.as_values("session.data_delete", 'Delete(""):', id="")

    t = "DataStorage corrupt / non-string"
    run.section(t)
    for setv in [a for a in run.cap.setup[t] if a[0] == b"SET"]:
        run.setup(*setv)
        label = json.dumps(setv[2].decode())
        run.as_values("session.data_load", f"Load {label}:", id=ID4)
        run.as_values("session.data_load_metadata", f"LoadMetadata {label}:", id=ID4)
    run.setup("DEL", DATA + ID4)

    run.section("DataStorage Delete")
    run.ok("session.data_delete", None, id=IDA)
    run.ok("session.data_delete", None, id=MISSING)
    if run.r("EXISTS", DATA + IDA):
        run.fail("data_delete left the key")


def scenario_048(run: Run, url: str) -> None:
    s1, s2, s3 = opening(run, url, "Store mcp proxy session with metadata and data", "session.store")

    run.section("Load each")
    for sid, stored in ((ID1, s1), (ID2, s2), (ID3, s3)):
        run.ok("session.load", record(stored), id=sid)

    t = "Re-Store loaded mcp session (round trip of RawMessage data)"
    run.section(t)
    loaded = run.ok("session.load", record(s3), id=ID3)
    run.ok("session.store", None, session_json=loaded)
    run.stored(PROXY + ID3, run.reachable(run.cap.args(t, "set")[0][1]), 7200000)

    stores(run, "Store session with no metadata and no data", "session.store")
    s6 = stores(run, "Store typed proxy session with custom type", "session.store")
    run.ok("session.load", run.loaded("Load custom:", s6), id=ID6)

    run.section("Load missing")
    run.as_values("session.load", "Load missing:", id=MISSING)

    run.section("Empty id / nil on each method")
    run.as_values("session.store", "Store(empty id):", session_json={**as_session_json(s1), "id": ""})
    run.as_values("session.load", 'Load(""):', id="")
    run.as_values("session.delete", 'Delete(""):', id="")
    run.as_values("session.delete_expired", "DeleteExpired:", before="2026-01-02T03:04:05Z")
    # what v0.55.1 and v0.58.0 added: not in this release
    for op, args in (("session.create", {"session_json": as_session_json(s1)}),
                     ("session.load_metadata", {"id": ID1}),
                     ("session.load_if_owner", {"id": ID1, "owner": OWNER}),
                     ("session.store_if_owner", {"session_json": as_session_json(s1), "owner": OWNER}),
                     ("session.delete_if_owner", {"id": ID1, "owner": OWNER}),
                     ("session.data_load_metadata", {"id": IDA})):
        run.err(op, "Unsupported", None, **args)

    t = "Corrupt and odd values"
    run.section(t)
    values = [a for a in run.cap.setup[t] if a[0] == b"SET"]
    labels = [m.group(1).decode() for line in run.vals.sections[t] if (m := re.match(rb"^Load \[(.*?)\] value=", line))]
    for setv, label in zip(values, labels, strict=True):
        run.setup(*setv)
        prefix = next(line for line in run.vals.sections[t] if line.startswith(f"Load [{label}] ".encode()))
        run.as_values("session.load", prefix[:prefix.index(b": err=") + 1].decode("utf-8", "surrogateescape"), id=ID4)
    run.setup("DEL", PROXY + ID4)

    run.section("Delete each, then delete missing")
    for sid in (ID1, ID2, ID3, ID5, ID6, MISSING):
        run.ok("session.delete", None, id=sid)
    run.as_values("session.load", "Load after delete:", id=ID3)

    data_048(run)

    # after the capture's END, its program stored a session in TZ=Asia/Kolkata: times with +05:30
    id7 = "77777777-7777-4777-8777-777777777777"
    run.section("END", keep=id7)
    (key, value, *_), = [a for a in run.cap.args("END", "set") if id7.encode() in a[0]]
    run.ok("session.store", None, session_json=as_session_json(value))
    run.stored(key.decode(), value)
    run.ok("session.delete", None, id=id7)


def data_048(run: Run) -> None:
    first, = data_writes(run, "DataStorage Create (new)", ("session.data_create", "Create new:", IDA))
    data_writes(run, "DataStorage Create (existing)", ("session.data_create", "Create existing:", IDA))
    run.stored(DATA + IDA, first, 1800000)
    updated, = data_writes(run, "DataStorage Update (existing)", ("session.data_update", "Update existing:", IDA))
    data_writes(run, "DataStorage Update (missing)", ("session.data_update", "Update missing:", MISSING))
    if run.r("EXISTS", DATA + MISSING):
        run.fail("data_update created a missing key")
    run.section("DataStorage Load")
    run.ok("session.data_load", json.loads(updated), id=IDA)
    run.section("DataStorage Load missing")
    run.as_values("session.data_load", "Load missing:", id=MISSING)

    run.section("DataStorage Create nil metadata / empty map")
    run.as_values("session.data_create", "Create nil:", id=IDB, data_json=None)
    run.stored(DATA + IDB, b"{}", 1800000)
    run.as_values("session.data_update", "Update nil:", id=IDB, data_json=None)

    run.section("DataStorage empty id on each method")
    run.as_values("session.data_create", 'Create(""):', id="", data_json={})
    run.as_values("session.data_update", 'Update(""):', id="", data_json={})
    run.as_values("session.data_load", 'Load(""):', id="")
    run.as_values("session.data_delete", 'Delete(""):', id="")

    t = "DataStorage corrupt and odd values"
    run.section(t)
    values = [a for a in run.cap.setup[t] if a[0] == b"SET"]
    lines = [line for line in run.vals.sections[t] if line.startswith(b"Load [")]
    for setv, line in zip(values, lines, strict=True):
        run.setup(*setv)
        prefix = line[:line.index(b": result=") + 1].decode()
        message = run.vals.error(t, prefix)
        if message is not None:
            run.err("session.data_load", "Error", message, id=ID4)
        else:
            result = re.search(rb"result=(.*) nil=", line).group(1)  # type: ignore[union-attr]
            run.ok("session.data_load", json.loads(result), id=ID4)
    run.setup("DEL", DATA + ID4)

    run.section("DataStorage Delete")
    for sid in (IDA, IDB, MISSING):
        run.ok("session.data_delete", None, id=sid)
    run.as_values("session.data_load", "Load after delete:", id=IDA)


SCENARIOS: dict[str, Callable[[Run, str], None]] = {"v0.48.0": scenario_048, "v0.66.0": scenario_066}


def password_stays_hidden(binary: Path, port: int, failures: list[str]) -> None:
    """A wrong password: the ready line is an error, exit 1, and the password is nowhere."""
    secret = "s3cr3t-Pa55word"
    d = Driver(binary, f"redis://someone:{secret}@127.0.0.1:{port}")
    rc, err = d.close()
    if not (isinstance(d.ready, dict) and d.ready.get("ready") is False and d.ready.get("error")) or rc != 1:
        failures.append(f"{binary.name}: a wrong password gave {d.ready} (exit {rc}), want a ready error, exit 1")
    if secret in json.dumps(d.ready) or secret in err:
        failures.append(f"{binary.name}: the URL's password was printed: {d.ready} / {err!r}")


def run_check(name: str, body: Callable[[int, list[str]], None]) -> int:
    """Runs `body(port, failures)` against a throwaway redis-server (started here, killed after),
    then prints every failure and the verdict line "<name>: ok|FAILED (<seconds>)"; the exit status."""
    started = time.monotonic()
    failures: list[str] = []
    workdir = tempfile.mkdtemp(prefix="xr-check-")
    server = None
    try:
        server, port = start_server(workdir)
        body(port, failures)
    except (Failed, OSError) as e:  # OSError: a socket of the check's own (MONITOR, read-backs)
        failures.append(f"{type(e).__name__}: {e}" if isinstance(e, OSError) else str(e))
    finally:
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    for f in failures:
        print(f"FAIL {f}")
    print(f"{name}: {'FAILED' if failures else 'ok'} ({time.monotonic() - started:.1f} s)")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    drivers = Path(argv[1]) if len(argv) > 1 else ROOT / "build" / "interop-go"

    def body(port: int, failures: list[str]) -> None:
        url = f"redis://127.0.0.1:{port}"
        for release, scenario in SCENARIOS.items():
            binary = drivers / f"toolhive-{release}"
            run = Run(release, binary, port, failures)
            before = len(failures)
            try:
                scenario(run, url)
                run.compare_monitor()
            finally:
                if run.drv is not None:
                    rc, err = run.drv.close()
                    if rc != 0:
                        failures.append(f"{release}: the driver exited {rc} at the end of its input: {err}")
            password_stays_hidden(binary, port, failures)
            print(f"go drivers: toolhive {release}: {run.drv.n if run.drv else 0} calls, "
                  f"{len(run.ran)} captured sections, {len(failures) - before} mismatches")

    return run_check("go drivers", body)

if __name__ == "__main__":
    sys.exit(main(sys.argv))
