"""A plugin that registers a writer under a name a built-in already uses."""

import tair_ocr


class AnotherText(tair_ocr.Writer):
    name = "txt"
    suffix = ".other.txt"

    def write(self, result, destination):
        destination.write_text(result.text)


@tair_ocr.hookimpl
def register_writers():
    return [AnotherText()]
