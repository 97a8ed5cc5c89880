"""Text metrics for the OCR benchmarks: CER, WER, bag-of-words F1, word recall.

Definitions (also in ``benchmarks/README.md``):

- **Whitespace normalisation**: every run of whitespace (spaces, newlines, tabs,
  form feeds) becomes one space; leading and trailing whitespace is dropped. Case
  and punctuation are kept.
- **CER**: character edit distance (insertions + deletions + substitutions) between
  the normalised texts, divided by the length of the normalised reference. It can
  exceed 1 when the reading holds much more text than the reference.
- **WER**: the same on whitespace-separated words.
- **Bag-of-words F1**: words are whitespace tokens with punctuation stripped from
  both ends (``"Hello,"`` → ``"Hello"``; ``"U.S."`` → ``"U.S"``), tokens that are
  punctuation only are dropped; case-sensitive. The two texts are multisets of
  words; matches are the multiset intersection; precision = matches / reading
  words, recall = matches / reference words. Reading order does not matter, which
  suits forms and receipts whose reference order is arbitrary.
- **Listed-word recall** (SVT, where only some words are labelled): the share of
  labelled words found among the reading's words, case-insensitive.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass

#: Characters stripped from word ends for bag-of-words scoring.
_PUNCT = string.punctuation + "\u2018\u2019\u201c\u201d\u00ab\u00bb\u2013\u2014\u2026\u00b7"
_SPACE = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    """Collapse whitespace runs to one space and strip both ends."""
    return _SPACE.sub(" ", text).strip()


def remove_whitespace(text: str) -> str:
    """Drop all whitespace (for references whose word spaces are unreliable)."""
    return _SPACE.sub("", text)


def edit_distance(a: str | list[str], b: str | list[str]) -> int:
    """Levenshtein distance between two strings or token lists."""
    try:
        from rapidfuzz.distance import Levenshtein  # installed with jiwer
    except ImportError:  # the pure-Python version is fine for short texts
        from tair_ocr.fusion import levenshtein

        return levenshtein(a, b)
    return int(Levenshtein.distance(a, b))


def cer(reference: str, hypothesis: str, *, strip_spaces: bool = False) -> float:
    """Character error rate after whitespace normalisation (or removal)."""
    norm = remove_whitespace if strip_spaces else normalize_whitespace
    ref, hyp = norm(reference), norm(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate on whitespace-separated words."""
    ref, hyp = reference.split(), hypothesis.split()
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def bag_words(text: str) -> Counter[str]:
    """Words with end punctuation stripped, as a multiset (case kept)."""
    words = (w.strip(_PUNCT) for w in unicodedata.normalize("NFC", text).split())
    return Counter(w for w in words if w)


@dataclass(frozen=True)
class BagScore:
    """Bag-of-words precision, recall and F1 of a reading against a reference."""

    precision: float
    recall: float
    f1: float


def bag_f1(reference: str, hypothesis: str) -> BagScore:
    """Bag-of-words precision/recall/F1 (see the module docstring)."""
    ref, hyp = bag_words(reference), bag_words(hypothesis)
    matches = sum((ref & hyp).values())
    n_ref, n_hyp = sum(ref.values()), sum(hyp.values())
    if n_ref == 0:
        perfect = 1.0 if n_hyp == 0 else 0.0
        return BagScore(perfect, perfect, perfect)
    precision = matches / n_hyp if n_hyp else 0.0
    recall = matches / n_ref
    f1 = 2 * precision * recall / (precision + recall) if matches else 0.0
    return BagScore(precision, recall, f1)


def listed_word_recall(listed: list[str], hypothesis: str) -> float:
    """Share of ``listed`` words found in the reading (case-insensitive, multiset)."""
    ref = Counter(w.lower() for w in bag_words(" ".join(listed)).elements())
    hyp = Counter(w.lower() for w in bag_words(hypothesis).elements())
    total = sum(ref.values())
    return sum((ref & hyp).values()) / total if total else 1.0
