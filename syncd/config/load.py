"""Reads config.toml: syntax, shape, secrets, cross-references and mapping files, all before any network call.

Every error is "file: key: what is wrong / what is expected"; all of them are collected, so a user
fixes a config in one pass instead of one error per run.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError

from syncd.config.schema import Config, JobSystem, SystemConfig
from syncd.mapping.spec import MappingError, MappingSpec
from syncd.mapping.spec import load as load_mapping

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_KEYS = {
    "callyzer": ("token",),
    "callsavvy": ("public_key", "private_key"),
    "appsapi": ("token",),
    "callpage": ("token",),
}


class ConfigError(Exception):
    """One or more problems with the config; ``str()`` lists them, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class LoadedConfig:
    path: Path
    config: Config
    secrets: dict[str, dict[str, str]]  # system → key → value; never logged
    mappings: dict[str, dict[str, MappingSpec]]  # job → system → mapping
    state_url: str
    warnings: list[str] = field(default_factory=list)

    def secret_values(self) -> list[str]:
        return [v for keys in self.secrets.values() for v in keys.values() if v]


def load(path: str | Path) -> LoadedConfig:
    file = Path(path)
    name = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{name}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{name}: cannot read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{name}: TOML syntax: {exc}"]) from None
    literal = _holds_literal_secret(data)
    # every problem at once: an unset variable is read as "" and the checks go on, so that a config copied to a
    # new machine names its mistakes with its missing variables, not one round after them
    unset: list[str] = []
    data = _substitute_env(data, "", name, unset)
    named = {_key_of(name, problem) for problem in unset}

    def with_unset(found: list[str]) -> list[str]:
        """A key whose variable is unset is named once, for that: not again as a missing secret, a bad URL or
        number."""
        return unset + [problem for problem in found if _key_of(name, problem) not in named]

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(with_unset(_pydantic_problems(name, exc.errors()))) from None
    base = file.parent
    problems: list[str] = []
    secrets = {sys: _secrets(name, sys, cfg, base, problems) for sys, cfg in config.systems.items()}
    for sys, cfg in config.systems.items():
        _check_url(name, sys, cfg, problems)
    mappings = _jobs(name, config, base, problems)
    problems = with_unset(problems)
    if problems:
        raise ConfigError(problems)
    loaded = LoadedConfig(file, config, secrets, mappings, _state_url(config.state.url, base))
    loaded.warnings.extend(_permission_warnings(file, literal))
    for message in loaded.warnings:
        warnings.warn(message, stacklevel=2)
    return loaded


def _key(loc: tuple[str | int, ...]) -> str:
    """A key as every problem names it: ``jobs.leads.systems[1].mapping`` (an item of a list by its index)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _key_of(file: str, problem: str) -> str:
    """The key a problem names (``file: key: what is wrong``)."""
    return problem[len(file) + 2 :].split(": ", 1)[0]


def _substitute_env(value: Any, key: str, file: str, problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_env(v, f"{key}.{k}" if key else k, file, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, f"{key}[{i}]", file, problems) for i, v in enumerate(value)]
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in os.environ:
                problems.append(f"{file}: {key}: environment variable {var} is not set")
                return ""
            return os.environ[var]

        return _ENV.sub(repl, value)
    return value


_SECRET_NAMES = {name for names in SECRET_KEYS.values() for name in names}


#: how pydantic names the union member a value failed, after the key (``list_id.int``, ``list_id.literal['global']``)
_MEMBER = re.compile(r"int|str|float|bool|[a-z-]+\[.*\]")


def _pydantic_problems(file: str, errors: list[Any]) -> list[str]:
    """One problem per key: a value that fits no member of a union (``list_id``: a whole number or "global") gets
    one line saying what each member wanted, not one line per member under the member's name."""
    members: dict[tuple[Any, ...], list[Any]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        if len(loc) > 1 and isinstance(loc[-1], str) and _MEMBER.fullmatch(loc[-1]):
            members.setdefault(loc[:-1], []).append(err)
    problems: list[str] = []
    for err in errors:
        loc = tuple(err["loc"])
        union = members.get(loc[:-1], [])
        if len(union) < 2 or not any(err is e for e in union):
            problems.append(f"{file}: {_key(loc)}: {_pydantic_message(err)}{_given(err)}")
        elif err is union[0]:  # (the line for every member of the union)
            wanted = "; or ".join(_pydantic_message(e) for e in union)
            problems.append(f"{file}: {_key(loc[:-1])}: {wanted}{_given(err)}")
    return problems


def _pydantic_message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling against config.example.toml)"
    if err["type"] == "missing":
        return "required key is missing"
    return str(err["msg"])


def _given(err: Any) -> str:
    """What was given, as `` (got …)``, where that says something; never for a secret, even a mistyped one."""
    if err["type"] in ("extra_forbidden", "missing", "value_error") or any(
        str(part) in _SECRET_NAMES for part in err["loc"]
    ):
        return ""
    if "input" not in err or isinstance(err["input"], dict | list):
        return ""
    return f" (got {err['input']!r})"


