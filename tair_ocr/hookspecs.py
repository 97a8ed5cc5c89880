"""The tair-ocr hook specifications: the public contract for plugins.

A plugin is a module (or any object) with functions decorated by
:data:`hookimpl` whose names match the hooks below. A plugin imports what it
needs from the contract, which depends on nothing but pluggy, pydantic, the error
classes and the result types (the plugin manager and the built-in plugins import it,
never the reverse)::

    from tair_ocr.hookspecs import hookimpl     # the marker (also tair_ocr.hookimpl)
    from tair_ocr.readings import Reading       # what fuse_readings receives
    from tair_ocr.options import PluginOptions  # base of a component's options model

Plugins are found in this order:

1. the built-ins (:data:`tair_ocr.plugins.DEFAULT_PLUGINS`), registered like any plugin;
2. every installed distribution's ``tair_ocr`` entry points (sorted by name);
3. ``--plugin MODULE`` / ``--plugin path/to/file.py`` from the command line
   (``Pipeline(plugins=[...])`` in Python).

Hooks are called with keyword arguments; an implementation may accept any subset
of a hook's parameters, so hooks can gain parameters without breaking plugins.

The ``register_*`` hooks are *broadcast*: every implementation runs and all
results are collected into name registries. A name registered twice is an error
that names both plugins. All hooks run in the main process.

Components take options through a typed model, ``Component.options_model`` (a
:class:`tair_ocr.options.PluginOptions` subclass), not through a hook: the command-line
flags, the Python API and the validation come from it, and ``Component.configure``
receives the validated instance (see :mod:`tair_ocr.options`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from tair_ocr.components import Loader, OcrEngine, PageFilter, Restorer, Writer
    from tair_ocr.options import OptionSet
    from tair_ocr.readings import Reading
    from tair_ocr.results import Word

#: The project name that ties specifications and implementations together.
PROJECT = "tair_ocr"

#: Marker for the hook specifications below.
hookspec = pluggy.HookspecMarker(PROJECT)

#: Marker for hook implementations: ``@hookimpl`` on a plugin's functions.
#: ``tair_ocr.hookimpl`` and ``tair_ocr.plugins.hookimpl`` are the same object.
hookimpl = pluggy.HookimplMarker(PROJECT)

# --------------------------------------------------------------------------- components


@hookspec
def register_engines() -> list[OcrEngine]:
    """Return OCR engines this plugin provides.

    Called once per :class:`~tair_ocr.Pipeline` (and by ``tair-ocr plugins``).
    All results are collected; engines are selected by ``OcrEngine.name`` with
    ``--engine``. Construct engines cheaply: check binaries in
    ``availability()`` and load models on first ``recognize``.

    :returns: a list of :class:`~tair_ocr.components.OcrEngine` instances.
    """


@hookspec
def register_restorers() -> list[Restorer]:
    """Return image restorers this plugin provides.

    All results are collected; selected by ``Restorer.name`` with ``--restorer``.
    Restorers work on batches of tiles that the framework cuts, filters and
    stitches (see :class:`~tair_ocr.components.Restorer`). Load weights lazily;
    a restorer whose weights are missing reports it in ``availability()`` and
    never falls back to random weights.

    :returns: a list of :class:`~tair_ocr.components.Restorer` instances.
    """


@hookspec
def register_writers() -> list[Writer]:
    """Return output writers this plugin provides.

    All results are collected; selected by ``Writer.name`` with ``--output-type``.
    The framework passes a temporary destination and renames it into place, so
    writers never leave a half-written output.

    :returns: a list of :class:`~tair_ocr.components.Writer` instances.
    """


@hookspec
def register_loaders() -> list[Loader]:
    """Return input loaders this plugin provides.

    All results are collected. For each input, loaders are asked in registration
    order, *plugins before built-ins*, and the first whose ``accepts()`` says yes
    opens it, so a plugin can take over a format.

    :returns: a list of :class:`~tair_ocr.components.Loader` instances.
    """


@hookspec
def register_page_filters() -> list[PageFilter]:
    """Return page filters (steps before restoration: deskew, orientation...).

    All results are collected and run as an ordered chain (by ``order``); every
    enabled filter runs. Unlike a first-result hook, one filter never silently
    disables another.

    :returns: a list of :class:`~tair_ocr.components.PageFilter` instances.
    """


# --------------------------------------------------------------------------- options
#
# Options are declared as data, not through a hook: a component names its pydantic
# model (a tair_ocr.options.PluginOptions subclass) in ``Component.options_model``.
# The CLI flags (``--<namespace>-<field>``), the Python API's nested and flat
# spellings and the validation all come from that model, and ``configure`` receives
# the validated instance. The two hooks below are the escape hatch (``add_options``:
# argparse directly) and cross-option checks (``check_options``).


@hookspec
def add_options(parser: argparse.ArgumentParser) -> None:
    """Add untyped command-line options to the ``tair-ocr`` parser: the escape hatch.

    Prefer a typed model (``Component.options_model``, see :mod:`tair_ocr.options`):
    its flags, help, defaults and validation are generated. Use this hook for what a
    model cannot express (an option repeated with ``action="append"``, a flag shared
    by several plugins). Called when the CLI builds its parser (after plugins are
    loaded) and once on a scratch parser, to learn the destinations and defaults.
    Use an argument group named after the plugin and prefix option names with it
    (``--myplugin-level``) to avoid clashes. The values (argparse destination ->
    value, defaults included) reach components *without* an ``options_model``
    through ``Component.configure(options)`` and every plugin through
    ``OptionSet.extra`` in :func:`check_options`; in Python they are given flat,
    ``Pipeline(options={"myplugin_level": 2})``.
    """


@hookspec
def check_options(options: OptionSet, settings: Any) -> None:
    """Check options against each other before any input is opened.

    Called once per :class:`~tair_ocr.Pipeline`, after every option model validated
    its own values (a model's validators check one plugin's fields together; this
    hook is for checks across plugins or against the core settings). Raise
    :class:`tair_ocr.errors.UsageError` with a clear message naming the options.
    All implementations run.

    :param options: the run's validated options, a
        :class:`~tair_ocr.options.OptionSet`: ``options["tesseract"].psm``,
        ``options.of(MyOptions)``, and ``options.extra`` for ``add_options`` values.
    :param settings: the run's :class:`tair_ocr.settings.Settings` (engine,
        restorer, languages, ...).
    """


# --------------------------------------------------------------------------- fusion


@hookspec(firstresult=True)
def fuse_readings(readings: list[Reading], mode: str) -> list[Word] | None:
    """Fuse several readings of one page into its final words.

    Called once per page when more than one reading exists: the selected engines
    on the restored page, the restorer's spotted words and, when a restorer ran,
    the same engines on the page before restoration. Each
    :class:`~tair_ocr.readings.Reading` holds words in original page pixels, its
    ``source``, whether it was read from ``restored`` pixels, its ``kind``
    (``"engine"`` or ``"spotter"``), the ``engine`` that made it and a vote
    ``weight``. ``mode`` is
    ``"conservative"`` or ``"vote"`` (``--fusion``; ``"off"`` never calls it).

    **First result wins**: the first implementation that returns a list (not
    None) decides; plugins run before the built-in strategy
    (:mod:`tair_ocr.fusion`), so a plugin replaces it by returning words and
    defers to it by returning None. Returned words keep their provenance
    (``source``, ``alternatives``) and mark guard decisions in ``flags``
    (``"kept-original"``, ``"uncertain"``), which the pipeline counts into
    ``PageResult.counters``.

    :returns: the fused words in reading order, or None to let the next
        implementation decide.
    """
