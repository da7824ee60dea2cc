"""Collects the reliability suites' figures and prints them at the end of the session."""

from __future__ import annotations

import json
from typing import Any

import pytest

FIGURES: list[dict[str, Any]] = []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not FIGURES:
        return
    terminalreporter.section("syncd reliability figures")
    totals: dict[str, int] = {}
    for figures in FIGURES:
        terminalreporter.write_line(json.dumps(figures))
        for key in ("kills", "faults_served", "edits", "values_checked", "lost_edits", "duplicates", "crashed_runs"):
            totals[key] = totals.get(key, 0) + int(figures.get(key, 0))
    terminalreporter.write_line("totals: " + json.dumps(totals))
