"""The cleaner: a small text-restoration network trained on synthetic degradations.

It runs on the CPU (a few MB of weights shipped in ``weights/``) and is the default
restorer where the diffusion restorer cannot run. :mod:`.model` defines the network
and the restorer plugin is :mod:`tair_ocr.restorers.cleaner`. Training data and the
training loop are workbench parts (``python -m tair_workbench.cleaner.train``, see
``weights/MODEL_CARD.md``); the runtime never imports them.
"""
