"""A plugin with a misspelled hook: loading it must fail loudly."""

import tair_ocr


@tair_ocr.hookimpl
def register_engine():  # the hook is register_engines
    return []
