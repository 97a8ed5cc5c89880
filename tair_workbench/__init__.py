"""tair-ocr's workbench: everything that makes the runtime's parts, none that runs them.

The installed runtime package, :mod:`tair_ocr`, holds only what runs at inference: the
public face, the pipeline and its stages, plugins, results, the model architectures and
their loading. This sibling package, shipped in the same distribution, holds the rest:

=========================  ===========================================================
:mod:`.synthetic`          synthetic pages and degradations (``python -m
                           tair_workbench.synthetic``)
:mod:`.cleaner`            training data and training loop of the cleaner restorer
                           (``python -m tair_workbench.cleaner.train``)
:mod:`.calibration`        fitting the word-confidence calibrations (``python -m
                           tair_workbench.calibration fit``)
:mod:`.conversion`         published TeReDiff checkpoints → weights folder
                           (``tair-ocr weights convert``)
:mod:`.testing`            tiny random models and synthetic checkpoints for tests and
                           plumbing benchmarks
=========================  ===========================================================

Its heavier dependencies are optional: install them with ``pip install -e '.[train]'``
(and ``'.[terediff]'`` for checkpoint conversion).

The dependency goes one way only: the workbench imports the runtime, the runtime never
imports the workbench (not even lazily). Where the runtime offers a workbench command,
``tair-ocr weights convert``, it finds it through the ``tair_ocr.weights_commands``
entry point that this distribution registers (see :mod:`tair_ocr.weights_cli`).
"""
