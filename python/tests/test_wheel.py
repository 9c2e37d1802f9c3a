"""The wheels, built once for this module:

- `pip wheel ./python`: the extension carries the core, hiredis and jansson (static archives) and
  needs only libc, ld-linux and the system's libssl.so.3/libcrypto.so.3;
- `scripts/wheel` (the distributable: that wheel through `auditwheel repair`): a manylinux wheel,
  `auditwheel show` says so, OpenSSL copied into crossredis.libs/; it installs into a fresh
  environment with no SWIG and no build backend and works (plain and TLS, the Chat SDK state) in
  a private mount namespace (`unshare -m`) where the system's libjansson.so.4, libssl.so.3 and
  libcrypto.so.3 are covered by an empty file, the hiding itself checked by the loader failing to
  load each of them there, with every symbol bound at load (LD_BIND_NOW).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tls import tls  # noqa: F401  (the fixture: a redis-server with TLS, client certificates)

ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = ROOT / "python"
ARCH = platform.machine()
# What the extension may need from the system: glibc's own libraries (manylinux's list).
SYSTEM_OK = re.compile(r"^(linux-vdso\.so\.1|/?\S*ld-linux[-\w.]*\.so\.\d+|lib(c|m|dl|rt|pthread)\.so\.\d+)$")
HIDDEN = ("libjansson.so.4", "libssl.so.3", "libcrypto.so.3")
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def run(*args: str | Path, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)


def ldd(path: Path) -> list[tuple[str, str]]:
    """(name, where it resolved) for each line of ldd's answer; where is "" for the vdso and ld.so."""
    out = run("ldd", path).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"^\s*(\S+)(?:\s+=>\s+(.*?))?\s*(?:\(0x[0-9a-f]+\))?$", line)
        assert m, line
        rows.append((m.group(1), m.group(2) or ""))
    return rows


def extension(unpacked: Path) -> Path:
    (ext,) = (unpacked / "crossredis").glob("_native*.so")
    return ext


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Iterator[tuple[Path, Path]]:
    """(pip wheel's wheel, scripts/wheel's repaired one), each also unpacked beside it."""
    d = tmp_path_factory.mktemp("wheels")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps", "-w", d / "plain", PYTHON_DIR)
    (plain,) = (d / "plain").glob("crossredis-*.whl")
    out = run(ROOT / "scripts" / "wheel", "--out", d / "dist")
    repaired = Path(out.stdout.strip().splitlines()[-1])
    assert repaired.parent == d / "dist" and repaired.is_file(), out.stdout
    for w in (plain, repaired):
        with zipfile.ZipFile(w) as z:
            z.extractall(w.with_suffix(""))
    yield plain, repaired


def test_pip_wheel_links_jansson_and_hiredis_in(wheels) -> None:
    plain, _ = wheels
    ext = extension(plain.with_suffix(""))
    rows = ldd(ext)
    names = [n for n, _ in rows]
    assert not [r for r in rows if "not found" in r[1]], rows
    # before auditwheel: OpenSSL is the system's; jansson, hiredis and the core are inside
    assert sorted(n for n in names if not SYSTEM_OK.match(n)) == ["libcrypto.so.3", "libssl.so.3"], rows
    # the archives' symbols stay inside; no run path into the build machine's folders
    exported = run("nm", "-D", "--defined-only", ext).stdout.split()[2::3]
    assert exported == ["PyInit__native"], exported
    dynamic = run("readelf", "-d", ext).stdout
    assert "RPATH" not in dynamic and "RUNPATH" not in dynamic, dynamic
    assert "TEXTREL" not in dynamic, dynamic
    # the module alone: none of the C library's headers, archives or CMake files
    with zipfile.ZipFile(plain) as z:
        tops = {n.split("/")[0] for n in z.namelist()}
    assert tops == {"crossredis", "crossredis-0.1.0.dist-info"}, tops


