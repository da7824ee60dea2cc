"""The declarative mapping: paths, transforms, the spec loader, and the two shipped mapping files."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncd import canonical, phones
from syncd.mapping import paths
from syncd.mapping.apply import Mapper
from syncd.mapping.spec import MappingError, load
from syncd.mapping.transforms import TRANSFORMS, Context, TransformError, join_name, split_name

MAPPINGS = Path(__file__).parents[2] / "mappings"
CALLYZER = MAPPINGS / "callyzer-leads.toml"
CALLSAVVY = MAPPINGS / "callsavvy-leads.toml"
IN = Context("IN", "e164")


def callyzer() -> Mapper:
    return Mapper(load(CALLYZER), "IN", "Asia/Kolkata")


def callsavvy() -> Mapper:
    return Mapper(load(CALLSAVVY), "IN", "Asia/Kolkata")


def write_mapping(tmp_path: Path, body: str, name: str = "m.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


HEAD = '[mapping]\nsystem = "x"\nobject = "leads"\nid = "id"\n'


def one_field(field: str) -> str:
    return HEAD + "\n[[fields]]\n" + field + "\n"


# --- paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("id", ["id"]),
        ("details.first_name", ["details", "first_name"]),
        ("details.contact_numbers[1]", ["details", "contact_numbers", 1]),
        ("a[0][2].b", ["a", 0, 2, "b"]),
        ("_x.y9", ["_x", "y9"]),
    ],
)
def test_path_parse(text: str, steps: list[paths.Step]) -> None:
    assert paths.parse(text) == steps


@pytest.mark.parametrize("text", ["", "a..b", "1a", "a[x]", "a[1", "a.b[-1]", "a b", "a.[0]"])
def test_path_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad path"):
        paths.parse(text)


def test_path_get_nested_and_missing() -> None:
    data = {"details": {"contact_numbers": ["91-1", "91-2"], "name": "Ann"}, "tags": "x"}
    assert paths.get(data, ["details", "name"]) == "Ann"
    assert paths.get(data, ["details", "contact_numbers", 1]) == "91-2"
    assert paths.get(data, ["details", "contact_numbers", 2]) is None  # past the end
    assert paths.get(data, ["details", "missing", 0]) is None
    assert paths.get(data, ["tags", "inner"]) is None  # a string is no dict
    assert paths.get(data, ["details", 0]) is None  # a dict is no list
    assert paths.get(data, ["details", "name", 0]) is None
    assert paths.get([{"a": 1}], [0, "a"]) == 1


def test_path_put_creates_dicts_and_pads_lists() -> None:
    data: dict[str, Any] = {}
    paths.put(data, paths.parse("details.contact_numbers[1]"), "91-2")
    assert data == {"details": {"contact_numbers": [None, "91-2"]}}
    paths.put(data, paths.parse("details.contact_numbers[0]"), "91-1")
    assert data == {"details": {"contact_numbers": ["91-1", "91-2"]}}
    paths.put(data, paths.parse("a[2].b"), 5)
    assert data["a"] == [None, None, {"b": 5}]
    paths.put(data, paths.parse("a[2].c"), 6)
    assert data["a"][2] == {"b": 5, "c": 6}


def test_path_put_replaces_wrong_shapes() -> None:
    data: dict[str, Any] = {"details": "not a dict", "lst": {"not": "a list"}}
    paths.put(data, ["details", "x"], 1)
    paths.put(data, ["lst", 0], "v")
    assert data == {"details": {"x": 1}, "lst": ["v"]}


def test_path_get_put_roundtrip() -> None:
    for text in ("a", "a.b.c", "a[3]", "a.b[1].c[0]"):
        data: dict[str, Any] = {}
        steps = paths.parse(text)
        paths.put(data, steps, "v")
        assert paths.get(data, steps) == "v", text


def test_compact_lists_drops_holes_only() -> None:
    assert paths.compact_lists({"x": [None, "", "a", {"y": [None, 0, "b"]}], "s": ""}) == {
        "x": ["a", {"y": [0, "b"]}],
        "s": "",
    }


# --- transforms -------------------------------------------------------------------------------------


def test_trim_collapses_whitespace_both_ways() -> None:
    trim_in, trim_out = TRANSFORMS["trim"]
    assert trim_in("  Mary \t Ann \n", IN) == "Mary Ann"
    assert trim_out("  Mary   Ann ", IN) == "Mary Ann"
    assert trim_in([" a ", "b  c"], IN) == ["a", "b c"]
    assert trim_in(None, IN) is None


def test_lower_in_only() -> None:
    lower_in, lower_out = TRANSFORMS["lower"]
    assert lower_in("Mary@Example.COM", IN) == "mary@example.com"
    assert lower_out("Mary@Example.COM", IN) == "Mary@Example.COM"  # out: identity
    assert lower_in(None, IN) is None


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("91-9988776655", "US", "+919988776655"),  # Callyzer's CC-NUMBER, whatever the region
        ("9988776655", "IN", "+919988776655"),  # bare national digits, default region IN
        ("+91 99887 76655", "US", "+919988776655"),
        ("0091 9988776655", "US", "+919988776655"),
        ("099887 76655", "IN", "+919988776655"),  # national trunk prefix
        ("+1 (415) 555-2671", "IN", "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        (" 39-0612345678 ", "IN", "+390612345678"),  # Italian leading zero kept
    ],
)
def test_phone_in(raw: str, region: str, e164: str) -> None:
    assert TRANSFORMS["phone"][0](raw, Context(region, "e164")) == e164
    assert phones.to_e164(raw, region) == e164


@pytest.mark.parametrize(
    ("fmt", "out"),
    [
        ("e164", "+919988776655"),
        ("cc_hyphen", "91-9988776655"),
        ("national_digits", "9988776655"),
        ("international", "+91 99887 76655"),
    ],
)
def test_phone_out_and_back(fmt: str, out: str) -> None:
    assert TRANSFORMS["phone"][1]("+919988776655", Context("IN", fmt)) == out
    assert TRANSFORMS["phone"][0](out, Context("IN", fmt)) == "+919988776655"


def test_phone_out_italian_leading_zero_survives() -> None:
    assert phones.from_e164("+390612345678", "cc_hyphen") == "39-0612345678"
    assert phones.from_e164("+390612345678", "national_digits") == "0612345678"


@pytest.mark.parametrize("raw", ["12345", "abc", "+91 12345", "91-12"])
def test_phone_in_invalid_raises(raw: str) -> None:
    with pytest.raises(TransformError, match="phone number"):
        TRANSFORMS["phone"][0](raw, IN)


def test_phone_blank_and_non_e164_pass_through() -> None:
    phone_in, phone_out = TRANSFORMS["phone"]
    assert phone_in("", IN) == ""
    assert phone_in(None, IN) is None
    assert phone_out("12345", IN) == "12345"  # not E.164: the raw value goes out, validate() reports it
    with pytest.raises(phones.PhoneError, match="unknown phone format"):
        phones.from_e164("+919988776655", "dotted")


@pytest.mark.parametrize(
    ("raw", "out"),
    [
        ("$3,000", "3000"),
        ("3000.0", "3000"),
        (3000, "3000"),
        ("3,000.50", "3000.5"),
        ("-250.50", "-250.5"),
        ("INR 1,00,000", "100000"),
        ("₹ 2,500", "2500"),
        ("Rs. 500", "500"),
        ("Rs.500", "500"),
        ("", None),
        (None, None),
    ],
)
def test_number_in(raw: Any, out: str | None) -> None:
    assert TRANSFORMS["number"][0](raw, IN) == out
    assert TRANSFORMS["number"][1]("3000", IN) == "3000"


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "-"])
def test_number_in_invalid(raw: str) -> None:
    with pytest.raises(TransformError, match="not a number"):
        TRANSFORMS["number"][0](raw, IN)


@pytest.mark.parametrize(
    ("full", "first", "last"),
    [
        ("Mary Ann Smith", "Mary Ann", "Smith"),
        ("Cher", "Cher", None),
        ("  Ravi   Kumar ", "Ravi", "Kumar"),
        ("", None, None),
        (None, None, None),
    ],
)
def test_split_name(full: Any, first: str | None, last: str | None) -> None:
    assert split_name(full) == (first, last)


def test_join_name() -> None:
    assert join_name("Mary Ann", "Smith") == "Mary Ann Smith"
    assert join_name("Cher", None) == "Cher"
    assert join_name(None, "Smith") == "Smith"
    assert join_name("", "  ") is None
    first, last = split_name(join_name("Mary Ann", "Smith"))
    assert (first, last) == ("Mary Ann", "Smith")


# --- applying a mapping ---------------------------------------------------------------------------------


def test_callyzer_record_to_canonical() -> None:
    raw = {
        "id": 42,
        "modified_at": "2023-11-30 22:42:53 IST",
        "details": {
            "first_name": "  Mary  Ann ",
            "last_name": "Smith",
            "contact_numbers": ["91-9988776655", "9988776656"],
            "email": " MARY@Example.COM ",
            "company_name": "",
            "price": "$3,000.00",
        },
        "status": {"lead_status": "Positive"},
        "lead_tags": [" vip ", "b"],
    }
    m = callyzer()
    inbound = m.to_canonical(raw)
    assert inbound.problems == []
    assert inbound.values == {
        "first_name": "Mary Ann",
        "last_name": "Smith",
        "phone": "+919988776655",
        "phone2": "+919988776656",
        "email": "mary@example.com",
        "value": "3000",
        "status": "Qualified",
        "tags": ["vip", "b"],
    }
    assert m.remote_id(raw) == "42"
    # "IST" is informational: the account's zone (Asia/Kolkata, +05:30) decides
    assert m.modified(raw) == datetime(2023, 11, 30, 17, 12, 53, tzinfo=UTC)


def test_invalid_phone_is_kept_with_a_problem() -> None:
    inbound = callyzer().to_canonical({"id": 1, "details": {"first_name": "Ann", "contact_numbers": [" 12345 "]}})
    assert inbound.values["phone"] == "12345"  # the raw value (trimmed) is kept, not dropped
    assert len(inbound.problems) == 1
    assert "details.contact_numbers[0]" in inbound.problems[0]
    assert "12345" in inbound.problems[0]


def test_object_where_a_value_belongs_is_a_problem() -> None:
    inbound = callyzer().to_canonical({"details": {"first_name": {"nested": 1}, "last_name": "Smith"}})
    assert inbound.values == {"last_name": "Smith"}
    assert inbound.problems == ["details.first_name: expected a value, got an object"]


def test_modified_formats(tmp_path: Path) -> None:
    spec_iso = load(write_mapping(tmp_path, HEAD.replace('id = "id"', 'id = "id"\nmodified = "m"') + _NAME_FIELD))
    m = Mapper(spec_iso, "IN", "Asia/Kolkata")
    assert m.modified({"m": "2024-01-02T03:04:05Z"}) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert m.modified({"m": "2024-01-02T08:34:05"}) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)  # account zone
    assert m.modified({"m": "yesterday"}) is None
    assert m.modified({}) is None
    unix = HEAD.replace('id = "id"', 'id = "id"\nmodified = "m"\nmodified_format = "unix"') + _NAME_FIELD
    m2 = Mapper(load(write_mapping(tmp_path, unix, "u.toml")), "IN", "UTC")
    assert m2.modified({"m": 1704164645}) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert m2.remote_id({"id": ""}) is None


_NAME_FIELD = '\n[[fields]]\ncanonical = "first_name"\npath = "name"\n'


def test_value_map_and_reverse() -> None:
    m = callyzer()
    assert m.to_canonical({"status": {"lead_status": "NewInquiry"}}).values["status"] == "Potential"
    assert m.to_canonical({"status": {"lead_status": "Follow Up"}}).values["status"] == "Interested"
    assert m.to_canonical({"status": {"lead_status": "Custom"}}).values["status"] == "Custom"  # unmapped: as is
    assert m.to_provider({"status": "Potential"})["status"] == {"lead_status": "NewInquiry"}
    assert m.to_provider({"status": "Bad Fit"})["status"] == {"lead_status": "Negative"}
    # two provider values read as "Interested": the first entry is the one written back
    assert m.to_provider({"status": "Interested"})["status"] == {"lead_status": "Interested"}


def test_values_out_overrides_reverse(tmp_path: Path) -> None:
    body = one_field(
        'canonical = "status"\npath = "s"\nvalues = { "A" = "Alpha", "B" = "Alpha" }\nvalues_out = { "Alpha" = "B" }'
    )
    m = Mapper(load(write_mapping(tmp_path, body)))
    assert m.to_canonical({"s": "A"}).values == {"status": "Alpha"}
    assert m.to_provider({"status": "Alpha"}) == {"s": "B"}


def test_default_for_blank_and_list_blank() -> None:
    payload = callsavvy().to_provider({"first_name": "Ann", "phone": "+919988776655"})
    assert payload["status"] == "Potential"
    assert payload["priority"] == "Warm"
    assert payload["summary"] == "Lead synced by syncd"
    assert payload["organization"] == ""  # no default: blank
    assert "priorty" not in payload  # the "in" spelling is never written
    assert callyzer().to_provider({"first_name": "Ann"})["lead_tags"] == []


def test_truncate_on_the_way_out() -> None:
    m = callyzer()
    notes = "word " * 300  # 1500 characters
    out = m.to_provider({"notes": notes})["details"]["description"]
    assert len(out) <= 1000
    assert out == notes[:1000].rstrip()
    assert m.to_provider({"city": "x" * 150})["details"]["city"] == "x" * 100


def test_to_provider_keeps_unmapped_fields_of_the_base() -> None:
    base: dict[str, Any] = {
        "id": "7",
        "details": {"first_name": "Old", "extra": "keep"},
        "assigned_to": {"employee": ["e1"]},
    }
    out = callyzer().to_provider({"first_name": "New", "phone": "+919988776655"}, base)
    assert out["id"] == "7"
    assert out["details"]["extra"] == "keep"
    assert out["assigned_to"] == {"employee": ["e1"]}
    assert out["details"]["first_name"] == "New"
    assert out["details"]["contact_numbers"] == ["91-9988776655"]  # blank phone2 leaves no hole
    assert base["details"]["first_name"] == "Old"  # the base itself is not touched


def test_full_name_both_ways() -> None:
    m = callsavvy()
    values = m.to_canonical({"name": " Mary  Ann Smith "}).values
    assert (values["first_name"], values["last_name"]) == ("Mary Ann", "Smith")
    values = m.to_canonical({"name": "Cher"}).values
    assert values["first_name"] == "Cher" and "last_name" not in values
    assert m.to_provider({"first_name": "Mary Ann", "last_name": "Smith"})["name"] == "Mary Ann Smith"
    assert m.to_provider({"last_name": "Smith"})["name"] == "Smith"


# --- validation before sending -----------------------------------------------------------------------


def test_validate_length_names_file_and_field() -> None:
    m = callyzer()
    problems = m.validate({"first_name": "Al", "phone": "+919988776655"})
    assert problems == [f"{CALLYZER} field first_name: 'Al' is 2 characters; callyzer accepts 3 to 250"]
    assert m.validate({"first_name": "Ann", "phone": "+919988776655", "zip": "12345678901"}) == [
        f"{CALLYZER} field zip: '12345678901' is 11 characters; callyzer accepts 2 to 10"
    ]


def test_validate_required() -> None:
    problems = callyzer().validate({"first_name": "Ann"})
    assert problems == [f"{CALLYZER} field phone: required by callyzer but blank"]


def test_validate_invalid_phone() -> None:
    problems = callyzer().validate({"first_name": "Ann", "phone": "12345"})
    assert problems == [f"{CALLYZER} field phone: '12345' is not a valid phone number"]


def test_validate_allowed_values() -> None:
    problems = callsavvy().validate({"first_name": "Ann", "phone": "+919988776655", "status": "Weird"})
    assert len(problems) == 1
    assert problems[0].startswith(f"{CALLSAVVY} field status: 'Weird' is not a value callsavvy accepts")
    assert "map it under 'values'" in problems[0]
    problems = callsavvy().validate({"first_name": "Ann", "phone": "+919988776655", "priority": "Urgent"})
    assert len(problems) == 1 and "field priority" in problems[0]


def test_validate_require_one_of() -> None:
    problems = callsavvy().validate({"first_name": "Ann"})
    assert problems == [f"{CALLSAVVY}: callsavvy needs at least one of email, phone"]
    assert callsavvy().validate({"first_name": "Ann", "email": "a@b.co"}) == []


def test_validate_clean_record() -> None:
    values: dict[str, Any] = {
        "first_name": "Ann",
        "last_name": "Smith",
        "phone": "+919988776655",
        "email": "ann@example.com",
    }
    assert callyzer().validate(values) == []
    assert callsavvy().validate(values) == []


# --- the spec loader ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        (HEAD + "typo = 1\n" + _NAME_FIELD, "[mapping]", "unknown key(s) typo"),
        (HEAD + _NAME_FIELD + "dierction = 'in'\n", "field 'first_name'", "unknown key(s) dierction"),
        (HEAD + _NAME_FIELD + "[extra]\n", "top level", "unknown key(s) extra"),
        (one_field('canonical = "fist_name"\npath = "n"'), "field 'fist_name'", "unknown canonical field 'fist_name'"),
        (one_field('canonical = "email"\npath = "e"\ndirection = "sideways"'), "field 'email'.direction", "sideways"),
        (one_field('canonical = "email"\npath = "e"\ntransforms = ["upper"]'), "field 'email'.transforms", "'upper'"),
        (
            one_field('canonical = "first_name"\npath = "n"\ntransforms = ["full_name"]'),
            "field 'first_name'",
            "full_name",
        ),
        (
            one_field('canonical = ["first_name", "last_name"]\npath = "n"'),
            "field ['first_name', 'last_name']",
            "full_name",
        ),
        (one_field('canonical = "email"\npath = "a..b"'), "field 'email'.path", "bad path"),
        (one_field('canonical = "email"'), "field 'email'", "'path'"),
        (one_field('canonical = "email"\npath = "e"\nphone_format = "dots"'), "field 'email'.phone_format", "e164"),
        (one_field('canonical = "email"\npath = "e"\nlength = [5, 2]'), "field 'email'.length", "min <= max"),
        (one_field('canonical = "email"\npath = "e"\ntruncate = 0'), "field 'email'.truncate", "positive"),
        (one_field('canonical = "email"\npath = "e"\nvalues = { "a" = 1 }'), "field 'email'.values", "strings"),
        (one_field('canonical = "email"\npath = "e"\nrequired = "yes"'), "field 'email'.required", "true or false"),
        (one_field('canonical = "email"\npath = "e"\nallowed = "x"'), "field 'email'.allowed", "list of strings"),
        (one_field('path = "e"'), "fields[0]", "'canonical'"),
        (HEAD + _NAME_FIELD + _NAME_FIELD, "field first_name", "already read"),
        (HEAD, "[[fields]]", "at least one field"),
        ('[mapping]\nsystem = "x"\nobject = "leads"\n' + _NAME_FIELD, "mapping.id", "non-empty string"),
        (HEAD.replace('id = "id"', 'id = "id[x]"') + _NAME_FIELD, "mapping.id", "bad path"),
        (HEAD + 'modified_format = "rfc"\n' + _NAME_FIELD, "mapping.modified_format", "iso8601"),
        (HEAD + 'require_one_of = [["emial"]]\n' + _NAME_FIELD, "mapping.require_one_of", "'emial'"),
        (HEAD + 'require_one_of = ["email"]\n' + _NAME_FIELD, "mapping.require_one_of", "list of lists"),
        (_NAME_FIELD, "[mapping]", "missing table"),
        ("[mapping\n", "syntax", ""),
    ],
)
def test_spec_errors_name_file_and_field(tmp_path: Path, body: str, where: str, message: str) -> None:
    path = write_mapping(tmp_path, body)
    with pytest.raises(MappingError) as info:
        load(path)
    err = info.value
    assert err.file == str(path)
    assert err.where == where
    assert str(err).startswith(f"{path}: {where}: ")
    assert message in str(err)


def test_spec_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="does not exist") as info:
        load(tmp_path / "nope.toml")
    assert info.value.file == str(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (one_field('canonical = "email"\npath = "e"\ntransforms = 5'), "field 'email'.transforms"),
        (HEAD.replace('id = "id"', 'id = "id"\nmodified = 5') + _NAME_FIELD, "mapping.modified"),
        (HEAD + "require_one_of = [[1]]\n" + _NAME_FIELD, "mapping.require_one_of"),
    ],
)
def test_spec_wrong_types_are_mapping_errors_not_crashes(tmp_path: Path, body: str, where: str) -> None:
    """Bad config must fail clearly (file, key, what is wrong), never with a Python traceback."""
    path = write_mapping(tmp_path, body)
    with pytest.raises(MappingError) as info:
        load(path)
    assert info.value.where == where
    assert str(path) in str(info.value)


def test_in_and_out_fields_for_one_canonical_name_are_allowed() -> None:
    spec = load(CALLSAVVY)
    priority = [f for f in spec.fields if f.canonical == ("priority",)]
    assert {(f.path, f.direction) for f in priority} == {("priorty", "in"), ("priority", "out")}
    assert "priority" in spec.canonical_fields(reads=True)
    assert "priority" in spec.canonical_fields(writes=True)


def test_shipped_mappings_load() -> None:
    cz, cs = load(CALLYZER), load(CALLSAVVY)
    assert (cz.system, cz.object, cz.id_path) == ("callyzer", "leads", ("id",))
    assert (cs.system, cs.object, cs.id_path) == ("callsavvy", "leads", ("lead_id",))
    assert cz.modified_format == "callyzer"
    assert cs.require_one_of == (("email", "phone"),)
    for spec in (cz, cs):
        for f in spec.fields:
            assert all(canonical.is_field(n) for n in f.canonical)


# --- round trips of the shipped files ---------------------------------------------------------------------

CALLYZER_RECORDS: list[dict[str, Any]] = [
    {
        "id": "1",
        "details": {
            "first_name": "Mary Ann",
            "last_name": "Smith",
            "contact_numbers": ["91-9988776655", "91-9988776656"],
            "email": "Mary@Example.com",
            "company_name": "Acme Traders",
            "address1": "12 MG Road",
            "city": "Pune",
            "state": "MH",
            "country": "India",
            "zip": "411001",
            "price": "3,000.00",
            "source": "Website",
            "description": "Called twice",
        },
        "status": {"lead_status": "Follow Up"},
        "lead_tags": ["vip", "north"],
    },
    {"id": "2", "details": {"first_name": "Ravi", "contact_numbers": ["9988776600"]}, "status": {"lead_status": ""}},
    {"id": "3", "details": {"first_name": "Zed", "contact_numbers": ["+1 415 555 2671"]}, "lead_tags": []},
]
CALLSAVVY_RECORDS: list[dict[str, Any]] = [
    {
        "lead_id": "cs-1",
        "name": "Mary Ann Smith",
        "email": "MARY@example.com",
        "phone": "+91 99887 76655",
        "status": "Qualified",
        "priorty": "Hot",
        "summary": "From the expo",
        "organization": "Acme",
        "location": "Pune",
        "source": "Expo",
        "worth": "$1,500",
        "notes": "n",
    },
    {"lead_id": "cs-2", "name": "Cher", "phone": "9988776601", "status": "Potential", "priorty": "Warm"},
]


@pytest.mark.parametrize(
    ("mapper", "raw"),
    [(callyzer, r) for r in CALLYZER_RECORDS] + [(callsavvy, r) for r in CALLSAVVY_RECORDS],
)
def test_shipped_mapping_round_trip_is_stable(mapper: Any, raw: dict[str, Any]) -> None:
    m: Mapper = mapper()
    first = m.to_canonical(raw)
    assert first.problems == []
    payload = m.to_provider(first.values, raw)
    assert m.remote_id(payload) == m.remote_id(raw)
    if m.spec.system == "callsavvy":  # getLeads shows the priority under its own spelling
        payload["priorty"] = payload["priority"]
    second = m.to_canonical(payload)
    assert second.problems == []
    # the write-only fields' defaults come back (status, summary); everything read must survive unchanged
    for name, value in first.values.items():
        assert second.values.get(name) == value, name
    payload2 = m.to_provider(second.values, payload)
    assert payload2 == payload  # a second pass changes nothing
    third = m.to_canonical(copy.deepcopy(payload2))
    assert third.values == second.values


def test_cross_system_round_trip() -> None:
    """A Callyzer lead written to Callsavvy and read back there is the same canonical person."""
    cz, cs = callyzer(), callsavvy()
    person = cz.to_canonical(CALLYZER_RECORDS[0]).values
    shared = cz.reads & cs.reads & cs.writes & cz.writes
    back = cs.to_canonical({**cs.to_provider(person), "priorty": "Warm"}).values
    for name in shared - {"tags"}:
        assert back.get(name) == person.get(name), name
    again = cz.to_canonical(cz.to_provider(back)).values
    for name in shared - {"tags"}:
        assert again.get(name) == person.get(name), name


def test_value_maps_read_the_trimmed_value() -> None:
    from syncd.mapping.spec import parse as parse_spec

    spec = parse_spec(
        {"mapping": {"system": "callyzer", "object": "leads", "id": "id"},
         "fields": [{"canonical": "status", "path": "s", "transforms": ["trim"], "values": {"Positive": "Qualified"}}]},
        "m.toml",
    )  # fmt: skip
    assert Mapper(spec, "IN").to_canonical({"id": "1", "s": "  Positive "}).values == {"status": "Qualified"}


def test_truncate_true_is_refused_not_read_as_one() -> None:
    from syncd.mapping.spec import MappingError
    from syncd.mapping.spec import parse as parse_spec

    with pytest.raises(MappingError, match="truncate"):
        parse_spec(
            {"mapping": {"system": "x", "object": "leads", "id": "id"},
             "fields": [{"canonical": "notes", "path": "n", "truncate": True}]},
            "m.toml",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "number"), [("1e3", "1000"), ("3000.0", "3000"), ("Rs. 500", "500"), ("$3,000", "3000")]
)
def test_number_transform_reads_money_and_scientific_notation(raw: str, number: str) -> None:
    from syncd.mapping.transforms import TRANSFORMS, Context

    assert TRANSFORMS["number"][0](raw, Context("IN", "e164")) == number


def test_a_hyphen_that_makes_no_valid_country_code_is_a_local_number() -> None:
    from syncd.phones import to_e164

    assert to_e164("91-9988776655", "US") == "+919988776655"
    assert to_e164("212-5551234", "US") == "+12125551234"


def test_remote_id_reads_text_and_numbers_and_refuses_what_is_no_id(tmp_path: Path) -> None:
    """The one-key path (``id``) is read directly; a nested one walks the record. Both say the same thing."""
    top = Mapper(load(write_mapping(tmp_path, HEAD + _NAME_FIELD)), "IN", "UTC")
    nested_head = HEAD.replace('id = "id"', 'id = "meta.ids[0]"')
    nested = Mapper(load(write_mapping(tmp_path, nested_head + _NAME_FIELD, "n.toml")), "IN", "UTC")
    cases: list[tuple[Any, str | None]] = [
        ("42", "42"), (42, "42"), (4.5, "4.5"), ("  ", None), ("", None), (None, None), (True, None),
        ({"x": 1}, None), ([1], None), (" 7 ", " 7 "),
    ]  # fmt: skip
    for value, expected in cases:
        assert top.remote_id({"id": value}) == expected, value
        assert nested.remote_id({"meta": {"ids": [value]}}) == expected, value
    assert top.remote_id({}) is None and nested.remote_id({"meta": "x"}) is None
    assert top.remote_id(["not", "a", "record"]) is None  # type: ignore[arg-type]
