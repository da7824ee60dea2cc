"""Applies a mapping: provider record → canonical values, canonical values → provider payload.

The way out writes into a copy of the provider's own record, so fields syncd does not map survive a
provider's full-replace update (Callsavvy ``updateLead``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from syncd import canonical, phones
from syncd.canonical import Canon
from syncd.mapping import paths
from syncd.mapping.spec import FieldSpec, MappingSpec
from syncd.mapping.transforms import TRANSFORMS, Context, Fn, TransformError, join_name, split_name, to_e164

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
        self._readers = _compile_readers(self._reading, self._ctx, self._many)
        #: per writing field: its canonical name (two for a full name), value map out, ways out (reversed),
        #: their context, truncation, default, whether its blank is a list
        self._writers = tuple(
            (f.canonical[0], f.canonical[1] if len(f.canonical) == 2 else None, f.values_out, self._out_fns[id(f)],
             self._ctx[id(f)], f.truncate, f.default, f.canonical[0] in canonical.LIST_FIELDS)
            for f in self._writing
        )  # fmt: skip
        #: per writing field: its path's steps, the key of a one-key path or the two of ``details.name`` (else
        #: None: paths.put), the path of the list it writes into
        self._putters = tuple(
            (f.steps, *_keys(f.steps), self._list_parent[id(f)]) for f in self._writing
        )  # fmt: skip

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
        value = paths.get(raw, self.spec.entity_hint_path)
        return str(value) if isinstance(value, str | int) and str(value) else None

    def modified(self, raw: dict[str, Any]) -> datetime | None:
        """The provider's modified time, when the mapping names one and it parses."""
        if self.spec.modified_path is None:
            return None
        value = paths.get(raw, self.spec.modified_path)
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
        """Reads a record through the compiled readers; a record they do not vouch for (a problem, a value of
        an unusual kind) is read again by the general reading, which is the definition of the result."""
        readers = self._readers
        if type(raw) is not dict:
            return self.read_general(raw)
        out: Canon = {}
        try:
            for outer, inner, get, steps, fns, ctx, vmap, names, many, empty_is_blank in readers:
                if outer is None:
                    value = get(raw)
                elif inner is None:
                    value = raw.get(outer)
                else:
                    node = raw.get(outer)
                    value = node.get(inner) if isinstance(node, dict) else None
                kind = type(value)
                if kind is str:
                    if empty_is_blank and value == "":
                        continue
                    if many:
                        value = [value]
                elif value is None:
                    if len(steps) > 1 and paths.blocked(raw, steps) is not None:
                        return self.read_general(raw)
                    continue
                elif kind is int or kind is float:
                    value = str(value)
                    if many:
                        value = [value]
                elif kind is list and many:
                    for item in value:
                        if type(item) is not str:
                            return self.read_general(raw)
                    value = list(value)
                else:
                    return self.read_general(raw)
                for fn in fns:
                    value = fn(value, ctx)
                if type(value) is str:
                    value = vmap.get(value, value)
                if len(names) == 2:
                    first, last = split_name(value)
                    if first is not None:
                        out[names[0]] = first
                    if last is not None:
                        out[names[1]] = last
                elif type(value) is str:
                    if value.strip():
                        out[names[0]] = value
                elif (clean := canonical.clean_value(value)) is not None:
                    out[names[0]] = clean
        except TransformError:
            return self.read_general(raw)
        return Inbound(out)

    def read_general(self, raw: dict[str, Any]) -> Inbound:
        """The definition of reading a record, for any shape of raw: every field walked its whole way, every
        problem named. ``to_canonical`` gives the same result faster for the usual records."""
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
    def outbound(self, values: Canon) -> list[Any]:
        """What each writing field sends for these values, in the file's order: computed once, and shared
        by ``to_provider`` and ``validate`` when both look at one write."""
        out: list[Any] = []
        for first, second, values_out, fns, ctx, truncate, default, empty_list in self._writers:
            value = values.get(first) if second is None else join_name(values.get(first), values.get(second))
            if isinstance(value, str):
                value = values_out.get(value, value)
            for fn in fns:
                try:
                    value = fn(value, ctx)
                except TransformError:
                    break  # the value goes out as it is; validate() reports it before anything is sent
            if isinstance(value, str):
                if truncate is not None:
                    value = value[:truncate].rstrip()
                blank = not value.strip()
            else:
                blank = canonical.is_blank(value)
            if blank:
                value = paths.copy_json(default) if default is not None else [] if empty_list else ""
            out.append(value)
        return out

    def to_provider(
        self, values: Canon, base: dict[str, Any] | None = None, outbound: list[Any] | None = None
    ) -> dict[str, Any]:
        """The provider's record for these values: the base record's copy with every writing field set.
        ``outbound``: ``self.outbound(values)`` when the caller has it already."""
        payload: dict[str, Any] = paths.copy_json(base) if base else {}
        outs = self.outbound(values) if outbound is None else outbound
        touched_lists: list[tuple[paths.Step, ...]] = []
        for (steps, outer, inner, parent), value in zip(self._putters, outs, strict=True):
            if outer is None:
                paths.put(payload, steps, value)
            elif inner is None:
                payload[outer] = value
            else:  # paths.put unrolled for ``details.name``
                node = payload.get(outer)
                if not isinstance(node, dict):
                    node = payload[outer] = {}
                node[inner] = value
            if parent is not None:
                touched_lists.append(parent)
        for steps in touched_lists:
            lst = paths.get(payload, steps)
            if isinstance(lst, list):
                lst[:] = [v for v in lst if v is not None and v != ""]
        return payload

    # --- checks before sending ---------------------------------------------------------------
    def validate(self, values: Canon, outbound: list[Any] | None = None) -> list[str]:
        """What the provider would reject, found before spending an API call on it."""
        problems: list[str] = []
        where = self.spec.file
        outs = self.outbound(values) if outbound is None else outbound
        for f, out in zip(self._writing, outs, strict=True):
            label = f"{where} field {f.name}"
            if canonical.is_blank(out):
                if f.required:
                    problems.append(f"{label}: required by {self.spec.system} but blank")
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


