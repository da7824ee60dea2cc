"""Bad config fails fast and clearly: every broken config below goes through the real CLI in a subprocess
(`syncd -c FILE config validate`, a few through `sync`) and must exit 2 with a line on stderr naming the
file, the dotted key and what is wrong or expected, before any network call and before the state database
is touched.

Every base_url points at a closed loopback port (the discard port, 9): had syncd tried a single call, the
run would end with exit 3 (a provider unreachable), never 2. The valid base config itself is checked to do
exactly that, so an exit 2 here proves the problem was found before the network.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
CLOSED = "http://127.0.0.1:9"  # nothing listens there: a call is refused at once (exit 3, never 2)
ENV_CZ, ENV_CP = "SYNCD_REL_CALLYZER_TOKEN", "SYNCD_REL_CALLPAGE_TOKEN"
SECRETS = {
    ENV_CZ: "rel-cz-token-5b1d9e77c2",
    ENV_CP: "rel-cp-token-0e4f2a6b93",
    "cs-public": "rel-cs-public-8c3e1f0a5d",
    "cs-private": "rel-cs-private-2f7a9b4c1e",
    "aa-token": "rel-aa-token-6d0b3e8f47",
}
LEADS = {"callpage": 0, "callsavvy": 1, "callyzer": 2, "appsapi": 3}  # index of each system in jobs.leads
FAST_FAIL = {"attempts": 1, "backoff": 0.01, "max_wait": 0.1}


def mapping(name: str) -> str:
    return str(MAPPINGS / f"{name}.toml")


def base_config() -> dict[str, Any]:
    """A valid config: four systems (secrets from the environment and from files), two jobs."""
    systems: dict[str, Any] = {
        "callyzer": {
            "kind": "callyzer",
            "base_url": f"{CLOSED}/api/v2.1",
            "token": "${" + ENV_CZ + "}",
            "timezone": "Asia/Kolkata",
            "default_region": "IN",
        },
        "callsavvy": {
            "kind": "callsavvy",
            "base_url": f"{CLOSED}/v1",
            "public_key_file": "secrets/cs-public",
            "private_key_file": "secrets/cs-private",
            "default_region": "IN",
        },
        "appsapi": {
            "kind": "appsapi",
            "base_url": f"{CLOSED}/apps/api/v1",
            "subdomain": "acme",
            "token_file": "secrets/aa-token",
            "default_region": "IN",
            "page_size": 999,
        },
        "callpage": {
            "kind": "callpage",
            "base_url": f"{CLOSED}/api",
            "token": "${" + ENV_CP + "}",
            "default_region": "IN",
        },
    }
    for cfg in systems.values():
        cfg["retry"] = dict(FAST_FAIL)
        cfg["timeout"] = 2.0
    return {
        "state": {"url": "sqlite:///state/syncd.db"},
        "logging": {"level": "info", "format": "json"},
        "metrics": {},
        "daemon": {"stop_timeout": "20s"},
        "systems": systems,
        "jobs": {
            "leads": {
                "object": "leads",
                "systems": [
                    {"system": "callpage", "mapping": mapping("callpage-leads")},
                    {"system": "callsavvy", "mapping": mapping("callsavvy-leads")},
                    {"system": "callyzer", "mapping": mapping("callyzer-leads")},
                    {"system": "appsapi", "mapping": mapping("appsapi-leads"), "list_id": 2},
                ],
                "conflict": {"policy": "prefer", "prefer": ["callsavvy", "callyzer"]},
                "existing_lead": {"lead_details": "update_blank_only", "lead_tags": "append", "assignee": "ignore"},
                "deletes": {"mode": "propagate", "max_share": 0.2, "fallback": {"callyzer": {"tag": "deleted"}}},
                "schedule": {"every": "15m", "timeout": "30m"},
            },
            "contacts": {
                "object": "contacts",
                "systems": [
                    {"system": "callsavvy", "mapping": mapping("callsavvy-contacts"), "group": "Customers"},
                    {"system": "appsapi", "mapping": mapping("appsapi-contacts"), "list_id": "global"},
                ],
                "schedule": {"cron": "0 * * * *"},
            },
        },
    }


def write_secrets(directory: Path) -> None:
    (directory / "secrets").mkdir(parents=True, exist_ok=True)
    for name in ("cs-public", "cs-private", "aa-token"):
        path = directory / "secrets" / name
        path.write_text(SECRETS[name] + "\n", encoding="utf-8")
        os.chmod(path, 0o600)


def write_config(directory: Path, data: dict[str, Any] | str) -> Path:
    path = directory / "config.toml"
    path.write_text(data if isinstance(data, str) else tomli_w.dumps(data), encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def run_cli(path: Path, *args: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, ENV_CZ: SECRETS[ENV_CZ], ENV_CP: SECRETS[ENV_CP]}
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return subprocess.run(
        [sys.executable, "-m", "syncd", "-c", str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full,
        stdin=subprocess.DEVNULL,
    )


# --- mutations ---------------------------------------------------------------------------------------------
Mutate = Callable[[dict[str, Any], Path], "dict[str, Any] | str | None"]


def put(*path_and_value: Any) -> Mutate:
    """Sets a value at a path of keys and list indexes (tables on the way are created)."""
    *keys, value = path_and_value

    def mutate(data: dict[str, Any], _: Path) -> None:
        node: Any = data
        for key in keys[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
        node[keys[-1]] = value

    return mutate


def drop(*keys: Any) -> Mutate:
    def mutate(data: dict[str, Any], _: Path) -> None:
        node: Any = data
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return mutate


def both(*mutations: Mutate) -> Mutate:
    def mutate(data: dict[str, Any], tmp: Path) -> None:
        for m in mutations:
            m(data, tmp)

    return mutate


def text_after(data: dict[str, Any], extra: str) -> tuple[str, int]:
    """The valid config as TOML with ``extra`` appended; returns the text and the line ``extra`` starts on."""
    valid = tomli_w.dumps(data)
    return valid + extra, valid.count("\n") + 1


def syntax(extra: str, line_offset: int = 0) -> tuple[Mutate, Callable[[dict[str, Any]], str]]:
    """A TOML syntax error ``extra`` appended to the valid config, and the "line N" the message must show
    (``line_offset``: which line of ``extra`` is the broken one)."""

    def mutate(data: dict[str, Any], _: Path) -> str:
        return text_after(data, extra)[0]

    def expected(data: dict[str, Any]) -> str:
        return f"line {text_after(data, extra)[1] + line_offset}"

    return mutate, expected


def mapping_file(text_of: Callable[[str], str], system: str = "callsavvy", source: str = "callsavvy-leads") -> Mutate:
    """The job's mapping for ``system`` replaced by a copy of ``source`` edited by ``text_of``."""

    def mutate(data: dict[str, Any], tmp: Path) -> None:
        path = tmp / f"broken-{source}.toml"
        path.write_text(text_of(Path(mapping(source)).read_text(encoding="utf-8")), encoding="utf-8")
        data["jobs"]["leads"]["systems"][LEADS[system]]["mapping"] = str(path)

    return mutate


