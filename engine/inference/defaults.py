"""Engine defaults the command line shows in `--help`; imports nothing, so startup stays fast."""

from __future__ import annotations

# How the two models of a pair share the CPU when both answer (engine.inference.llama.share_cpu).
# "parallel" (both at once, all cores each) was the fastest on the 2-core machines measured
# (benchmarks/side_by_side.py and headless.py, quiet machine); "split" is the safer choice on a
# CPU other programs are using. See benchmarks/RESULTS.md.
SIDE_BY_SIDE: tuple[str, ...] = ("parallel", "split", "alternate", "sequential")
DEFAULT_SIDE_BY_SIDE = "parallel"

# Headless runs: answers per model decoded together in one llama.cpp batch (inference.batched).
# 1 (one at a time) by default although 4 is ~1.3x faster (benchmarks/headless.py): llama.cpp's
# CPU kernels round differently when a batch holds several tokens, so on quantized models some
# greedy answers differ from the one-at-a-time (and app) answers, and a resumed run would differ
# from an uninterrupted one. Exact reproducibility wins the default; see benchmarks/RESULTS.md.
DEFAULT_PARALLEL_ITEMS = 1
