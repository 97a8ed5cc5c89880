"""The cleaner: a small text-restoration network trained on synthetic degradations.

It runs on the CPU (a few MB of weights shipped in ``weights/``) and is the default
restorer where the diffusion restorer cannot run. :mod:`.model` defines the network,
:mod:`.data` makes training pairs, :mod:`.train` trains it
(``python -m tair_ocr.cleaner.train``); the restorer plugin is
:mod:`tair_ocr.restorers.cleaner`.
"""
