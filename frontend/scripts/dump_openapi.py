"""Prints the API's OpenAPI document, as the server serves it at ``/api/openapi.json``.

No server is started: the app is built on a throw-away folder (scheduler off) and asked through
Flask's test client, so the document is the completed one (``backend/openapi_doc.py`` adds the
common error statuses when it is first generated). ``SCRIPTMAN_*`` variables are ignored, so the
output depends on the code only: keys sorted, two-space indent, a final newline.

    .venv/bin/python frontend/scripts/dump_openapi.py > frontend/openapi.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    for name in [n for n in os.environ if n.startswith("SCRIPTMAN_")]:
        del os.environ[name]
    sys.path.insert(0, str(ROOT))
    from backend.app import create_app
    from backend.config import Settings

    with tempfile.TemporaryDirectory(prefix="scriptman-openapi-") as home:
        app = create_app(Settings(home=Path(home), scheduler_enabled=False))
        response = app.test_client().get("/api/openapi.json")
        if response.status_code != 200:
            print(f"GET /api/openapi.json answered {response.status_code}", file=sys.stderr)
            return 1
        document = response.get_json()
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
