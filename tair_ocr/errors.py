"""Exit codes and the exception hierarchy.

Every error tair-ocr raises on purpose derives from :class:`TairOcrError` and
carries the exit code the CLI returns for it::

    TairOcrError
     ├── UsageError                 bad arguments, unknown plugin name     (2)
     ├── InputError                 the input cannot be read               (3)
     │    ├── UnsupportedInputError   not a PDF or an image we can read
     │    ├── CorruptInputError       damaged or truncated file
     │    ├── EncryptedInputError     password-protected PDF
     │    └── EmptyInputError         no pages / nothing selected
     ├── MissingDependencyError     engine binary, language data, weights (4)
     │    └── WeightsNotFoundError
     ├── OutputError                cannot write the outputs               (5)
     │    └── OutputExistsError       output exists and --force not given
     ├── PluginError                a plugin is broken                     (7)
     └── PageFailedError            one page failed (recorded, job goes on)

The exit codes are a stable, documented interface (see :class:`ExitCode`).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the ``tair-ocr`` command. Stable across releases."""

    #: Everything succeeded.
    OK = 0
    #: An unexpected internal error (a bug): please report it.
    INTERNAL_ERROR = 1
    #: Bad command-line arguments or an unknown plugin/engine/format name.
    BAD_ARGS = 2
    #: An input could not be read (missing, corrupt, encrypted, empty, unsupported).
    INPUT_ERROR = 3
    #: A needed dependency is missing (tesseract binary, language data, model weights).
    MISSING_DEPENDENCY = 4
    #: An output could not be written, or exists and ``--force`` was not given.
    OUTPUT_ERROR = 5
    #: Outputs were written, but some pages failed; their errors are recorded.
    PAGES_FAILED = 6
    #: A plugin failed to load or broke its contract.
    PLUGIN_ERROR = 7
    #: Interrupted by the user (Ctrl-C).
    INTERRUPTED = 130


class TairOcrError(Exception):
    """Base class of all errors raised on purpose by tair-ocr."""

    exit_code: ExitCode = ExitCode.INTERNAL_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: An actionable suggestion ("install it with ..."), shown after the message.
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(TairOcrError):
    """Bad arguments or an unknown plugin, engine, restorer or output type."""

    exit_code = ExitCode.BAD_ARGS


class InputError(TairOcrError):
    """An input file cannot be read."""

    exit_code = ExitCode.INPUT_ERROR


class UnsupportedInputError(InputError):
    """The input is neither a PDF nor an image format any loader accepts."""


class CorruptInputError(InputError):
    """The input is damaged or truncated."""


class EncryptedInputError(InputError):
    """The input is a password-protected PDF."""


class EmptyInputError(InputError):
    """The input holds no pages, or the page selection matches none."""


class MissingDependencyError(TairOcrError):
    """A dependency the chosen configuration needs is not installed."""

    exit_code = ExitCode.MISSING_DEPENDENCY


class WeightsNotFoundError(MissingDependencyError):
    """Model weights are missing; the hint says how to get them."""


class OutputError(TairOcrError):
    """An output file cannot be written."""

    exit_code = ExitCode.OUTPUT_ERROR


class OutputExistsError(OutputError):
    """An output file exists and overwriting was not allowed."""


class PluginError(TairOcrError):
    """A plugin failed to load, or returned something that breaks its contract."""

    exit_code = ExitCode.PLUGIN_ERROR


class PageFailedError(TairOcrError):
    """A single page failed; the pipeline records it and goes on."""

    exit_code = ExitCode.PAGES_FAILED
