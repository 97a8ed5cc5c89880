"""Training the cleaner restorer: training pairs (:mod:`.data`) and the training loop
(:mod:`.train`, ``python -m tair_workbench.cleaner.train``).

The network itself (:mod:`tair_ocr.cleaner.model`), the shipped weights and their
model card (``tair_ocr/cleaner/weights/``) and the restorer plugin
(:mod:`tair_ocr.restorers.cleaner`) are runtime parts and stay in :mod:`tair_ocr`.
"""
