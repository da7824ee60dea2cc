"""Applies a mapping: provider record → canonical values, canonical values → provider payload.

The way out writes into a copy of the provider's own record, so fields syncd does not map survive a
provider's full-replace update (Callsavvy ``updateLead``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from syncd import canonical, phones
from syncd.canonical import Canon
from syncd.mapping import paths
from syncd.mapping.spec import FieldSpec, MappingSpec
from syncd.mapping.transforms import TRANSFORMS, Context, TransformError, join_name, split_name, to_e164

_SECONDS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")  # Callyzer's stamp without its zone


@dataclass
class Inbound:
    values: Canon
    problems: list[str] = field(default_factory=list)
    #: canonical fields whose provider value could not be read (an object or a list where one value
    #: belongs): absent from ``values``, but not known to be blank either
    unreadable: set[str] = field(default_factory=set)


class Mapper:
    def __init__(self, spec: MappingSpec, default_region: str = "US", timezone: str = "UTC") -> None:
        self.spec = spec
        self.default_region = default_region
        self.zone = ZoneInfo(timezone)
        self._ctx = {id(f): Context(default_region, f.phone_format) for f in spec.fields}
        #: per field that writes into a list (``details.contact_numbers[1]``): the path of that list
        self._list_parent: dict[int, tuple[paths.Step, ...] | None] = {
            id(f): f.steps[: max(i for i, s in enumerate(f.steps) if isinstance(s, int))]
            if any(isinstance(s, int) for s in f.steps) else None
            for f in spec.fields
        }  # fmt: skip
        self.reads = spec.canonical_fields(reads=True)
        self.writes = {n for f in spec.fields if f.writes for n in f.canonical}
        #: the fields that read and that write, in the file's order, and each field's ways out (reversed)
        self._reading = tuple(f for f in spec.fields if f.reads)
        self._writing = tuple(f for f in spec.fields if f.writes)
        self._out_fns = {id(f): tuple(TRANSFORMS[name][1] for name in reversed(f.transforms)) for f in spec.fields}
        self._many = {id(f): any(name in canonical.LIST_FIELDS for name in f.canonical) for f in spec.fields}
        path = spec.id_path
        self._id_key: str | None = path[0] if len(path) == 1 and isinstance(path[0], str) else None

    # --- identity and time ------------------------------------------------------------------
    def remote_id(self, raw: dict[str, Any]) -> str | None:
        """The record's id as text; None when there is none (an object, a list or a boolean is no id)."""
        key = self._id_key
        if key is not None:  # the usual top-level id: asked once or twice per listed record
            value = raw.get(key) if isinstance(raw, dict) else None
            if type(value) is str:
                return value if value.strip() else None
        else:
            value = paths.get(raw, self.spec.id_path)
        if value is None or isinstance(value, dict | list | bool):
            return None
        text = str(value)
        return text if text.strip() else None

    def entity_hint(self, raw: dict[str, Any]) -> str | None:
        if self.spec.entity_hint_path is None:
            return None
        value = paths.get(raw, list(self.spec.entity_hint_path))
        return str(value) if isinstance(value, str | int) and str(value) else None

    def modified(self, raw: dict[str, Any]) -> datetime | None:
        """The provider's modified time, when the mapping names one and it parses."""
        if self.spec.modified_path is None:
            return None
        value = paths.get(raw, list(self.spec.modified_path))
        if value is None or value == "":
            return None
        try:
            if self.spec.modified_format == "unix":
                return datetime.fromtimestamp(float(value), UTC)
            if self.spec.modified_format == "callyzer":
                # "2023-11-30 22:42:53 IST": the abbreviation is informational, the account zone decides
                text = str(value)[:19]
                if _SECONDS.fullmatch(text):  # the usual shape: fromisoformat reads it as strptime would, 40× faster
                    stamp = datetime.fromisoformat(text)
                else:
                    stamp = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
                return stamp.replace(tzinfo=self.zone).astimezone(UTC)
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.zone)
        except (ValueError, OverflowError):
            return None

    # --- provider → canonical ---------------------------------------------------------------
    def to_canonical(self, raw: dict[str, Any]) -> Inbound:
        values: dict[str, Any] = {}
        problems: list[str] = []
        unreadable: set[str] = set()
        for f in self._reading:
            value = paths.copy_json(f.constant) if f.constant is not None else paths.get(raw, f.steps)
            if value is None and f.constant is None and (why := paths.blocked(raw, f.steps)) is not None:
                problems.append(f"{f.path}: {why}")  # e.g. contact_numbers a string: unreadable, not blank
                unreadable.update(f.canonical)
                continue
            many = self._many[id(f)]
            if isinstance(value, dict):
                problems.append(f"{f.path}: expected a value, got an object")
                unreadable.update(f.canonical)
                continue
            if isinstance(value, list) and not many:
                # a list where one value belongs (["a@x.com"] for an e-mail): which item is meant is a guess
                problems.append(f"{f.path}: expected a value, got a list")
                unreadable.update(f.canonical)
                continue
            if many and value is not None and not isinstance(value, list):
                value = [value]  # "vip" for tags is the one tag "vip"
            if isinstance(value, list):
                items = [v for v in value if not isinstance(v, dict | list)]
                if len(items) != len(value):
                    problems.append(f"{f.path}: {len(value) - len(items)} item(s) are objects or lists, left out")
                value = [_text(v) for v in items]
            elif value is not None:
                value = _text(value)
            for name in f.transforms:
                try:
                    value = TRANSFORMS[name][0](value, self._ctx[id(f)])
                except TransformError as exc:
                    problems.append(f"{f.path}: {exc}")
                    value = TRANSFORMS["trim"][0](value, self._ctx[id(f)])
                    break
            # the value map reads the cleaned value: " Positive " is Callyzer's "Positive"
            value = f.values.get(value, value) if isinstance(value, str) else value
            if len(f.canonical) == 2:
                first, last = split_name(value)
                values[f.canonical[0]], values[f.canonical[1]] = first, last
            else:
                values[f.canonical[0]] = value
        return Inbound(canonical.clean(values), problems, unreadable)

    # --- canonical → provider ---------------------------------------------------------------
    def to_provider(self, values: Canon, base: dict[str, Any] | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = paths.copy_json(base) if base else {}
        touched_lists: list[tuple[paths.Step, ...]] = []
        for f in self._writing:
            value = self._out_value(f, values)
            paths.put(payload, f.steps, value)
            parent = self._list_parent[id(f)]
            if parent is not None:
                touched_lists.append(parent)
        for steps in touched_lists:
            lst = paths.get(payload, steps)
            if isinstance(lst, list):
                lst[:] = [v for v in lst if v is not None and v != ""]
        return payload

    def _out_value(self, f: FieldSpec, values: Canon) -> Any:
        if len(f.canonical) == 2:
            value: Any = join_name(values.get(f.canonical[0]), values.get(f.canonical[1]))
        else:
            value = values.get(f.canonical[0])
        if isinstance(value, str):
            value = f.values_out.get(value, value)
        if f.transforms:
            ctx = self._ctx[id(f)]
            for out_fn in self._out_fns[id(f)]:
                try:
                    value = out_fn(value, ctx)
                except TransformError:
                    break  # the raw value goes out; validate() reports it before anything is sent
        if isinstance(value, str) and f.truncate is not None:
            value = value[: f.truncate].rstrip()
        if canonical.is_blank(value):
            empty: Any = [] if f.canonical[0] in canonical.LIST_FIELDS else ""
            value = paths.copy_json(f.default) if f.default is not None else empty
        return value

    # --- checks before sending ---------------------------------------------------------------
    def validate(self, values: Canon) -> list[str]:
        """What the provider would reject, found before spending an API call on it."""
        problems: list[str] = []
        where = self.spec.file
        for f in self._writing:
            out = self._out_value(f, values)
            label = f"{where} field {f.name}"
            if f.required and canonical.is_blank(out):
                problems.append(f"{label}: required by {self.spec.system} but blank")
                continue
            if canonical.is_blank(out):
                continue
            if "phone" in f.transforms:
                for name in f.canonical:
                    raw = values.get(name)
                    if isinstance(raw, str) and not _is_e164(raw, self.default_region):
                        problems.append(f"{label}: {raw!r} is not a valid phone number")
            if isinstance(out, str) and f.length is not None:
                lo, hi = f.length
                if not lo <= len(out) <= hi:
                    problems.append(
                        f"{label}: {out!r} is {len(out)} characters; {self.spec.system} accepts {lo} to {hi}"
                    )
            if f.allowed and isinstance(out, str) and out not in f.allowed:
                problems.append(
                    f"{label}: {out!r} is not a value {self.spec.system} accepts ({', '.join(f.allowed)}); "
                    f"map it under 'values' in {where}"
                )
        for group in self.spec.require_one_of:
            if all(canonical.is_blank(values.get(name)) for name in group):
                problems.append(f"{where}: {self.spec.system} needs at least one of {', '.join(group)}")
        return problems


def _text(value: Any) -> Any:
    """A provider's scalar as canonical text: numbers as written, booleans as JSON spells them."""
    if value is None or isinstance(value, str):
        return value
    return str(value).lower() if isinstance(value, bool) else str(value)


def _is_e164(value: str, region: str) -> bool:
    try:
        return to_e164(value, region) == value
    except phones.PhoneError:
        return False