def secret_file(name: str, content: str | None) -> Mutate:
    """Points the Apps API token at ``name`` under tmp, written with ``content`` (None: not written)."""

    def mutate(data: dict[str, Any], tmp: Path) -> None:
        if content is not None:
            (tmp / name).write_text(content, encoding="utf-8")
        data["systems"]["appsapi"]["token_file"] = name

    return mutate


def directory_as_secret(data: dict[str, Any], tmp: Path) -> None:
    (tmp / "a-directory").mkdir()
    data["systems"]["appsapi"]["token_file"] = "a-directory"


def replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, f"{old!r} is not in the mapping"
        return text.replace(old, new, 1)

    return edit


@dataclass(frozen=True)
class Case:
    mutate: Mutate
    key: str  # the dotted key the problem line must name, right after the file name
    expect: str | Callable[[dict[str, Any]], str]  # what the line must say (what is wrong or expected)
    command: tuple[str, ...] = ("config", "validate")
    env: dict[str, str | None] = field(default_factory=dict)


SYNC = ("sync", "--json", "leads")
S = "jobs.leads.systems"
CONTACTS = "jobs.contacts.systems"
_unclosed = syntax("\n[systems.extra\nkind = 1\n", line_offset=1)
_no_value = syntax('\n[systems.extra2]\nkind =\nbase_url = "x"\n', line_offset=2)
_string = syntax('\n[state2]\nurl = "sqlite:///never-closed\n', line_offset=2)

