"""Security: secrets never appear (outputs, plans, --json, logs, the state database), plain http only on
loopback, TLS verification always on, a private state file, and a warning for a config file that holds a
literal secret and that other users can read."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import ssl
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from sqlmodel import Session, select

from syncd.config.load import load
from syncd.config.schema import Config, JobSystem, SystemConfig
from syncd.runner import connector_class
from syncd.sandbox import SECRETS, Sandbox
from syncd.state.models import Run
from tests.conftest import SECRET_VALUES
from tests.e2e.harness import Harness
from tests.reliability.test_bad_config import ENV_CP, ENV_CZ, base_config, run_cli, write_config, write_secrets

ENV_SECRETS = {"SYNCD_SEC_CALLYZER": SECRETS["callyzer"]["token"], "SYNCD_SEC_CALLPAGE": SECRETS["callpage"]["token"]}


# --- secrets never appear -----------------------------------------------------------------------------------
def secret_config(h: Harness) -> tuple[Path, dict[str, str]]:
    """The four-system sandbox config with its secrets from three places: environment variables (Callyzer,
    CallPage), a *_file (Callsavvy's public key) and a systemd credentials directory (Callsavvy's private
    key, the Apps API token) named by $CREDENTIALS_DIRECTORY. JSON logs at debug level."""
    config = h.box.config(h.dir)  # writes h.dir/secrets/* (the *_file variant)
    creds = h.dir / "secrets" / "credentials"  # the scan of h.dir skips "secrets": these hold them by design
    creds.mkdir(mode=0o700)
    for name, value in (("callsavvy-private-key", SECRETS["callsavvy"]["private_key"]),
                        ("appsapi-token", SECRETS["appsapi"]["token"])):  # fmt: skip
        fd = os.open(creds / name, os.O_CREAT | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
    systems = config["systems"]
    del systems["callyzer"]["token_file"], systems["callpage"]["token_file"]
    systems["callyzer"]["token"] = "${SYNCD_SEC_CALLYZER}"
    systems["callpage"]["token"] = "${SYNCD_SEC_CALLPAGE}"
    systems["callsavvy"]["private_key_file"] = "${CREDENTIALS_DIRECTORY}/callsavvy-private-key"
    systems["appsapi"]["token_file"] = "${CREDENTIALS_DIRECTORY}/appsapi-token"
    assert "public_key_file" in systems["callsavvy"]
    config["logging"] = {"level": "debug", "format": "json"}
    config["jobs"]["leads"]["schedule"] = {"every": "1s", "timeout": "1m"}
    config["jobs"]["contacts"]["schedule"] = {"every": "1h"}
    config["daemon"] = {"stop_timeout": "10s"}
    h.config_path = h.dir / "config.toml"
    h.config_path.write_text(tomli_w.dumps(config), encoding="utf-8")
    h.config_path.chmod(0o600)
    return h.config_path, {**ENV_SECRETS, "CREDENTIALS_DIRECTORY": str(creds)}


def scan(texts: dict[str, bytes]) -> list[str]:
    return [f"{secret[:6]}… in {where}" for where, data in texts.items() for secret in SECRET_VALUES
            if secret.encode() in data]  # fmt: skip


def state_files(h: Harness) -> dict[str, bytes]:
    files = {str(p): p.read_bytes() for p in h.dir.glob("syncd.db*") if p.is_file()}
    assert str(h.dir / "syncd.db") in files, "the state database was not written"
    return files


def test_secrets_appear_in_no_output_log_plan_or_state(harness4: Harness) -> None:
    h = harness4
    path, env = secret_config(h)
    h.seed_raw("callpage", {"calls": [{"to": "+919812345678", "name": "Kavya Iyer", "email": "kavya@iyer.in"}]})
    h.seed("callsavvy", [{"name": "Ravi Menon", "phone": "+919812300001", "status": "Potential",
                          "priority": "Warm", "summary": "s"}])  # fmt: skip
    with h.box.admin("callyzer") as client:  # a record Callsavvy cannot take: a failure to list
        unnamed = {"id": "cz-x", "details": {"first_name": "", "contact_numbers": ["91-9812300002"]}}
        client.post("/_sim/raw", json=[unnamed]).raise_for_status()
    outputs: list[tuple[tuple[str, ...], subprocess.CompletedProcess[str]]] = []

    def cli(*args: str, expect: tuple[int, ...] = (0, 1)) -> subprocess.CompletedProcess[str]:
        proc = h.cli(*args, env=env)
        assert proc.returncode in expect, (args, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, proc.stderr
        outputs.append((args, proc))
        return proc

    cli("config", "validate", expect=(0,))
    cli("plan")
    cli("plan", "--json", "leads")
    cli("sync", "--dry-run", "leads")
    json.loads(cli("sync", "--dry-run", "--json", "leads").stdout)  # the plan, in --json
    json.loads(cli("sync", "--json", "leads").stdout)
    cli("sync", "contacts")
    cli("failures")
    assert json.loads(cli("failures", "--json").stdout), "the unnamed Callyzer lead is listed"
    cli("status")
    json.loads(cli("status", "--json").stdout)
    cli("history", "+919812345678", expect=(0,))
    cli("conflicts", expect=(0,))
    h.fault("callyzer", {"kind": "status", "status": 401, "count": 1})  # refused credentials: an error path
    assert "check the credentials" in cli("sync", "--json", "leads", expect=(3,)).stdout
    h.fault("callsavvy", {"kind": "status", "status": 500, "count": 20})  # an unreachable provider
    cli("sync", "leads", expect=(3,))
    with h.box.admin("callsavvy") as client:
        client.delete("/_sim/faults")

    log = h.dir / "daemon.log"
    earlier = len(_finished_runs(h))
    with log.open("w") as handle:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "syncd", "-c", str(path), "run"],
            stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            env={**os.environ, **env},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while len(_finished_runs(h)) < earlier + 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(_finished_runs(h)) >= earlier + 2, log.read_text()[-3000:]
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(30) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("event") == "run finished" for line in lines), "the daemon's JSON log lines were read"
    assert all("level" in line for line in lines)

    texts = {f"{' '.join(args)} stdout": p.stdout.encode() for args, p in outputs}
    texts |= {f"{' '.join(args)} stderr": p.stderr.encode() for args, p in outputs}
    texts[str(log)] = log.read_bytes()
    texts |= state_files(h)
    assert not scan(texts), f"secrets leaked: {scan(texts)}"
    # (the harness4 teardown scans every output and file under the test directory once more)


def _finished_runs(h: Harness) -> list[Run]:
    store = h.state()
    try:
        with Session(store.engine) as session:
            return [r for r in session.exec(select(Run)) if r.finished_at is not None and not r.dry_run]
    finally:
        store.close()


def test_a_provider_echoing_a_secret_does_not_put_it_in_the_state(tmp_path: Path) -> None:
    with Sandbox(speed=50, all_systems=True) as box:  # not harness4: its teardown would find the same leak
        _echoed_secret(Harness(box, tmp_path))


def _echoed_secret(h: Harness) -> None:
    _, env = secret_config(h)
    token = SECRETS["callyzer"]["token"]
    h.seed("callsavvy", [{"name": "Ravi Menon", "phone": "+919812300001", "status": "Potential",
                          "priority": "Warm", "summary": "s"}])  # fmt: skip
    h.fault("callyzer", {"kind": "status", "status": 500, "count": 50, "message": f"bad token {token}"})
    proc = h.cli("sync", "--json", "leads", env=env)
    assert proc.returncode == 3, proc.stderr
    assert token not in proc.stdout + proc.stderr, "the CLI redacts it"
    assert not scan(state_files(h)), f"secrets leaked: {scan(state_files(h))}"


# --- plain http only on loopback ------------------------------------------------------------------------------
def _one_url(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    write_secrets(tmp_path)
    data = base_config()
    data["systems"]["callsavvy"]["base_url"] = url
    return run_cli(write_config(tmp_path, data), "config", "validate")


@pytest.mark.parametrize(
    "url",
    [
        "http://192.168.1.20:8080/v1",
        "http://[fe80::1]:8080/v1",
        "http://127.0.0.1@evil.example/v1",  # userinfo: the host is evil.example
        "http://0x7f000001/v1",  # not an address Python reads as loopback: refused rather than guessed
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(tmp_path: Path, url: str) -> None:
    proc = _one_url(tmp_path, url)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    expected = f"{tmp_path / 'config.toml'}: systems.callsavvy.base_url: plain http is only allowed on loopback"
    assert expected in proc.stderr


@pytest.mark.parametrize(
    "url",
    ["http://127.45.6.7:9/v1", "http://localhost:9/v1", "http://[::1]:9/v1", "https://api.callsavvy.com/v1"],
)
def test_plain_http_on_loopback_and_https_anywhere_are_accepted(tmp_path: Path, url: str) -> None:
    proc = _one_url(tmp_path, url)
    assert proc.returncode == 0, proc.stderr


# --- TLS verification is always on ---------------------------------------------------------------------------
ENTRIES = {
    "callyzer": JobSystem(system="s", mapping="m"),
    "callsavvy": JobSystem(system="s", mapping="m", group="Customers"),
    "appsapi": JobSystem(system="s", mapping="m", list_id=2),
    "callpage": JobSystem(system="s", mapping="m"),
}
KEYS = {"callyzer": ["token"], "callsavvy": ["public_key", "private_key"], "appsapi": ["token"], "callpage": ["token"]}


@pytest.mark.parametrize(
    ("kind", "obj"),
    [("callyzer", "leads"), ("callsavvy", "leads"), ("callsavvy", "contacts"), ("appsapi", "leads"),
     ("callpage", "leads")],
)  # fmt: skip
def test_every_connector_verifies_tls(kind: str, obj: str) -> None:
    cfg = SystemConfig(kind=kind, base_url="https://provider.example/api", subdomain="acme")
    entry = ENTRIES[kind]
    cls = connector_class(kind, obj, entry)
    connector = cls("s", cfg, {k: "x-secret" for k in KEYS[kind]}, entry=entry)
    client = connector.http._client
    try:
        transport = client._transport
        assert isinstance(transport, httpx.AsyncHTTPTransport), "no transport that could skip verification"
        context = transport._pool._ssl_context
        assert context is not None
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert client.follow_redirects is False, "a redirect could carry the credentials elsewhere"
        for mounted in client._mounts.values():  # proxies from the environment verify as well
            if isinstance(mounted, httpx.AsyncHTTPTransport):
                mounted_context = mounted._pool._ssl_context
                assert mounted_context is not None
                assert mounted_context.verify_mode == ssl.CERT_REQUIRED
    finally:
        asyncio.run(connector.aclose())


def _all_keys(model: type[Any], seen: set[type[Any]] | None = None) -> set[str]:
    seen = seen or set()
    out: set[str] = set()
    for name, info in model.model_fields.items():
        out.add(name)
        for inner in (*getattr(info.annotation, "__args__", ()), info.annotation):
            if isinstance(inner, type) and hasattr(inner, "model_fields") and inner not in seen:
                seen.add(inner)
                out |= _all_keys(inner, seen)
    return out


def test_no_code_path_passes_its_own_tls_settings() -> None:
    """No client syncd builds to reach a provider is given TLS settings of its own: httpx's defaults apply."""
    package = Path(__file__).resolve().parents[2] / "syncd"
    offenders = [
        f"{path.relative_to(package)}:{n}: {line.strip()}"
        for path in package.rglob("*.py")
        if "sim" not in path.relative_to(package).parts
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\bverify\s*=|CERT_NONE|check_hostname|_create_unverified_context|trust_env", line)
    ]
    assert not offenders, offenders


