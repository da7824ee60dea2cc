"""Paths into a provider's nested JSON: ``details.first_name``, ``details.contact_numbers[1]``."""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Sequence
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


def get(data: Any, steps: Sequence[Step]) -> Any:
    for step in steps:
        if isinstance(step, int):
            if not isinstance(data, list) or step >= len(data):
                return None
        elif not isinstance(data, dict):
            return None
        data = data[step] if isinstance(step, int) else data.get(step)
    return data


def blocked(data: Any, steps: Sequence[Step]) -> str | None:
    """Why ``get`` found nothing when the way is blocked by a value of the wrong kind (``details`` a
    string, ``contact_numbers`` an object); None when the path is simply absent or reaches a value."""
    walked = ""
    for step in steps:
        if data is None:
            return None
        if isinstance(step, int):
            if not isinstance(data, list):
                return f"{walked or 'the record'} is {_kind(data)}, not a list"
            if step >= len(data):
                return None
            data = data[step]
            walked += f"[{step}]"
        else:
            if not isinstance(data, dict):
                return f"{walked or 'the record'} is {_kind(data)}, not an object"
            data = data.get(step)
            walked += f".{step}" if walked else step
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def put(data: dict[str, Any], steps: Sequence[Step], value: Any) -> None:
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


_ATOMS = (str, int, float, bool, type(None))


def copy_json(value: Any) -> Any:
    """``copy.deepcopy`` for JSON-shaped data (dicts, lists, strings, numbers, booleans, None), several
    times faster; anything else is handed to ``copy.deepcopy``. (Unlike deepcopy it does not keep two
    references to one inner list as one copy; provider records parsed from JSON never share any.)"""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _ATOMS else copy_json(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _ATOMS else copy_json(v) for v in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)