CASES: dict[str, Case] = {
    # --- TOML syntax: the line is shown ------------------------------------------------------------------
    "syntax-unclosed-table": Case(_unclosed[0], "TOML syntax", _unclosed[1]),
    "syntax-missing-value": Case(_no_value[0], "TOML syntax", _no_value[1]),
    "syntax-unterminated-string": Case(_string[0], "TOML syntax", _string[1], command=SYNC),
    # --- unknown keys, at every level --------------------------------------------------------------------
    "unknown-top-level": Case(put("sytems", {}), "sytems", "unknown key"),
    "unknown-state": Case(put("state", "uri", "sqlite:///x.db"), "state.uri", "unknown key"),
    "unknown-logging": Case(put("logging", "levle", "debug"), "logging.levle", "unknown key"),
    "unknown-metrics": Case(put("metrics", "listn", "127.0.0.1:9108"), "metrics.listn", "unknown key"),
    "unknown-daemon": Case(put("daemon", "stop_timout", "5s"), "daemon.stop_timout", "unknown key"),
    "unknown-system": Case(put("systems", "callyzer", "tokne", "x"), "systems.callyzer.tokne", "unknown key"),
    "unknown-rate": Case(
        put("systems", "callsavvy", "rate", {"endpoint_intervall": 1.2}),
        "systems.callsavvy.rate.endpoint_intervall",
        "unknown key",
    ),
    "unknown-retry": Case(
        put("systems", "appsapi", "retry", "attempt", 3), "systems.appsapi.retry.attempt", "unknown key"
    ),
    "unknown-assignment": Case(
        put("systems", "callyzer", "assignment", {"stratgy": "Random"}),
        "systems.callyzer.assignment.stratgy",
        "unknown key",
        command=SYNC,
    ),
    "unknown-paths-name": Case(
        put("systems", "appsapi", "paths", {"contact_listz": "/contact_lists"}),
        "systems.appsapi.paths",
        "unknown path name 'contact_listz'",
    ),
    "paths-bad-placeholder": Case(
        put("systems", "appsapi", "paths", {"list_entries": "/contact_lists/{list}/contacts"}),
        "systems.appsapi.paths",
        "bad placeholder",
    ),
    "unknown-job": Case(put("jobs", "leads", "scheduel", {"every": "5m"}), "jobs.leads.scheduel", "unknown key"),
    "unknown-job-system": Case(put("jobs", "leads", "systems", 1, "mapp", "x"), f"{S}[1].mapp", "unknown key"),
    "unknown-conflict": Case(
        put("jobs", "leads", "conflict", "prefered", ["callyzer"]), "jobs.leads.conflict.prefered", "unknown key"
    ),
    "unknown-existing-lead": Case(
        put("jobs", "leads", "existing_lead", "lead_detail", "ignore"),
        "jobs.leads.existing_lead.lead_detail",
        "unknown key",
    ),
    "unknown-deletes": Case(
        put("jobs", "leads", "deletes", "max_shar", 0.5), "jobs.leads.deletes.max_shar", "unknown key"
    ),
    "unknown-fallback": Case(
        put("jobs", "leads", "deletes", "fallback", "callyzer", "colour", "red"),
        "jobs.leads.deletes.fallback.callyzer.colour",
        "unknown key",
    ),
    "unknown-schedule": Case(
        put("jobs", "contacts", "schedule", "evry", "5m"), "jobs.contacts.schedule.evry", "unknown key"
    ),
    # --- wrong types -------------------------------------------------------------------------------------
    "type-bulk-size": Case(put("systems", "callyzer", "bulk_size", "many"), "systems.callyzer.bulk_size", "integer"),
    "type-interval": Case(
        put("systems", "appsapi", "rate", "interval", "fast"), "systems.appsapi.rate.interval", "number"
    ),
    "type-create-flag": Case(put("jobs", "leads", "systems", 2, "create", "sometimes"), f"{S}[2].create", "boolean"),
    "type-match-on-string": Case(put("jobs", "leads", "match_on", "phone"), "jobs.leads.match_on", "valid list"),
    "type-list-id-fraction": Case(
        put("jobs", "contacts", "systems", 1, "list_id", 2.5), f"{CONTACTS}[1].list_id", "valid integer"
    ),
    # --- out of range ------------------------------------------------------------------------------------
    "range-bulk-size-0": Case(
        put("systems", "callyzer", "bulk_size", 0), "systems.callyzer.bulk_size", "greater than or equal to 1"
    ),
    "range-page-size-1000": Case(
        put("systems", "appsapi", "page_size", 1000), "systems.appsapi.page_size", "less than or equal to 999"
    ),
    "range-callyzer-page-size-101": Case(
        put("systems", "callyzer", "page_size", 101), "systems.callyzer.page_size", "at most 100 leads a page"
    ),
    "type-write-early": Case(put("jobs", "leads", "write_early", "soon"), "jobs.leads.write_early", "boolean"),
    "range-negative-interval": Case(
        put("systems", "callsavvy", "rate", {"interval": -1}), "systems.callsavvy.rate.interval", "greater than 0"
    ),
    "range-max-share-2": Case(
        put("jobs", "leads", "deletes", "max_share", 2),
        "jobs.leads.deletes.max_share",
        "less than or equal to 1",
        command=SYNC,
    ),
    # --- bad enum values ---------------------------------------------------------------------------------
    "enum-kind": Case(put("systems", "callyzer", "kind", "salesforce"), "systems.callyzer.kind", "'salesforce'"),
    "enum-object": Case(put("jobs", "leads", "object", "deals"), "jobs.leads.object", "'deals'"),
    "enum-strategy": Case(
        put("systems", "callyzer", "assignment", {"strategy": "Everyone"}),
        "systems.callyzer.assignment.strategy",
        "'Everyone'",
    ),
    # --- missing required keys ---------------------------------------------------------------------------
    "missing-kind": Case(drop("systems", "callsavvy", "kind"), "systems.callsavvy.kind", "required key is missing"),
    "missing-systems": Case(drop("systems"), "systems", "required key is missing"),
    # --- secrets -----------------------------------------------------------------------------------------
    "secret-env-unset": Case(
        lambda d, t: None, "systems.callyzer.token", f"environment variable {ENV_CZ} is not set", env={ENV_CZ: None}
    ),
    "secret-file-missing": Case(secret_file("no-such-token", None), "systems.appsapi.token_file", "cannot read"),
    "secret-file-empty": Case(secret_file("empty-token", " \n"), "systems.appsapi.token_file", "is empty"),
    "secret-file-directory": Case(directory_as_secret, "systems.appsapi.token_file", "cannot read"),
    "secret-literal-and-file": Case(
        put("systems", "callsavvy", "public_key", "pk-literal"), "systems.callsavvy.public_key", "not both"
    ),
    "secret-none-given": Case(
        drop("systems", "callsavvy", "private_key_file"), "systems.callsavvy.private_key", "missing secret"
    ),
    # --- cross-references between systems and jobs --------------------------------------------------------
    "job-unknown-system": Case(
        put("jobs", "leads", "systems", 1, "system", "calsavvy"), f"{S}[1].system", "'calsavvy'"
    ),
    "job-system-twice": Case(
        put("jobs", "contacts", "systems", 1, {"system": "callsavvy", "mapping": mapping("callsavvy-contacts")}),
        f"{CONTACTS}[0].system",
        "listed twice",
    ),
    "job-one-system": Case(
        put("jobs", "contacts", "systems", [{"system": "callsavvy", "mapping": mapping("callsavvy-contacts")}]),
        CONTACTS,
        "at least 2",
        command=SYNC,
    ),
    "prefer-foreign-system": Case(
        put("jobs", "contacts", "conflict", {"prefer": ["callyzer"]}),
        "jobs.contacts.conflict.prefer",
        "'callyzer' is not one of the job's systems",
    ),
    "fallback-tag-and-status": Case(
        put("jobs", "leads", "deletes", "fallback", "callyzer", {"tag": "gone", "status": "Negative"}),
        "jobs.leads.deletes.fallback.callyzer",
        "exactly one of tag or status",
    ),
    "fallback-neither": Case(
        put("jobs", "leads", "deletes", "fallback", "callyzer", {}),
        "jobs.leads.deletes.fallback.callyzer",
        "exactly one of tag or status",
    ),
    "appsapi-no-base-url": Case(drop("systems", "appsapi", "base_url"), "systems.appsapi.base_url", "required"),
    "appsapi-no-subdomain": Case(drop("systems", "appsapi", "subdomain"), "systems.appsapi.subdomain", "required"),
    "appsapi-no-list-id": Case(drop("jobs", "leads", "systems", 3, "list_id"), f"{S}[3].list_id", "needs list_id"),
    "callyzer-in-contacts-job": Case(
        put("jobs", "contacts", "systems", 1, {"system": "callyzer", "mapping": mapping("callyzer-leads")}),
        f"{CONTACTS}[1].system",
        "only syncs leads",
    ),
    "list-id-on-callsavvy": Case(
        put("jobs", "leads", "systems", 1, "list_id", 2), f"{S}[1].list_id", "only for an Apps API"
    ),
    "group-on-callyzer": Case(
        put("jobs", "leads", "systems", 2, "group", "Customers"), f"{S}[2].group", "only for Callsavvy contacts"
    ),
    # --- mapping files ----------------------------------------------------------------------------------
    "mapping-missing": Case(
        put("jobs", "leads", "systems", 1, "mapping", "nope.toml"), f"{S}[1].mapping", "does not exist"
    ),
    "mapping-wrong-provider": Case(
        put("jobs", "leads", "systems", 2, "mapping", mapping("callsavvy-leads")),
        f"{S}[2].mapping",
        "is a mapping for callsavvy, but system 'callyzer' is a callyzer",
    ),
    "mapping-wrong-object": Case(
        put("jobs", "contacts", "systems", 0, "mapping", mapping("callsavvy-leads")),
        f"{CONTACTS}[0].mapping",
        "maps leads, the job syncs contacts",
    ),
    "mapping-toml-syntax": Case(mapping_file(replace("[mapping]", "[mapping")), f"{S}[1].mapping", "syntax"),
    "mapping-unknown-canonical": Case(
        mapping_file(replace('canonical = "notes"', 'canonical = "nots"')),
        f"{S}[1].mapping",
        "unknown canonical field 'nots'",
    ),
    "mapping-unknown-transform": Case(
        mapping_file(replace('transforms = ["number"]', 'transforms = ["numeric"]')),
        f"{S}[1].mapping",
        "unknown transform 'numeric'",
    ),
    "mapping-bad-path": Case(
        mapping_file(replace('path = "organization"', 'path = "org..name"')), f"{S}[1].mapping", "bad path"
    ),
    # --- zones, regions, schedules, metrics --------------------------------------------------------------
    "bad-timezone": Case(
        put("systems", "callyzer", "timezone", "Asia/Bombay2"), "systems.callyzer.timezone", "unknown time zone"
    ),
    "bad-region": Case(
        put("systems", "callsavvy", "default_region", "XX"), "systems.callsavvy.default_region", "unknown region"
    ),
    "schedule-every-words": Case(
        put("jobs", "leads", "schedule", "every", "15 minutes"), "jobs.leads.schedule.every", "not a duration"
    ),
    "schedule-bad-cron": Case(
        put("jobs", "contacts", "schedule", "cron", "every day"), "jobs.contacts.schedule.cron", "crontab"
    ),
    "schedule-every-and-cron": Case(
        put("jobs", "contacts", "schedule", "every", "1h"), "jobs.contacts.schedule", "not both"
    ),
    "daemon-stop-timeout": Case(put("daemon", "stop_timeout", "soon"), "daemon.stop_timeout", "not a duration"),
    "metrics-no-host": Case(put("metrics", "listen", "9108"), "metrics.listen", "not host:port"),
    # --- URLs: plain http only on loopback --------------------------------------------------------------
    "http-remote-host": Case(
        put("systems", "callyzer", "base_url", "http://api1.callyzer.co/api/v2.1"),
        "systems.callyzer.base_url",
        "plain http is only allowed on loopback",
        command=SYNC,
    ),
    "http-localhost-lookalike": Case(
        put("systems", "callpage", "base_url", "http://localhost.attacker.example/api"),
        "systems.callpage.base_url",
        "plain http is only allowed on loopback",
    ),
}


