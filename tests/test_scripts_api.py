"""The scripts API end to end: CRUD, search, versions, diff, rollback, stale edits, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.helpers import create_script

PARAMS = [{"name": "COUNT", "type": "integer", "default": 3, "description": "how many"}]


def _versions(client: FlaskClient, script_id: int) -> list[int]:
    return [v["number"] for v in client.get(f"/api/scripts/{script_id}/versions").json["items"]]


def test_a_created_script_is_version_1_and_can_be_read_back(client: FlaskClient) -> None:
    body = create_script(
        client, "hello", "print('hi')", parameters=PARAMS, tags=["ops", "daily"], folder="/reports/daily/"
    )
    assert body["version"] == 1 and body["folder"] == "reports/daily" and sorted(body["tags"]) == ["daily", "ops"]
    got = client.get(f"/api/scripts/{body['id']}")
    assert got.status_code == 200 and got.json["code"] == "print('hi')" and got.json["parameters"][0]["name"] == "COUNT"
    assert got.headers["ETag"] == f'"{got.json["revision"]}"'
    assert got.json["last_run"] is None
    assert _versions(client, body["id"]) == [1]


def test_the_list_searches_filters_and_pages(client: FlaskClient) -> None:
    create_script(client, "daily report", "echo 1", language="shell", tags=["reports"], folder="reports")
    create_script(client, "cleanup", "echo 2", language="shell", description="removes daily temp files", folder="ops")
    create_script(client, "backup", "echo 3", language="shell", tags=["ops"], folder="ops")
    assert {s["name"] for s in client.get("/api/scripts?q=daily").json["items"]} == {"daily report", "cleanup"}
    assert [s["name"] for s in client.get("/api/scripts?tag=ops").json["items"]] == ["backup"]
    assert {s["name"] for s in client.get("/api/scripts?folder=ops").json["items"]} == {"cleanup", "backup"}
    page = client.get("/api/scripts?per_page=2&page=2").json
    assert page["total"] == 3 and len(page["items"]) == 1 and page["page"] == 2


def test_content_changes_make_versions_and_metadata_changes_do_not(client: FlaskClient) -> None:
    script = create_script(client, "versioned", "print(1)")
    sid = script["id"]
    assert (
        client.patch(f"/api/scripts/{sid}", json={"name": "renamed", "description": "d", "tags": ["x"]}).json["version"]
        == 1
    )
    assert client.patch(f"/api/scripts/{sid}", json={"code": "print(2)"}).json["version"] == 2
    assert client.patch(f"/api/scripts/{sid}", json={"dependencies": ["requests>=2"]}).json["version"] == 3
    assert client.patch(f"/api/scripts/{sid}", json={"parameters": PARAMS}).json["version"] == 4
    assert client.patch(f"/api/scripts/{sid}", json={"code": "print(2)"}).json["version"] == 4  # same content
    assert _versions(client, sid) == [4, 3, 2, 1]
    v2 = client.get(f"/api/scripts/{sid}/versions/2").json
    assert v2["code"] == "print(2)" and v2["dependencies"] == [] and v2["parameters"] == []


def test_put_replaces_the_whole_script(client: FlaskClient) -> None:
    script = create_script(client, "whole", "print(1)", tags=["a"], description="old")
    body = {"name": "whole", "language": "python", "code": "print(9)", "version": 1}
    replaced = client.put(f"/api/scripts/{script['id']}", json=body)
    assert replaced.status_code == 200, replaced.json
    assert replaced.json["version"] == 2 and replaced.json["tags"] == [] and replaced.json["description"] == ""


def test_diff_shows_code_dependency_and_parameter_changes(client: FlaskClient) -> None:
    sid = create_script(client, "diffed", "a = 1\nprint(a)\n")["id"]
    client.patch(f"/api/scripts/{sid}", json={"code": "a = 2\nprint(a)\n", "dependencies": ["rich"]})
    diff = client.get(f"/api/scripts/{sid}/diff?from=1&to=2").json["diff"]
    assert "-a = 1" in diff and "+a = 2" in diff and "+rich" in diff and " print(a)" in diff
    assert diff.startswith("--- v1\n+++ v2\n")
    assert client.get(f"/api/scripts/{sid}/diff?from=1&to=1").json["diff"] == ""
    missing = client.get(f"/api/scripts/{sid}/diff?from=1&to=9")
    assert missing.status_code == 404 and missing.content_type == "application/problem+json"


def test_rollback_makes_a_new_version_equal_to_the_old_one(client: FlaskClient) -> None:
    sid = create_script(client, "rolled", "print('one')", parameters=PARAMS)["id"]
    client.patch(f"/api/scripts/{sid}", json={"code": "print('two')", "parameters": []})
    rolled = client.post(f"/api/scripts/{sid}/rollback/1")
    assert rolled.status_code == 200
    assert rolled.json["version"] == 3 and rolled.json["code"] == "print('one')"
    assert rolled.json["parameters"][0]["name"] == "COUNT"
    assert _versions(client, sid) == [3, 2, 1]  # history kept
    assert client.get(f"/api/scripts/{sid}/versions/2").json["code"] == "print('two')"
    assert client.post(f"/api/scripts/{sid}/rollback/42").status_code == 404


def test_a_stale_edit_is_refused_instead_of_overwriting(client: FlaskClient) -> None:
    script = create_script(client, "shared", "print(1)")
    sid, etag = script["id"], f'"{script["revision"]}"'
    assert client.patch(f"/api/scripts/{sid}", json={"code": "print('alice')", "version": 1}).status_code == 200
    bob = client.patch(f"/api/scripts/{sid}", json={"code": "print('bob')", "version": 1})
    assert bob.status_code == 409 and bob.json["field"] == "version"
    stale = client.patch(f"/api/scripts/{sid}", json={"description": "x"}, headers={"If-Match": etag})
    assert stale.status_code == 409
    assert client.get(f"/api/scripts/{sid}").json["code"] == "print('alice')"


def test_delete_removes_the_script_and_its_versions(client: FlaskClient) -> None:
    sid = create_script(client, "doomed", "print(1)")["id"]
    assert client.delete(f"/api/scripts/{sid}").status_code == 204
    assert client.get(f"/api/scripts/{sid}").status_code == 404
    assert client.get(f"/api/scripts/{sid}/versions").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "x", "language": "cobol", "code": ""}, 422, "language"),
        ({"name": "", "language": "python", "code": ""}, 422, "name"),
        ({"language": "python", "code": ""}, 422, "name"),
        ({"name": "x", "language": "python", "code": 5}, 422, "code"),
        ({"name": "x", "language": "python", "timeout_seconds": "soon"}, 422, "timeout_seconds"),
        ({"name": "x", "language": "python", "parameters": [{"name": "1BAD", "type": "string"}]}, 422, "parameters"),
        ({"name": "x", "language": "python", "parameters": [{"name": "A", "type": "colour"}]}, 422, "parameters"),
        (
            {"name": "x", "language": "python", "parameters": [{"name": "A", "type": "integer", "default": "ten"}]},
            422,
            "parameters",
        ),
        (
            {"name": "x", "language": "python", "parameters": [{"name": "A", "type": "choice", "choices": []}]},
            422,
            "parameters",
        ),
        ({"name": "x", "language": "python", "parameters": [{"name": "A", "type": "string"}] * 2}, 422, "parameters"),
        ({"name": "x", "language": "python", "folder": "a/../b"}, 422, "folder"),
        ({"name": "x", "language": "python", "surprise": 1}, 422, "surprise"),
    ],
)
def test_bad_scripts_are_refused_naming_the_field(
    client: FlaskClient, body: dict[str, Any], status: int, field: str
) -> None:
    response = client.post("/api/scripts", json=body)
    assert response.status_code == status, response.json
    assert response.content_type == "application/problem+json"
    assert field in (response.json.get("field") or "") + response.json.get("detail", "")
    assert client.get("/api/scripts").json["total"] == 0  # nothing half-written


def test_duplicate_names_unicode_and_oversize_code(app: Any, client: FlaskClient) -> None:
    create_script(client, "Rapport über Äpfel 📈", "print(1)")
    duplicate = client.post("/api/scripts", json={"name": "Rapport über Äpfel 📈", "language": "python"})
    assert duplicate.status_code == 409 and duplicate.json["field"] == "name"
    limit = app.extensions["scriptman.settings"].max_code_bytes
    huge = client.post("/api/scripts", json={"name": "huge", "language": "python", "code": "#" * (limit + 1)})
    assert huge.status_code == 413
    assert client.get("/api/scripts").json["total"] == 1
    assert client.get("/api/scripts/999").status_code == 404
    assert client.post("/api/scripts", data="{not json", content_type="application/json").status_code == 400


def test_a_script_shows_its_last_run(client: FlaskClient) -> None:
    from tests.helpers import execute, wait_final

    sid = create_script(client, "runner", "print('ok')")["id"]
    run = execute(client, sid)
    wait_final(client, run["id"])
    listed = client.get("/api/scripts").json["items"][0]["last_run"]
    assert listed["id"] == run["id"] and listed["status"] == "succeeded"
    assert client.get(f"/api/scripts/{sid}").json["last_run"]["id"] == run["id"]
    assert client.patch(f"/api/scripts/{sid}", json={"description": "d"}).json["last_run"]["id"] == run["id"]


def test_health_reports_version_database_and_uptime(client: FlaskClient) -> None:
    body = client.get("/api/health").json
    assert body["status"] == "ok" and body["database"] == "ok" and body["uptime_seconds"] >= 0 and body["version"]


def test_the_openapi_document_is_valid_and_describes_the_scripts_api(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").json
    validate(spec)
    assert {"/api/scripts", "/api/scripts/{script_id}/rollback/{number}", "/api/stats"} <= set(spec["paths"])
