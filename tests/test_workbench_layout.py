"""The runtime (``tair_ocr``) and the workbench (``tair_workbench``) stay apart.

The workbench imports the runtime, never the other way round; the one runtime
command that offers workbench work, ``tair-ocr weights convert``, finds it through
the ``tair_ocr.weights_commands`` entry point.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

import tair_ocr
from tair_ocr.errors import ExitCode
from tair_ocr.weights_cli import (
    COMMANDS_ENTRY_POINT_GROUP,
    WeightsCommand,
    installed_commands,
    weights_command,
)

RUNTIME = Path(tair_ocr.__file__).parent


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif (  # importlib.import_module("...") / __import__("...") with a literal
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.append(str(node.args[0].value))
    return names


def test_runtime_never_imports_the_workbench() -> None:
    offenders = [
        f"{path.relative_to(RUNTIME.parent)}: {name}"
        for path in sorted(RUNTIME.rglob("*.py"))
        for name in _imported_modules(path)
        if name.split(".")[0] == "tair_workbench"
    ]
    assert not offenders, offenders


def test_a_run_loads_no_workbench_module() -> None:
    code = (
        "import sys; from tair_ocr.plugins import PluginManager; "
        "pm = PluginManager(autoload=False); pm.engines; pm.restorers; pm.writers; "
        "import tair_ocr.calibration, tair_ocr.cli; "
        "from tair_ocr.weights_cli import weights_command; weights_command(['info', '--json']); "
        "bad = [m for m in sys.modules if m.split('.')[0] == 'tair_workbench']; "
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_convert_is_the_workbench_entry_point() -> None:
    commands = installed_commands()
    assert "convert" in commands, "reinstall the package: pip install -e ."
    convert = commands["convert"]
    assert isinstance(convert, WeightsCommand)
    assert type(convert).__module__ == "tair_workbench.conversion.cli"


def test_a_broken_weights_command_is_reported_when_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = importlib.metadata.EntryPoint(
        name="convert", value="tair_no_such_module:CONVERT", group=COMMANDS_ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [broken])
    assert weights_command(["convert", "--anything"]) == ExitCode.MISSING_DEPENDENCY
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tair_no_such_module:CONVERT" in err
    assert "ModuleNotFoundError" in err


def test_a_missing_convert_says_where_it_comes_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [])
    assert weights_command(["convert", "--terediff", "x.pt"]) == ExitCode.MISSING_DEPENDENCY
    err = capsys.readouterr().err
    assert COMMANDS_ENTRY_POINT_GROUP in err and "workbench" in err


def test_a_third_party_weights_command_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Hello:
        help = "say hello"
        description = "Say hello."

        def add_arguments(self, parser: argparse.ArgumentParser) -> None:
            parser.add_argument("name")

        def run(self, args: argparse.Namespace) -> int:
            print(f"hello {args.name}")
            return ExitCode.OK

    module = type(sys)("tair_test_weights_hello")
    module.HELLO = Hello()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    eps = [
        importlib.metadata.EntryPoint(
            name=name, value=f"{module.__name__}:HELLO", group=COMMANDS_ENTRY_POINT_GROUP
        )
        for name in ("hello", "check")  # a built-in name cannot be taken over
    ]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: eps)
    assert list(installed_commands()) == ["hello"]
    assert weights_command(["hello", "world"]) == ExitCode.OK
    assert capsys.readouterr().out == "hello world\n"
