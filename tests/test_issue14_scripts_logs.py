"""Issue 14, scripts and logs: search in code, subfolders, version authors, duplicate, log
filters and search, the final log line, install errors, cron messages, audit target names."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.config import Settings
from backend.services import logsearch
from tests.helpers import counting_queries, create_script, execute, log_text, wait_final


def names(client: FlaskClient, **query: Any) -> set[str]:
    response = client.get("/api/scripts", query_string=query)
    assert response.status_code == 200, response.json
    return {item["name"] for item in response.json["items"]}


# --- 1. search in code, tags and folders; subfolders ---------------------------------------------------


def test_search_finds_text_in_the_current_code_tags_and_folder(client: FlaskClient) -> None:
    old = create_script(client, "fetcher", "import requests  # OLD_MARKER\n")
    client.patch(f"/api/scripts/{old['id']}", json={"code": "import httpx  # NEW_MARKER\n"})
    create_script(client, "tagged", "print(1)", tags=["Nightly-Batch"])
    create_script(client, "foldered", "print(1)", folder="finance/payroll")
    create_script(client, "plain", "print(1)", description="nothing to see")
    assert names(client, q="new_marker") == {"fetcher"}  # case-insensitive, the current version's code
    assert names(client, q="OLD_MARKER") == set()  # an older version's code is not searched
    assert names(client, q="nightly") == {"tagged"}
    assert names(client, q="payroll") == {"foldered"}
    assert names(client, q="to see") == {"plain"}
    assert names(client, q="100%") == set()  # LIKE wildcards are literal
    assert names(client, q="http_") == set()  # "_" is not "any character": httpx is no match


def test_the_folder_filter_includes_subfolders_only(client: FlaskClient) -> None:
    for name, folder in [("a", "demo"), ("b", "demo/params"), ("c", "demo/params/deep"), ("d", "demonstration")]:
        create_script(client, name, "print(1)", folder=folder)
    create_script(client, "e", "print(1)", folder="de_o")
    assert names(client, folder="demo") == {"a", "b", "c"}
    assert names(client, folder="demo/params") == {"b", "c"}
    assert names(client, folder="de_o") == {"e"}  # "_" is a character, not a wildcard


def test_listing_and_searching_scripts_takes_a_fixed_number_of_queries(app: Flask, client: FlaskClient) -> None:
    for i in range(3):
        create_script(client, f"s{i}", f"print('needle {i}')", tags=["t"])
    with counting_queries(app) as few:
        assert len(names(client, q="needle")) == 3
    for i in range(3, 12):
        create_script(client, f"s{i}", f"print('needle {i}')", tags=["t"])
    with counting_queries(app) as many:
        assert len(names(client, q="needle")) == 12
    assert len(many) == len(few)  # no query per script


# --- 2. version authors ------------------------------------------------------------------------------


def test_versions_name_their_author_and_a_rollback_is_by_who_rolled_back(app: Flask) -> None:
    editor, admin = app.test_client(role="editor"), app.test_client()
    script = create_script(editor, "authored", "print(1)")
    sid = script["id"]
    assert admin.patch(f"/api/scripts/{sid}", json={"code": "print(2)"}).status_code == 200
    assert editor.post(f"/api/scripts/{sid}/rollback/1").status_code == 200
    listed = {v["number"]: v["author"] for v in admin.get(f"/api/scripts/{sid}/versions").json["items"]}
    assert listed == {1: "test-editor", 2: "test-admin", 3: "test-editor"}
    assert admin.get(f"/api/scripts/{sid}/versions/2").json["author"] == "test-admin"


# --- 3. duplicate ------------------------------------------------------------------------------------

PARAMS = [
    {"name": "COUNT", "type": "integer", "default": 3},
    {"name": "TOKEN", "type": "secret", "default": "s3cret-default"},
]


def test_duplicate_copies_the_current_version_and_settings_as_version_1(client: FlaskClient) -> None:
    source = create_script(
        client,
        "report",
        "print(1)",
        parameters=PARAMS,
        dependencies=["six"],
        tags=["ops"],
        folder="reports",
        description="the report",
        timeout_seconds=30,
        max_retries=2,
        limits={"memory_mb": 256},
    )
    client.patch(f"/api/scripts/{source['id']}", json={"code": "print(2)"})
    response = client.post(f"/api/scripts/{source['id']}/duplicate")
    assert response.status_code == 201, response.json
    copy = response.json
    assert copy["id"] != source["id"] and copy["name"] == "report (copy)" and copy["version"] == 1
    assert copy["code"] == "print(2)" and copy["dependencies"] == ["six"] and copy["tags"] == ["ops"]
    assert copy["folder"] == "reports" and copy["description"] == "the report"
    assert copy["timeout_seconds"] == 30 and copy["max_retries"] == 2 and copy["limits"]["memory_mb"] == 256
    assert [p["name"] for p in copy["parameters"]] == ["COUNT", "TOKEN"] and copy["parameters"][1]["default"] == "***"
    versions = client.get(f"/api/scripts/{copy['id']}/versions").json["items"]
    assert [(v["number"], v["message"], v["author"]) for v in versions] == [
        (1, "Duplicated from report v2", "test-admin")
    ]
    # the secret default was copied, not the mask: a run of the copy gets the real value
    code = "import os\nprint('token is', os.environ['TOKEN'] == 's3cret-default')\n"
    client.patch(f"/api/scripts/{copy['id']}", json={"code": code, "dependencies": []})
    done = wait_final(client, execute(client, copy["id"])["id"])
    assert done["status"] == "succeeded"
    assert "token is True" in client.get(f"/api/executions/{done['id']}/logs?format=text").data.decode()


def test_duplicate_names_count_up_and_a_given_name_is_checked(client: FlaskClient) -> None:
    source = create_script(client, "job", "print(1)")
    url = f"/api/scripts/{source['id']}/duplicate"
    assert client.post(url).json["name"] == "job (copy)"
    assert client.post(url, json={}).json["name"] == "job (copy 2)"
    assert client.post(url, json={"name": None}).json["name"] == "job (copy 3)"
    assert client.post(url, json={"name": "  my job  "}).json["name"] == "my job"
    taken = client.post(url, json={"name": "job"})
    assert taken.status_code == 409 and taken.json["field"] == "name"
    for body in ({"name": ""}, {"name": "x" * 201}, {"name": 5}, {"nmae": "typo"}):
        bad = client.post(url, json=body)
        assert bad.status_code == 422, (body, bad.json)
    assert client.post("/api/scripts/999999/duplicate").status_code == 404


def test_a_long_name_is_cut_to_fit_its_copy_suffix(client: FlaskClient) -> None:
    source = create_script(client, "n" * 200, "print(1)")
    first = client.post(f"/api/scripts/{source['id']}/duplicate").json["name"]
    second = client.post(f"/api/scripts/{source['id']}/duplicate").json["name"]
    assert first == "n" * 193 + " (copy)" and second == "n" * 191 + " (copy 2)"


def test_duplicate_needs_an_editor_and_is_audited_like_a_create(app: Flask) -> None:
    admin = app.test_client()
    source = create_script(admin, "original", "print(1)")
    url = f"/api/scripts/{source['id']}/duplicate"
    assert app.test_client(role="viewer").post(url).status_code == 403
    copy = app.test_client(role="editor").post(url)
    assert copy.status_code == 201
    events = admin.get("/api/audit", query_string={"action": "scripts.duplicate_script"}).json["items"]
    assert len(events) == 1
    assert events[0]["target_type"] == "script" and events[0]["target_id"] == str(copy.json["id"])
    assert events[0]["target_name"] == "original (copy)" and events[0]["username"] == "test-editor"
    assert events[0]["detail"]["source_script_id"] == source["id"]


def test_only_an_admin_may_duplicate_a_script_with_a_run_as_account(app: Flask) -> None:
    import getpass

    admin = app.test_client()
    source = create_script(admin, "as-me", "print(1)", run_as_user=getpass.getuser())
    url = f"/api/scripts/{source['id']}/duplicate"
    refused = app.test_client(role="editor").post(url)
    assert refused.status_code == 403 and refused.json["field"] == "run_as_user"
    assert admin.post(url).json["run_as_user"] == getpass.getuser()


# --- 4. log filters and search -------------------------------------------------------------------------

LEVELLED = """
import sys, scriptman
print("plain stdout line")
print("to stderr", file=sys.stderr)
for level in ("debug", "info", "warning", "error", "critical"):
    scriptman.log(level, f"a {level} Needle")
