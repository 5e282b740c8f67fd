"""Secrets at rest: the database file alone reveals no secret, yet runs still get the plain values.

Each test greps the raw bytes of ``data/scriptman.db`` and its ``-wal`` file (SQLite in WAL mode
keeps recent pages there, not in the main file) for the secret values; on PostgreSQL, whose files
are out of reach, every row of every table as text (``tests.helpers.database_dump``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, stamp, upgrade

from backend.app import create_app
from backend.cli import main
from backend.config import Settings
from backend.database import upgrade_database
from backend.extensions import db
from backend.models import Execution, Schedule, Script, ScriptVersion
from backend.secretbox import KEYS_FILE, SecretBox, SecretsKeyError
from backend.services.secret_storage import check_keys, rotate_key, verify_key
from tests.conftest import TEST_DATABASE_URL, AppFactory, close_app, make_settings, new_postgres_database
from tests.helpers import create_script, database_dump, database_rows, execute, wait_final

HASH_SECRETS = """
import hashlib, json, os
json.dump({k: hashlib.sha256(os.environ[k].encode()).hexdigest() for k in ("TOKEN", "API_KEY")},
          open(os.environ["SCRIPTMAN_RESULT"], "w"))
"""
BEFORE = "0005"  # the revision before migrations/versions/0006_encrypted_secrets.py


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def unique(label: str) -> str:
    return f"{label}-{secrets.token_hex(12)}"


def assert_absent(settings: Settings, *values: str) -> None:
    raw = database_dump(settings)
    for value in values:
        assert raw.count(value.encode()) == 0, f"{value!r} is stored in plain text"


def key_file(settings: Settings) -> Path:
    return settings.data_dir / KEYS_FILE


def file_keys(settings: Settings) -> list[str]:
    return [line for line in key_file(settings).read_text().splitlines() if line and not line.startswith("#")]


def secret_parameters(default: str) -> list[dict]:
    return [
        {"name": "TOKEN", "type": "secret", "default": default},
        {"name": "API_KEY", "type": "secret"},
        {"name": "LABEL", "type": "string"},
    ]


def stored_tokens(settings: Settings) -> list[str]:
    """Every Fernet token in the database, read with plain SQL (no app, no key)."""
    tokens = [loaded(settings, v) for (v,) in database_rows(settings, "SELECT secret_params FROM executions")]
    tokens += [loaded(settings, v) for (v,) in database_rows(settings, "SELECT params FROM schedules")]
    for (value,) in database_rows(
        settings, "SELECT parameters FROM scripts UNION ALL SELECT parameters FROM script_versions"
    ):
        tokens += [
            d["default"]["encrypted"] for d in loaded(settings, value) if d["type"] == "secret" and d.get("default")
        ]
    return tokens


def loaded(settings: Settings, value: Any) -> Any:
    """A JSON column's value: text on SQLite; PostgreSQL's driver has already decoded its json."""
    return value if settings.database_url else json.loads(value)


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    env = {"SCRIPTMAN_HOME": str(settings.home), "SCRIPTMAN_SCHEDULER_ENABLED": "false"}
    if settings.database_url:
        env["SCRIPTMAN_DATABASE_URL"] = settings.database_url
    return env


def test_no_secret_reaches_the_database_file_yet_the_run_gets_it(
    client: FlaskClient, app: Flask, settings: Settings
) -> None:
    default, given, scheduled, label = unique("default"), unique("given"), unique("scheduled"), unique("label")
    script = create_script(client, "hasher", HASH_SECRETS, parameters=secret_parameters(default))
    done = wait_final(client, execute(client, script["id"], {"API_KEY": given, "LABEL": label})["id"])
    assert done["status"] == "succeeded", done
    assert done["result"] == {"TOKEN": sha(default), "API_KEY": sha(given)}
    schedule = client.post(
        "/api/schedules",
        json={"name": "nightly", "script_id": script["id"], "cron": "@daily", "params": {"API_KEY": scheduled}},
    )
    assert schedule.status_code == 201, schedule.json
    fired = wait_final(client, client.post(f"/api/schedules/{schedule.json['id']}/run-now").json["id"])
    assert fired["result"] == {"TOKEN": sha(default), "API_KEY": sha(scheduled)}
    rerun = client.post(f"/api/executions/{done['id']}/rerun")
    assert rerun.status_code == 202, rerun.json
    assert wait_final(client, rerun.json["id"])["result"] == done["result"]

    assert_absent(settings, default, given, scheduled)
    assert label.encode() in database_dump(settings)  # the grep does see what is stored in plain text
    assert_absent(settings, *file_keys(settings))  # nor is the key in the database
    assert stat.S_IMODE(key_file(settings).stat().st_mode) == 0o600
    with app.app_context():  # the services see plain values
        assert db.session.get(Script, script["id"]).parameters[0]["default"] == default
        assert db.session.get(Execution, done["id"]).secret_params == {"TOKEN": default, "API_KEY": given}
        assert db.session.get(Schedule, schedule.json["id"]).params == {"API_KEY": scheduled}
    assert client.get(f"/api/scripts/{script['id']}").json["parameters"][0]["default"] == "***"
    assert len(stored_tokens(settings)) >= 6


def test_apps_with_different_homes_keep_their_own_keys(tmp_path: Path, make_app: AppFactory) -> None:
    apps = []
    for name in ("one", "two"):
        app = make_app(make_settings(tmp_path / name), start=False)
        create_script(app.test_client(), "s", "print(1)", parameters=[{"name": "T", "type": "secret", "default": name}])
        apps.append(app)
    for name, app in zip(("one", "two"), apps, strict=True):
        with app.app_context():
            assert db.session.get(Script, 1).parameters[0]["default"] == name
            db.session.remove()
    assert file_keys(make_settings(tmp_path / "one")) != file_keys(make_settings(tmp_path / "two"))


@pytest.fixture
def old_app(tmp_path: Path) -> Iterator[tuple[Flask, Settings]]:
    # an empty database (not the session's migrated template): the migrations up to BEFORE make it
    empty = new_postgres_database(TEST_DATABASE_URL) if TEST_DATABASE_URL else None
    settings = make_settings(tmp_path, database_url=empty)
    app = create_app(settings, {"TESTING": True})
    with app.app_context():
        upgrade(revision=BEFORE)
    yield app, settings
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def insert_plain_rows(settings: Settings, default: str, run_secret: str, schedule_secret: str) -> None:
    """Rows as Scriptman stored them before 0006, written with plain SQL."""
    definitions = json.dumps([{"name": "TOKEN", "type": "secret", "default": default, "required": False}])
    now = "2026-11-30 10:00:00.000000"
    statements = [
        "INSERT INTO scripts (id, name, description, language, code, dependencies, parameters, folder,"
        " concurrency_policy, max_retries, retry_delay_seconds, enabled, current_version, revision,"
        " created_at, updated_at) VALUES (1, 'old', '', 'python', 'print(1)', '[]', :definitions, '', 'queue', 0, 0,"
        " TRUE, 1, 1, :now, :now)",
        "INSERT INTO script_versions (script_id, number, code, dependencies, parameters, message, created_at)"
        " VALUES (1, 1, 'print(1)', '[]', :definitions, 'created', :now)",
        "INSERT INTO executions (script_id, version_number, trigger, params, secret_params, status, queued_at,"
        " attempt, cancel_requested) VALUES (1, 1, 'manual', :masked, :run, 'succeeded', :now, 1, FALSE)",
        "INSERT INTO schedules (name, script_id, cron, timezone, params, enabled, overlap_policy,"
        " misfire_grace_seconds, created_at, updated_at)"
        " VALUES ('s', 1, '@daily', 'UTC', :schedule, TRUE, 'skip', 60, :now, :now)",
    ]
    values = {
        "definitions": definitions,
        "now": now,
        "masked": json.dumps({"TOKEN": "***"}),
        "run": json.dumps({"TOKEN": run_secret}),
        "schedule": json.dumps({"TOKEN": schedule_secret}),
    }
    for statement in statements:
        database_rows(settings, statement, **values)


def assert_plain_values(app: Flask, default: str, run_secret: str, schedule_secret: str) -> None:
    with app.app_context():
        assert db.session.get(Script, 1).parameters[0]["default"] == default
        assert db.session.get(ScriptVersion, 1).parameters[0]["default"] == default
        assert db.session.get(Execution, 1).secret_params == {"TOKEN": run_secret}
        assert db.session.get(Schedule, 1).params == {"TOKEN": schedule_secret}
        db.session.remove()


@pytest.mark.parametrize("where", ["wal", "main file"])
def test_the_migration_encrypts_existing_plain_rows(old_app: tuple[Flask, Settings], where: str) -> None:
    """Plain values must not survive anywhere: not in the WAL's older frames, not in freed space."""
    app, settings = old_app
    values = unique("default"), unique("run"), unique("schedule")
    insert_plain_rows(settings, *values)
    if where == "main file":  # an install whose WAL was checkpointed long ago
        if settings.database_url:
            database_rows(settings, "CHECKPOINT")  # PostgreSQL's own: the WAL written into the tables' files
        else:
            database_rows(settings, "PRAGMA wal_checkpoint(TRUNCATE)")
            assert all(value.encode() in (settings.data_dir / "scriptman.db").read_bytes() for value in values)
    assert all(value.encode() in database_dump(settings) for value in values)
    assert not key_file(settings).exists()

    upgrade_database(app)
    assert_absent(settings, *values)
    assert key_file(settings).exists()
    assert_plain_values(app, *values)
    assert len(stored_tokens(settings)) == 4

    with app.app_context():  # running 0006 again over encrypted rows changes nothing
        stamp(revision=BEFORE)
        upgrade(revision="0006")
        stamp(revision="head")
    assert_plain_values(app, *values)

    with app.app_context():  # and the downgrade gives the plain values back
        downgrade(revision=BEFORE)
    ((secret_params,),) = database_rows(settings, "SELECT secret_params FROM executions")
    assert loaded(settings, secret_params) == {"TOKEN": values[1]}


