"""Placeholder: being written."""

from tair_ocr.plugins import hookimpl


@hookimpl
def register_engines() -> list:
    return []
