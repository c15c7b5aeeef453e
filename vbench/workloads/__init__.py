"""What one timed round does, per mode: inference, train, data and DDP, each one module behind one
narrow :class:`WorkloadContext`; the :class:`Step` the gate re-measures.

Importing the package registers every mode (like timm's model modules filling its registry).
"""

from vbench.workloads.base import WORKLOADS, Step, Workload, WorkloadContext, register_workload, workload_for
from vbench.workloads import inference, train, data, ddp  # noqa: E402,F401 - register the modes

__all__ = ["WORKLOADS", "Step", "Workload", "WorkloadContext", "register_workload", "workload_for"]
