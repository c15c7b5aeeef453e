"""Every place vbench reaches into pytest-benchmark's internals, in one module (tested against the
installed version in tests/test_benchmark_adapter.py).

- :func:`storage_keyed_by` names pytest-benchmark's storage folder (``get_machine_id``, OS + Python)
  after vbench's ``hardware_key`` while the session is configured;
- :func:`make_writes_atomic` routes its two JSON writers (``--benchmark-json`` and the storage's
  ``save``) through a temporary file, and gives every stored run a number of its own even when
  several runs save into one folder at once;
- :func:`concise_machine_info_warning` replaces pytest-benchmark's machine_info warning (both dicts
  dumped whole, ~5 KB) with the names of the keys that differ;
- :func:`fixture_limits` reads ``--benchmark-max-time`` / ``--benchmark-min-rounds`` from a
  ``benchmark`` fixture, for rounds vbench runs through ``pedantic``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import types
from collections.abc import Callable, Iterator
from pathlib import Path

from vbench.compare.io import atomic_write_bytes

__all__ = ["storage_keyed_by", "make_writes_atomic", "concise_machine_info_warning", "machine_info_diff", "fixture_limits", "narrow_default_columns", "TABLE_COLUMNS",
           "DEFAULT_MAX_TIME_S", "DEFAULT_MIN_ROUNDS"]

# pytest-benchmark's table with its ten default columns is ~230 characters wide per row; vbench's own
# summary has the per-cell figures, so the table keeps the timing spread only.
TABLE_COLUMNS = ["min", "median", "max", "iqr", "rounds"]

# pytest-benchmark's own defaults, for a fixture that does not carry them.
DEFAULT_MAX_TIME_S = 1.0
DEFAULT_MIN_ROUNDS = 5


@contextlib.contextmanager
def storage_keyed_by(key: Callable[[], str]) -> Iterator[None]:
    """While active, pytest-benchmark names its storage folder ``key()`` instead of OS + Python."""
    import pytest_benchmark.session as pb_session

    original = pb_session.get_machine_id
    pb_session.get_machine_id = key
    try:
        yield
    finally:
        pb_session.get_machine_id = original


def narrow_default_columns(config) -> None:
    """Show :data:`TABLE_COLUMNS` in pytest-benchmark's table unless ``--benchmark-columns`` was given
    (it resolves its default from None when its session is configured, after this)."""
    if getattr(config.option, "benchmark_columns", "unset") is None:
        config.option.benchmark_columns = list(TABLE_COLUMNS)


def fixture_limits(benchmark) -> tuple[float, int]:
    """``(max_time_s, min_rounds)`` of a pytest-benchmark ``benchmark`` fixture."""
    return (float(getattr(benchmark, "_max_time", DEFAULT_MAX_TIME_S)),
            int(getattr(benchmark, "_min_rounds", DEFAULT_MIN_ROUNDS)))


def _dumps(output_json) -> bytes:
    from pytest_benchmark.utils import safe_dumps

    return safe_dumps(output_json, ensure_ascii=True, indent=4).encode()


def save_exclusive(folder: Path, first_number: int, name: str, data: bytes) -> Path:
    """Write ``data`` as ``NNNN_name.json`` in ``folder`` with the first free number from
    ``first_number``: written to a temporary file, then hard-linked to its final name, which fails
    rather than replaces when another run took that name first (then the next number is tried)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a stored run is as readable as any file
    try:
        number = first_number
        while True:
            target = folder / f"{number:04d}_{name}.json"
            try:
                os.link(tmp, target)
                return target
            except FileExistsError:
                number += 1
            except OSError:  # no hard links here: exclusive creation, written in place
                try:
                    with open(target, "xb") as fh:
                        fh.write(data)
                    return target
                except FileExistsError:
                    number += 1
    finally:
        tmp.unlink(missing_ok=True)


def make_writes_atomic(bs) -> None:
    """Route a ``BenchmarkSession``'s JSON writers through :func:`atomic_write_bytes` and
    :func:`save_exclusive` (a stored run is never overwritten, Ctrl-C never leaves half a file)."""

    def save_json(self, output_json):
        atomic_write_bytes(self.json, _dumps(output_json))
        self.logger.info(f"Wrote benchmark data in: {self.json}", purple=True)

    bs.save_json = types.MethodType(save_json, bs)
    storage = bs.storage
    if hasattr(storage, "_next_num") and hasattr(storage, "get"):

        def save(self, output_json, save):
            folder = self.get(f"{self._next_num}_{save}.json").parent
            output_file = save_exclusive(folder, int(self._next_num), save, _dumps(output_json))
            self.logger.info(f"Saved benchmark data in: {output_file}")

        storage.save = types.MethodType(save, storage)


def machine_info_diff(current: dict, saved: dict, prefix: str = "") -> list[str]:
    """Dotted names of the machine_info keys whose values differ between ``current`` and ``saved``."""
    out = []
    for key in sorted(set(current) | set(saved), key=str):
        a, b = current.get(key), saved.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(machine_info_diff(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def concise_machine_info_warning(config) -> None:
    """Make pytest-benchmark's ``pytest_benchmark_compare_machine_info`` name the differing keys only.

    Its implementation lives in ``pytest_benchmark.plugin`` and every implementation of the hook runs,
    so the registered function itself is swapped (before pytest-benchmark's ``pytest_configure``
    loads the baseline). vbench's gate refuses other hardware on its own, in one line.
    """
    import pytest_benchmark.plugin as pb_plugin

    def warn_keys(config, benchmarksession, machine_info, compared_benchmark):
        import json

        current = json.loads(json.dumps(machine_info, default=str))  # tuples as lists, as they were saved
        differ = machine_info_diff(current, compared_benchmark.get("machine_info") or {})
        differ.sort(key=lambda name: name != "hardware_key")  # the one that decides comes first
        if differ:
            shown = ", ".join(differ[:6]) + (f" and {len(differ) - 6} more" if len(differ) > 6 else "")
            benchmarksession.logger.warning(f"baseline machine_info differs in {shown}")

    for impl in config.pluginmanager.hook.pytest_benchmark_compare_machine_info.get_hookimpls():
        if impl.plugin is pb_plugin:
            impl.function = warn_keys
