"""Typed plugin options (tair_ocr.options): flags generated from a model, defaults
written once, the Python API's nested and flat spellings, clear errors, and what
``configure`` and ``check_options`` receive. The test plugin is
tests/plugins/options_plugin.py (a typed ``shout`` engine and an argparse-only
``legacy`` one)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image
from pydantic import Field, ValidationError

import tair_ocr
from tair_ocr import ExitCode, Pipeline, PluginError, UsageError
from tair_ocr.cli import build_parser, main
from tair_ocr.engines.tesseract import TesseractEngine, TesseractOptions
from tair_ocr.options import OptionModels, OptionSet, PluginOptions
from tair_ocr.plugins import PluginManager
from tair_ocr.restorers.cleaner import CleanerOptions
from tair_ocr.restorers.terediff import DEFAULTS, TeReDiffOptions
from tair_ocr.settings import Settings
from tests.plugins import options_plugin
from tests.plugins.options_plugin import ShoutOptions

from .conftest import TEST_PLUGINS

PLUGIN_FILE = str(TEST_PLUGINS / "options_plugin.py")


@pytest.fixture
def pm() -> PluginManager:
    return PluginManager(plugins=[options_plugin], autoload=False)


def shout_pipeline(**settings) -> Pipeline:
    return Pipeline(
        plugins=[options_plugin],
        autoload=False,
        engine="shout",
        restorer="none",
        output_types=[],
        **settings,
    )


# ---------------------------------------------------------------------- the command line


def test_flags_are_generated_from_the_model(pm: PluginManager) -> None:
    parser = build_parser(pm)
    argv = ["in.png", "--shout-volume", "7", "--shout-case", "lower", "--shout-echo"]
    args = parser.parse_args([*argv, "--shout-words", "words.txt", "--shout-ratio", "0.25"])
    values = pm.option_models.values_from(args)
    assert values == {
        "shout_volume": 7,
        "shout_case": "lower",
        "shout_echo": True,
        "shout_word_list": Path("words.txt"),
        "shout_ratio": 0.25,
        "legacy_level": 1,  # add_options flags always come, with their defaults
    }
    options = pm.option_models.parse(values)["shout"]
    assert options == ShoutOptions(
        volume=7, case="lower", echo=True, word_list="words.txt", ratio=0.25
    )
    # The switch has a --no- form; the alias and the dashed field name both work.
    args = parser.parse_args(["in.png", "--no-shout-echo", "--shout-word-list", "w.txt"])
    assert pm.option_models.values_from(args)["shout_echo"] is False
    assert pm.option_models.values_from(args)["shout_word_list"] == Path("w.txt")
    # Types and choices come from the model: argparse rejects what they rule out.
    for bad in (["--shout-volume", "loud"], ["--shout-case", "title"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["in.png", *bad])


def test_help_groups_the_flags_per_plugin_with_descriptions(pm: PluginManager) -> None:
    text = build_parser(pm).format_help()
    shout = text[text.index("shout:") :]
    assert shout.startswith("shout:\n  Options of the shout engine.")
    flat = " ".join(shout.split())
    assert "--shout-volume N how loud (default: 3)" in flat
    assert "--shout-case {upper,lower} letter case of the word (default: upper)" in flat
    assert "--shout-echo, --no-shout-echo say it twice (default: off)" in flat
    assert "--shout-word-list FILE, --shout-words FILE words to shout (default: HELLO)" in flat
    assert "--shout-ratio X share of the page (default: 0.5)" in flat
    # The escape hatch's group is there too, and the built-ins' models.
    assert "legacy:" in text and "--legacy-level" in text
    for group in ("tesseract:", "cleaner:", "terediff:"):
        assert group in text


def test_defaults_are_written_once_in_the_model(pm: PluginManager) -> None:
    """The flags carry no default: what the user did not give is absent, and the
    model's default applies (so the help's default is the model's)."""
    args = build_parser(pm).parse_args(["in.png"])
    assert pm.option_models.values_from(args) == {"legacy_level": 1}
    options = pm.option_models.parse(pm.option_models.values_from(args))
    assert options["shout"] == ShoutOptions()
    assert options["tesseract"] == TesseractOptions()
    # The terediff tile code reads the flat view, made from the model.
    assert TeReDiffOptions().flat() == DEFAULTS
    assert DEFAULTS["terediff_steps"] == TeReDiffOptions.model_fields["steps"].default


