"""Phone numbers: anything a provider holds → E.164, and E.164 → each provider's own form.

phonenumbers (Google's libphonenumber) does the parsing, so "+91 99887 76655", "91-9988776655" and a
bare "9988776655" in an Indian account are one number.
"""

from __future__ import annotations

import re

import phonenumbers

FORMATS = ("e164", "international", "cc_hyphen", "national_digits")
_CC_HYPHEN = re.compile(r"^\s*(\d{1,4})-(\d{4,15})\s*$")


class PhoneError(ValueError):
    pass


def to_e164(raw: str, default_region: str) -> str:
    """Parses a provider's number; raises PhoneError when it is not a possible number."""
    text = raw.strip()
    match = _CC_HYPHEN.match(text)
    if match:  # Callyzer's "CC-NUMBER": the part before the hyphen is the country code ...
        try:
            number = phonenumbers.parse(f"+{match.group(1)}{match.group(2)}", None)
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            pass
        # ... unless that makes no valid number: then "212-5551234" is a local number with a hyphen
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(f"{raw!r} is not a phone number ({exc})") from exc
    if not phonenumbers.is_possible_number(number):
        raise PhoneError(f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def from_e164(e164: str, fmt: str) -> str:
    """E.164 in the provider's form: ``cc_hyphen`` is Callyzer's "91-9988776655"."""
    if fmt == "e164":
        return e164
    number = phonenumbers.parse(e164, None)
    if fmt == "international":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = str(number.national_number)
    if number.italian_leading_zero:
        national = "0" * max(1, number.number_of_leading_zeros or 1) + national
    if fmt == "cc_hyphen":
        return f"{number.country_code}-{national}"
    if fmt == "national_digits":
        return national
    raise PhoneError(f"unknown phone format {fmt!r}; expected one of {', '.join(FORMATS)}")


def is_valid_region(region: str) -> bool:
    return region.upper() in phonenumbers.SUPPORTED_REGIONS
