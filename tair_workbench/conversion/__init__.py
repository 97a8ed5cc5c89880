"""Converting the published TeReDiff checkpoints into the runtime's weights folder.

=====================  ===============================================================
:mod:`.key_mapping`    published checkpoint names → the runtime's module names
:mod:`.convert`        read, plan, write: published checkpoints → weights folder
:mod:`.cli`            ``tair-ocr weights convert`` (registered through the entry-point
                       group ``tair_ocr.weights_commands``)
=====================  ===============================================================

The folder it writes is what :mod:`tair_ocr.models` loads and what
:mod:`tair_ocr.models.weights_check` (``tair-ocr weights check``) checks.
"""