def test_no_config_key_can_turn_tls_verification_off(tmp_path: Path) -> None:
    keys = _all_keys(Config) | _all_keys(SystemConfig)
    assert "token" in keys and "rate" in keys  # the walk reaches the systems
    words = ("verify", "insecure", "ssl", "tls", "cert", "ca_", "cafile", "skip")
    assert not [k for k in keys if any(w in k.lower() for w in words)], sorted(keys)
    write_secrets(tmp_path)
    data = base_config()
    data["systems"]["callyzer"]["verify"] = False  # what someone might try
    proc = run_cli(write_config(tmp_path, data), "config", "validate")
    assert proc.returncode == 2
    assert "systems.callyzer.verify: unknown key" in proc.stderr


# --- the state file is private -------------------------------------------------------------------------------
def test_state_database_is_created_with_mode_600(tmp_path: Path) -> None:
    write_secrets(tmp_path)
    path = write_config(tmp_path, base_config())
    env = {**os.environ, ENV_CZ: "x-cz-token", ENV_CP: "x-cp-token"}
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "-c", str(path), "sync", "--json", "contacts"],
        capture_output=True, text=True, env=env, umask=0, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr  # the closed port: but the run was recorded
    db = tmp_path / "state" / "syncd.db"
    assert db.exists()
    for file in db.parent.iterdir():
        if file.name.startswith("syncd.db"):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, f"{file.name}: {oct(file.stat().st_mode)}"


