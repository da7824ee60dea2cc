"""The canonical person every mapping reads into and writes from.

Values are plain strings or lists of strings; a blank ("" or [] or None) is the same as absent, so
that "the provider sent an empty string" and "the provider left the key out" never look like an edit.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

Value = str | list[str]
Canon = dict[str, Value]

#: fields that every mapping may use; ``custom.<name>`` is allowed besides these
FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "phone2",
    "company",
    "status",
    "priority",
    "tags",
    "source",
    "summary",
    "notes",
    "address1",
    "address2",
    "city",
    "state",
    "country",
    "zip",
    "location",
    "value",
    "assignee",
)
LIST_FIELDS = frozenset({"tags", "assignee"})
#: the fields Callyzer's ``existing_lead`` policies call lead_tags and assignee; all others are details
TAG_FIELD = "tags"
ASSIGNEE_FIELD = "assignee"
PHONE_FIELDS = ("phone", "phone2")
EMAIL_FIELDS = ("email",)


def is_field(name: str) -> bool:
    return isinstance(name, str) and (name in FIELDS or (name.startswith("custom.") and len(name) > len("custom.")))


def is_blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def clean(values: Mapping[str, Any]) -> Canon:
    """Drops blanks so that two canons compare equal exactly when they hold the same data."""
    out: Canon = {}
    for key, value in values.items():
        if (kept := clean_value(value)) is not None:
            out[key] = kept
    return out


def clean_value(value: Any) -> Value | None:
    """One value as ``clean`` keeps it: text, or a list of non-blank texts; None for a blank."""
    if is_blank(value):
        return None
    if isinstance(value, list):
        items = [str(v) for v in value if not is_blank(v)]
        return items or None
    return str(value)


def same(a: Any, b: Any) -> bool:
    """Equality of two field values, blanks all alike."""
    if is_blank(a) and is_blank(b):
        return True
    return bool(a == b)


def display(value: Any) -> str:
    if is_blank(value):
        return "∅"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return repr(value)


def display_name(values: Mapping[str, Any]) -> str:
    parts = [values.get("first_name"), values.get("last_name")]
    name = " ".join(p for p in parts if isinstance(p, str) and p)
    return name or str(values.get("email") or values.get("phone") or "(no name)")


#: lists of texts shared by share_texts: few distinct ones (tag sets) recur across many records; bounded,
#: since a list cannot be referenced weakly, and emptied when full (a later record then shares a new copy)
_LISTS: dict[tuple[str, ...], list[str]] = {}
_LISTS_MAX = 4096


def share_texts(values: Canon) -> None:
    """Makes each text in ``values`` the one copy the interpreter keeps of it (``sys.intern``), and each list
    of texts one list equal records share, in place.

    A run holds every listed record at once, and each one parsed from JSON has its own copy of texts that
    recur across systems (a person's name, e-mail and phone on each system) and across people (statuses,
    companies, tags): sharing them takes about a sixth off a listing's memory (bench/README.md). An interned
    text is freed with its last user. Canonical values are read-only once listed: the planner never changes
    its inputs (the reconcile property test checks it), so one list serves every record that holds it."""
    intern = sys.intern
    for key, value in values.items():
        if type(value) is str:
            values[key] = intern(value)
        elif type(value) is list:
            if all(type(x) is str for x in value):  # exact: (1,) == (True,) would merge unequal lists
                texts = tuple(map(intern, value))
                shared = _LISTS.get(texts)
                if shared is None:
                    if len(_LISTS) >= _LISTS_MAX:
                        _LISTS.clear()
                    shared = _LISTS[texts] = list(texts)
                values[key] = shared
            else:
                values[key] = [intern(x) if type(x) is str else x for x in value]
