"""Stand-alone tools: ``vbench doctor`` (machine readiness), the CUDA-event cross-check of a recorded
cell (``python -m vbench.tools.crosscheck``) and the generator of docs/options.md and docs/schema.md
(``python -m vbench.tools.docs_gen``)."""
