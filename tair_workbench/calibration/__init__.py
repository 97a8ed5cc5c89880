"""Fitting the word-confidence calibrations that :mod:`tair_ocr.calibration` ships.

:mod:`.fit` reads the project's synthetic pages with each engine, labels the words
against the ground truth and fits the isotonic maps; ``python -m
tair_workbench.calibration fit`` writes them into ``tair_ocr/calibration/data`` (by
default). The runtime reads them with :func:`tair_ocr.calibration.load_calibration`.
"""
