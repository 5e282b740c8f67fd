"""A corpus of secret values, printed every way a script prints things, never comes back.

Checked wherever a run's output goes: the stored log, the API (detail and list), the SSE stream,
``status.json`` and the database file (with its WAL).
"""

from __future__ import annotations

import json
import secrets as random_secrets

from flask.testing import FlaskClient

from backend.config import Settings
from backend.services.executor.logfile import Masker, secret_forms
from tests.helpers import create_script, database_dump, wait_final

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n"
    "-----END PRIVATE KEY-----\n"
)
CORPUS = [
    "plain-secret-value-1",
    "pässwörd-üñíçødé-2",
    'quote"double-3',
    "quote'single-4",
    "back\\slash\\5",
    "tab\there-6",
    "ends-with-cr-7\r",
    "  padded-with-spaces-8  ",
    PEM,
    "§",
    "k" + random_secrets.token_urlsafe(3100)[:4094] + "K",  # 4,096 characters
    "emoji-🔑-key-12",
    'json{"k":[1,2]}-13',
    "two\nlines-of-secret-14",
    "ctrl\x1b[31m-escape-15",
    "percent%s%d-16",
    "dollar$HOME-17",
    "<script>alert(18)</script>",
    "line\u2028separator-19",
    "slash/and\\mixed-20",
    "日本語のひみつ-21",
    "x" * 100 + "-22",
]
NAMES = [f"S{i}" for i in range(len(CORPUS))]

PRINTER = r"""
import json, os, sys
import scriptman
names = sorted((n for n in os.environ if n.startswith("S") and n[1:].isdigit()), key=lambda n: int(n[1:]))
values = [os.environ[n] for n in names]
for v in values:
    print(v)
    print("inline:", v, "end", file=sys.stderr)
    sys.stdout.flush(); sys.stderr.flush()
# a value straddling the supervisor's 4 KB and 64 KB reads, and the 64 KB line split
for v in values[:3]:
    sys.stdout.write("a" * (4096 - 7) + v + "\n")
    sys.stdout.write("b" * (65536 - 5) + v + "tail\n")
sys.stdout.flush()
print(os.environ["SCRIPT_PARAMETERS"])
print(dict(os.environ))
print(json.dumps(dict(os.environ)))
print(json.dumps(dict(os.environ), ensure_ascii=False))
for v in values:
    scriptman.progress(50, v)
scriptman.set_result({"values": values, "keys": {v: v for v in values}, "nested": [[v] for v in values]})
"""


def _forms_to_find(value: str) -> set[str]:
    """What a leak would look like in stored text, JSON responses or SSE: the masker's own forms."""
    return {f for f in secret_forms(value) if len(f) >= 1}


def _assert_absent(where: str, text: str) -> None:
    for value in CORPUS:
        for form in _forms_to_find(value):
            if form == "§" and where == "database":
                continue  # a single character: checked in the text outputs, meaningless in a binary file
            assert form not in text, f"{where} leaks a form of secret {value[:30]!r}: {form[:40]!r}"


def test_no_form_of_a_secret_reaches_any_output(client: FlaskClient, settings: Settings) -> None:
    params = [{"name": name, "type": "secret"} for name in NAMES]
    script = create_script(client, "leaky", PRINTER, parameters=params)
    response = client.post(
        f"/api/scripts/{script['id']}/execute", json={"params": dict(zip(NAMES, CORPUS, strict=True))}
    )
    assert response.status_code == 202, response.json
    execution_id = response.json["id"]
    done = wait_final(client, execution_id, timeout=90)
    assert done["status"] == "succeeded", done

    log = (settings.logs_dir / f"execution_{execution_id}.log").read_bytes().decode("utf-8", "replace")
    assert log.count(" out ***") >= len(CORPUS)  # the values were printed, and masked
    _assert_absent("log", log)
    _assert_absent("API detail", client.get(f"/api/executions/{execution_id}").get_data(as_text=True))
    _assert_absent("API list", client.get("/api/executions").get_data(as_text=True))
    _assert_absent("log API", client.get(f"/api/executions/{execution_id}/logs?limit=1000").get_data(as_text=True))
    _assert_absent("SSE", client.get(f"/api/executions/{execution_id}/logs/stream").get_data(as_text=True))
    status = settings.data_dir / "runs" / f"execution_{execution_id}" / "status.json"
    _assert_absent("status.json", status.read_text())
    result = done["result"]
    assert result["values"] == ["***"] * len(CORPUS)
    assert done["progress_message"] == "***"
    _assert_absent("database", database_dump(settings).decode("utf-8", "replace"))


def test_the_masker_builds_no_regex_and_masks_every_form() -> None:
    masker = Masker([PEM, "ü-tab\t", "cr\r"])
    for line in PEM.strip().splitlines():
        assert masker.mask(line.encode()) == b"***"
    assert masker.mask(json.dumps(PEM).encode()) == b'"***"'
    assert masker.mask(json.dumps("ü-tab\t").encode()) == b'"***"'  # "\u00fc-tab\t"
    assert masker.mask(repr("ü-tab\t").encode()) == b"'***'"
    assert masker.mask(b"cr") == b"***"  # the value without its trailing \r, as a line shows it
    assert masker.mask_json({"cr": ["cr", 1, {"x": "cr"}]}) == {"***": ["***", 1, {"x": "***"}]}
    assert Masker(["12345"]).mask_json({"n": 12345}) == {"n": "***"}
    assert Masker(["(a+)+$"]).mask(b"aaaa (a+)+$") == b"aaaa ***"  # literal, not a pattern
