"""Schemathesis against the live service's own document (/openapi.json): every phase and every
check, and jobs created through the document's links. The document is true when none fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.contract import CHAT_SECRET, MATTERMOST_TOKEN, LiveApi
from tests.support.schemathesis_hooks import SIGN_PLACEHOLDER

ROOT = Path(__file__).resolve().parents[2]

# Cases per operation and phase: about 500 cases in all, under a minute on an idle 2-core machine.
MAX_EXAMPLES = 20
SEED = 20241
# The chat callbacks get the Mattermost token, and a Slack signature the hooks compute over
# each positive case's body (negative cases and the checks that drop or replace the
# credential stay unsigned, and must get 401).
# Stateful: the bearer key is given per security scheme, so the checks can also leave it out.
# Links are only the declared ones (inferred ones would start scenarios at GET/cancel with
# random ids, and no job would come from POST /v1/pushes).
CONFIG = """
[auth.openapi.apiKey]
bearer = "{key}"

[auth.openapi.mattermostToken]
api_key = "Token {mattermost}"

[auth.openapi.slackSignature]
api_key = "{sign}"

[phases.stateful]
max-steps = 6

[phases.stateful.inference]
algorithms = []
"""


def test_schemathesis_finds_no_failure(live_api: LiveApi, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.format(key=live_api.api_key, mattermost=MATTERMOST_TOKEN, sign=SIGN_PLACEHOLDER)
    )
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(config),
            "run",
            f"{live_api.url}/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            # One worker: Hypothesis' lambda descriptions race in threads on Python 3.11.
            "--workers",
            "1",
            "--request-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "NO_COLOR": "1",
            "PYTHONPATH": str(ROOT),
            "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
            "CONTRACT_SLACK_SECRET": CHAT_SECRET,
        },
        cwd=tmp_path,
        timeout=900,
        check=False,
    )
    report = run.stdout + run.stderr
    print(report)  # the case count, for the log
    assert run.returncode == 0, report
    assert "No issues found" in report, report
    generated = re.search(r"(\d+) generated, \1 passed", report)
    assert generated and int(generated.group(1)) > 0, report
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", report)
    assert links and int(links.group(1)) >= 2, "no job was followed through the links:\n" + report
