"""This repository's pytest setup. The vbench plugin itself comes from the installed package
(``pytest11`` entry point); nothing here is needed by other repositories."""

import os

# A hub lookup with no network hangs ~47 s before failing; nothing here downloads weights.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
