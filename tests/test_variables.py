"""Shared variables: admins keep them, everyone may list them, a secret's value never comes back."""

from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditEvent, Script
from backend.services import variables
from tests.helpers import create_script, database_dump, database_rows

SECRET = "s3cr3t-token-for-the-warehouse"


def make_variable(client: FlaskClient, name: str, value: str, **fields: object) -> dict:
    response = client.post("/api/variables", json={"name": name, "value": value, **fields})
    assert response.status_code == 201, response.json
    return response.json


def test_an_admin_creates_changes_and_deletes_variables(client: FlaskClient) -> None:
    plain = make_variable(client, "WAREHOUSE_URL", "https://db.example", description="where reports read")
    assert plain["value"] == "https://db.example" and plain["secret"] is False
    assert plain["updated_by"] == "test-admin" and plain["description"] == "where reports read"

    changed = client.patch("/api/variables/WAREHOUSE_URL", json={"value": "https://db2.example", "description": None})
    assert changed.status_code == 200, changed.json
    assert changed.json["value"] == "https://db2.example" and changed.json["description"] == "where reports read"

    listing = client.get("/api/variables")
    assert listing.status_code == 200 and [v["name"] for v in listing.json["items"]] == ["WAREHOUSE_URL"]

    assert client.delete("/api/variables/WAREHOUSE_URL").status_code == 204
    assert client.get("/api/variables").json["items"] == []
    assert client.patch("/api/variables/WAREHOUSE_URL", json={"value": "x"}).status_code == 404
    assert client.delete("/api/variables/WAREHOUSE_URL").status_code == 404


def test_a_secret_value_is_never_returned_and_is_sealed_at_rest(app: Flask, client: FlaskClient) -> None:
    created = client.post("/api/variables", json={"name": "WAREHOUSE_TOKEN", "value": SECRET, "secret": True})
    assert created.status_code == 201 and created.json["value"] == "***"
    responses = [
        created,
        client.get("/api/variables"),
        app.test_client(role="viewer").get("/api/variables"),
        client.patch("/api/variables/WAREHOUSE_TOKEN", json={"description": "read-only key"}),
        client.get("/api/audit?per_page=200"),
    ]
    for response in responses:
        assert response.status_code == 200 or response.status_code == 201
        assert SECRET not in response.get_data(as_text=True)
    assert responses[1].json["items"][0]["value"] == "***"

    # turning it plain would show the old value: only with a new one
    unmasked = client.patch("/api/variables/WAREHOUSE_TOKEN", json={"secret": False})
    assert unmasked.status_code == 422 and unmasked.json["field"] == "value"
    replaced = client.patch("/api/variables/WAREHOUSE_TOKEN", json={"secret": False, "value": "public-now"})
    assert replaced.status_code == 200 and replaced.json["value"] == "public-now"
    client.patch("/api/variables/WAREHOUSE_TOKEN", json={"secret": True, "value": SECRET})

    settings = app.extensions["scriptman.settings"]
    (stored,) = database_rows(settings, "SELECT value FROM variables WHERE name = 'WAREHOUSE_TOKEN'")
    assert SECRET not in stored[0]
    assert SECRET.encode() not in database_dump(settings)


def test_names_are_environment_names_that_scriptman_does_not_set(client: FlaskClient) -> None:
    for name in (
        "lower",
        "1ABC",
        "A-B",
        "",
        "PATH",
        "HOME",
        "WORKSPACE",
        "SCRIPTMAN_X",
        "UPSTREAM_RESULT",
        "LD_PRELOAD",
    ):
        response = client.post("/api/variables", json={"name": name, "value": "x"})
        assert response.status_code == 422 and response.json["field"] == "name", (name, response.json)
    nul = client.post("/api/variables", json={"name": "OK_NAME", "value": "a\x00b"})
    assert nul.status_code == 422 and nul.json["field"] == "value"
    unknown = client.post("/api/variables", json={"name": "OK_NAME", "value": "x", "colour": "red"})
    assert unknown.status_code == 422
    not_text = client.post("/api/variables", json={"name": "OK_NAME", "value": 5})
    assert not_text.status_code == 422 and not_text.json["field"] == "value"
    make_variable(client, "OK_NAME", "x")
    taken = client.post("/api/variables", json={"name": "OK_NAME", "value": "y"})
    assert taken.status_code == 409 and taken.json["field"] == "name"


