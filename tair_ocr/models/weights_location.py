"""Where the converted TeReDiff weights live: the one resolver everything shares.

The restorer, ``tair-ocr weights info/check`` and ``tair-ocr weights convert`` (its
default output folder) all ask this module, so they never disagree. The search order:

1. ``--weights DIR`` when given (and then only that);
2. ``$TAIR_OCR_WEIGHTS``;
3. the user cache folder, ``$XDG_CACHE_HOME/tair-ocr/terediff``
   (default ``~/.cache/tair-ocr/terediff``).

A directory holds the weights when it, or its ``terediff/`` subfolder, contains
``model_index.json``. Nothing here imports torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "INDEX_FILE",
    "WEIGHTS_ENV",
    "Location",
    "WeightsLookup",
    "default_output_dir",
    "find_weights",
    "search_locations",
    "user_cache_dir",
    "weights_in",
]

#: Environment variable naming a weights directory.
WEIGHTS_ENV = "TAIR_OCR_WEIGHTS"
#: The file that marks a weights folder.
INDEX_FILE = "model_index.json"


@dataclass(frozen=True)
class Location:
    """One place searched: where the path came from, and the path."""

    #: ``--weights``, ``$TAIR_OCR_WEIGHTS`` or ``user cache``.
    source: str
    path: Path


@dataclass(frozen=True)
class WeightsLookup:
    """The result of a search: the weights folder found (or None), and the places
    searched in order."""

    found: Path | None
    locations: tuple[Location, ...]

    @property
    def searched(self) -> list[Path]:
        """The searched paths, in order."""
        return [loc.path for loc in self.locations]


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tair-ocr/terediff`` (default ``~/.cache/tair-ocr/terediff``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tair-ocr" / "terediff"


def weights_in(directory: Path) -> Path | None:
    """``directory`` itself or ``directory/terediff`` if it holds ``model_index.json``."""
    for candidate in (directory, directory / "terediff"):
        if (candidate / INDEX_FILE).is_file():
            return candidate
    return None


def search_locations(explicit: str | Path | None = None) -> tuple[Location, ...]:
    """The places searched, in order: only ``explicit`` when given (a wrong
    ``--weights`` is an error, not a reason to look elsewhere), otherwise the
    environment variable (when set) and the user cache folder."""
    if explicit is not None:
        return (Location("--weights", Path(explicit).expanduser()),)
    locations = []
    if os.environ.get(WEIGHTS_ENV):
        locations.append(Location(f"${WEIGHTS_ENV}", Path(os.environ[WEIGHTS_ENV]).expanduser()))
    locations.append(Location("user cache", user_cache_dir()))
    return tuple(locations)


def find_weights(explicit: str | Path | None = None) -> WeightsLookup:
    """Search :func:`search_locations` and return the first weights folder found."""
    locations = search_locations(explicit)
    for location in locations:
        if (found := weights_in(location.path)) is not None:
            return WeightsLookup(found, locations)
    return WeightsLookup(None, locations)


def default_output_dir() -> Path:
    """Where ``tair-ocr weights convert`` writes without ``-o``: the first default
    search location (or the weights folder already there), so the restorer finds the
    result without ``--weights``."""
    first = search_locations(None)[0].path
    return weights_in(first) or first
