"""libphonenumber's conversions are remembered in the process (syncd.mapping.phone_cache) and handed to the next
process through the state (syncd.state.phone_memo): a cache, so it must give exactly what parsing gives, stay
bounded, keep no failure and no secret, and refuse a memo this code and libphonenumber did not write."""

from __future__ import annotations

import marshal
from collections.abc import Iterator

import pytest

from syncd import logging as syncd_logging
from syncd import phones
from syncd.mapping import phone_cache
from syncd.state import phone_memo

NUMBERS = ["9988776655", "91-9988776656", "+91 99887 76657", "0091 9988776658", "212-5551234"]


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    """Each test as a new process: no conversion in memory, before and after."""
    phone_cache.clear()
    yield
    phone_cache.clear()


def count_parsing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts libphonenumber is asked to convert from now on, either way (shared with the e2e tests)."""
    asked: list[str] = []
    for way in phone_cache.WAYS:
        convert = way._convert

        def counting(text: str, how: str, convert: object = convert) -> str:
            asked.append(text)
            return convert(text, how)  # type: ignore[operator,no-any-return]

        monkeypatch.setattr(way, "_convert", counting)
    return asked


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return count_parsing(monkeypatch)


def test_a_conversion_is_parsed_once_and_counted(parsed: list[str]) -> None:
    got = [phone_cache.to_e164(n, "IN") for n in NUMBERS * 3]
    assert got == [phones.to_e164(n, "IN") for n in NUMBERS * 3]
    assert parsed == NUMBERS and phone_cache.made() == len(NUMBERS)
    # the region is part of what a text means: "212-5551234" is another number in the US
    assert phone_cache.to_e164("212-5551234", "US") == "+12125551234" != phone_cache.to_e164("212-5551234", "IN")
    assert phone_cache.from_e164("+919988776655", "cc_hyphen") == "91-9988776655"
    assert phone_cache.from_e164("+919988776655", "cc_hyphen") == "91-9988776655"
    assert parsed.count("+919988776655") == 1 and phone_cache.made() == len(NUMBERS) + 2


def test_a_failure_is_not_remembered(parsed: list[str]) -> None:
    for _ in range(2):
        with pytest.raises(phones.PhoneError):
            phone_cache.to_e164("12", "IN")
    assert parsed == ["12", "12"] and phone_cache.made() == 0
    assert phone_cache.to_e164.known == {"IN": {}}


def test_each_region_holds_at_most_size_and_starts_again_past_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(phone_cache, "SIZE", 3)
    for n in NUMBERS:
        phone_cache.to_e164(n, "IN")
    assert len(phone_cache.to_e164.known["IN"]) == 2  # 3 held, then forgotten for the 4th, the 5th beside it
    assert phone_cache.made() == 5


def test_a_new_process_takes_the_conversions_the_last_one_used_and_leaves_only_those_it_uses(
    parsed: list[str],
) -> None:
    expected = {n: phone_cache.to_e164(n, "IN") for n in NUMBERS}
    outward = phone_cache.from_e164(expected[NUMBERS[0]], "international")
    taken = phone_memo.dump()
    phone_cache.clear()
    parsed.clear()

    assert phone_memo.adopt(taken)
    assert {n: phone_cache.to_e164(n, "IN") for n in NUMBERS[:2]} == {n: expected[n] for n in NUMBERS[:2]}
    assert phone_cache.from_e164(expected[NUMBERS[0]], "international") == outward == "+91 99887 76655"
    assert parsed == [] and phone_cache.made() == 0, "nothing parsed, nothing new to leave"
    assert phone_cache.to_e164("9988776699", "IN") == "+919988776699"
    assert parsed == ["9988776699"] and phone_cache.made() == 1
    # what this process leaves: what it used (two numbers it was left, one it parsed), not all it was left
    again = phone_memo.dump()
    phone_cache.clear()
    assert phone_memo.adopt(again)
    assert phone_cache.to_e164.left == {"IN": {**{n: expected[n] for n in NUMBERS[:2]}, "9988776699": "+919988776699"}}
    assert phone_cache.from_e164.left == {"international": {expected[NUMBERS[0]]: outward}}


def _with(taken: bytes, **changes: object) -> bytes:
    form, under, to, out = marshal.loads(taken)
    parts = {"form": form, "under": under, "to": to, "out": out, **changes}
    return marshal.dumps(tuple(parts.values()))


def test_a_memo_this_code_did_not_write_is_refused_whole() -> None:
    for n in NUMBERS:
        phone_cache.to_e164(n, "IN")
    taken = phone_memo.dump()
    phone_cache.to_e164.cache_clear()
    refused = {
        "not marshal": b"\x00not a memo",
        "truncated": taken[: len(taken) // 2],
        "another format": _with(taken, form=phone_memo.FORMAT + 1),
        "another libphonenumber or Python": _with(taken, under=b"\x00" * 32),
        "a result not text": _with(taken, to={"IN": {"9988776655": 919988776655}}),
        "a text not text": _with(taken, to={"IN": {9988776655: "+919988776655"}}),
        "a region not text": _with(taken, to={91: {"9988776655": "+919988776655"}}),
        "no region": _with(taken, to={"9988776655": "+919988776655"}),
        "one way only": marshal.dumps(marshal.loads(taken)[:3]),
    }
    for why, memo in refused.items():
        assert not phone_memo.adopt(memo), why
        assert phone_cache.to_e164.left == {} and phone_cache.from_e164.left == {}, why
    assert phone_memo.adopt(taken)
    assert len(phone_cache.to_e164.left["IN"]) == len(NUMBERS)


def test_a_memo_taken_under_another_libphonenumber_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import phonenumbers

    phone_cache.to_e164(NUMBERS[0], "IN")
    taken = phone_memo.dump()
    phone_cache.to_e164.cache_clear()
    monkeypatch.setattr(phonenumbers, "__version__", phonenumbers.__version__ + ".next")
    phone_memo.fingerprint.cache_clear()
    try:
        assert not phone_memo.adopt(taken)
        assert phone_cache.to_e164.left == {}
    finally:
        monkeypatch.undo()
        phone_memo.fingerprint.cache_clear()
    assert phone_memo.adopt(taken)


def test_a_number_holding_a_secret_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syncd_logging, "_SECRETS", set())
    for n in NUMBERS:
        phone_cache.to_e164(n, "IN")
    syncd_logging.add_secrets(["9988776656", "5551234"])  # numeric tokens that read as numbers
    taken = phone_memo.dump()
    assert b"9988776656" not in taken and b"5551234" not in taken
    phone_cache.to_e164.cache_clear()
    assert phone_memo.adopt(taken)
    assert phone_cache.to_e164.left == {
        "IN": {n: phones.to_e164(n, "IN") for n in ("9988776655", "+91 99887 76657", "0091 9988776658")}
    }
