"""Deployment backends, one small module each, registered like the built-in optimizations.

Importing this package registers ``onnxruntime``, ``tensorrt_fp32``, ``tensorrt_fp16``,
``int8_dynamic``, ``int8_dynamic_legacy``, ``export`` and ``aot_inductor``. Nothing optional is
imported here: each backend imports its package when a cell applies it, and a missing package is
a skip with the pip command (the ``requires`` field of the registration).
"""

from vbench.optimizations.backends import export, onnxruntime, quantize, tensorrt  # noqa: F401 - registration

__all__ = ["export", "onnxruntime", "quantize", "tensorrt"]
