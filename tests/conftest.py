from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.sandbox import Sandbox
from tests.e2e.harness import Harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """Fresh simulators (rate limits compressed 50×) and a sandbox config in tmp_path."""
    with Sandbox(speed=50) as box:
        h = Harness(box, tmp_path)
        yield h


@pytest.fixture
def harness4(tmp_path: Path) -> Iterator[Harness]:
    """All four simulators and the two realistic jobs: `leads` (CallPage → Callyzer ↔ Callsavvy ↔ an Apps
    API custom list) and `contacts` (Callsavvy contacts ↔ the Apps API global list)."""
    with Sandbox(speed=50, all_systems=True) as box:
        yield Harness(box, tmp_path)
