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