def test_repaired_wheel_is_manylinux(wheels) -> None:
    _, repaired = wheels
    m = re.fullmatch(rf"crossredis-0\.1\.0-(cp\d+)-\1-(manylinux_2_(\d+)_{ARCH})\.whl", repaired.name)
    assert m, repaired.name
    show = " ".join(run(ROOT / ".venv" / "bin" / "auditwheel", "show", repaired).stdout.split())
    assert f'is consistent with the following platform tag: "{m.group(2)}"' in show, show
    with zipfile.ZipFile(repaired) as z:
        libs = sorted(n for n in z.namelist() if n.startswith("crossredis.libs/") and not n.endswith("/"))
        tops = {n.split("/")[0] for n in z.namelist()}
    assert tops == {"crossredis", "crossredis.libs", "crossredis-0.1.0.dist-info"}, tops
    assert [re.sub(r"-[0-9a-f]{8}\.", "-*.", n) for n in libs] == [
        "crossredis.libs/libcrypto-*.so.3", "crossredis.libs/libssl-*.so.3"], libs


def test_repaired_extension_needs_only_glibc_and_its_own_openssl(wheels) -> None:
    _, repaired = wheels
    unpacked = repaired.with_suffix("")
    rows = ldd(extension(unpacked))
    assert not [r for r in rows if "not found" in r[1]], rows
    own = unpacked / "crossredis.libs"
    inside = sorted(re.sub(r"-[0-9a-f]{8}\.", "-*.", n) for n, where in rows
                    if Path(where).resolve().parent == own.resolve())
    assert inside == ["libcrypto-*.so.3", "libssl-*.so.3"], rows
    others = [(n, w) for n, w in rows if Path(w).resolve().parent != own.resolve()]
    assert [n for n, _ in others if not SYSTEM_OK.match(n)] == [], rows
    # and what the copied libraries need is glibc's too (ldd above lists it all; checked directly)
    for lib in own.iterdir():
        assert [n for n, w in ldd(lib) if not SYSTEM_OK.match(n) and Path(w).resolve().parent != own.resolve()] == []


# ---- the wheel with jansson and OpenSSL hidden from the loader ---------------------------------

def library_files(soname: str) -> set[str]:
    """The files the loader would open for soname (ldconfig's cache), symbolic links resolved."""
    out = run("/sbin/ldconfig", "-p").stdout
    files = {os.path.realpath(line.split(" => ")[1].strip()) for line in out.splitlines()
             if line.split() and line.split()[0] == soname and " => " in line}
    assert files, f"ldconfig -p does not list {soname}: install it (scripts/bootstrap does)"
    return files


def run_hiding(sonames: tuple[str, ...], empty: Path, *argv: str | Path, **kw) -> subprocess.CompletedProcess[str]:
    """Runs argv in a private mount namespace (unshare -m) where an empty file covers each file
    behind the sonames (ldconfig's cache), so the loader finds none of them."""
    hide = sorted(set().union(*(library_files(s) for s in sonames)))
    script = 'set -e\nfor f in $XR_HIDE; do mount --bind "$XR_EMPTY" "$f"; done\nexec "$@"\n'
    env = {**kw.pop("env", ENV), "XR_HIDE": " ".join(hide), "XR_EMPTY": str(empty)}
    return run("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", *argv, env=env, **kw)


# Tries to load each soname (argv[1:]) the way the loader resolves a DT_NEEDED entry; prints
# {soname: null (loaded) or the loader's error}.
PROBE = textwrap.dedent("""
    import ctypes, json, sys
    out = {}
    for name in sys.argv[1:]:
        try:
            ctypes.CDLL(name)
            out[name] = None
        except OSError as e:
            out[name] = str(e)
    print(json.dumps(out))
""")

