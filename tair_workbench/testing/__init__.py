"""Helpers for tests and plumbing benchmarks: never used by the runtime.

=====================  ===============================================================
:mod:`.tiny_models`    tiny TeReDiff models with random weights (published
                       architecture, tiny widths) and a tiny CLIP tokenizer
:mod:`.checkpoints`    synthetic checkpoints in the *published* layout, for the
                       converter's tests and ``benchmarks/convert_memory.py``
=====================  ===============================================================
"""