@pytest.fixture(scope="module")
def counted() -> list[str]:
    return []


def test_the_valid_base_config_passes_and_would_reach_the_network(tmp_path: Path) -> None:
    """The yardstick: the unbroken config validates, and a sync against the closed port exits 3 (it tried
    the network). So every exit 2 below was decided before any call."""
    write_secrets(tmp_path)
    path = write_config(tmp_path, base_config())
    ok = run_cli(path, "config", "validate")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"OK: {path}")
    sync = run_cli(path, "sync", "--json", "contacts")
    assert sync.returncode == 3, (sync.stdout, sync.stderr)
    assert "Traceback" not in sync.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_broken_config_exits_2_naming_file_key_and_problem(tmp_path: Path, name: str, counted: list[str]) -> None:
    case = CASES[name]
    write_secrets(tmp_path)
    data = copy.deepcopy(base_config())
    result = case.mutate(data, tmp_path)
    path = write_config(tmp_path, result if isinstance(result, str) else data)
    proc = run_cli(path, *case.command, env=case.env)
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    expect = case.expect(data) if callable(case.expect) else case.expect
    lines = [line.strip() for line in proc.stderr.splitlines()]
    hits = [line for line in lines if line.startswith(f"{path}: {case.key}") and expect in line]
    assert hits, f"no line names {path}: {case.key} with {expect!r}:\n{proc.stderr}"
    assert proc.stdout == "", "nothing but the problems is printed"
    for secret in SECRETS.values():
        assert secret not in proc.stderr, "a secret was echoed in an error"
    assert not (tmp_path / "state").exists(), "the state database was touched"
    counted.append(name)