# In the fresh environment, in the namespace: the probe first, then the package at work.
CHECK = textwrap.dedent("""
    import importlib.util, json, os, sys
    out = {"probe": {}}
    import ctypes
    for name in %(hidden)r:
        try:
            ctypes.CDLL(name)
            out["probe"][name] = None
        except OSError as e:
            out["probe"][name] = str(e)
    out["build_tools"] = [importlib.util.find_spec(m) is not None for m in ("swig", "scikit_build_core")]
    import crossredis
    from crossredis.chat import State
    out["file"] = crossredis.__file__
    with crossredis.Client(os.environ["REDIS_URL"]) as c:
        out["ping"] = c.ping()
        out["set"] = c.command("SET", "wheeltest:k", "v\\u00e9")
        out["get"] = c.command("GET", "wheeltest:k").decode()
    with State(os.environ["REDIS_URL"], key_prefix="wheeltest") as st:   # JSON through jansson
        st.set("doc", {"a": [1, "\\u00e9", None], "b": {"c": True}})
        out["doc"] = st.get("doc")
    d = os.environ["TLS_DIR"]
    with crossredis.Client(os.environ["TLS_URL"], ca_file=d + "/ca.crt", cert_file=d + "/client.crt",
                           key_file=d + "/client.key") as c:   # OpenSSL
        out["tls_ping"] = c.ping()
    out["maps"] = sorted({l.split()[5] for l in open("/proc/self/maps") if len(l.split()) > 5
                          and ".so" in l.split()[5]})
    print(json.dumps(out))
""")


def test_wheel_works_with_jansson_and_openssl_hidden(wheels, tmp_path: Path, redis_server, tls) -> None:
    _, repaired = wheels
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    (tmp_path / "probe.py").write_text(PROBE)
    (tmp_path / "check.py").write_text(CHECK % {"hidden": HIDDEN})

    # the probe loads each library here, and none of them in the namespace
    here = json.loads(run(sys.executable, tmp_path / "probe.py", *HIDDEN, cwd=tmp_path, env=ENV).stdout)
    assert here == {name: None for name in HIDDEN}, here
    hidden = json.loads(run_hiding(HIDDEN, empty, sys.executable, tmp_path / "probe.py", *HIDDEN, cwd=tmp_path).stdout)
    for name in HIDDEN:
        assert hidden[name] is not None and name in hidden[name], hidden

    # in the namespace: a fresh environment, the wheel from the file alone, then the check
    venv = tmp_path / "venv"
    _, port, certs = tls
    env = {**ENV, "REDIS_URL": redis_server.url, "TLS_URL": f"rediss://127.0.0.1:{port}", "TLS_DIR": str(certs),
           "LD_BIND_NOW": "1"}  # every symbol bound at load: one nothing provides fails there
    script = f"""set -e
        {sys.executable} -m venv {venv}
        {venv}/bin/python -m pip install -q --no-index {repaired}
        exec {venv}/bin/python {tmp_path / 'check.py'}"""
    proc = run_hiding(HIDDEN, empty, "sh", "-c", script, cwd=tmp_path, env=env)
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    for name in HIDDEN:  # hidden in the very process that loaded crossredis
        assert out["probe"][name] is not None and name in out["probe"][name], out["probe"]
    assert out["build_tools"] == [False, False]
    assert out["file"].startswith(str(venv) + "/"), out["file"]
    assert out["ping"] is True and out["set"] == "OK" and out["get"] == "v\u00e9"
    assert out["doc"] == {"a": [1, "\u00e9", None], "b": {"c": True}}
    assert out["tls_ping"] is True
    libs = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages" / "crossredis.libs"
    mapped_ssl = [p for p in out["maps"] if re.search(r"/lib(ssl|crypto)[-.]", p)]
    assert sorted(re.sub(r"-[0-9a-f]{8}\.", "-*.", os.path.basename(p)) for p in mapped_ssl) == [
        "libcrypto-*.so.3", "libssl-*.so.3"], out["maps"]
    assert all(Path(p).parent == libs for p in mapped_ssl), out["maps"]
    assert not [p for p in out["maps"] if "jansson" in os.path.basename(p)], out["maps"]