def test_todays_built_in_flags_keep_working() -> None:
    pm = PluginManager(autoload=False)
    argv = ["in.png", "--tesseract-psm", "6", "--tesseract-oem", "1"]
    argv += ["--tesseract-tables", "off", "--tesseract-surround", "keep"]
    argv += ["--tesseract-config", "-c a=1", "--cleaner-threads", "2"]
    argv += ["--cleaner-precision", "fp32", "--weights", "w", "--terediff-steps", "4"]
    argv += ["--terediff-seed", "1", "--terediff-guidance", "2", "--terediff-prompt-style", "tag"]
    argv += ["--terediff-dtype", "fp16", "--terediff-device", "cpu"]
    argv += ["--terediff-batch-size", "2", "--terediff-tiled-vae", "--terediff-latent-fusion"]
    argv += ["--terediff-fusion-region", "1024", "--terediff-spotter-threshold", "0.3"]
    args = build_parser(pm).parse_args(argv)
    options = pm.option_models.parse(pm.option_models.values_from(args))
    assert options["tesseract"] == TesseractOptions(
        psm=6, oem=1, tables="off", surround="keep", config="-c a=1"
    )
    assert options["cleaner"] == CleanerOptions(threads=2, precision="fp32")
    assert options["terediff"] == TeReDiffOptions(
        weights="w",
        steps=4,
        seed=1,
        guidance=2.0,
        prompt_style="tag",
        dtype="fp16",
        device="cpu",
        batch_size=2,
        tiled_vae=True,
        latent_fusion=True,
        fusion_region=1024,
        spotter_threshold=0.3,
    )
    args = build_parser(pm).parse_args(["in.png", "--terediff-weights", "w"])
    assert pm.option_models.values_from(args) == {"terediff_weights": Path("w")}


def test_cli_reports_a_bad_option_value(tmp_path: Path, capsys) -> None:
    image = tmp_path / "page.png"
    Image.new("L", (64, 64), 255).save(image)
    argv = [str(image), "--plugin", PLUGIN_FILE, "--engine", "shout", "--restorer", "none"]
    argv += ["--no-plugin-autoload", "-q", "-o", str(tmp_path), "-t", "txt"]
    assert main([*argv, "--shout-volume", "12"]) == ExitCode.BAD_ARGS
    err = capsys.readouterr().err
    assert "invalid value 12 for option shout.volume (--shout-volume)" in err
    assert main([*argv, "--shout-case", "lower"]) == ExitCode.OK
    assert (tmp_path / "page.txt").read_text().split() == ["hello"]


# ---------------------------------------------------------------------- the Python API


def test_nested_and_flat_options_validate_into_the_model() -> None:
    nested = shout_pipeline(options={"shout": {"volume": 5, "case": "lower"}})
    flat = shout_pipeline(options={"shout_volume": 5, "shout_case": "lower"})
    instance = shout_pipeline(options={"shout": ShoutOptions(volume=5, case="lower")})
    mixed = shout_pipeline(options={"shout": {"volume": 5}, "shout_case": "lower"})
    expected = ShoutOptions(volume=5, case="lower")
    for pipeline in (nested, flat, instance, mixed):
        assert isinstance(pipeline.settings.options, OptionSet)
        assert pipeline.settings.options["shout"] == expected
        assert pipeline.settings.options.of(ShoutOptions) == expected
    # Every namespace is there, with defaults for what was not given.
    assert nested.settings.options["tesseract"] == TesseractOptions()
    assert shout_pipeline().settings.options["shout"] == ShoutOptions()