def test_rotation_re_encrypts_everything_and_a_running_app_follows(
    client: FlaskClient, app: Flask, settings: Settings, cli_env: dict[str, str]
) -> None:
    default, given = unique("default"), unique("given")
    script = create_script(client, "hasher", HASH_SECRETS, parameters=secret_parameters(default))
    first = wait_final(client, execute(client, script["id"], {"API_KEY": given})["id"])
    client.post(
        "/api/schedules", json={"name": "n", "script_id": script["id"], "cron": "@daily", "params": {"API_KEY": given}}
    )
    (old_key,) = file_keys(settings)
    before = stored_tokens(settings)

    result = CliRunner().invoke(main, ["rotate-secrets-key"], env=cli_env)
    assert result.exit_code == 0, result.output
    for line in ("runs' secret values: 1", "schedules' parameter values: 1", "scripts' secret defaults: 1"):
        assert line in result.output
    assert "1 old key(s) removed" in result.output and "back up" in result.output

    (new_key,) = file_keys(settings)
    assert new_key != old_key
    after = stored_tokens(settings)
    assert len(after) == len(before) and not set(after) & set(before)
    for token in after:
        Fernet(new_key).decrypt(token.encode())
        with pytest.raises(InvalidToken):
            Fernet(old_key).decrypt(token.encode())
    assert_absent(settings, default, given, *before)  # no old token lingers in free space or the WAL
    # the app that was running meanwhile re-reads the key file: old data opens, new runs work
    assert client.get(f"/api/executions/{first['id']}").status_code == 200
    again = wait_final(client, execute(client, script["id"], {"API_KEY": given})["id"])
    assert again["result"] == first["result"] == {"TOKEN": sha(default), "API_KEY": sha(given)}
    with app.app_context():
        assert db.session.get(Execution, first["id"]).secret_params == {"TOKEN": default, "API_KEY": given}


