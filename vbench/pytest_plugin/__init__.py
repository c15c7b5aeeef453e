"""Everything pytest-facing: the plugin's hooks and fixtures (``plugin``, the pytest11 entry point),
the regression gate (``gate``), pytest-xdist scale-out (``xdist``), the gate's fresh-process
confirmation (``fresh``), the run summary, and the one adapter for pytest-benchmark's internals
(``benchmark_adapter``). The rest of vbench imports nothing from here and works without pytest.
"""
