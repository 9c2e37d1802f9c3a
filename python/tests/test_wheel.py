"""`pip wheel ./python` makes a wheel that installs and works where there is no SWIG, no build
backend and no crossredis or hiredis library: the extension carries the core and hiredis."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]


def run(*args: str | Path, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)


def test_wheel_installs_without_swig_or_compiler(tmp_path: Path, redis_server) -> None:
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps", "-w", wheels, PYTHON_DIR)
    (wheel,) = wheels.glob("crossredis-*.whl")

    # the extension links no crossredis or hiredis shared library
    with zipfile.ZipFile(wheel) as z:
        (ext,) = [n for n in z.namelist() if n.startswith("crossredis/_native") and n.endswith(".so")]
        z.extract(ext, tmp_path / "unpacked")
    needed = run("ldd", tmp_path / "unpacked" / ext).stdout
    assert "hiredis" not in needed and "libcrossredis" not in needed, needed

    # a fresh environment: no swig, no scikit-build-core; the wheel installs from the file alone
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    run(py, "-m", "pip", "install", "-q", "--no-index", wheel)
    missing = run(py, "-c", "import importlib.util as u; print(u.find_spec('swig'), u.find_spec('scikit_build_core'))")
    assert missing.stdout.split() == ["None", "None"]
    out = run(py, "-c", "import crossredis._native as n, sys; rc, c = n.xr_binding_client_open(sys.argv[1], -1, -1, -1, "
              "None, None, -1, None, None, None, None, None, None, None, None, -1); "
              "print(n.xr_client_command(c, ['PING'])[1]); n.xr_client_close(c)", redis_server.url, cwd=tmp_path)
    assert out.stdout.strip() == "PONG"