def test_rotation_with_keys_from_the_environment(tmp_path: Path, make_app: AppFactory) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = make_app(secrets_key=old, start=False)
    create_script(app.test_client(), "s", "print(1)", parameters=[{"name": "T", "type": "secret", "default": "v"}])
    with app.app_context():
        with pytest.raises(SecretsKeyError, match="SCRIPTMAN_SECRETS_KEY=<new key>,<current key>"):
            rotate_key(app.extensions["scriptman.secretbox"])
        db.session.remove()  # before the engine lets go: its connection goes back to the live pool
        db.engine.dispose()
    assert not key_file(make_settings(tmp_path)).exists()  # an environment key never writes the file

    both = create_app(make_settings(tmp_path, secrets_key=f"{new}, {old}"), {"TESTING": True})
    with both.app_context():
        done = rotate_key(both.extensions["scriptman.secretbox"])
        assert done.counts["scripts' secret defaults"] == 1 and done.old_keys == 1
    close_app(both)
    only_new = create_app(make_settings(tmp_path, secrets_key=new), {"TESTING": True})
    with only_new.app_context():
        assert db.session.get(Script, 1).parameters[0]["default"] == "v"
    close_app(only_new)


def test_a_wrong_or_missing_key_is_a_clear_error_not_garbage(
    client: FlaskClient, app: Flask, settings: Settings
) -> None:
    script = create_script(client, "s", "print(1)", parameters=[{"name": "T", "type": "secret", "default": "v"}])
    verify_key(app)
    good = key_file(settings).read_text()

    key_file(settings).write_text(Fernet.generate_key().decode() + "\n")
    response = client.get(f"/api/scripts/{script['id']}")
    assert response.status_code == 500 and response.json["title"] == "Secrets key problem"
    assert "cannot be decrypted" in response.json["detail"] and "key is wrong" in response.json["detail"]
    with pytest.raises(SecretsKeyError, match="key is wrong"):
        verify_key(app)  # what `scriptman serve` runs before serving

    key_file(settings).unlink()
    response = client.get(f"/api/scripts/{script['id']}")
    assert response.status_code == 500 and "does not exist" in response.json["detail"]
    with pytest.raises(SecretsKeyError, match="does not exist"):
        verify_key(app)

    key_file(settings).write_text(good)
    assert client.get(f"/api/scripts/{script['id']}").status_code == 200
    with app.app_context():
        assert check_keys(db.session.connection(), app.extensions["scriptman.secretbox"], sample=None) == 2
        db.session.remove()


