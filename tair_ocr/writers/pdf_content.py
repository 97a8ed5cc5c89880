"""Editing what a PDF page draws: removing invisible text, replacing a page by its raster.

A page's *content stream* is a sequence of operands and operators (PDF 32000-1,
7.8.2). :func:`content_tokens` splits one into tokens without interpreting
them (strings with nested parentheses and escapes, hex strings, dictionaries,
arrays, comments and inline images are kept whole), so the pieces that are not
changed are written back byte for byte.

:func:`strip_invisible_text` removes the text that a page draws in render mode
3 (invisible): the OCR layer of tair-ocr's own output, of OCRmyPDF's, of a
scanner's. It follows the text render mode through ``Tr``, ``q`` and ``Q``, in
the page's content streams and in the form XObjects they draw, and removes only
the text-showing operators (``Tj``, ``TJ``, ``'``, ``"``) drawn invisibly; the
line moves that ``'`` and ``"`` make are kept, so visible text positioned after
them does not move. Everything else (visible text, images, vector graphics,
marked content) stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pymupdf

__all__ = [
    "Token",
    "content_tokens",
    "operators",
    "replace_with_raster",
    "strip_invisible_text",
    "strip_text_stream",
]

_WHITESPACE = b"\x00\t\n\x0c\r "
_DELIMITERS = b"()<>[]{}/%"
_REGULAR = re.compile(rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]+")
#: Regular tokens that are operands, not operators.
_KEYWORD_OPERANDS = frozenset({b"true", b"false", b"null"})
#: Text render mode of invisible text (neither filled nor stroked, not a clip).
INVISIBLE = 3


@dataclass(frozen=True)
class Token:
    """One token of a content stream: ``data[start:end]``; ``kind`` is ``"op"``
    (an operator), ``"operand"`` (a number, name, string, keyword operand, or a
    whole array or dictionary), or ``"inline-image"`` (``BI`` to ``EI``)."""

    start: int
    end: int
    kind: str
    value: bytes


def _skip_space(data: bytes, i: int) -> int:
    n = len(data)
    while i < n:
        c = data[i]
        if c in _WHITESPACE:
            i += 1
        elif c == 0x25:  # % comment, to the end of the line
            while i < n and data[i] not in b"\r\n":
                i += 1
        else:
            break
    return i


def _literal_string_end(data: bytes, i: int) -> int:
    """The end of the literal string starting at ``data[i] == "("``."""
    depth, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x5C:  # backslash: the next byte is escaped
            i += 2
            continue
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n  # unterminated: the rest of the stream


def _inline_image_end(data: bytes, i: int) -> int:
    """The end of the inline image whose data follow ``ID`` at ``i`` (just after
    the operator): ``EI`` between whitespace (or at the end)."""
    n = len(data)
    j = i + 1  # one whitespace byte separates ID from the data
    while True:
        k = data.find(b"EI", j)
        if k < 0:
            return n
        before = data[k - 1] in _WHITESPACE
        after = k + 2 >= n or data[k + 2] in _WHITESPACE or data[k + 2] in _DELIMITERS
        if before and after:
            return k + 2
        j = k + 1


def _token_end(data: bytes, i: int) -> int:
    """The end of the single (non-compound) token starting at ``i``."""
    c = data[i]
    if c == 0x28:
        return _literal_string_end(data, i)
    if c == 0x3C:  # < hex string > (<< is handled by the caller)
        k = data.find(b">", i)
        return len(data) if k < 0 else k + 1
    if c == 0x2F:  # /Name
        m = _REGULAR.match(data, i + 1)
        return m.end() if m else i + 1
    if c in b"[]{}>)":
        return i + 1
    m = _REGULAR.match(data, i)
    return m.end() if m else i + 1


def content_tokens(data: bytes) -> Iterator[Token]:
    """The tokens of content stream ``data``, in order (see :class:`Token`)."""
    i, n = 0, len(data)
    while True:
        i = _skip_space(data, i)
        if i >= n:
            return
        if data.startswith(b"<<", i) or data[i] == 0x5B:  # a dictionary or an array
            start, depth = i, 0
            while i < n:
                i = _skip_space(data, i)
                if i >= n:
                    break
                if data.startswith(b"<<", i) or data[i] == 0x5B:
                    depth += 1
                    i += 2 if data[i] == 0x3C else 1
                elif data.startswith(b">>", i) or data[i] == 0x5D:
                    depth -= 1
                    i += 2 if data[i] == 0x3E else 1
                else:
                    i = _token_end(data, i)
                if depth == 0:
                    break
            yield Token(start, i, "operand", data[start:i])
            continue
        start = i
        i = _token_end(data, i)
        value = data[start:i]
        regular = _REGULAR.fullmatch(value) is not None
        if not regular or value in _KEYWORD_OPERANDS or _is_number(value):
            yield Token(start, i, "operand", value)
        elif value == b"BI":
            k = data.find(b"ID", i)
            end = n if k < 0 else _inline_image_end(data, k + 2)
            yield Token(start, end, "inline-image", data[start:end])
            i = end
        else:
            yield Token(start, i, "op", value)


def operators(data: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """The operators of content stream ``data`` with their operands' bytes, in
    order. An inline image is one ``"BI"`` operator whose operands are the tokens
    of its dictionary (``/W``, ``4``, ``/CS``, ``/G``, ...)."""
    operands: list[bytes] = []
    for token in content_tokens(data):
        if token.kind == "operand":
            operands.append(token.value)
        elif token.kind == "inline-image":
            head = token.value
            cut = re.search(rb"[\x00\t\n\x0c\r ]ID[\x00\t\n\x0c\r ]", head)
            entries = head[2 : cut.start() if cut else len(head)]
            yield "BI", _flat(entries)
            operands = []
        else:
            yield token.value.decode("latin-1"), operands
            operands = []


def _flat(data: bytes) -> list[bytes]:
    """The tokens of ``data`` with arrays opened (``[``, their tokens, ``]``): an
    inline image's entries are read one by one (``/CS [/I /DeviceCMYK 1 <..>]``)."""
    out: list[bytes] = []
    for token in content_tokens(data):
        if token.value.startswith(b"["):
            out += [b"[", *_flat(token.value[1:-1]), b"]"]
        else:
            out.append(token.value)
    return out


