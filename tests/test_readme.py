"""The README's Python API example is code that runs as written (issue 14: it used
a name it never defined)."""

from __future__ import annotations

import builtins
import re
import symtable

import pytest

from .conftest import ROOT, SAMPLES, requires_tesseract


def readme_code(heading: str) -> str:
    """The first ``python`` code block of the README section ``## heading``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    _, found, rest = text.partition(f"\n## {heading}\n")
    assert found, f"README.md has no section {heading!r}"
    section = rest.split("\n## ", 1)[0]
    block = re.search(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert block, f"README.md section {heading!r} has no python block"
    return block.group(1)


def test_python_api_example_defines_every_name_it_uses() -> None:
    code = readme_code("Python API")
    table = symtable.symtable(code, "README.md", "exec")
    undefined = [
        symbol.get_name()
        for symbol in table.get_symbols()
        if symbol.is_referenced()
        and not (symbol.is_assigned() or symbol.is_imported())
        and not hasattr(builtins, symbol.get_name())
    ]
    assert undefined == []


@pytest.mark.slow  # restores and reads three pages: about 15 s on two cores
@requires_tesseract
def test_python_api_example_runs(tmp_path, monkeypatch, capsys) -> None:
    # From a folder like the repository root: samples/ there, out/ written there.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples").symlink_to(SAMPLES, target_is_directory=True)
    code = compile(readme_code("Python API"), "README.md (Python API)", "exec")
    exec(code, {"__name__": "readme_example"})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "letter_scan.json",
        "letter_scan.ocr.pdf",
    ]
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0].startswith("1 None Copperleaf")
    assert any(line.startswith("2 None ") for line in lines)
    assert "MEMORANDUM" in printed  # the faxed memo, read in memory
