"""Paths into a provider's nested JSON: ``details.first_name``, ``details.contact_numbers[1]``."""

from __future__ import annotations

import itertools
import re
from typing import Any

_STEP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")
Step = str | int


def parse(path: str) -> list[Step]:
    steps: list[Step] = []
    for part in path.split("."):
        match = _STEP.match(part)
        if not match:
            raise ValueError(f"bad path {path!r}: {part!r} is not a key or key[index]")
        steps.append(match.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return steps


def get(data: Any, steps: list[Step]) -> Any:
    for step in steps:
        if isinstance(step, int):
            if not isinstance(data, list) or step >= len(data):
                return None
        elif not isinstance(data, dict):
            return None
        data = data[step] if isinstance(step, int) else data.get(step)
    return data


def put(data: dict[str, Any], steps: list[Step], value: Any) -> None:
    """Sets a value, creating dicts and padding lists on the way; a blank list slot is dropped."""
    node: Any = data
    for step, nxt in itertools.pairwise(steps):
        container: Any = [] if isinstance(nxt, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(None)
            if not isinstance(node[step], type(container)):
                node[step] = container
        elif not isinstance(node.get(step), type(container)):
            node[step] = container
        node = node[step]
    last = steps[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
        node[last] = value
    else:
        node[last] = value


def compact_lists(data: Any) -> Any:
    """Removes the None holes that ``put`` leaves in lists (a blank second phone is no phone)."""
    if isinstance(data, dict):
        return {k: compact_lists(v) for k, v in data.items()}
    if isinstance(data, list):
        return [compact_lists(v) for v in data if v is not None and v != ""]
    return data