def test_an_unset_variable_and_the_other_mistakes_are_all_named_in_one_round(tmp_path: Path) -> None:
    """A config copied to a new machine without its environment: `syncd config validate` names the missing
    variable once, and the config's own mistakes beside it, each under its key in one style."""
    write_secrets(tmp_path)
    data = base_config()
    data["jobs"]["leads"]["conflict"]["policy"] = "random"
    data["jobs"]["leads"]["systems"][LEADS["callsavvy"]]["mapping"] = "nope.toml"
    path = write_config(tmp_path, data)
    proc = run_cli(path, "config", "validate", env={ENV_CZ: None})
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith(f"{path}: ")]
    keys = [line[len(str(path)) + 2 :].split(": ", 1)[0] for line in lines]
    assert keys == [
        "systems.callyzer.token",
        "jobs.leads.conflict.policy",
    ], proc.stderr  # (the schema stops before the cross-references, as before: the mapping comes next round)
    assert f"environment variable {ENV_CZ} is not set" in lines[0] and "'random'" in lines[1]

    data["jobs"]["leads"]["conflict"]["policy"] = "prefer"
    proc = run_cli(write_config(tmp_path, data), "config", "validate", env={ENV_CZ: None})
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith(f"{path}: ")]
    keys = [line[len(str(path)) + 2 :].split(": ", 1)[0] for line in lines]
    assert proc.returncode == 2 and keys == [
        "systems.callyzer.token",
        f"{S}[{LEADS['callsavvy']}].mapping",
    ], proc.stderr  # (not again as a missing secret)


def test_count(counted: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last in this module: how many distinct broken configs there are, and how many were refused."""
    with capsys.disabled():
        print(f"\nbroken configs: {len(CASES)}; refused with exit 2 through the CLI in this session: {len(counted)}")
    assert len(CASES) >= 50
