"""A mapping file, read and checked: which provider path holds which canonical field, and how.

Every problem names the file and the field, so a user editing ``mappings/*.toml`` sees where to look.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncd import canonical, phones
from syncd.mapping import paths
from syncd.mapping.transforms import TRANSFORMS

DIRECTIONS = ("both", "in", "out")
MODIFIED_FORMATS = ("callyzer", "iso8601", "unix")


class MappingError(ValueError):
    def __init__(self, file: str, where: str, message: str) -> None:
        super().__init__(f"{file}: {where}: {message}")
        self.file = file
        self.where = where


@dataclass(frozen=True)
class FieldSpec:
    canonical: tuple[str, ...]
    path: str
    steps: tuple[paths.Step, ...]
    direction: str = "both"
    transforms: tuple[str, ...] = ()
    phone_format: str = "e164"
    values: dict[str, str] = field(default_factory=dict)  # provider value → canonical value
    values_out: dict[str, str] = field(default_factory=dict)  # canonical value → provider value
    allowed: tuple[str, ...] = ()  # provider values the provider accepts (checked before sending)
    default: Any = None  # written when the canonical value is blank (fields a provider requires)
    truncate: int | None = None  # cut longer values on the way out
    length: tuple[int, int] | None = None  # (min, max) the provider accepts, checked before sending
    required: bool = False
    constant: Any = None  # direction "in" only: every record of this system carries this value
    label: str = ""

    @property
    def reads(self) -> bool:
        return self.direction in ("both", "in")

    @property
    def writes(self) -> bool:
        return self.direction in ("both", "out")

    @property
    def name(self) -> str:
        return self.label or "+".join(self.canonical)


@dataclass(frozen=True)
class MappingSpec:
    file: str
    system: str
    object: str
    id_path: tuple[paths.Step, ...]
    fields: tuple[FieldSpec, ...]
    modified_path: tuple[paths.Step, ...] | None = None
    modified_format: str = "iso8601"
    require_one_of: tuple[tuple[str, ...], ...] = ()
    entity_hint_path: tuple[paths.Step, ...] | None = None  # where the provider keeps syncd's entity id

    def canonical_fields(self, *, reads: bool | None = None, writes: bool | None = None) -> set[str]:
        out: set[str] = set()
        for f in self.fields:
            if (reads is None or f.reads == reads) and (writes is None or f.writes == writes):
                out.update(f.canonical)
        return out


_FIELD_KEYS = {
    "canonical",
    "path",
    "direction",
    "transforms",
    "phone_format",
    "values",
    "values_out",
    "allowed",
    "default",
    "truncate",
    "length",
    "required",
    "label",
    "constant",
}
_TOP_KEYS = {"mapping", "fields"}
_MAPPING_KEYS = {"system", "object", "id", "modified", "modified_format", "require_one_of", "entity_hint"}


def load(path: str | Path) -> MappingSpec:
    file = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(file, "file", "does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(file, "syntax", str(exc)) from None
    return parse(data, file)


def parse(data: dict[str, Any], file: str) -> MappingSpec:
    _unknown(file, "top level", data, _TOP_KEYS)
    head = data.get("mapping")
    if not isinstance(head, dict):
        raise MappingError(file, "[mapping]", "missing table (system, object, id)")
    _unknown(file, "[mapping]", head, _MAPPING_KEYS)
    for key in ("system", "object", "id"):
        if not isinstance(head.get(key), str) or not head[key]:
            raise MappingError(file, f"mapping.{key}", "must be a non-empty string")
    fmt = head.get("modified_format", "iso8601")
    if fmt not in MODIFIED_FORMATS:
        raise MappingError(file, "mapping.modified_format", f"must be one of {', '.join(MODIFIED_FORMATS)}")
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise MappingError(file, "[[fields]]", "at least one field is needed")
    fields = tuple(_field(file, i, f) for i, f in enumerate(raw_fields))
    seen: dict[str, str] = {}
    for f in fields:
        for name in f.canonical:
            if name in seen and f.reads:
                raise MappingError(file, f"field {f.name}", f"{name!r} is already read by field {seen[name]}")
            if f.reads:
                seen[name] = f.name
    one_of = head.get("require_one_of", [])
    if not (isinstance(one_of, list) and all(isinstance(g, list) for g in one_of)):
        raise MappingError(file, "mapping.require_one_of", "must be a list of lists of canonical fields")
    for group in one_of:
        for name in group:
            if not canonical.is_field(name):
                raise MappingError(file, "mapping.require_one_of", f"unknown canonical field {name!r}")
    return MappingSpec(
        file=file,
        system=head["system"],
        object=head["object"],
        id_path=tuple(_path(file, "mapping.id", head["id"])),
        modified_path=tuple(_path(file, "mapping.modified", head["modified"])) if head.get("modified") else None,
        modified_format=fmt,
        fields=fields,
        require_one_of=tuple(tuple(g) for g in one_of),
        entity_hint_path=_optional_path(file, "mapping.entity_hint", head.get("entity_hint")),
    )


def _field(file: str, index: int, raw: Any) -> FieldSpec:
    where = f"fields[{index}]"
    if not isinstance(raw, dict):
        raise MappingError(file, where, "must be a table")
    names = raw.get("canonical")
    where = f"field {names!r}" if names else where
    _unknown(file, where, raw, _FIELD_KEYS)
    names_t = (names,) if isinstance(names, str) else tuple(names) if isinstance(names, list) else ()
    if not names_t or not all(isinstance(n, str) for n in names_t):
        raise MappingError(file, where, "'canonical' must be a field name or a list of them")
    for n in names_t:
        if not canonical.is_field(n):
            known = ", ".join(canonical.FIELDS)
            raise MappingError(file, where, f"unknown canonical field {n!r} (known: {known}, custom.<name>)")
    constant = raw.get("constant")
    if constant is not None and raw.get("direction") != "in":
        raise MappingError(file, where, "'constant' needs direction = \"in\" (it is never written)")
    if constant is not None:
        raw = {"path": "_constant", **raw}
    if not isinstance(raw.get("path"), str):
        raise MappingError(file, where, "'path' (the provider's key, e.g. details.first_name) is required")
    direction = raw.get("direction", "both")
    if direction not in DIRECTIONS:
        raise MappingError(file, f"{where}.direction", f"must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    transforms = raw.get("transforms", [])
    if isinstance(transforms, str):
        transforms = [transforms]
    if not isinstance(transforms, list):
        raise MappingError(file, f"{where}.transforms", "must be a list of transform names")
    for t in transforms:
        if t not in TRANSFORMS:
            raise MappingError(file, f"{where}.transforms", f"unknown transform {t!r} (known: {', '.join(TRANSFORMS)})")
    if ("full_name" in transforms) != (len(names_t) == 2):
        raise MappingError(
            file, where, "the full_name transform maps one provider field to exactly two canonical fields"
        )
    if len(names_t) > 2:
        raise MappingError(file, where, "at most two canonical fields per provider field")
    phone_format = raw.get("phone_format", "e164")
    if phone_format not in phones.FORMATS:
        raise MappingError(file, f"{where}.phone_format", f"must be one of {', '.join(phones.FORMATS)}")
    values = _str_map(file, f"{where}.values", raw.get("values", {}))
    values_out = _str_map(file, f"{where}.values_out", raw.get("values_out", {}))
    if values and not values_out:
        for provider_value, canon_value in values.items():
            values_out.setdefault(canon_value, provider_value)
    length = raw.get("length")
    if length is not None and not (
        isinstance(length, list)
        and len(length) == 2
        and all(isinstance(n, int) and n >= 0 for n in length)
        and length[0] <= length[1]
    ):
        raise MappingError(file, f"{where}.length", "must be [min, max] with 0 <= min <= max")
    truncate = raw.get("truncate")
    if truncate is not None and (isinstance(truncate, bool) or not isinstance(truncate, int) or truncate < 1):
        raise MappingError(file, f"{where}.truncate", "must be a positive integer")
    allowed = raw.get("allowed", [])
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise MappingError(file, f"{where}.allowed", "must be a list of strings")
    if not isinstance(raw.get("required", False), bool):
        raise MappingError(file, f"{where}.required", "must be true or false")
    return FieldSpec(
        canonical=names_t,
        path=raw["path"],
        steps=tuple(_path(file, f"{where}.path", raw["path"])),
        direction=direction,
        transforms=tuple(transforms),
        phone_format=phone_format,
        values=values,
        values_out=values_out,
        allowed=tuple(allowed),
        default=raw.get("default"),
        truncate=truncate,
        length=(length[0], length[1]) if length else None,
        required=raw.get("required", False),
        constant=constant,
        label=str(raw.get("label", "")),
    )


def _optional_path(file: str, where: str, text: str | None) -> tuple[paths.Step, ...] | None:
    return tuple(_path(file, where, text)) if text else None


def _path(file: str, where: str, text: str) -> list[paths.Step]:
    if not isinstance(text, str):
        raise MappingError(file, where, f"must be a path such as details.first_name, not {text!r}")
    try:
        return paths.parse(text)
    except ValueError as exc:
        raise MappingError(file, where, str(exc)) from None


def _str_map(file: str, where: str, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise MappingError(file, where, "must be a table of strings (provider value = canonical value)")
    return dict(raw)


def _unknown(file: str, where: str, data: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise MappingError(file, where, f"unknown key(s) {', '.join(extra)}; expected {', '.join(sorted(allowed))}")
