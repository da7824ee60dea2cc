"""`syncd demo` as a newcomer runs it: one command, under a minute, a summary that matches the simulators."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def test_demo_finishes_in_under_a_minute_and_its_summary_matches_the_simulators(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = subprocess.run(  # as the README runs it: the default, relative --dir, from a working directory
        [sys.executable, "-m", "syncd", "demo", "--dir", "state/demo"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert elapsed < 60, f"the demo took {elapsed:.0f}s"
    out = " ".join(proc.stdout.split())
    assert "✗" not in out and out.count("✓") == 6, out
    assert "Second run: 0 writes" in out and "429s served:" in out
    assert (tmp_path / "state" / "demo" / "config.toml").exists()
    status = subprocess.run(
        [sys.executable, "-m", "syncd", "-c", "state/demo/config.toml", "failures"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert status.returncode == 0 and "first_name" in status.stdout and "phone" in status.stdout
