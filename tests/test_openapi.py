"""The HTTP adapter's OpenAPI document (GET /openapi.json), checked against a live `ussd serve
--http` by schemathesis (from PyPI): every answer is one the document allows, no request makes a
server error, requests the document forbids are refused, undeclared methods get 405."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from test_http import ROOT, serving

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_the_document_is_served_and_names_every_endpoint() -> None:
    with serving() as url:
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=30) as answer:
            assert answer.headers["Content-Type"] == "application/json"
            spec = json.loads(answer.read())
    assert spec["openapi"].startswith("3.0") and sorted(spec["paths"]) == ["/ussd", "/ussd/json", "/ussd/notify"]
    assert spec["components"]["securitySchemes"]["secret"]["name"] == "X-Ussd-Secret"


def test_every_answer_is_one_the_document_allows() -> None:
    with serving() as url:
        # positive_data_acceptance is left out: no schema can say which codes have a service or
        # which numbers are the operator's (404 and 400 for those are right)
        run = subprocess.run([str(SCHEMATHESIS), "--config-file", str(ROOT / "tests" / "schemathesis.toml"), "run",
                              f"{url}/openapi.json", "-H", "X-Ussd-Secret: s3cret", "--checks", "all",
                              "--exclude-checks", "positive_data_acceptance", "--max-examples", "40",
                              "--request-timeout", "10", "--seed", "1"],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout[-3000:] + run.stderr[-1000:])
    assert "3 passed" in run.stdout or "passed" in run.stdout
