"""What the tests that run the web code in node share: one ES module run from the project
root with its input as JSON on stdin, its JSON answer back."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from ledger.config import PROJECT_ROOT

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def run_module(script: str, data: Any) -> Any:
    """Runs `script` (an ES module, imports relative to the project root) in node with
    `data` as JSON on stdin (`readFileSync(0, "utf-8")`); what it prints, as JSON."""
    done = subprocess.run(
        [NODE or "node", "--input-type=module", "-e", script],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)
