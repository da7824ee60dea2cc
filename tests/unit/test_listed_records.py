"""What keeps a listing small in memory. A Record keeps its raw record packed (engine.model.pack): flattened
with marshal, then compressed against its system's dictionary, and read back whole. Equal records flatten to
equal bytes however their objects are shared or interned, since the daemon's memo reuses a Record on equal
flat bytes. The texts and lists of texts of canonical values are shared (canonical.share_texts)."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.canonical import Canon, share_texts
from syncd.engine.model import Record, flat, pack, squeeze, unpack, unsqueeze

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
raws = st.dictionaries(st.text(max_size=12), json_values, max_size=8)


def lead(n: int, **extra: Any) -> dict[str, Any]:
    """A Callyzer-like lead: most of its bytes are keys and empty fields every lead repeats."""
    return {
        "id": f"lead-{n}",
        "details": {"first_name": f"Asha{n}", "last_name": "Rao", "email": f"asha{n}@example.in",
                    "company_name": "Acme Traders", "address1": "", "address2": "", "city": "", "state": "",
                    "country": "", "zip": "", "source": "", "description": "", "price": "",
                    "contact_numbers": [f"91-98{n:08d}"]},
        "status": {"lead_status": "New", "reminder_date": "", "reminder_time": ""},
        "assigned_to": {"all_employees": False, "employee": []},
        "lead_tags": [], "no_of_attempts": n, "created_at": "2026-11-22 14:22:08 IST",
        "modified_at": "2026-11-22 14:22:08 IST", **extra,
    }  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(raws)
def test_a_json_record_reads_back_whole_and_its_parsed_twin_flattens_to_the_same_bytes(raw: dict[str, Any]) -> None:
    assert unpack(pack(raw, "prop"), "prop") == raw
    twin = json.loads(json.dumps(raw))  # new objects, as the next run's listing holds them
    assert flat(twin) == flat(raw)
    assert unsqueeze(pack(twin, "prop"), "prop") == flat(raw)


def test_records_of_one_system_pack_to_a_fraction_of_their_flat_bytes_and_read_back() -> None:
    first, later = lead(0), [lead(n) for n in range(1, 200)]
    pack(first, "cz-ratio")  # the system's dictionary
    packed = [pack(raw, "cz-ratio") for raw in later]
    assert sum(map(len, packed)) < sum(len(flat(raw)) for raw in later) / 3
    assert [unpack(p, "cz-ratio") for p in packed] == later


def test_the_dictionary_stays_the_first_records_so_other_shapes_and_systems_still_read_back() -> None:
    pack(lead(0), "cz-shapes")
    other = {"id": "x" * 40, "name": "A contact of another shape entirely", "phones": ["+919800000001"] * 3}
    assert unpack(pack(other, "cz-shapes"), "cz-shapes") == other
    assert unpack(pack(lead(7), "cz-shapes"), "cz-shapes") == lead(7)
    elsewhere = pack(other, "cs-shapes")  # another system: its own dictionary, this record
    assert unpack(elsewhere, "cs-shapes") == other


def test_a_short_record_stays_flat() -> None:
    """Compressing a few dozen bytes saves nothing; an `{"id": ...}` stays as marshal wrote it."""
    assert pack({"id": "s1"}, "short") == flat({"id": "s1"})
    assert squeeze(flat({"id": "s1"}), "short") == flat({"id": "s1"})


def test_shared_and_interned_objects_flatten_like_separate_equal_ones() -> None:
    name = "".join(["As", "ha"])
    shared = {"first": name, "display": name, "tags": [name, name]}
    separate = {sys.intern("first"): "Asha", "display": "".join(["A", "sha"]), "tags": ["Asha", "As" + "ha"]}
    assert flat(shared) == flat(separate)


def test_a_different_value_or_key_order_flattens_differently() -> None:
    """Unequal records must never share bytes (the memo would hide an edit); a reordered one may differ (a
    memo miss only maps it again)."""
    assert flat({"id": "1", "name": "Asha"}) != flat({"id": "1", "name": "Asha "})
    assert flat({"id": "1", "n": 1}) != flat({"id": "1", "n": 1.0})
    assert flat({"id": "1", "n": 1}) != flat({"id": "1", "n": True})
    pack(lead(0), "cz-edit")
    assert unsqueeze(pack(lead(1, no_of_attempts=2), "cz-edit"), "cz-edit") != flat(lead(1, no_of_attempts=3))


def test_a_record_that_is_not_json_shaped_still_reads_back() -> None:
    raw = {"id": "1", "at": datetime(2026, 11, 22, tzinfo=UTC), "ids": {1, 2}}
    assert unpack(pack(raw, "odd"), "odd") == raw
    long = {**raw, "notes": "a long note that takes the record past the length worth compressing" * 3}
    assert unpack(pack(long, "odd"), "odd") == long


def test_records_pack_and_read_back_from_several_threads_at_once() -> None:
    """The runner maps pages in the event loop and reads raws in worker threads; each thread has its own
    zstd (de)compressors, which may not be shared."""
    pack(lead(0), "cz-threads")
    failures: list[int] = []

    def work(offset: int) -> None:
        for n in range(offset, offset + 400):
            if unpack(pack(lead(n), "cz-threads"), "cz-threads") != lead(n):
                failures.append(n)

    threads = [threading.Thread(target=work, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_record_raw_is_a_fresh_copy_each_time() -> None:
    rec = Record("cz", "1", {"first_name": "Asha"}, pack({"id": "1", "details": {"first_name": "Asha"}}, "cz"))
    rec.raw["details"]["first_name"] = "changed"
    assert rec.raw == {"id": "1", "details": {"first_name": "Asha"}}
    big = Record("cz-fresh", "lead-3", {}, pack(lead(3), "cz-fresh"))
    big.raw["details"]["first_name"] = "changed"
    assert big.raw == lead(3)


def copy(text: str) -> str:
    """An equal text that is another object (not interned)."""
    return "".join(list(text))


def test_share_texts_makes_equal_texts_of_two_records_one_object_and_changes_no_value() -> None:
    one: Canon = {"email": copy("asha@example.in"), "tags": [copy("vip"), copy("callyzer")], "status": copy("New")}
    two: Canon = {"email": copy("asha@example.in"), "tags": [copy("vip")], "company": copy("Orbit")}
    before = (json.loads(json.dumps(one)), json.loads(json.dumps(two)))
    assert one["email"] is not two["email"]
    share_texts(one)
    share_texts(two)
    assert (one, two) == before
    assert one["email"] is two["email"]
    assert one["tags"][0] is two["tags"][0]
    assert isinstance(one["tags"], list)
    assert sys.intern(copy("Orbit")) is two["company"]


def test_share_texts_makes_equal_lists_of_texts_one_list_and_keeps_other_lists_apart() -> None:
    one = {"tags": [copy("vip"), copy("callyzer")], "odd": [1, copy("x")]}
    two = {"tags": [copy("vip"), copy("callyzer")], "odd": [True, copy("x")]}
    three: Canon = {"tags": [copy("callyzer"), copy("vip")]}
    share_texts(one)  # type: ignore[arg-type]  # deliberate: lists holding more than texts
    share_texts(two)  # type: ignore[arg-type]  # deliberate: lists holding more than texts
    share_texts(three)
    assert one["tags"] is two["tags"] and one["tags"] == ["vip", "callyzer"]
    assert three["tags"] is not one["tags"] and three["tags"] == ["callyzer", "vip"]
    assert one["odd"] is not two["odd"]  # 1 == True: lists that hold more than texts are never shared
    assert one["odd"] == [1, "x"] and type(one["odd"][0]) is int
    assert two["odd"] == [True, "x"] and type(two["odd"][0]) is bool
