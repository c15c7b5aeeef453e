"""The one registration loop of vbench's ``--vb-*`` options (plugin and gate alike) and the one way
a resolved option value is read: the command line first, then the ini file."""

from __future__ import annotations

import pytest

__all__ = ["add_option_group", "option_value"]


def add_option_group(parser: pytest.Parser, name: str, description: str, options=(), flags=()) -> None:
    """The one registration loop of vbench's options: each ``OptionSpec`` becomes ``--vb-NAME`` and the ini
    key ``vb_NAME`` (``options`` take a value or, with ``switch``, none; ``flags`` are store_true)."""
    group = parser.getgroup(name, description)
    for spec in options:
        default = f" (default: {spec.default})" if spec.default is not None else ""
        help_text = (spec.help + default).replace("%", "%%")  # argparse %-formats help ("time:5%")
        if spec.switch:
            group.addoption(spec.flag, dest=spec.ini, action="store_const", const="on", default=None, help=help_text)
        else:
            group.addoption(spec.flag, dest=spec.ini, metavar=spec.metavar, default=None, help=help_text)
        parser.addini(spec.ini, help=f"vbench: {spec.help} (same as {spec.flag})", default=None)
    for spec in flags:
        group.addoption(spec.flag, dest=spec.ini, action="store_true", default=None, help=spec.help)
        parser.addini(spec.ini, help=f"vbench: {spec.help} (same as {spec.flag})", type="bool", default=False)


def option_value(config: pytest.Config, spec) -> object:
    """``spec``'s value: from the command line, else from the ini file (None when neither sets it)."""
    value = config.getoption(spec.ini)
    return value if value is not None else config.getini(spec.ini)
