from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.sandbox import SECRETS, Sandbox
from tests.e2e.harness import Harness

SECRET_VALUES = sorted({v for keys in SECRETS.values() for v in keys.values()})


def assert_no_secret_leaked(h: Harness) -> None:
    """Every CLI output, log and state database a test produced, scanned for every sandbox secret."""
    texts = {f"output of run {i}": text.encode() for i, text in enumerate(h.logs)}
    for path in h.dir.rglob("*"):
        if path.is_file() and "secrets" not in path.parts:  # the credential files themselves hold them, by design
            texts[str(path)] = path.read_bytes()
    leaks = [f"{secret[:6]}… in {where}" for where, data in texts.items() for secret in SECRET_VALUES
             if secret.encode() in data]  # fmt: skip
    assert not leaks, f"secrets leaked: {leaks}"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """Fresh simulators (rate limits compressed 50×) and a sandbox config in tmp_path."""
    with Sandbox(speed=50) as box:
        h = Harness(box, tmp_path)
        yield h
    assert_no_secret_leaked(h)


@pytest.fixture
def harness4(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """All four simulators and the two realistic jobs: `leads` (CallPage → Callyzer ↔ Callsavvy ↔ an Apps
    API custom list) and `contacts` (Callsavvy contacts ↔ the Apps API global list). Rate limits compressed 50×,
    or as a test asks: ``@pytest.mark.parametrize("harness4", [5], indirect=True)``."""
    with Sandbox(speed=getattr(request, "param", 50), all_systems=True) as box:
        h = Harness(box, tmp_path)
        yield h
    assert_no_secret_leaked(h)