def _is_number(value: bytes) -> bool:
    return re.fullmatch(rb"[+-]?(\d+\.?\d*|\.\d+)", value) is not None


_SHOW = frozenset({b"Tj", b"TJ", b"'", b'"'})


@dataclass
class _State:
    """The text render mode and its saved copies (``q``/``Q``)."""

    mode: int = 0
    saved: list[int] = field(default_factory=list)


def strip_text_stream(data: bytes, state: _State | None = None) -> tuple[bytes, int, list[bytes]]:
    """``data`` without its invisible text-showing operators.

    Returns the new stream, the number of operators removed and the names of
    the XObjects it draws (``/Name Do``) while the render mode is known, for the
    caller to follow into forms. ``state`` carries the render mode across the
    streams of one page."""
    state = state or _State()
    out: list[bytes] = []
    cursor = 0  # data[cursor:] not yet copied to out
    operands: list[Token] = []
    removed = 0
    drawn: list[bytes] = []
    for token in content_tokens(data):
        if token.kind != "op":
            if token.kind == "inline-image":
                operands = []
            else:
                operands.append(token)
            continue
        op = token.value
        if op == b"q":
            state.saved.append(state.mode)
        elif op == b"Q":
            if state.saved:
                state.mode = state.saved.pop()
        elif op == b"Tr" and operands and _is_number(operands[-1].value):
            state.mode = int(float(operands[-1].value))
        elif op == b"Do" and operands:
            drawn.append(operands[-1].value.lstrip(b"/"))
        elif op in _SHOW and state.mode == INVISIBLE:
            start = operands[0].start if operands else token.start
            out.append(data[cursor:start])
            # ' moves to the next line and shows; " also sets the spacings first.
            if op == b"'":
                out.append(b"T*")
            elif op == b'"' and len(operands) >= 3:
                aw, ac = operands[-3].value, operands[-2].value
                out.append(aw + b" Tw " + ac + b" Tc T*")
            cursor = token.end
            removed += 1
        operands = []
    out.append(data[cursor:])
    return b"".join(out), removed, drawn


def _form_xrefs(doc: pymupdf.Document, owner: int, names: list[bytes]) -> list[int]:
    """The xrefs of the form XObjects ``names`` in the resources of object ``owner``
    (a page or a form), inherited page resources included."""
    found = []
    for name in dict.fromkeys(names):
        key = name.decode("latin-1")
        for prefix in ("Resources/XObject/", "XObject/"):
            kind, value = doc.xref_get_key(owner, prefix + key)
            if kind == "xref":
                xref = int(value.split()[0])
                if doc.xref_get_key(xref, "Subtype")[1] == "/Form":
                    found.append(xref)
                break
    return found


def strip_invisible_text(doc: pymupdf.Document, page: pymupdf.Page) -> int:
    """Remove the text ``page`` draws invisibly (its OCR layers), in its content
    streams and the form XObjects they draw; return the operators removed."""
    state = _State()
    removed = 0
    drawn: list[bytes] = []
    for xref in page.get_contents():
        data, count, names = strip_text_stream(doc.xref_stream(xref) or b"", state)
        drawn += names
        if count:
            doc.update_stream(xref, data, compress=True)
            removed += count
    # Forms drawn by the page (a grafted OCR layer is often one), then theirs.
    seen: set[int] = set()
    todo = [(page.xref, drawn)]
    while todo:
        owner, names = todo.pop()
        for xref in _form_xrefs(doc, owner, names):
            if xref in seen:
                continue
            seen.add(xref)
            data, count, inner = strip_text_stream(doc.xref_stream(xref) or b"")
            if count:
                doc.update_stream(xref, data, compress=True)
                removed += count
            todo.append((xref, inner))
    return removed


def replace_with_raster(page: pymupdf.Page, pixmap: pymupdf.Pixmap) -> None:
    """Make ``page`` show only ``pixmap`` (its rendering, as displayed), filling the
    page: what it drew before (text, vector graphics) becomes those pixels.
    Annotations (links) stay."""
    doc = page.parent
    doc.xref_set_key(page.xref, "Contents", "[]")
    # insert_image takes the displayed (rotated) page's coordinates and turns the
    # picture with the page's rotation itself.
    page.insert_image(page.rect, pixmap=pixmap)
