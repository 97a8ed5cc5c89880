from __future__ import annotations

import pytest

import tair_ocr
from tair_ocr.errors import PluginError, UsageError
from tair_ocr.plugins import DEFAULT_PLUGINS, PluginManager

from .conftest import TEST_PLUGINS


def test_builtins_register_like_plugins():
    pm = PluginManager(autoload=False)
    names = [info.name for info in pm.plugins()]
    assert names[: len(DEFAULT_PLUGINS)] == list(DEFAULT_PLUGINS)
    assert all(info.builtin for info in pm.plugins())
    assert "none" in pm.restorers


def test_plugin_from_file_adds_engines(plugin_file):
    pm = PluginManager(plugins=[str(plugin_file)], autoload=False)
    assert {"crash-marked", "oom-marked", "missing"} <= set(pm.engines.names())
    assert pm.engines.plugin_of("crash-marked") == str(plugin_file)


def test_plugin_from_module_name():
    pm = PluginManager(plugins=["tests.plugins.fault_engines"], autoload=False)
    assert "slow-marked" in pm.engines


def test_unknown_name_lists_installed():
    pm = PluginManager(autoload=False)
    with pytest.raises(UsageError, match=r"unknown restorer 'nope'; installed: .*none"):
        pm.restorers.get("nope")


def test_misspelled_hook_fails_loudly():
    with pytest.raises(PluginError, match="register_engine"):
        PluginManager(plugins=[str(TEST_PLUGINS / "misspelled_hook.py")], autoload=False)


def test_duplicate_name_names_both_plugins():
    pm = PluginManager(plugins=[str(TEST_PLUGINS / "duplicate_writer.py")], autoload=False)
    with pytest.raises(PluginError, match=r"'txt' is registered twice.*duplicate_writer"):
        pm.writers  # noqa: B018 - building the registry is the action under test


def test_missing_plugin_file_and_module():
    with pytest.raises(PluginError, match="not found"):
        PluginManager(plugins=["/nonexistent/plugin.py"], autoload=False)
    with pytest.raises(PluginError, match="no_such_module"):
        PluginManager(plugins=["no_such_module"], autoload=False)


def test_blocked_builtin_is_not_registered():
    pm = PluginManager(autoload=False, blocked=["tair_ocr.restorers.identity"])
    assert "none" not in pm.restorers


def test_hook_returning_wrong_type_is_a_plugin_error():
    class Bad:
        @tair_ocr.hookimpl
        def register_engines(self):
            return ["not an engine"]

    pm = PluginManager(plugins=[Bad()], autoload=False)
    with pytest.raises(PluginError, match="expected a OcrEngine"):
        pm.engines  # noqa: B018


def test_raising_hook_names_the_plugin():
    class Broken:
        @tair_ocr.hookimpl
        def register_writers(self):
            raise ValueError("boom")

    pm = PluginManager(plugins=[Broken()], autoload=False)
    with pytest.raises(PluginError, match="failed in register_writers: ValueError: boom"):
        pm.writers  # noqa: B018


def test_plugin_loaders_are_asked_before_builtins():
    class Sniffer(tair_ocr.Loader):
        name = "sniffer"

        def accepts(self, path, head):
            return True

        def open(self, path, *, dpi):
            raise NotImplementedError

    class Plugin:
        @tair_ocr.hookimpl
        def register_loaders(self):
            return [Sniffer()]

    pm = PluginManager(plugins=[Plugin()], autoload=False)
    assert next(iter(pm.loaders)).name == "sniffer"


def test_every_hook_is_documented():
    from pathlib import Path

    from tair_ocr import hookspecs

    doc = (Path(__file__).resolve().parents[1] / "docs" / "plugin_hooks.md").read_text()
    hooks = [n for n in dir(hookspecs) if n.startswith(("register_", "add_", "check_", "fuse"))]
    assert hooks
    for name in hooks:
        assert f"## {name}(" in doc, f"hook {name} is not documented in docs/plugin_hooks.md"
        assert getattr(hookspecs, name).__doc__, f"hook {name} has no docstring"
