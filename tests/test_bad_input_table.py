"""docs/bad-input.md stays true: every case in it is run for real and must give the exit status and the
line the table shows (slow: about 60 fresh processes; CI's end-to-end lane)."""

from __future__ import annotations

import pytest

from bad_input import CASES, DOC, render, run_all

pytestmark = pytest.mark.e2e


def test_every_bad_input_row_is_what_a_user_gets_now():
    outcomes = run_all()
    crashed = [case.kind for case, out in zip(CASES, outcomes) if out.status in (1, 3) and "regress" not in out.message]
    assert not crashed, f"a crash or the regression status for bad input: {crashed}"
    assert all(out.status in (0, 4) for out in outcomes), [(c.kind, o.status) for c, o in zip(CASES, outcomes)]
    expected, actual = DOC.read_text().splitlines(), render(outcomes).splitlines()
    stale = [f"table: {e}\nnow:   {a}" for e, a in zip(expected, actual) if e != a]
    assert len(expected) == len(actual) and not stale, (
        "docs/bad-input.md is stale; regenerate it with `python tests/bad_input.py --write`:\n" + "\n".join(stale))