def test_configure_gets_the_typed_model() -> None:
    pipeline = shout_pipeline(options={"shout_volume": "4", "tesseract": {"psm": 6}})
    engine = pipeline.engine
    assert isinstance(engine.received, ShoutOptions)
    assert engine.received.volume == 4  # the string became the field's int
    words = pipeline.run(Image.new("L", (64, 64), 255)).pages[0].words()
    assert [w.text for w in words] == ["HELLO"]
    tesseract = TesseractEngine()
    tesseract.configure(pipeline.settings.options.for_component(tesseract))
    assert tesseract.options.psm == 6


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shout_volum": 2}, r"unknown option 'shout_volum' \(--shout-volum\); did you mean "),
        ({"shout": {"loudness": 2}}, r"unknown option shout\.loudness \(--shout-loudness\)"),
        ({"shuot_volume": 2}, r"unknown option 'shuot_volume'; did you mean 'shout_volume'"),
        ({"nobody_x": 2}, r"unknown option 'nobody_x' \(option namespaces: .*shout"),
        ({"shout": 3}, r"options for 'shout' must be a mapping"),
        ({"shout": TesseractOptions()}, r"must be a ShoutOptions, not a TesseractOptions"),
        ({"shout": {"volume": 2}, "shout_volume": 3}, r"shout\.volume .* is given twice"),
    ],
)
def test_unknown_options_are_usage_errors_naming_them(options, message) -> None:
    with pytest.raises(UsageError, match=message):
        shout_pipeline(options=options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shout_volume": 12}, r"invalid value 12 for option shout\.volume \(--shout-volume\): "),
        ({"shout": {"volume": "loud"}}, r"shout\.volume .*valid integer"),
        ({"shout_case": "title"}, r"'title' for option shout\.case .*'upper' or 'lower'"),
        ({"shout_ratio": 1}, r"shout\.ratio \(--shout-ratio\): input should be less than 1"),
        ({"shout": {"echo": True, "volume": 11}}, r"invalid shout options: an echo at volume"),
        ({"tesseract_psm": 0}, r"tesseract\.psm \(--tesseract-psm\): choose 1 or 3-13"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_option(options, message) -> None:
    with pytest.raises(UsageError, match=message):
        shout_pipeline(options=options)


def test_models_are_frozen_and_strict() -> None:
    options = ShoutOptions()
    with pytest.raises(ValidationError):
        options.volume = 5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        ShoutOptions(loudness=2)  # type: ignore[call-arg]
    assert ShoutOptions.flag("word_list") == "--shout-word-list"
    assert ShoutOptions.key("word_list") == "shout_word_list"
    assert ShoutOptions(volume=2).flat()["shout_volume"] == 2


def test_settings_validate_against_the_installed_models_they_are_given() -> None:
    context = {"option_models": PluginManager().option_models}

    def settings_of(options: dict[str, Any]) -> Settings:
        return Settings.model_validate({"options": options}, context=context)

    settings = settings_of({"tesseract": {"psm": 6}, "cleaner_threads": 2})
    assert settings.options["tesseract"].psm == 6
    assert settings.options.of(CleanerOptions).threads == 2
    with pytest.raises(UsageError, match="--tesseract-psm"):
        settings_of({"tesseract_psm": 2})
    assert Settings().options.of(TesseractOptions) == TesseractOptions()
    # Without the models (the data layer loads no plugins) options are refused, not
    # taken unchecked.
    with pytest.raises(UsageError, match="Pipeline"):
        Settings(options={"tesseract_psm": 6})
    # A dump (nested by namespace) validates back to the same options.
    dumped = settings.model_dump()
    assert dumped["options"]["tesseract"]["psm"] == 6
    assert Settings.model_validate(dumped, context=context).options == settings.options
    assert '"cleaner":{"weights":null,"threads":2' in settings.model_dump_json()


# ---------------------------------------------------------------------- escape hatch, checks


def test_add_options_escape_hatch_reaches_components_without_a_model() -> None:
    pipeline = Pipeline(
        plugins=[options_plugin],
        autoload=False,
        engine="legacy",
        restorer="none",
        output_types=[],
        options={"legacy_level": 3},
    )
    received = pipeline.engine.received
    assert dict(received) == {"legacy_level": 3}
    assert pipeline.settings.options.extra["legacy_level"] == 3
    # Defaults come from the parser the hook fills.
    assert shout_pipeline().settings.options.extra == {"legacy_level": 1}


def test_check_options_gets_the_typed_set_and_the_settings() -> None:
    options_plugin.CHECKED.clear()
    pipeline = shout_pipeline(options={"shout_volume": 6})
    (options, settings), *_ = options_plugin.CHECKED
    assert options is pipeline.settings.options and settings is pipeline.settings
    assert options["shout"].volume == 6 and settings.engine == "shout"
    with pytest.raises(UsageError, match="needs --legacy-level 1"):
        shout_pipeline(options={"shout_volume": 6, "legacy_level": 2})


# ---------------------------------------------------------------------- broken models


def _plugin_with(model: object):
    class Engine(tair_ocr.OcrEngine):
        name = "modelled"
        options_model = model  # type: ignore[assignment]

        def recognize(self, image, *, languages, dpi, timeout=None):
            return []

    class Plugin:
        @tair_ocr.hookimpl
        def register_engines(self):
            return [Engine()]

    return Plugin()


def test_a_namespace_claimed_twice_names_both_plugins() -> None:
    class Other(PluginOptions):
        namespace: ClassVar[str] = "tesseract"

    pm = PluginManager(plugins=[_plugin_with(Other)], autoload=False)
    with pytest.raises(PluginError, match=r"namespace 'tesseract' is claimed twice.*Other"):
        pm.option_models  # noqa: B018 - building the models is the action under test


def test_broken_models_are_plugin_errors() -> None:
    class Listy(PluginOptions):
        namespace: ClassVar[str] = "listy"
        names: list[str] = Field(default_factory=list)

    with pytest.raises(PluginError, match=r"Listy\.names.*cannot be a command-line option"):
        PluginManager(plugins=[_plugin_with(Listy)], autoload=False).option_models  # noqa: B018
    with pytest.raises(PluginError, match=r"must be a tair_ocr\.options\.PluginOptions subclass"):
        PluginManager(plugins=[_plugin_with(dict)], autoload=False).option_models  # noqa: B018
    with pytest.raises(TypeError, match="namespace must be lowercase"):

        class Bad(PluginOptions):
            namespace: ClassVar[str] = "Bad-Name"


def test_option_models_without_plugins() -> None:
    models = OptionModels()
    assert models.parse(None) == OptionSet()
    with pytest.raises(UsageError, match="unknown option 'x_y'"):
        models.parse({"x_y": 1})
    parser = argparse.ArgumentParser()
    models.add_arguments(parser)
    assert models.values_from(parser.parse_args([])) == {}
