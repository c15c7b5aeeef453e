"""The workflows pass actionlint (installed with the dev extra; skipped where it is missing)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint not installed (pip install -e '.[dev]')")
def test_workflows_pass_actionlint():
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    proc = subprocess.run(["actionlint", *workflows], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gpu_gate_workflow_gates_prs_and_saves_baselines_on_main():
    text = (ROOT / ".github" / "workflows" / "gpu-gate.yml").read_text()
    assert "runs-on: [self-hosted, linux, gpu]" in text
    assert "--benchmark-compare" in text and "--vb-verdict-md" in text and "--benchmark-autosave" in text
    assert "actions/cache/restore" in text and "actions/cache/save" in text and "upload-artifact" in text
    # main restores its stored sessions too (they accumulate) and keeps the newest KEEP of them
    restore = text.index("actions/cache/restore")
    assert "if: github.event_name == 'pull_request'" not in text[text.rindex("- name:", 0, restore):restore]
    assert 'head -n "-$KEEP"' in text
    # ... at least as many as the gate reads: its baseline sessions and the history that places them
    from vbench.compare.policy import DEFAULT_BASELINE_RUNS
    from vbench.pytest_plugin.gate_session import HISTORY_SESSIONS

    keep = int(re.search(r'KEEP: "(\d+)"', text).group(1))
    assert keep >= max(DEFAULT_BASELINE_RUNS, HISTORY_SESSIONS)
    # the checkout has the stored sessions' commits: A/B pairs confirm suspects against them
    assert re.search(r"actions/checkout@v4\n\s+with:\n(\s+#.*\n)*\s+fetch-depth: 0", text)