def _secrets(file: str, system: str, cfg: SystemConfig, base: Path, problems: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in SECRET_KEYS[cfg.kind]:
        literal: SecretStr | None = getattr(cfg, key)
        path: str | None = getattr(cfg, f"{key}_file")
        where = f"{file}: systems.{system}"
        if literal is not None and path is not None:
            problems.append(f"{where}.{key}: give {key} or {key}_file, not both")
        elif path is not None:
            secret_path = Path(path) if Path(path).is_absolute() else base / path
            try:
                out[key] = secret_path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(f"{where}.{key}_file: cannot read {secret_path}: {exc.strerror}")
                continue
            if not out[key]:
                problems.append(f"{where}.{key}_file: {secret_path} is empty")
        elif literal is not None and literal.get_secret_value():
            out[key] = literal.get_secret_value()
        else:
            problems.append(
                f'{where}.{key}: missing secret; set {key} = "${{ENV_VAR}}" or {key}_file = "/path/to/file"'
            )
    return out


def _check_url(file: str, system: str, cfg: SystemConfig, problems: list[str]) -> None:
    if cfg.kind == "appsapi":
        if not cfg.base_url:
            problems.append(f"{file}: systems.{system}.base_url: required for the Apps API (per customer)")
            return
        if not cfg.subdomain:
            problems.append(f"{file}: systems.{system}.subdomain: required for the Apps API (the Basic-auth user)")
    parts = urlsplit(cfg.url())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"{file}: systems.{system}.base_url: {cfg.url()!r} is not an http(s) URL")
    elif parts.scheme == "http" and not is_loopback(parts.hostname):
        problems.append(
            f"{file}: systems.{system}.base_url: plain http is only allowed on loopback; use https:// "
            "(credentials would cross the network in clear text)"
        )


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 — by address, so "127.attacker.example" is not loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _jobs(file: str, config: Config, base: Path, problems: list[str]) -> dict[str, dict[str, MappingSpec]]:
    out: dict[str, dict[str, MappingSpec]] = {}
    for job_name, job in config.jobs.items():
        where = f"{file}: jobs.{job_name}"
        names = [s.system for s in job.systems]
        out[job_name] = {}
        for i, entry in enumerate(job.systems):
            if entry.system not in config.systems:
                known = ", ".join(config.systems) or "none"
                problems.append(f"{where}.systems[{i}].system: unknown system {entry.system!r} (defined: {known})")
                continue
            if names.count(entry.system) > 1:
                problems.append(f"{where}.systems[{i}].system: {entry.system!r} is listed twice")
                continue
            mapping_path = Path(entry.mapping) if Path(entry.mapping).is_absolute() else base / entry.mapping
            try:
                spec = load_mapping(mapping_path)
            except MappingError as exc:
                problems.append(f"{where}.systems[{i}].mapping: {exc}")
                continue
            kind = config.systems[entry.system].kind
            problems.extend(f"{where}.systems[{i}].{p}" for p in _entry_problems(kind, job.object, entry))
            if spec.system != kind:
                problems.append(
                    f"{where}.systems[{i}].mapping: {mapping_path} is a mapping for {spec.system}, "
                    f"but system {entry.system!r} is a {kind}"
                )
            if spec.object != job.object:
                problems.append(
                    f"{where}.systems[{i}].mapping: {mapping_path} maps {spec.object}, the job syncs {job.object}"
                )
            out[job_name][entry.system] = spec
        for key, listed in (("conflict.prefer", job.conflict.prefer), ("deletes.fallback", list(job.deletes.fallback))):
            for system in listed:
                if system not in names:
                    problems.append(f"{where}.{key}: {system!r} is not one of the job's systems ({', '.join(names)})")
    return out


def _entry_problems(kind: str, obj: str, entry: JobSystem) -> list[str]:
    """What a system of this kind can do in a job of this object, and which options belong to it."""
    out = []
    if kind in ("callyzer", "callpage") and obj != "leads":
        out.append(f"system: a {kind} system only syncs leads, not {obj}")
    if kind == "appsapi":
        if (entry.list_id is None) == (entry.campaign_id is None):
            out.append('list_id: an Apps API system needs list_id (a contact list, or "global") or campaign_id')
    else:
        for key in ("list_id", "campaign_id"):
            if getattr(entry, key) is not None:
                out.append(f"{key}: only for an Apps API system, not {kind}")
    if kind != "callsavvy" or obj != "contacts":
        for key in ("group", "group_id"):
            if getattr(entry, key) is not None:
                out.append(f"{key}: only for Callsavvy contacts")
    elif entry.group is not None and entry.group_id is not None:
        out.append("group: give group or group_id, not both")
    return out


def _state_url(url: str, base: Path) -> str:
    """A relative SQLite path is relative to the config file, not to wherever syncd was started."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def _holds_literal_secret(data: dict[str, Any]) -> bool:
    """Whether the file itself holds a secret: a systems.*.token / public_key / private_key that is more
    than one ``${ENV_VAR}``. Read from the parsed TOML, so every way of writing it counts (quotes of either
    kind, multi-line strings, inline tables, dotted keys)."""
    systems = data.get("systems")
    for cfg in systems.values() if isinstance(systems, dict) else ():
        for key in _SECRET_NAMES:
            value = cfg.get(key) if isinstance(cfg, dict) else None
            if isinstance(value, str) and value.strip() and not _ENV.fullmatch(value.strip()):
                return True
    return False


def _permission_warnings(file: Path, literal_secret: bool) -> list[str]:
    try:
        mode = file.stat().st_mode
    except OSError:
        return []
    if literal_secret and mode & (stat.S_IRGRP | stat.S_IROTH):
        return [f"{file}: holds a secret and is readable by other users; chmod 600 it or use *_file / ${{ENV}}"]
    return []
