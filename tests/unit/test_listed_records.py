"""What keeps a listing small in memory. A Record keeps its raw record packed (engine.model.pack): read back
whole, and equal records pack to equal bytes however their objects are shared or interned, since the daemon's
memo reuses a Record on equal bytes. The texts of canonical values are shared (canonical.share_texts)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.canonical import share_texts
from syncd.engine.model import Record, pack, unpack

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
raws = st.dictionaries(st.text(max_size=12), json_values, max_size=8)


@settings(max_examples=300, deadline=None)
@given(raws)
def test_a_json_record_reads_back_whole_and_its_parsed_twin_packs_to_the_same_bytes(raw: dict[str, Any]) -> None:
    assert unpack(pack(raw)) == raw
    twin = json.loads(json.dumps(raw))  # new objects, as the next run's listing holds them
    assert pack(twin) == pack(raw)


def test_shared_and_interned_objects_pack_like_separate_equal_ones() -> None:
    name = "".join(["As", "ha"])
    shared = {"first": name, "display": name, "tags": [name, name]}
    separate = {sys.intern("first"): "Asha", "display": "".join(["A", "sha"]), "tags": ["Asha", "As" + "ha"]}
    assert pack(shared) == pack(separate)


def test_a_different_value_or_key_order_packs_differently() -> None:
    """Unequal records must never share bytes (the memo would hide an edit); a reordered one may differ (a
    memo miss only maps it again)."""
    assert pack({"id": "1", "name": "Asha"}) != pack({"id": "1", "name": "Asha "})
    assert pack({"id": "1", "n": 1}) != pack({"id": "1", "n": 1.0})
    assert pack({"id": "1", "n": 1}) != pack({"id": "1", "n": True})


def test_a_record_that_is_not_json_shaped_still_reads_back() -> None:
    raw = {"id": "1", "at": datetime(2026, 11, 22, tzinfo=UTC), "ids": {1, 2}}
    assert unpack(pack(raw)) == raw


def test_record_raw_is_a_fresh_copy_each_time() -> None:
    rec = Record("cz", "1", {"first_name": "Asha"}, pack({"id": "1", "details": {"first_name": "Asha"}}))
    rec.raw["details"]["first_name"] = "changed"
    assert rec.raw == {"id": "1", "details": {"first_name": "Asha"}}


def copy(text: str) -> str:
    """An equal text that is another object (not interned)."""
    return "".join(list(text))


def test_share_texts_makes_equal_texts_of_two_records_one_object_and_changes_no_value() -> None:
    one = {"email": copy("asha@example.in"), "tags": [copy("vip"), copy("callyzer")], "status": copy("New")}
    two = {"email": copy("asha@example.in"), "tags": [copy("vip")], "company": copy("Orbit")}
    before = (json.loads(json.dumps(one)), json.loads(json.dumps(two)))
    assert one["email"] is not two["email"]
    share_texts(one)
    share_texts(two)
    assert (one, two) == before
    assert one["email"] is two["email"]
    assert one["tags"][0] is two["tags"][0]  # type: ignore[index]
    assert isinstance(one["tags"], list)
    assert sys.intern(copy("Orbit")) is two["company"]