#: per reading field: the key of a one-key path, or the two keys of ``details.name``, else get(raw); the
#: path's steps, the ways in, their context, the value map, the canonical names, whether it reads a list,
#: whether "" reads as nothing (asked of its ways in and value map: _reads_blank)
Reader = tuple[
    str | None, str | None, Callable[[dict[str, Any]], Any], tuple[paths.Step, ...], tuple[Fn, ...], Context,
    dict[str, str], tuple[str, ...], bool, bool,
]  # fmt: skip


def _compile_readers(
    fields: tuple[FieldSpec, ...], ctx: dict[int, Context], many: dict[int, bool]
) -> tuple[Reader, ...]:
    """The fields a record is read through, each with its path's getter and transforms resolved once. (The
    spec lets one canonical name be read by one field only, so no reader overrides another.)"""
    readers: list[Reader] = []
    for f in fields:
        steps = () if f.constant is not None else f.steps
        outer, inner = _keys(steps)  # read in to_canonical's loop
        get = _getter(f)
        fns = tuple(TRANSFORMS[name][0] for name in f.transforms)
        # "" is skipped unread when this field's ways in and value map read it as a blank: asked of them here
        empty_is_blank = not many[id(f)] and _reads_blank(fns, ctx[id(f)], f.values)
        readers.append((outer, inner, get, steps, fns, ctx[id(f)], f.values, f.canonical, many[id(f)], empty_is_blank))
    return tuple(readers)


def _reads_blank(fns: tuple[Fn, ...], ctx: Context, values: dict[str, str]) -> bool:
    """Whether a field reads "" as nothing (every transform shipped does; a value map may name "")."""
    value: Any = ""
    try:
        for fn in fns:
            value = fn(value, ctx)
    except TransformError:
        return False
    if isinstance(value, str):
        value = values.get(value, value)
    return canonical.is_blank(value)


def _keys(steps: tuple[paths.Step, ...]) -> tuple[str | None, str | None]:
    """The key of a one-key path, or the two keys of a two-key one (``details.name``), read and written
    inline; (None, None) for any other path, which goes through ``paths``."""
    if steps and len(steps) <= 2 and all(isinstance(s, str) for s in steps):
        return (str(steps[0]), None) if len(steps) == 1 else (str(steps[0]), str(steps[1]))
    return None, None


def _getter(f: FieldSpec) -> Callable[[dict[str, Any]], Any]:
    """A field's value: its constant, or what its path holds (``paths.get``)."""
    if f.constant is not None:
        constant = f.constant
        return lambda raw: paths.copy_json(constant)
    steps = f.steps
    return lambda raw: paths.get(raw, steps)


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