def test_a_token_opened_once_is_not_opened_again_until_the_key_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / KEYS_FILE
    box = SecretBox(path=path)
    token = box.encrypt_json({"password": "hunter2"})
    opened: list[str] = []
    real = MultiFernet.decrypt
    monkeypatch.setattr(MultiFernet, "decrypt", lambda self, data, ttl=None: opened.append(data) or real(self, data))
    assert box.decrypt_json(token) == {"password": "hunter2"}
    first = box.decrypt_json(token)
    first["password"] = "changed by a caller"  # each read is a fresh value
    assert box.decrypt_json(token) == {"password": "hunter2"}
    assert len(opened) == 1  # a list of 50 schedules opened 50 tokens on every request
    good = path.read_text()
    path.write_text(Fernet.generate_key().decode() + "\n")  # the wrong key now: no remembered answer
    with pytest.raises(SecretsKeyError, match="key is wrong"):
        box.decrypt_json(token)
    path.write_text(good)
    assert box.decrypt_json(token) == {"password": "hunter2"}


def test_a_malformed_environment_key_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(SecretsKeyError, match="SCRIPTMAN_SECRETS_KEY: key 1 is not a Fernet key"):
        create_app(make_settings(tmp_path, secrets_key="not-a-key"))


def test_the_command_refuses_to_rotate_when_secrets_do_not_open(
    client: FlaskClient, settings: Settings, cli_env: dict[str, str]
) -> None:
    create_script(client, "s", "print(1)", parameters=[{"name": "T", "type": "secret", "default": "v"}])
    wrong = Fernet.generate_key().decode()
    key_file(settings).write_text(wrong + "\n")
    result = CliRunner().invoke(main, ["rotate-secrets-key"], env=cli_env)
    assert result.exit_code == 1 and "cannot be decrypted" in result.output
    assert file_keys(settings) == [wrong]  # nothing changed
