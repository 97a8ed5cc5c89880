"""Placeholder: being written."""

from tair_ocr.plugins import hookimpl


@hookimpl
def register_writers() -> list:
    return []