# --- a literal secret in a file others can read -------------------------------------------------------------
def _literal(tmp_path: Path, style: str) -> Path:
    """A valid config whose Callyzer token is given as ``style`` says."""
    write_secrets(tmp_path)
    data = base_config()
    text = tomli_w.dumps(data)
    line = 'token = "${' + ENV_CZ + '}"'
    assert line in text
    replacement = {
        "double": 'token = "literal-cz-secret"',
        "single": "token = 'literal-cz-secret'",
        "multiline": 'token = """literal-cz-secret"""',
        "env": line,
        "file": 'token_file = "secrets/aa-token"',
    }[style]
    return write_config(tmp_path, text.replace(line, replacement, 1))


def _validate_warns(path: Path) -> tuple[bool, str]:
    proc = run_cli(path, "config", "validate")
    assert proc.returncode == 0, proc.stderr
    assert "literal-cz-secret" not in proc.stdout + proc.stderr
    return "readable by other users" in proc.stderr, proc.stderr


@pytest.mark.parametrize(("style", "mode"), [("double", 0o644), ("single", 0o640), ("multiline", 0o604)])
def test_a_literal_secret_in_a_file_others_can_read_warns(tmp_path: Path, style: str, mode: int) -> None:
    path = _literal(tmp_path, style)
    path.chmod(mode)
    warned, stderr = _validate_warns(path)
    assert warned, f"no warning for a {style}-quoted literal secret in a {oct(mode)} file:\n{stderr}"
    assert str(path) in stderr


@pytest.mark.parametrize(("style", "mode"), [("double", 0o600), ("env", 0o644), ("file", 0o644)])
def test_no_warning_when_private_or_the_secret_is_not_in_the_file(tmp_path: Path, style: str, mode: int) -> None:
    path = _literal(tmp_path, style)
    path.chmod(mode)
    warned, stderr = _validate_warns(path)
    assert not warned, stderr


def test_the_warning_is_a_python_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process the same check is a UserWarning (what `python -W error` would stop on)."""
    monkeypatch.setenv(ENV_CP, "x-cp-token")
    path = _literal(tmp_path, "double")
    path.chmod(0o644)
    with pytest.warns(UserWarning, match="readable by other users"):
        load(path)
    path.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(path)
