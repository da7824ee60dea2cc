"""config.toml: every broken config fails before any network call, naming the file, the key and the problem."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from syncd.config.load import ConfigError, load

MAPPINGS = Path(__file__).parents[2] / "mappings"
CALLYZER = str(MAPPINGS / "callyzer-leads.toml")
CALLSAVVY = str(MAPPINGS / "callsavvy-leads.toml")
ENV = "SYNCD_UNIT_TEST_CZ_TOKEN"
TOKEN = "cz-token-0123456789"

BASE: dict[str, Any] = {
    "state": {"url": "sqlite:///state/syncd.db"},
    "systems": {
        "cz": {"kind": "callyzer", "token": "${" + ENV + "}", "timezone": "Asia/Kolkata", "default_region": "IN"},
        "cs": {"kind": "callsavvy", "public_key_file": "cs_public", "private_key_file": "secrets/cs_private"},
    },
    "jobs": {
        "leads": {
            "systems": [{"system": "cz", "mapping": CALLYZER}, {"system": "cs", "mapping": CALLSAVVY}],
            "conflict": {"policy": "prefer", "prefer": ["cz"]},
            "existing_lead": {"lead_details": "update_blank_only", "lead_tags": "append"},
            "deletes": {"mode": "propagate", "fallback": {"cz": {"tag": "deleted"}}},
        }
    },
}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, TOKEN)


def write(tmp_path: Path, data: dict[str, Any], name: str = "config.toml") -> Path:
    (tmp_path / "cs_public").write_text("pub-key\n", encoding="utf-8")
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "cs_private").write_text("  priv-key  \n", encoding="utf-8")
    path = tmp_path / name
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


# --- a valid config ----------------------------------------------------------------------------------------


def test_valid_config_loads(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    loaded = load(path)
    assert loaded.path == path
    assert loaded.secrets == {"cz": {"token": TOKEN}, "cs": {"public_key": "pub-key", "private_key": "priv-key"}}
    assert set(loaded.mappings["leads"]) == {"cz", "cs"}
    assert loaded.mappings["leads"]["cz"].system == "callyzer"
    assert loaded.mappings["leads"]["cs"].system == "callsavvy"
    assert loaded.config.systems["cz"].default_region == "IN"
    assert loaded.config.systems["cz"].timezone == "Asia/Kolkata"
    job = loaded.config.jobs["leads"]
    assert job.conflict.prefer == ["cz"]
    assert job.existing_lead.lead_tags == "append"
    assert job.deletes.fallback["cz"].tag == "deleted"
    assert loaded.state_url == f"sqlite:///{(tmp_path / 'state' / 'syncd.db').resolve()}"
    assert loaded.warnings == []
    assert sorted(loaded.secret_values()) == sorted([TOKEN, "pub-key", "priv-key"])


def test_region_is_normalised_to_upper_case(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["systems"]["cz"]["default_region"] = "in"
    assert load(write(tmp_path, data)).config.systems["cz"].default_region == "IN"


def test_relative_mapping_path_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "cz.toml").write_text(Path(CALLYZER).read_text(encoding="utf-8"), encoding="utf-8")
    data = copy.deepcopy(BASE)
    data["jobs"]["leads"]["systems"][0]["mapping"] = "maps/cz.toml"
    loaded = load(write(tmp_path, data))
    assert loaded.mappings["leads"]["cz"].file == str(tmp_path / "maps" / "cz.toml")


# --- secrets -----------------------------------------------------------------------------------------------


def test_secret_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "from-the-environment")
    assert load(write(tmp_path, BASE)).secrets["cz"]["token"] == "from-the-environment"


def test_secret_from_env_inside_a_longer_string(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_UNIT_TEST_PART", "abc")
    data = copy.deepcopy(BASE)
    data["systems"]["cz"]["token"] = "pre-${SYNCD_UNIT_TEST_PART}-post"
    assert load(write(tmp_path, data)).secrets["cz"]["token"] == "pre-abc-post"


def test_secret_file_absolute(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("abs-secret\n", encoding="utf-8")
    data = copy.deepcopy(BASE)
    data["systems"]["cs"]["public_key_file"] = str(secret)
    assert load(write(tmp_path, data)).secrets["cs"]["public_key"] == "abs-secret"


def test_secret_never_in_loaded_repr(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, BASE))
    assert TOKEN not in repr(loaded.config)
    assert TOKEN not in str(loaded.config.model_dump())


def test_literal_secret_in_world_readable_file_warns(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["systems"]["cz"]["token"] = "literal-token"
    path = write(tmp_path, data)
    os.chmod(path, 0o644)
    with pytest.warns(UserWarning, match="readable by other users"):
        loaded = load(path)
    assert loaded.secrets["cz"]["token"] == "literal-token"
    os.chmod(path, 0o600)
    assert load(path).warnings == []


# --- URLs and the state database -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000", "http://localhost:9000/v1", "http://[::1]:8080", "http://127.0.0.2", "https://x.io"],
)
def test_loopback_http_and_https_allowed(tmp_path: Path, url: str) -> None:
    data = copy.deepcopy(BASE)
    data["systems"]["cs"]["base_url"] = url
    loaded = load(write(tmp_path, data))
    assert loaded.config.systems["cs"].url() == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///state/syncd.db", "state/syncd.db"),
        ("sqlite:///../up/s.db", "../up/s.db"),
    ],
)
def test_relative_sqlite_url_resolved_against_config_dir(tmp_path: Path, url: str, expected: str) -> None:
    data = copy.deepcopy(BASE)
    data["state"]["url"] = url
    sub = tmp_path / "conf"
    sub.mkdir()
    loaded = load(write(sub, data))
    assert loaded.state_url == f"sqlite:///{(sub / expected).resolve()}"


@pytest.mark.parametrize(
    "url", ["sqlite:////var/lib/syncd/state.db", "sqlite:///:memory:", "postgresql://u@db.example/syncd"]
)
def test_other_state_urls_unchanged(tmp_path: Path, url: str) -> None:
    data = copy.deepcopy(BASE)
    data["state"]["url"] = url
    assert load(write(tmp_path, data)).state_url == url


# --- broken configs ----------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any], Path], None]


def _set(*path_and_value: Any) -> Mutation:
    *keys, value = path_and_value

    def mutate(data: dict[str, Any], _: Path) -> None:
        node = data
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value

    return mutate


def _del(*keys: Any) -> Mutation:
    def mutate(data: dict[str, Any], _: Path) -> None:
        node = data
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]

    return mutate


def _unset_env(data: dict[str, Any], _: Path) -> None:
    os.environ.pop(ENV, None)  # restored by the autouse monkeypatch fixture


def _missing_secret_file(data: dict[str, Any], _: Path) -> None:
    data["systems"]["cs"]["private_key_file"] = "secrets/nope"


def _empty_secret_file(data: dict[str, Any], tmp: Path) -> None:
    (tmp / "empty").write_text("\n", encoding="utf-8")
    data["systems"]["cs"]["public_key_file"] = "empty"


def _broken_mapping(data: dict[str, Any], tmp: Path) -> None:
    text = Path(CALLSAVVY).read_text(encoding="utf-8").replace('canonical = "notes"', 'canonical = "nots"')
    (tmp / "broken.toml").write_text(text, encoding="utf-8")
    data["jobs"]["leads"]["systems"][1]["mapping"] = "broken.toml"


BROKEN: dict[str, tuple[Mutation, str, str]] = {
    # unknown keys (typos) at several depths
    "typo-top": (_set("stat", {"url": "x"}), "stat", "unknown key"),
    "typo-state": (_set("state", "uri", "sqlite:///x.db"), "state.uri", "unknown key"),
    "typo-system": (_set("systems", "cz", "tokne", "x"), "systems.cz.tokne", "unknown key"),
    "typo-rate": (_set("systems", "cz", "rate", {"intervall": 2}), "systems.cz.rate.intervall", "unknown key"),
    "typo-job-system": (_set("jobs", "leads", "systems", 0, "mapp", "x"), "jobs.leads.systems[0].mapp", "unknown key"),
    "typo-conflict": (_set("jobs", "leads", "conflict", "polcy", "hold"), "jobs.leads.conflict.polcy", "unknown key"),
    "typo-fallback": (
        _set("jobs", "leads", "deletes", "fallback", "cz", {"tags": "x"}),
        "jobs.leads.deletes.fallback.cz.tags",
        "unknown key",
    ),
    # wrong types and values
    "type-bulk-size": (_set("systems", "cz", "bulk_size", "many"), "systems.cz.bulk_size", "valid integer"),
    "type-rate": (_set("systems", "cz", "rate", 5), "systems.cz.rate", "valid dictionary"),
    "type-max-share": (_set("jobs", "leads", "deletes", "max_share", "lots"), "jobs.leads.deletes.max_share", "number"),
    "range-max-share": (_set("jobs", "leads", "deletes", "max_share", 1.5), "jobs.leads.deletes.max_share", "1.5"),
    "enum-policy": (_set("jobs", "leads", "conflict", "policy", "random"), "jobs.leads.conflict.policy", "'random'"),
    "enum-kind": (_set("systems", "cz", "kind", "hubspot"), "systems.cz.kind", "'hubspot'"),
    "enum-match-on": (_set("jobs", "leads", "match_on", ["name"]), "jobs.leads.match_on[0]", "'name'"),
    "enum-existing": (
        _set("jobs", "leads", "existing_lead", "lead_details", "append"),
        "jobs.leads.existing_lead.lead_details",
        "'append'",
    ),
    "fallback-both": (
        _set("jobs", "leads", "deletes", "fallback", "cz", {"tag": "x", "status": "y"}),
        "jobs.leads.deletes.fallback.cz",
        "exactly one of tag or status",
    ),
    "one-system": (
        _set("jobs", "leads", "systems", [{"system": "cz", "mapping": CALLYZER}]),
        "jobs.leads.systems",
        "2",
    ),
    "no-jobs": (_del("jobs"), "jobs", "required key is missing"),
    "no-mapping-key": (_del("jobs", "leads", "systems", 1, "mapping"), "jobs.leads.systems[1].mapping", "missing"),
    "bad-timezone": (_set("systems", "cz", "timezone", "Mars/Olympus"), "systems.cz.timezone", "unknown time zone"),
    "bad-region": (_set("systems", "cz", "default_region", "XX"), "systems.cz.default_region", "unknown region"),
    # secrets
    "missing-secret": (_del("systems", "cz", "token"), "systems.cz.token", "missing secret"),
    "empty-secret": (_set("systems", "cz", "token", ""), "systems.cz.token", "missing secret"),
    "env-unset": (_unset_env, "systems.cz.token", f"environment variable {ENV} is not set"),
    "secret-file-missing": (_missing_secret_file, "systems.cs.private_key_file", "cannot read"),
    "secret-file-empty": (_empty_secret_file, "systems.cs.public_key_file", "is empty"),
    "secret-and-file": (_set("systems", "cs", "public_key", "pk"), "systems.cs.public_key", "not both"),
    # cross-references
    "unknown-system": (_set("jobs", "leads", "systems", 1, "system", "cx"), "jobs.leads.systems[1].system", "'cx'"),
    "system-twice": (
        _set("jobs", "leads", "systems", 1, {"system": "cz", "mapping": CALLYZER}),
        "jobs.leads.systems[0].system",
        "listed twice",
    ),
    "prefer-outsider": (
        _set("jobs", "leads", "conflict", "prefer", ["callpage"]),
        "jobs.leads.conflict.prefer",
        "'callpage' is not one of the job's systems",
    ),
    "fallback-outsider": (
        _set("jobs", "leads", "deletes", "fallback", {"other": {"tag": "x"}}),
        "jobs.leads.deletes.fallback",
        "'other' is not one of the job's systems",
    ),
    "mapping-missing": (
        _set("jobs", "leads", "systems", 0, "mapping", "nope.toml"),
        "jobs.leads.systems[0].mapping",
        "does not exist",
    ),
    "mapping-wrong-provider": (
        _set("jobs", "leads", "systems", 0, "mapping", CALLSAVVY),
        "jobs.leads.systems[0].mapping",
        "is a mapping for callsavvy, but system 'cz' is a callyzer",
    ),
    "mapping-wrong-object": (_set("jobs", "leads", "object", "contacts"), "jobs.leads.systems[0].mapping", "contacts"),
    "mapping-broken": (_broken_mapping, "jobs.leads.systems[1].mapping", "unknown canonical field 'nots'"),
    # URLs
    "http-remote": (_set("systems", "cs", "base_url", "http://api.example.com"), "systems.cs.base_url", "plain http"),
    "http-lookalike": (
        _set("systems", "cs", "base_url", "http://localhost.evil.example"),
        "systems.cs.base_url",
        "plain http",
    ),
    "http-127-lookalike": (
        _set("systems", "cs", "base_url", "http://127.attacker.example"),
        "systems.cs.base_url",
        "plain http",
    ),
    "ftp": (_set("systems", "cz", "base_url", "ftp://files.example.com"), "systems.cz.base_url", "not an http(s) URL"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_config_names_file_and_key(tmp_path: Path, case: str) -> None:
    mutate, key, message = BROKEN[case]
    data = copy.deepcopy(BASE)
    mutate(data, tmp_path)
    path = write(tmp_path, data)
    problems = problems_of(path)
    hits = [p for p in problems if p.startswith(f"{path}: {key}") and message in p]
    assert hits, f"no problem naming {key!r} with {message!r} in {problems}"


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["systems"]["cz"]["tokne"] = "x"
    data["systems"]["cs"]["rate"] = {"margin": 3}
    data["jobs"]["leads"]["conflict"]["policy"] = "random"
    problems = problems_of(write(tmp_path, data))
    assert len(problems) == 3
    assert {p.split(": ")[1] for p in problems} == {
        "systems.cz.tokne",
        "systems.cs.rate.margin",
        "jobs.leads.conflict.policy",
    }


def test_cross_reference_problems_are_collected(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["systems"]["cs"]["base_url"] = "http://api.example.com"
    data["jobs"]["leads"]["conflict"]["prefer"] = ["nobody"]
    data["jobs"]["leads"]["systems"][0]["mapping"] = "nope.toml"
    problems = problems_of(write(tmp_path, data))
    assert len(problems) == 3, problems


def test_an_unset_variable_is_named_once_beside_the_schema_problems(tmp_path: Path) -> None:
    """A config copied to a new machine: its missing variables and its mistakes, in one round."""
    os.environ.pop(ENV, None)  # restored by the autouse monkeypatch fixture
    data = copy.deepcopy(BASE)
    data["jobs"]["leads"]["conflict"]["policy"] = "random"
    data["systems"]["cz"]["bulk_size"] = "${" + ENV + "}"  # the same unset variable, in a number
    problems = problems_of(write(tmp_path, data))
    assert [p.split(": ")[1] for p in problems] == [
        "systems.cz.token",
        "systems.cz.bulk_size",
        "jobs.leads.conflict.policy",
    ]
    assert f"environment variable {ENV} is not set" in problems[0] and "'random'" in problems[2]


def test_an_unset_variable_is_named_once_beside_the_cross_reference_problems(tmp_path: Path) -> None:
    os.environ.pop(ENV, None)
    data = copy.deepcopy(BASE)
    data["systems"]["cs"]["base_url"] = "${" + ENV + "}"
    data["jobs"]["leads"]["systems"][0]["mapping"] = "nope.toml"
    problems = problems_of(write(tmp_path, data))
    # (not again as "missing secret" for the token, nor as "not an http(s) URL" for the base URL)
    assert [p.split(": ")[1] for p in problems] == [
        "systems.cz.token",
        "systems.cs.base_url",
        "jobs.leads.systems[0].mapping",
    ], problems
    assert all(f"environment variable {ENV} is not set" in p for p in problems[:2])


def test_a_value_no_member_of_a_union_takes_is_one_problem_under_its_own_key(tmp_path: Path) -> None:
    data = copy.deepcopy(BASE)
    data["jobs"]["leads"]["systems"][1]["list_id"] = 2.5  # a whole number or "global"
    problems = problems_of(write(tmp_path, data))
    assert len(problems) == 1, problems
    key, message = problems[0].split(": ", 2)[1:]
    assert key == "jobs.leads.systems[1].list_id"
    assert "valid integer" in message and "'global'" in message and message.count("(got 2.5)") == 1, message


def test_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[systems\n", encoding="utf-8")
    problems = problems_of(path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: TOML syntax")


def test_file_not_found(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "none.toml") == [f"{tmp_path / 'none.toml'}: file not found"]


@pytest.mark.parametrize(
    ("where", "value"),
    [(("systems", "cz", "token"), 987654321), (("systems", "cs", "private_key"), ["s3cr3t-in-a-list"])],
)
def test_secret_of_the_wrong_type_is_not_echoed(tmp_path: Path, where: tuple[str, ...], value: Any) -> None:
    """Secrets never appear in errors: a mistyped secret must be reported without its value."""
    data = copy.deepcopy(BASE)
    _set(*where, value)(data, tmp_path)
    if where[-1] == "private_key":
        del data["systems"]["cs"]["private_key_file"]
    problems = problems_of(write(tmp_path, data))
    assert any(p.startswith(f"{tmp_path / 'config.toml'}: {'.'.join(where)}") for p in problems), problems
    text = "\n".join(problems)
    assert "987654321" not in text
    assert "s3cr3t-in-a-list" not in text
