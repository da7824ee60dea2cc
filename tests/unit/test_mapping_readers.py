"""The compiled readers (``Mapper.to_canonical``) against the general reading (``Mapper.read_general``), the
definition of reading a record: on any raw record, of any shape, both give the same values in the same
order, the same problems and the same unreadable fields."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd import canonical
from syncd.mapping import paths
from syncd.mapping.apply import Inbound, Mapper
from syncd.mapping.spec import load
from syncd.mapping.transforms import TRANSFORMS

MAPPINGS = Path(__file__).parents[2] / "mappings"
SHIPPED = sorted(MAPPINGS.glob("*.toml"))

#: a mapping that takes the compiled readers' every turn: a constant, a value map naming "", a list field
#: read through "number", a three-step path, a full name, a value read with "lower"
ODD = """
[mapping]
system = "x"
object = "leads"
id = "id"

[[fields]]
canonical = "source"
path = "_constant"
direction = "in"
constant = "Web"

[[fields]]
canonical = "status"
path = "s.v"
transforms = ["trim"]
values = { "" = "Unset", "A" = "Alpha" }

[[fields]]
canonical = "tags"
path = "t"
transforms = ["number"]

[[fields]]
canonical = "phone"
path = "a.b[1]"
transforms = ["phone"]

[[fields]]
canonical = ["first_name", "last_name"]
path = "name"
transforms = ["trim", "full_name"]

[[fields]]
canonical = "email"
path = "e"
transforms = ["trim", "lower"]

[[fields]]
canonical = "value"
path = "deep.er.est"
transforms = ["number"]
"""

TEXTS = st.one_of(
    st.sampled_from(["", " ", "  Mary  Ann ", "A", " A ", "Positive", "Follow Up", "Hot", "Qualified",
                     "+91 99887 76655", "9988776655", "91-9988776655", "12345", "+1 415 555 2671", "$3,000.00",
                     "1e3", "Rs. 500", "MARY@Example.COM", "x\x1by", "\t", "Cher", "NewInquiry"]),
    st.text(max_size=12),
)  # fmt: skip
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=False), TEXTS)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=6,
)


def _tidy(transforms: tuple[str, ...]) -> st.SearchStrategy[Any]:
    if "phone" in transforms:
        return st.sampled_from(["+91 99887 76655", "9988776655", "91-9988776655", "+1 415 555 2671", "", " "])
    if "number" in transforms:
        return st.one_of(st.sampled_from(["$3,000.00", "1e3", "Rs. 500", "", "12"]), st.integers(0, 10**6))
    return st.one_of(st.sampled_from(["", " ", "  Mary  Ann ", "A", "Positive", "Hot", "Follow Up", "x\x1by"]),
                     st.text(max_size=8), st.integers(-5, 5), st.floats(allow_nan=False), st.booleans())  # fmt: skip


def mappers(tmp_path_factory: Any) -> list[Mapper]:
    odd = tmp_path_factory.mktemp("odd") / "odd.toml"
    odd.write_text(ODD, encoding="utf-8")
    return [Mapper(load(path), "IN", "Asia/Kolkata") for path in [*SHIPPED, odd]]


@st.composite
def raw_records(draw: st.DrawFn, mapper: Mapper) -> dict[str, Any]:
    """A record with a value (often a text, sometimes anything JSON) at some of the mapping's paths, and
    now and then a value of the wrong kind on the way to one (``details`` a string)."""
    raw: dict[str, Any] = {}
    tidy = draw(st.booleans())  # every value of a kind its field reads without a problem
    for f in mapper.spec.fields:
        if f.constant is not None or not draw(st.booleans()):
            continue
        if tidy:
            value = draw(st.one_of(st.none(), _tidy(f.transforms)))
            if any(name in canonical.LIST_FIELDS for name in f.canonical) and draw(st.booleans()):
                value = draw(st.lists(_tidy(f.transforms), max_size=3))
            paths.put(raw, f.steps, value)
            continue
        value = draw(st.one_of(TEXTS, TEXTS, st.lists(TEXTS, max_size=3), JSON))
        paths.put(raw, f.steps, value)
        if len(f.steps) > 1 and draw(st.integers(0, 9)) == 0:
            paths.put(raw, f.steps[:1], draw(SCALARS | st.lists(SCALARS, max_size=2)))
    return raw


def test_compiled_readers_read_as_the_general_reading(tmp_path_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    all_mappers = mappers(tmp_path_factory)
    deferred: list[Mapper] = []  # the mappers whose to_canonical handed the record to the general reading

    def noting(m: Mapper) -> Callable[[dict[str, Any]], Inbound]:
        def read_general(raw: dict[str, Any]) -> Inbound:
            deferred.append(m)
            return Mapper.read_general(m, raw)

        return read_general

    for mapper in all_mappers:
        monkeypatch.setattr(mapper, "read_general", noting(mapper))
    compiled = 0

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def check(data: st.DataObject) -> None:
        nonlocal compiled
        mapper = data.draw(st.sampled_from(all_mappers))
        raw = data.draw(raw_records(mapper))
        deferred.clear()
        fast = mapper.to_canonical(raw)
        compiled += not deferred
        general = Mapper.read_general(mapper, raw)
        assert list(fast.values.items()) == list(general.values.items()), raw
        # clean, as Record promises the planner (its quiet path does not look again)
        assert list(canonical.clean(fast.values).items()) == list(fast.values.items()), raw
        assert fast.problems == general.problems, raw
        assert fast.unreadable == general.unreadable, raw

    check()
    assert compiled >= 120, f"only {compiled} records were read by the compiled readers: the test compares too little"


def test_a_way_in_that_reads_blank_as_a_value_is_asked_not_assumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled readers skip "" unread only where the field's own ways in read it as nothing."""
    monkeypatch.setitem(TRANSFORMS, "unknown_if_blank", (lambda v, ctx: "Unknown" if v == "" else v, lambda v, ctx: v))
    body = '[mapping]\nsystem = "x"\nobject = "leads"\nid = "id"\n\n[[fields]]\ncanonical = "status"\npath = "s"\n'
    path = tmp_path / "m.toml"
    path.write_text(body + 'transforms = ["trim", "unknown_if_blank"]\n', encoding="utf-8")
    mapper = Mapper(load(path), "IN")
    assert mapper.to_canonical({"id": "1", "s": ""}).values == {"status": "Unknown"}
    assert mapper.to_canonical({"id": "1", "s": " "}).values == {"status": "Unknown"}  # trimmed to "" first
    assert mapper.to_canonical({"id": "1", "s": ""}) == Mapper.read_general(mapper, {"id": "1", "s": ""})
