"""Shared test setup: real pytest sessions through pytester, real tiny models, no network."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest_plugins = ["pytester"]