print("[ERROR] printed on stdout, still a level line")
print("NEEDLE in stdout")
"""


@pytest.fixture
def levelled_run(client: FlaskClient) -> int:
    script = create_script(client, "levelled", LEVELLED)
    done = wait_final(client, execute(client, script["id"])["id"])
    assert done["status"] == "succeeded"
    return int(done["id"])


def texts(records: list[dict]) -> list[str]:
    return [r["text"] for r in records]


def test_the_log_page_filters_by_stream(client: FlaskClient, levelled_run: int) -> None:
    url = f"/api/executions/{levelled_run}/logs"
    stderr = client.get(url, query_string={"stream": "stderr"}).json
    assert texts(stderr["records"]) == ["to stderr"] + [f"[{lv.upper()}] a {lv} Needle" for lv in scriptman_levels()]
    assert {r["stream"] for r in stderr["records"]} == {"err"}
    assert stderr["complete"] is True and stderr["next_offset"] == stderr["size"]
    stdout = texts(client.get(url, query_string={"stream": "stdout"}).json["records"])
    assert stdout == ["plain stdout line", "[ERROR] printed on stdout, still a level line", "NEEDLE in stdout"]
    sys_lines = texts(client.get(url, query_string={"stream": "sys"}).json["records"])
    assert sys_lines[0].startswith("run ") and sys_lines[-1].startswith("finished: succeeded")


def scriptman_levels() -> list[str]:
    return ["debug", "info", "warning", "error", "critical"]


def test_the_log_page_filters_by_level_and_above(client: FlaskClient, levelled_run: int) -> None:
    url = f"/api/executions/{levelled_run}/logs"
    warning = texts(client.get(url, query_string={"level": "warning"}).json["records"])
    # stdout and stderr are separate pipes: their lines interleave in no fixed order
    assert sorted(warning) == [
        "[CRITICAL] a critical Needle",
        "[ERROR] a error Needle",
        "[ERROR] printed on stdout, still a level line",
        "[WARNING] a warning Needle",
    ]
    both = texts(client.get(url, query_string={"level": "error", "stream": "stderr"}).json["records"])
    assert both == ["[ERROR] a error Needle", "[CRITICAL] a critical Needle"]
    assert len(texts(client.get(url, query_string={"level": "debug"}).json["records"])) == 6


def test_filtered_pages_resume_from_next_offset_at_record_boundaries(client: FlaskClient, levelled_run: int) -> None:
    url = f"/api/executions/{levelled_run}/logs"
    collected, offset = [], 0
    while True:
        page = client.get(url, query_string={"level": "info", "limit": 2, "offset": offset}).json
        collected += texts(page["records"])
        assert page["next_offset"] >= offset
        if page["next_offset"] == offset or page["complete"]:
            break
        offset = page["next_offset"]
        # every offset handed out is a record start: the unfiltered page accepts it
        assert client.get(url, query_string={"offset": offset}).status_code == 200
    assert collected == texts(client.get(url, query_string={"level": "info", "limit": 100}).json["records"])
    assert len(collected) == 5


def test_a_filtered_page_stops_scanning_a_large_log_and_says_where(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = (
        "import sys\nfor i in range(3000):\n"
        "    print(f'line {i}', file=sys.stderr if i % 1000 == 999 else sys.stdout)\n"
    )
    run = wait_final(client, execute(client, create_script(client, "big", code)["id"])["id"])
    monkeypatch.setattr(logsearch, "SCAN_BYTES_PER_PAGE", 4096)
    url = f"/api/executions/{run['id']}/logs"
    found, offset, pages = [], 0, 0
    while True:
        page = client.get(url, query_string={"stream": "stderr", "offset": offset}).json
        pages += 1
        found += texts(page["records"])
        if page["complete"]:
            break
        assert page["next_offset"] > offset  # progress even on a page without a match
        offset = page["next_offset"]
    assert found == ["line 999", "line 1999", "line 2999"]
    assert pages > 5


def test_search_finds_text_anywhere_in_the_log_case_insensitively(client: FlaskClient, levelled_run: int) -> None:
    url = f"/api/executions/{levelled_run}/logs/search"
    result = client.get(url, query_string={"q": "needle"}).json
    assert result["total"] == 6 and result["truncated"] is False
    assert "NEEDLE in stdout" in texts(result["matches"])
    full = client.get(f"/api/executions/{levelled_run}/logs", query_string={"offset": result["matches"][0]["offset"]})
    assert full.status_code == 200 and full.json["records"][0]["text"] == result["matches"][0]["text"]
    capped = client.get(url, query_string={"q": "needle", "limit": 2}).json
    assert capped["total"] == 6 and capped["truncated"] is True and len(capped["matches"]) == 2
    stdout_only = client.get(url, query_string={"q": "NEEDLE", "stream": "stdout"}).json
    assert texts(stdout_only["matches"]) == ["NEEDLE in stdout"]
    levelled = client.get(url, query_string={"q": "needle", "level": "error"}).json
    assert texts(levelled["matches"]) == ["[ERROR] a error Needle", "[CRITICAL] a critical Needle"]
    assert client.get(url, query_string={"q": "no such text"}).json == {"matches": [], "total": 0, "truncated": False}


def test_search_of_a_large_log_counts_every_match_and_returns_the_first(client: FlaskClient) -> None:
    code = "for i in range(20000):\n    print(f'row {i} ' + 'x' * 100)\n"
    run = wait_final(client, execute(client, create_script(client, "many", code)["id"])["id"], timeout=120)
    result = client.get(f"/api/executions/{run['id']}/logs/search", query_string={"q": "ROW", "limit": 5000}).json
    assert result["total"] == 20000 and result["truncated"] is True and len(result["matches"]) == 5000
    assert result["matches"][0]["text"].startswith("row 0 ") and result["matches"][-1]["text"].startswith("row 4999 ")


@pytest.mark.parametrize(
    ("path", "query", "status", "field"),
    [
        ("logs/search", {}, 422, "q"),
        ("logs/search", {"q": ""}, 422, "q"),
        ("logs/search", {"q": "x", "limit": 5001}, 422, "limit"),
        ("logs/search", {"q": "x", "limit": 0}, 422, "limit"),
        ("logs/search", {"q": "x", "stream": "stdin"}, 422, "stream"),
        ("logs/search", {"q": "x", "level": "loud"}, 422, "level"),
        ("logs", {"stream": "out"}, 422, "stream"),
        ("logs", {"level": "WARN"}, 422, "level"),
        ("logs", {"stream": "stderr", "offset": 3}, 400, "offset"),
    ],
)
def test_bad_log_queries_are_problems_naming_the_parameter(
    client: FlaskClient, levelled_run: int, path: str, query: dict, status: int, field: str
) -> None:
    response = client.get(f"/api/executions/{levelled_run}/{path}", query_string=query)
    assert response.status_code == status, response.json
    assert response.mimetype == "application/problem+json" and response.json["field"] == field


def test_search_of_an_unknown_run_is_404_and_needs_a_login(app: Flask, client: FlaskClient) -> None:
    assert client.get("/api/executions/999999/logs/search?q=x").status_code == 404
    assert app.test_client(role=None).get("/api/executions/1/logs/search?q=x").status_code == 401


# --- 5. the final log line -----------------------------------------------------------------------------


def final_line(client: FlaskClient, execution_id: int) -> str:
    records = client.get(f"/api/executions/{execution_id}/logs", query_string={"stream": "sys"}).json["records"]
    return str(records[-1]["text"])


def test_the_final_line_says_the_exit_code_once(client: FlaskClient) -> None:
    run = wait_final(client, execute(client, create_script(client, "exit3", "raise SystemExit(3)")["id"])["id"])
    assert run["status"] == "failed" and run["error"] == "exit code 3"
    line = final_line(client, run["id"])
    assert line.startswith("finished: failed, exit code 3, ") and line.endswith(" s")
    assert line.count("exit code") == 1


def test_a_timeout_reads_naturally(client: FlaskClient) -> None:
    script = create_script(client, "slow", "import time\ntime.sleep(30)", timeout_seconds=1)
    run = wait_final(client, execute(client, script["id"])["id"])
    assert run["status"] == "timed_out"
    line = final_line(client, run["id"])
    assert line.startswith("finished: timed out after ") and line.endswith(" s"), line
    assert "exit code" not in line and "timed_out" not in line


# --- 6. a failed dependency install ---------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_a_failed_install_puts_the_installers_errors_on_stderr_and_in_the_error(
    client: FlaskClient, settings: Settings
) -> None:
    script = create_script(client, "no-such-dep", "print('never')", dependencies=["scriptman-no-such-package-xyz==1.0"])
    run = wait_final(client, execute(client, script["id"])["id"], timeout=240)
    assert run["status"] == "failed"
    error = run["error"]
    assert error.startswith("dependency install failed: "), error
    assert "scriptman-no-such-package-xyz" in error and "exited with code" not in error and "\x1b" not in error
    records = client.get(f"/api/executions/{run['id']}/logs").json["records"]
    errors = [r["text"] for r in records if r["stream"] == "err"]
    assert errors and "scriptman-no-such-package-xyz" in " ".join(errors)
    sys_lines = [r["text"] for r in records if r["stream"] == "sys"]
    assert "dependency install failed: uv exited with code 1" in sys_lines
    assert sys_lines[-1].startswith("finished: failed") and sys_lines[-1].endswith(error)
    assert "never" not in log_text(client, run["id"], settings)


# --- 7. cron messages -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "minute: 61 is out of range 0-59"),
        ("0 0 * * foo", "day of week: 'foo' is not a number or name (0-6, sun-sat)"),
        ("0 0 * *", "expected 5 fields (minute hour day month weekday), or 6 with seconds first, got 4"),
    ],
)
def test_a_bad_cron_expression_is_explained_on_create_update_and_preview(
    client: FlaskClient, expression: str, message: str
) -> None:
    script = create_script(client, "cronned", "print(1)")
    body = {"name": "s", "script_id": script["id"], "cron": expression, "timezone": "UTC"}
    created = client.post("/api/schedules", json=body)
    assert created.status_code == 422 and created.json["field"] == "cron"
    assert created.json["detail"] == message
    good = client.post("/api/schedules", json={**body, "cron": "@daily"}).json
    updated = client.patch(f"/api/schedules/{good['id']}", json={"cron": expression})
    assert updated.status_code == 422 and updated.json["detail"] == message
    preview = client.get("/api/schedules/preview", query_string={"cron": expression})
    assert preview.status_code == 422 and preview.json["detail"] == message and preview.json["field"] == "cron"


# --- 8. audit target names ------------------------------------------------------------------------------


def test_audit_events_name_their_targets_even_after_a_delete(app: Flask, client: FlaskClient) -> None:
    script = create_script(client, "named", "print(1)")
    client.patch(f"/api/scripts/{script['id']}", json={"name": "renamed"})
    schedule = client.post("/api/schedules", json={"name": "nightly", "script_id": script["id"], "cron": "@daily"})
    user = client.post("/api/users", json={"username": "grace", "password": "hopper-123", "role": "viewer"}).json
    token = client.post("/api/auth/tokens", json={"name": "ci token"}).json
    run = wait_final(client, execute(client, script["id"])["id"])
    events = client.get("/api/audit", query_string={"per_page": 200}).json["items"]
    by_action = {e["action"]: e for e in events}
    assert by_action["scripts.create_script"]["target_name"] == "renamed"  # the name now
    assert by_action["schedules.create_schedule"]["target_name"] == "nightly"
    assert by_action["schedules.create_schedule"]["target_id"] == str(schedule.json["id"])
    assert by_action["users.create_user"]["target_name"] == "grace"
    assert by_action["auth.create_token"]["target_type"] == "token"
    assert by_action["auth.create_token"]["target_name"] == "ci token"
    assert by_action["runs.execute"]["target_name"] == "renamed"
    client.delete(f"/api/auth/tokens/{token['id']}")
    client.delete(f"/api/users/{user['id']}")
    events = client.get("/api/audit", query_string={"per_page": 200}).json["items"]
    by_action = {e["action"]: e for e in events}
    assert by_action["users.create_user"]["target_name"] is None  # gone, and its create recorded no name
    # deleted: the name noted when it was deleted
    assert by_action["users.delete_user"]["target_name"] == "grace"
    assert by_action["auth.delete_token"]["target_name"] == "ci token"
    client.delete(f"/api/scripts/{script['id']}")
    events = client.get("/api/audit", query_string={"per_page": 200}).json["items"]
    deleted = next(e for e in events if e["action"] == "scripts.delete_script")
    assert deleted["target_name"] == "renamed" and deleted["detail"]["name"] == "renamed"
    assert next(e for e in events if e["action"] == "scripts.create_script")["target_name"] is None
    app.test_client(role=None).post("/api/auth/login", json={"username": "nobody", "password": "wrong"})
    login = client.get("/api/audit", query_string={"action": "auth.login"}).json["items"][0]
    assert login["target_id"] == "" and login["target_name"] is None
    assert run["status"] == "succeeded"


def test_audit_names_take_one_query_per_target_type(app: Flask, client: FlaskClient) -> None:
    script = create_script(client, "first", "print(1)")
    for i in range(10):
        create_script(client, f"many{i}", "print(1)")
        client.post("/api/schedules", json={"name": f"s{i}", "script_id": script["id"], "cron": "@daily"})
    with counting_queries(app) as statements:
        page = client.get("/api/audit", query_string={"per_page": 100}).json["items"]
    assert {e["target_name"] for e in page if e["target_type"] == "schedule"} == {f"s{i}" for i in range(10)}
    lookups = [s for s in statements if s.startswith(("SELECT scripts.id, scripts.name", "SELECT schedules.id"))]
    assert len(lookups) == 2, lookups  # one per target type, not one per event


def test_a_delete_with_an_id_beyond_the_database_range_is_not_an_error(client: FlaskClient) -> None:
    """The name is looked up before the route validates its id: a huge id must not break that."""
    response = client.delete(f"/api/scripts/{2**64}")
    assert response.status_code in (404, 422), response.json
