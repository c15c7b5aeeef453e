"""The workflows pass actionlint (installed with the dev extra; skipped where it is missing)."""

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
    assert 'KEEP: "7"' in text and 'head -n "-$KEEP"' in text
