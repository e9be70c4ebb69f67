"""The type stubs: mypy --strict accepts a consumer, and stubtest finds
the stubs in line with the native module."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def mypy(*args):
    if shutil.which("mypy") is None and subprocess.run([sys.executable, "-m", "mypy", "--version"],
                                                       capture_output=True).returncode != 0:
        pytest.skip("mypy not installed")
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=HERE)


def test_mypy_strict_on_a_consumer():
    r = mypy("mypy", "--strict", "--no-incremental", "typing_consumer.py")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_rejects_wrong_use(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import dfabake\nm = dfabake.Matcher.open('x')\nm.first(3)\ny: int = m.sha256\n")
    r = mypy("mypy", "--strict", "--no-incremental", str(bad))
    assert r.returncode == 1 and "bad.py:3" in r.stdout and "bad.py:4" in r.stdout, r.stdout


def test_stubtest():
    r = mypy("mypy.stubtest", "dfabake")
    assert r.returncode == 0, r.stdout + r.stderr
