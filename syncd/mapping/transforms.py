"""Named transforms a mapping field may list. Each has a way in (provider → canonical) and a way out.

Transforms see one value, except ``full_name`` which maps one provider field to two canonical fields.
A transform that cannot read a provider value raises TransformError; the record keeps the raw value
and carries the problem, so nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from syncd import phones
from syncd.mapping import phone_cache


class TransformError(ValueError):
    pass


#: libphonenumber's conversions, remembered (and handed from process to process): syncd.mapping.phone_cache
to_e164 = phone_cache.to_e164
from_e164 = phone_cache.from_e164
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Context:
    default_region: str
    phone_format: str


#: control characters left once whitespace is collapsed (NUL, BEL, ESC, DEL, C1): never part of a name or
#: a note, and an ESC would reach a terminal through `syncd plan` or `syncd failures`
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _trim(value: Any, ctx: Context) -> Any:
    if isinstance(value, str):
        # already trimmed: printable (so no control character and no whitespace but " "), no "  ", no " " at
        # either end: the two substitutions and the strip below would give it back unchanged. Keep in step.
        if value.isprintable() and "  " not in value and value[:1] != " " and value[-1:] != " ":
            return value
        return _CONTROL.sub("", _SPACES.sub(" ", value)).strip()
    if isinstance(value, list):
        return [_trim(v, ctx) for v in value]
    return value


def _lower(value: Any, ctx: Context) -> Any:
    return value.lower() if isinstance(value, str) else value


def _phone_in(value: Any, ctx: Context) -> Any:
    if not isinstance(value, str) or not value.strip():
        return value
    try:
        return to_e164(value, ctx.default_region)
    except phones.PhoneError as exc:
        raise TransformError(str(exc)) from exc


def _phone_out(value: Any, ctx: Context) -> Any:
    if not isinstance(value, str) or not value.startswith("+"):
        return value
    try:
        return from_e164(value, ctx.phone_format)
    except Exception as exc:
        raise TransformError(f"{value!r} cannot be written as {ctx.phone_format}: {exc}") from exc


def _number_in(value: Any, ctx: Context) -> Any:
    """ "$3,000", "3000.0" and 3000 are all "3000": money compared as a number, not as text."""
    if value is None or value == "":
        return None
    try:  # a plain number, scientific notation included ("1e3")
        return format(Decimal(str(value).strip()).normalize(), "f")
    except InvalidOperation:
        pass
    # currency words first, with an abbreviation's dot ("Rs. 500", "INR 500"): that dot is no decimal point
    text = re.sub(r"[^\W\d_]{2,}\.?", "", str(value))
    text = re.sub(r"[^\d.\-]", "", text)
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise TransformError(f"{value!r} is not a number") from exc
    normal = format(number.normalize(), "f")
    return normal


def _identity(value: Any, ctx: Context) -> Any:
    return value


def split_name(full: Any) -> tuple[str | None, str | None]:
    """ "Mary Ann Smith" → ("Mary Ann", "Smith"): the last word is the family name."""
    if not isinstance(full, str) or not full.strip():
        return None, None
    words = full.split()
    if len(words) == 1:
        return words[0], None
    return " ".join(words[:-1]), words[-1]


def join_name(first: Any, last: Any) -> str | None:
    parts = [p for p in (first, last) if isinstance(p, str) and p.strip()]
    return " ".join(parts) or None


Fn = Callable[[Any, Context], Any]

#: name → (way in, way out). ``full_name`` is handled by the mapping itself (two canonical fields).
TRANSFORMS: dict[str, tuple[Fn, Fn]] = {
    "trim": (_trim, _trim),
    "lower": (_lower, _identity),
    "phone": (_phone_in, _phone_out),
    "number": (_number_in, _identity),
    "full_name": (_identity, _identity),
}
