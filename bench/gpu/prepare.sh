#!/usr/bin/env bash
# Run HERE (not on the GPU machine) before a device session: builds the pure-Python wheels the GPU
# image lacks (fvcore and its small dependencies) into .whl/, which the device call carries.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .whl && mkdir -p .whl
python -m pip wheel -q --no-deps -w .whl fvcore==0.1.5.post20221221 iopath==0.1.10 yacs termcolor
ls .whl