def test_only_admins_change_variables_and_every_user_may_list(app: Flask, client: FlaskClient) -> None:
    make_variable(client, "REGION", "eu-west-1")
    for role in ("viewer", "editor"):
        other = app.test_client(role=role)
        listed = other.get("/api/variables")
        assert listed.status_code == 200 and listed.json["items"][0]["value"] == "eu-west-1", role
        assert other.post("/api/variables", json={"name": "MINE", "value": "x"}).status_code == 403, role
        assert other.patch("/api/variables/REGION", json={"value": "x"}).status_code == 403, role
        assert other.delete("/api/variables/REGION").status_code == 403, role
    nobody = app.test_client(role=None)
    assert nobody.get("/api/variables").status_code == 401
    assert client.get("/api/variables").json["items"][0]["value"] == "eu-west-1"


def test_edits_are_audited_by_name_never_by_value(app: Flask, client: FlaskClient) -> None:
    make_variable(client, "WAREHOUSE_TOKEN", SECRET, secret=True)
    client.patch("/api/variables/WAREHOUSE_TOKEN", json={"value": SECRET + "-v2", "description": "rotated"})
    client.delete("/api/variables/WAREHOUSE_TOKEN")
    with app.app_context():
        rows = [r for r in db.session.scalars(select(AuditEvent)) if r.action.startswith("variables.")]
        text = json.dumps([[r.action, r.target_type, r.target_id, r.detail] for r in rows])
    assert SECRET not in text
    assert [(r.action, r.target_type, r.target_id, r.username) for r in rows] == [
        ("variables.create_variable", "variable", "WAREHOUSE_TOKEN", "test-admin"),
        ("variables.patch_variable", "variable", "WAREHOUSE_TOKEN", "test-admin"),
        ("variables.delete_variable", "variable", "WAREHOUSE_TOKEN", "test-admin"),
    ]
    assert rows[1].detail["changed"] == ["value", "description"] and rows[1].detail["secret"] is True
    listed = client.get("/api/audit?action=variables.delete_variable").json["items"][0]
    assert listed["target_name"] == "WAREHOUSE_TOKEN"


def test_the_runner_gets_values_and_the_secrets_to_mask(app: Flask, client: FlaskClient) -> None:
    make_variable(client, "REGION", "eu-west-1")
    make_variable(client, "WAREHOUSE_TOKEN", SECRET, secret=True)
    make_variable(client, "EMPTY_SECRET", "", secret=True)
    with app.app_context():
        env, secrets = variables.environment_for(["REGION", "WAREHOUSE_TOKEN", "EMPTY_SECRET", "GONE"])
        assert env == {"REGION": "eu-west-1", "WAREHOUSE_TOKEN": SECRET, "EMPTY_SECRET": ""}
        assert secrets == {SECRET}  # an empty value masks nothing
        assert variables.environment_for([]) == ({}, set())
        assert variables.missing(["REGION", "GONE", "ALSO_GONE", "GONE"]) == ["GONE", "ALSO_GONE"]
        assert variables.missing(name for name in ["REGION"]) == []


def test_a_variable_a_script_uses_cannot_be_deleted(app: Flask, client: FlaskClient) -> None:
    make_variable(client, "REGION", "eu-west-1")
    script = create_script(client, "report", "print(1)\n")
    with app.app_context():  # the script field arrives with the script API's change; set it directly here
        db.session.get(Script, script["id"]).variables = ["REGION"]
        db.session.commit()
    refused = client.delete("/api/variables/REGION")
    assert refused.status_code == 409 and "'report'" in refused.json["detail"]
    with app.app_context():
        db.session.get(Script, script["id"]).variables = []
        db.session.commit()
    assert client.delete("/api/variables/REGION").status_code == 204
