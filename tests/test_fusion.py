"""Fusion of readings and the hallucination guard (tair_ocr.fusion), on hand-made
readings; the pipeline wiring with scripted engines; and, when installed, the
rapidocr plugin with tesseract end to end."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import shutil

import pytest
from PIL import Image, ImageDraw, ImageFont

from tair_ocr import BBox, Pipeline, PluginError, PluginManager, UsageError, Word, hookimpl
from tair_ocr.fusion import (
    KEPT_ORIGINAL,
    UNCERTAIN,
    FusionParams,
    Reading,
    align_strings,
    build_slots,
    fuse,
    fusion_counters,
    levenshtein,
    similarity,
    vote_characters,
)
from tair_ocr.settings import Settings

from .conftest import TEST_PLUGINS
from .test_pipeline import BlobEngine, Components, CountingCopy, blob_page


def W(text, x0, x1, conf=0.9, y0=100.0, y1=130.0, source="a", line=None, block=None):
    return Word(
        text=text,
        confidence=conf,
        bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y1),
        source=source,
        line_id=line,
        block_id=block,
    )


#: Another engine's reading may replace the page reading's word when it is this
#: much more likely (the default, 1, never lets it).
SECOND_OPINIONS = FusionParams(second_opinion_margin=0.2)


def texts(words):
    return [w.text for w in words]


# ---------------------------------------------------------------------- strings


def test_levenshtein_and_similarity():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein(["a", "b"], ["a", "b"]) == 0
    assert similarity("same", "same") == 1.0
    assert similarity("", "x") == 0.0
    assert similarity("hello", "hallo") == pytest.approx(0.8)


def test_align_strings_puts_insertions_in_their_own_column():
    columns = align_strings(["cat", "cart"])
    assert ["".join(col[i] or "-" for col in columns) for i in range(2)] == ["ca-t", "cart"]
    assert align_strings([]) == []
    # Every string can be read back from its column entries.
    strings = ["example", "exarnple", "exampl", "xample"]
    columns = align_strings(strings)
    for i, s in enumerate(strings):
        assert "".join(col[i] for col in columns) == s


def test_vote_characters_combines_half_right_readings():
    # Each reading has one wrong letter, in a different place: the columns vote.
    assert vote_characters([("hallo", 0.9), ("hella", 0.8), ("jello", 0.7)]) == "hello"
    # Weights matter: a heavy reading wins its columns.
    assert vote_characters([("cot", 2.0), ("cat", 0.5), ("cut", 0.5)]) == "cot"
    # A character only one light reading has is dropped.
    assert vote_characters([("car", 1.0), ("cart", 0.4), ("car", 0.8)]) == "car"


# ---------------------------------------------------------------------- alignment


def test_slots_align_overlapping_words_and_keep_others_apart():
    a = Reading("a", [W("New", 0, 60), W("York", 75, 150), W("City", 165, 230)])
    b = Reading("b", [W("NewYork", 2, 148, source="b"), W("City", 166, 231, source="b")])
    slots = build_slots([a, b])
    assert [[texts(ws) for ws in slot] for slot in slots] == [
        [["New", "York"], ["NewYork"]],
        [["City"], ["City"]],
    ]


def test_slots_align_short_words_whose_boxes_are_off_when_they_read_alike():
    # rapidocr estimates word boxes from the line: a one-letter word can be shifted
    # by half its width. Touching boxes on one row that read alike still align...
    a = Reading("a", [W("a", 740, 758)])
    b = Reading("b", [W("a", 751, 770)])
    assert len(build_slots([a, b])) == 1
    assert texts(fuse([a, b])) == ["a"]
    # ...but different words that merely touch stay apart.
    c = Reading("c", [W("of", 751, 770)])
    assert len(build_slots([a, c])) == 2


def test_specks_do_not_glue_onto_words():
    # Tesseract reads a 4 px dust speck above "is" as "|"; it must not join the slot.
    words = [W("this", 0, 60), W("is", 80, 110), W("fine", 130, 190)]
    speck = W("|", 85, 89, 0.8, y0=92, y1=96)
    out = fuse([Reading("a", [*words, speck]), Reading("b", words)])
    assert texts(out) == ["this", "is", "fine"]


def test_slots_do_not_chain_across_lines():
    a = Reading("a", [W("top", 0, 60, y0=0, y1=30), W("bottom", 0, 90, y0=40, y1=70)])
    b = Reading("b", [W("top", 0, 60, y0=2, y1=31), W("bottom", 0, 88, y0=41, y1=71)])
    assert len(build_slots([a, b])) == 2


# ---------------------------------------------------------------------- voting


def test_agreeing_readings_are_fused_without_alternatives():
    a = Reading("tesseract", [W("hello", 0, 100, 0.8, source="tesseract")], restored=False)
    b = Reading("rapidocr", [W("hello", 2, 101, 0.9, source="rapidocr")], restored=False)
    (word,) = fuse([a, b])
    assert word.text == "hello"
    assert word.source == "fused:original"  # both read the page as loaded
    assert word.alternatives == []
    # Two engines agreeing are independent witnesses: P = 1 - (1 - 0.8)(1 - 0.9).
    assert word.confidence == pytest.approx(0.98)
    assert word.flags == []
    # Agreement on restored pixels is plain "fused".
    (word,) = fuse([Reading("tesseract", a.words), Reading("rapidocr", b.words)])
    assert word.source == "fused"


def test_one_engine_reading_a_place_twice_is_one_witness():
    original = Reading("tesseract", [W("hello", 0, 100, 0.8)], restored=False)
    again = Reading("tesseract:restored", [W("hello", 1, 100, 0.7)], engine="tesseract")
    (word,) = fuse([original, again])
    assert word.confidence == pytest.approx(0.8)  # the engine's best, not 1 - 0.2 * 0.3
    assert word.source == "fused"


def test_conflict_goes_to_the_confident_reading_and_keeps_the_loser():
    a = Reading("tesseract", [W("exarnple", 0, 100, 0.45)])
    b = Reading("rapidocr", [W("example", 0, 100, 0.95)])
    (word,) = fuse([a, b])
    assert word.text == "example"
    assert word.source == "rapidocr"
    assert [(x.text, x.source, x.confidence) for x in word.alternatives] == [
        ("exarnple", "tesseract", 0.45)
    ]
    # The winner keeps its own probability; a clear winner is not "uncertain".
    assert word.confidence == pytest.approx(0.95)
    assert word.flags == []
    # A weak winner of a conflict is.
    weak = Reading("rapidocr", [W("example", 0, 100, 0.48)])
    (word,) = fuse([a, weak])
    assert (word.text, word.flags) == ("example", [UNCERTAIN])


def test_two_agreeing_readings_outvote_a_confident_one():
    a = Reading("a", [W("cot", 0, 60, 0.9)])
    b = Reading("b", [W("cat", 0, 60, 0.8)])
    c = Reading("c", [W("cat", 0, 60, 0.7)])
    (word,) = fuse([a, b, c])
    # 1 - (1 - 0.8)(1 - 0.7) = 0.94 > 0.9.
    assert (word.text, word.source) == ("cat", "fused")
    assert word.confidence == pytest.approx(0.94)
    # ...but not one more likely than their combined evidence.
    a.words[0] = W("cot", 0, 60, 0.97)
    (word,) = fuse([a, b, c])
    assert (word.text, word.source) == ("cot", "a")


def test_vote_mode_builds_a_consensus_no_reading_had():
    readings = [
        Reading("a", [W("hallo", 0, 100, 0.9)]),
        Reading("b", [W("hella", 0, 100, 0.8)]),
        Reading("c", [W("jello", 0, 100, 0.7)]),
    ]
    (conservative,) = fuse(readings, "conservative")
    assert conservative.text in {"hallo", "hella", "jello"}
    (voted,) = fuse(readings, "vote")
    assert voted.text == "hello"
    assert voted.source == "fused"
    assert {x.text for x in voted.alternatives} == {"hallo", "hella", "jello"}


def test_merged_word_takes_the_split_when_the_gap_is_a_real_space():
    # rapidocr-style merge on one side, a real gap (15 px at 30 px height) on the other.
    a = Reading("a", [W("New", 0, 60, 0.8), W("York", 75, 150, 0.8)])
    b = Reading("b", [W("NewYork", 0, 150, 0.99)])
    words = fuse([a, b])
    assert texts(words) == ["New", "York"]
    assert words[0].bbox.x1 == 60 and words[1].bbox.x0 == 75
    assert all(w.source == "fused" for w in words)  # both readings have these letters


def test_split_without_a_gap_goes_to_the_heavier_reading():
    # A broken glyph split one word; the boxes touch, so no gap proves a space and
    # the more confident reading decides.
    a = Reading("a", [W("exam", 0, 60, 0.7), W("ple", 61, 110, 0.7)])
    b = Reading("b", [W("example", 0, 110, 0.95)])
    (word,) = fuse([a, b])
    assert word.text == "example"
    # An engine that merged "for the" at low resolution (its boxes have no gap
    # either) loses against a more confident split.
    c = Reading("c", [W("forthe", 0, 110, 0.8)])
    d = Reading("d", [W("for", 0, 50, 1.0), W("the", 52, 110, 1.0)])
    assert texts(fuse([c, d])) == ["for", "the"]


def test_empty_readings():
    assert fuse([]) == []
    assert fuse([Reading("a", []), Reading("b", [])]) == []
    only = [W("alone", 0, 100, 0.9)]
    # A single reading comes back unchanged, as does mode "off".
    assert fuse([Reading("a", only)]) == only
    assert fuse([Reading("a", only), Reading("b", [])], "off") == only
    with pytest.raises(ValueError, match="unknown fusion mode"):
        fuse([Reading("a", only)], "loud")


def test_engines_vote_no_text_but_spotters_do_not():
    speck = [W("~", 0, 10, 0.2), W("word", 50, 120, 0.9)]
    other = [W("word", 52, 121, 0.95)]
    # A low-confidence word only one engine saw is dropped (noise read as text).
    words = fuse([Reading("a", speck), Reading("b", other)])
    assert texts(words) == ["word"]
    # A spotter sees only part of the page: its silence is no vote.
    words = fuse([Reading("a", speck), Reading("spotter:x", other, kind="spotter")])
    assert texts(words) == ["~", "word"]
    assert words[0].confidence == pytest.approx(0.2)


def test_an_engine_that_reads_nothing_drops_only_weak_words():
    # An engine that looked and saw nothing: likely words stay, weak ones are noise.
    speck = [W("~", 0, 10, 0.2), W("word", 50, 120, 0.6)]
    words = fuse([Reading("a", speck), Reading("b", [])])
    assert texts(words) == ["word"]
    assert words[0].confidence == pytest.approx(0.6)
    # (Where "a" is sure of a word, "b" saw nothing only by failing: see
    # test_a_re_read_that_found_nothing_where_words_are_sure_failed.)


def test_an_addition_must_be_clearly_more_likely_right_than_wrong():
    # Where the page's own whole reading looked and saw nothing, a word only a
    # re-read of a region gives is an addition: a coin-flip one is dropped, a word
    # clearly more likely right stays ...
    page = Reading("rapidocr", [W("Total", 200, 300, 0.95)], restored=False)
    region = [BBox(x0=0, y0=90, x1=150, y1=140)]
    added = [W("i", 0, 10, 0.52), W("was", 50, 120, 0.62)]
    second = Reading("tesseract", added, restored=False, regions=region)
    assert texts(fuse([page, second])) == ["was", "Total"]
    loose = FusionParams(addition_confidence=0.5)
    assert texts(fuse([page, second], params=loose)) == ["i", "was", "Total"]
    # ... but a word of the page's own reading that a restored re-read did not see
    # needs only to be more likely right than wrong.
    own = Reading("tesseract", [W("freundlichen", 0, 120, 0.52)], restored=False)
    restored = Reading(
        "tesseract:restored", [W("Mit", 200, 240, 0.9)], restored=True, regions=region
    )
    assert texts(fuse([own, restored])) == ["freundlichen", "Mit"]


def test_a_reading_is_not_weighed_by_its_other_words():
    # No trust factor: "b" reads most of the page badly, but its one confident
    # word beats "a"'s less confident reading of that place.
    a = Reading("a", [W("this", 0, 60, 0.7), W("page", 70, 130, 0.95), W("reads", 140, 200, 0.95)])
    b = Reading("b", [W("thus", 0, 60, 0.9), W("pa9e", 70, 130, 0.1), W("rcads", 140, 200, 0.1)])
    words = fuse([a, b])
    assert texts(words) == ["thus", "page", "reads"]
    assert words[0].confidence == pytest.approx(0.9)


def test_spotter_words_join_the_vote():
    a = Reading("tesseract", [W("rnodern", 0, 100, 0.55)])
    s = Reading("spotter:tx", [W("modern", 0, 100, 0.9)], kind="spotter", weight=0.7)
    (word,) = fuse([a, s])
    assert word.text == "modern"
    assert word.source == "spotter:tx"


# ---------------------------------------------------------------------- the guard


def guard_readings(restored_conf=0.9, original_conf=0.92, original="cat"):
    return [
        Reading("tesseract", [W("cot", 0, 60, restored_conf, line=0, block=0)]),
        Reading("rapidocr", [W("cot", 1, 61, restored_conf)]),
        Reading("tesseract:original", [W(original, 0, 60, original_conf)], restored=False),
    ]


def reread(original="cat", original_conf=0.92, restored="cot", restored_conf=0.9):
    """What the pipeline fuses for one unsure word: the engine's reading of the page
    as loaded, and its re-read of the restored region."""
    return [
        Reading("tesseract", [W(original, 0, 60, original_conf, line=0, block=0)], restored=False),
        Reading(
            "tesseract:restored",
            [W(restored, 0, 60, restored_conf)],
            engine="tesseract",
            regions=[BBox(x0=0, y0=80, x1=100, y1=150)],
        ),
    ]


def test_guard_keeps_the_original_reading_on_weak_evidence():
    # The restored reading is more confident, but not by the guard margin (0.05).
    margin = FusionParams(guard_margin=0.05)
    (word,) = fuse(reread(original_conf=0.92, restored_conf=0.95), "conservative", margin)
    assert word.text == "cat"
    assert word.source == "tesseract"
    assert word.flags == [KEPT_ORIGINAL]
    assert word.confidence == pytest.approx(0.92)
    assert [(x.text, x.source) for x in word.alternatives] == [("cot", "tesseract:restored")]
    assert fusion_counters([word]) == {"guard_kept_original": 1, "uncertain_words": 0}
    # A restored-only reading less likely than the original loses, of course.
    (word,) = fuse(reread(original_conf=0.7, restored_conf=0.6), "conservative")
    assert (word.text, word.flags) == ("cat", [KEPT_ORIGINAL])
    # The default margin is none: the more likely reading wins, ties go to the page.
    (word,) = fuse(reread(original_conf=0.92, restored_conf=0.95), "conservative")
    assert (word.text, word.flags) == ("cot", [])
    (word,) = fuse(reread(original_conf=0.9, restored_conf=0.9), "conservative")
    assert (word.text, word.flags) == ("cat", [KEPT_ORIGINAL])


def rewrite_readings(original, original_conf, restored, page_conf=0.99):
    """A table row read well but for one price, and the restored re-read of that price."""
    sure = [W(t, 100 * i, 100 * i + 60, page_conf) for i, t in enumerate(["Key", "ring", "1"], 1)]
    unsure = W(original, 400, 460, original_conf)
    return [
        Reading("tesseract", [*sure, unsure], restored=False),
        Reading(
            "tesseract:restored",
            [W(text, 400 + 32 * i, 428 + 32 * i, conf) for i, (text, conf) in enumerate(restored)],
            engine="tesseract",
            regions=[BBox(x0=380, y0=80, x1=480, y1=150)],
        ),
    ]


def test_a_restored_rewrite_must_be_likely_right_on_a_page_read_well():
    # "de NS" shares no character with "1.19": not a sharper reading of the same
    # letters but other letters. More likely than the page's 0.09, but not likely.
    hallucinated = [("de", 0.31), ("NS", 0.16)]
    (*_, word) = fuse(rewrite_readings("1.19", 0.09, hallucinated))
    assert (word.text, word.flags) == ("1.19", [KEPT_ORIGINAL, UNCERTAIN])
    assert [a.text for a in word.alternatives] == ["de NS"]
    # A likely rewrite replaces it.
    words = fuse(rewrite_readings("1.19", 0.09, [("de", 0.7), ("NS", 0.7)]))
    assert texts(words)[3:] == ["de", "NS"]
    # A correction of a few letters needs no more than to be more likely.
    (*_, word) = fuse(rewrite_readings("193:92", 0.02, [("19:92", 0.48)]))
    assert word.text == "19:92"
    # On a page its own reading reads badly, rewriting is what restoration is for.
    words = fuse(rewrite_readings("1.19", 0.09, hallucinated, page_conf=0.4))
    assert texts(words)[3:] == ["de", "NS"]
    # The rule can be turned off.
    off = FusionParams(rewrite_confidence=0.0)
    assert texts(fuse(rewrite_readings("1.19", 0.09, hallucinated), params=off))[3:] == ["de", "NS"]


def test_guard_ties_go_to_the_original():
    params = FusionParams(guard_margin=0.25)  # exact in binary: 0.75 - 0.25 == 0.5
    (word,) = fuse(reread(original_conf=0.5, restored_conf=0.75), params=params)
    assert (word.text, word.flags) == ("cat", [KEPT_ORIGINAL])
    (word,) = fuse(reread(original_conf=0.5, restored_conf=0.875), params=params)
    assert (word.text, word.flags) == ("cot", [])


def test_vote_mode_may_overrule_the_guard_without_flagging_it():
    # Conservative: "cot" from two restored re-reads, 1 - 0.1 * 0.4 = 0.96, less a
    # margin of 0.05, is below the original's 0.92: the original stays.
    readings = [
        *reread(original_conf=0.92, restored_conf=0.9),
        Reading(
            "rapidocr:restored", [W("cot", 1, 61, 0.6)], regions=[BBox(x0=0, y0=80, x1=100, y1=150)]
        ),
    ]
    (word,) = fuse(readings, "conservative", FusionParams(guard_margin=0.05))
    assert (word.text, word.flags) == ("cat", [KEPT_ORIGINAL])
    # Vote: the character consensus of the three readings is "cot"; the guard kept
    # nothing, so nothing is flagged.
    (word,) = fuse(readings, "vote")
    assert word.text == "cot"
    assert word.flags == []
    assert fusion_counters([word]) == {"guard_kept_original": 0, "uncertain_words": 0}


def test_guard_lets_restoration_fix_a_misread():
    # The unrestored page read poorly; the restored page reads confidently.
    readings = guard_readings(restored_conf=0.95, original_conf=0.4, original="c0t")
    (word,) = fuse(readings, "conservative")
    assert (word.text, word.flags) == ("cot", [])
    assert word.source == "fused"


def test_text_only_the_restored_page_has_must_be_likely():
    # The page as loaded read nothing here: a weak restored-only word is noise...
    region = [BBox(x0=0, y0=80, x1=100, y1=150)]
    readings = [
        Reading("tesseract", [], restored=False),
        Reading("tesseract:restored", [W("ghost", 0, 90, 0.25)], regions=region),
    ]
    assert fuse(readings, "conservative") == []
    # ...and two engines seeing it on restored pixels make it likely enough.
    readings.append(Reading("rapidocr:restored", [W("ghost", 0, 90, 0.5)], regions=region))
    (word,) = fuse(readings, "conservative")
    assert (word.text, word.source, word.flags) == ("ghost", "fused", [])
    assert word.confidence == pytest.approx(1 - (1 - 0.25) * (1 - 0.5))


def test_guard_leaves_plain_engine_disagreements_to_the_vote():
    # Restoration changed neither engine's reading; rapidocr simply reads better.
    region = [BBox(x0=0, y0=80, x1=100, y1=150)]
    readings = [
        Reading("tesseract", [W("rnodern", 0, 90, 0.6)], restored=False),
        Reading("rapidocr", [W("modern", 0, 90, 0.95)], restored=False, regions=region),
        Reading("tesseract:restored", [W("rnodern", 0, 90, 0.6)], regions=region),
        Reading("rapidocr:restored", [W("modern", 0, 90, 0.95)], regions=region),
    ]
    (word,) = fuse(readings, "conservative", SECOND_OPINIONS)
    assert (word.text, word.source) == ("modern", "fused")
    assert word.confidence == pytest.approx(0.95)
    assert UNCERTAIN not in word.flags


def test_guard_weighs_all_evidence_of_the_page_as_loaded():
    # rapidocr reads a swapped glyph on restored pixels, very confidently; both
    # engines read the page as loaded the other way.
    region = [BBox(x0=0, y0=80, x1=100, y1=150)]
    readings = [
        Reading("tesseract", [W("that", 0, 90, 0.8)], restored=False),
        Reading("rapidocr", [W("that", 0, 90, 0.97)], restored=False, regions=region),
        Reading("rapidocr:restored", [W("thal", 0, 90, 0.99)], regions=region),
    ]
    (word,) = fuse(readings, "conservative")
    assert (word.text, word.flags) == ("that", [KEPT_ORIGINAL])
    assert word.source == "fused:original"  # only readings of the page as loaded agree
    assert word.confidence == pytest.approx(1 - 0.2 * 0.03)
    # Against tesseract's reading alone (0.75), 0.99 clears the margin: the change stands.
    weaker = Reading("tesseract", [W("that", 0, 90, 0.75)], restored=False)
    (word,) = fuse([weaker, readings[2]], "conservative", SECOND_OPINIONS)
    assert (word.text, word.flags, word.source) == ("thal", [], "rapidocr:restored")


def test_guard_needs_every_engine_that_reads_the_change_to_gain():
    # A swapped glyph: tesseract read garbage before, so it "gains"; rapidocr was
    # sure of "38.1" and now reads "38.t" hardly more confidently: with a guard
    # margin, keep "38.1".
    readings = [
        Reading("tesseract", [W("38.t", 0, 90, 0.9)]),
        Reading("rapidocr", [W("38.t", 0, 90, 0.98)]),
        Reading("tesseract:original", [W("38.1'", 0, 90, 0.14)], restored=False),
        Reading("rapidocr:original", [W("38.1", 0, 90, 0.97)], restored=False),
    ]
    (word,) = fuse(readings, "conservative", FusionParams(guard_margin=0.05))
    assert (word.text, word.flags, word.source) == ("38.1", [KEPT_ORIGINAL], "rapidocr:original")
    # A real fix: both engines were unsure before and are sure now.
    readings[3] = Reading("rapidocr:original", [W("38.l", 0, 90, 0.6)], restored=False)
    (word,) = fuse(readings, "conservative")
    assert (word.text, word.flags) == ("38.t", [])


def test_unrestored_reading_does_not_vote_twice_for_its_engine():
    # One engine is one witness however often it read the place: tesseract's two
    # identical readings do not outvote rapidocr.
    readings = [
        Reading("tesseract", [W("rnodern", 0, 90, 0.6)]),
        Reading("rapidocr", [W("modern", 0, 90, 0.8)]),
        Reading("tesseract:original", [W("rnodern", 0, 90, 0.6)], restored=False),
    ]
    (word,) = fuse(readings, "conservative", SECOND_OPINIONS)
    assert word.text == "modern"


def test_guard_keeps_likely_words_the_restorer_wiped_out():
    region = [BBox(x0=0, y0=80, x1=200, y1=150)]
    readings = [
        Reading("tesseract", [W("kept", 0, 60), W("faint", 100, 160, 0.85)], restored=False),
        Reading("tesseract:restored", [W("kept", 0, 60, 0.9)], regions=region),
    ]
    for mode in ("conservative", "vote"):
        words = fuse(readings, mode)
        assert texts(words) == ["kept", "faint"]
        assert words[1].source == "tesseract" and words[1].confidence == pytest.approx(0.85)
    # A weak word the restored re-read of its region does not see is noise.
    readings[0].words[1] = W("faint", 100, 160, 0.2)
    assert texts(fuse(readings, "conservative")) == ["kept"]


def test_a_word_every_reading_gives_is_never_dropped():
    # The faxed memo: tesseract reads "strive'on" with (calibrated) confidence 0 on
    # the page as loaded and again on the restored region. Nobody saw "no text".
    region = [BBox(x0=0, y0=80, x1=200, y1=150)]
    readings = [
        Reading("tesseract", [W("strive'on", 0, 150, 0.0)], restored=False),
        Reading("tesseract:restored", [W("strive'on", 0, 150, 0.0)], regions=region),
    ]
    (word,) = fuse(readings, "conservative")
    assert (word.text, word.source) == ("strive'on", "fused")
    assert word.confidence == 0.0 and word.flags == []
    # A second engine that read another region does not see it either way.
    elsewhere = [BBox(x0=400, y0=80, x1=600, y1=150)]
    readings.append(Reading("rapidocr", [], restored=False, regions=elsewhere))
    assert texts(fuse(readings, "conservative")) == ["strive'on"]
    # One that looked at it and saw nothing does make it noise.
    readings.append(Reading("rapidocr", [], restored=False, regions=region))
    assert fuse(readings, "conservative") == []


def test_a_region_reading_says_nothing_outside_its_regions():
    first = Reading(
        "tesseract", [W("sure", 0, 60, 0.95), W("faint", 500, 560, 0.2)], restored=False
    )
    region = [BBox(x0=0, y0=80, x1=100, y1=150)]  # around "sure" only
    second = Reading("rapidocr", [W("sure", 0, 60, 0.9)], restored=False, regions=region)
    words = fuse([first, second])
    assert texts(words) == ["sure", "faint"]
    assert words[1].source == "tesseract" and words[1].confidence == pytest.approx(0.2)
    # The same reading of the whole page would have seen no text there.
    whole = Reading("rapidocr", second.words, restored=False)
    assert texts(fuse([first, whole])) == ["sure"]


def test_guard_is_off_without_a_restored_reading():
    readings = [
        Reading("tesseract", [W("cat", 0, 60, 0.9)], restored=False),
        Reading("rapidocr", [W("cot", 0, 60, 0.95)], restored=False),
    ]
    (word,) = fuse(readings, "conservative")
    assert word.text == "cot" and word.flags == []


# ---------------------------------------------------------------------- layout


def test_fused_words_keep_an_engines_layout():
    a = Reading(
        "a",
        [
            W("right", 500, 600, line=1, block=1),
            W("left", 0, 80, line=0, block=0),
            W("column", 90, 200, line=0, block=0),
        ],
    )
    footer = W("footer", 0, 100, 0.99, y0=900, y1=930)
    header = W("header", 0, 100, 0.99, y0=0, y1=30)
    b = Reading("b", [header, W("left", 0, 80), W("column", 90, 200), W("right", 500, 600), footer])
    words = fuse([a, b])
    # The reading with ids gives the order (its block 1 came first) and the ids;
    # words it doesn't have get new lines, placed by where they sit on the page.
    assert texts(words) == ["header", "right", "left", "column", "footer"]
    assert [(w.block_id, w.line_id) for w in words] == [(2, 2), (1, 1), (0, 0), (0, 0), (3, 3)]
    # Without ids in any reading, ids are cleared (layout rebuilt from geometry).
    plain = Reading(
        "a", [w.model_copy(update={"line_id": None, "block_id": None}) for w in a.words]
    )
    words = fuse([plain, b])
    assert all(w.line_id is None and w.block_id is None for w in words)


def test_layout_comes_from_the_reading_that_saw_most_of_the_text():
    sparse = Reading("sparse", [W("one", 0, 50, line=7, block=7)])
    full = Reading(
        "full",
        [
            W("one", 0, 50, line=0, block=0),
            W("two", 60, 110, line=0, block=0),
            W("three", 0, 80, y0=200, y1=230, line=1, block=1),
        ],
    )
    words = fuse([sparse, full])
    assert texts(words) == ["one", "two", "three"]
    assert [w.block_id for w in words] == [0, 0, 1]


def test_a_re_read_of_some_regions_never_orders_the_page():
    # A blurred two-column page: the page reading is unsure; a restored re-read of
    # the left column only is surer and has more words. Only the page reading
    # knows the header and the right column: ordered by the re-read, they came
    # before the left column's text.
    header = W("Header", 0, 100, 0.5, y0=0, y1=30, line=0, block=0)
    left = [
        W("bdy", 0, 60, 0.5, y0=200, y1=230, line=1, block=1),
        W("txet", 70, 130, 0.5, y0=200, y1=230, line=1, block=1),
    ]
    right = W("Side", 500, 600, 0.5, y0=200, y1=230, line=2, block=2)
    page = Reading("rapidocr", [header, *left, right], restored=False)
    restored = Reading(
        "rapidocr:restored",
        [
            W("body", 0, 60, 0.95, y0=200, y1=230, line=0, block=0),
            W("text", 70, 130, 0.95, y0=200, y1=230, line=0, block=0),
            W("more", 140, 200, 0.95, y0=200, y1=230, line=0, block=0),
            W("words", 0, 60, 0.95, y0=250, y1=280, line=1, block=0),
        ],
        restored=True,
        engine="rapidocr",
        regions=[BBox(x0=0, y0=180, x1=400, y1=300)],
    )
    order = ["Header", "body", "text", "more", "words", "Side"]
    assert texts(fuse([page, restored])) == order
    # A re-read whose regions hold every fused word (``--restore always``) may
    # order the page.
    whole = dataclasses.replace(restored, regions=[BBox(x0=0, y0=0, x1=700, y1=300)])
    assert texts(fuse([page, whole])) != order


def test_the_first_engine_keeps_its_column_order_when_both_saw_the_text():
    # Two columns, two lines each. The first engine reads column by column; the
    # second (a line-level engine) reads each row across both columns.
    rows = [(100.0, 130.0), (150.0, 180.0)]
    cells = {
        (r, c): (f"w{c}{r}", 0 if c == 0 else 300, 200 if c == 0 else 500)
        for r in range(2)
        for c in range(2)
    }

    def word(r, c, line, block):
        text, x0, x1 = cells[(r, c)]
        return W(text, x0, x1, y0=rows[r][0], y1=rows[r][1], line=line, block=block)

    columns = Reading("first", [word(r, c, 2 * c + r, c) for c in range(2) for r in range(2)])
    across = Reading("second", [word(r, c, r, r) for r in range(2) for c in range(2)])
    assert texts(fuse([columns, across])) == ["w00", "w01", "w10", "w11"]
    assert texts(fuse([across, columns])) == ["w00", "w10", "w01", "w11"]
    # A first engine that is far less sure of its words has lost the page: the
    # other one's order wins.
    unsure = Reading("first", [w.model_copy(update={"confidence": 0.5}) for w in columns.words])
    assert texts(fuse([unsure, across])) == ["w00", "w10", "w01", "w11"]


# ---------------------------------------------------------------------- the hook


def test_a_plugin_replaces_the_fusion_strategy():
    class Loud:
        @hookimpl
        def fuse_readings(self, readings, mode):
            if mode != "vote":
                return None
            return [w.model_copy(update={"text": w.text.upper()}) for w in readings[0].words]

    pm = PluginManager(plugins=[Loud()], autoload=False)
    readings = [Reading("a", [W("quiet", 0, 60)]), Reading("b", [W("quiet", 0, 60)])]
    assert texts(pm.fuse_readings(readings, "vote")) == ["QUIET"]
    # Returning None defers to the built-in strategy.
    assert texts(pm.fuse_readings(readings, "conservative")) == ["quiet"]


def test_a_fusion_plugin_returning_garbage_is_a_plugin_error():
    class Broken:
        @hookimpl
        def fuse_readings(self):
            return "not words"

    pm = PluginManager(plugins=[Broken()], autoload=False)
    with pytest.raises(PluginError, match="expected list"):
        pm.fuse_readings([], "vote")


# ---------------------------------------------------------------------- settings


def test_engine_setting_takes_names_lists_and_auto():
    assert Settings().engines == ["auto"]
    assert Settings(engine="tesseract").engines == ["tesseract"]
    assert Settings(engine=" tesseract , rapidocr,tesseract").engine == "tesseract,rapidocr"
    assert Settings(engine=["a", "b"]).engines == ["a", "b"]
    for bad in ("", "auto,tesseract"):
        with pytest.raises(ValueError):
            Settings(engine=bad)
    with pytest.raises(ValueError, match="fusion"):
        Settings(fusion="maybe")


# ---------------------------------------------------------------------- pipeline wiring

FUSION_ENGINES = str(TEST_PLUGINS / "fusion_engines.py")


def page_image():
    return Image.new("RGB", (400, 100), "white")


def scripted(**settings):
    settings.setdefault("restorer", "none")
    return Pipeline(plugins=[FUSION_ENGINES], autoload=False, output_types=[], **settings)


def test_single_engine_run_has_no_fusion_cost():
    pipeline = scripted(engine="script-a")
    assert [e.name for e in pipeline.engines] == ["script-a"]
    page = pipeline.run(page_image()).pages[0]
    assert page.engine == "script-a"
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"]
    assert all(w.source == "script-a" for w in page.words())
    assert "fusion" not in page.timings and "decide" not in page.timings
    assert "fusion_readings" not in page.counters
    assert page.counters["guard_kept_original"] == page.counters["uncertain_words"] == 0


def test_a_confident_page_costs_one_read_of_the_primary_engine():
    # script-a reads every word with confidence >= 0.85: nothing is unsure, so
    # script-b is never asked.
    page = scripted(engine="script-a,script-b").run(page_image()).pages[0]
    assert page.engine == "script-a,script-b"
    assert [(w.text, w.source) for w in page.words()] == [
        ("Fusion", "script-a"),
        ("is", "script-a"),
        ("here", "script-a"),
    ]
    assert "ocr:script-b" not in page.timings and "fusion" not in page.timings
    assert "fusion_readings" not in page.counters


#: The primary engine is unsure of "Fusion" and "is"; the second engine reads
#: "Fusion" surely and misreads "is" as "1s" with low confidence.
UNSURE_TWO = {"Fusion": ("Fusion", 0.4), "is": ("is", 0.4), "here": ("here", 0.9)}
MISREADS_IS = {"Fusion": ("Fusion", 0.95), "is": ("1s", 0.3), "here": ("here", 0.95)}


def test_engine_list_fuses_the_readings():
    first, second = BlobEngine("blob-a", UNSURE_TWO), BlobEngine("blob-b", MISREADS_IS, ids=False)
    pipeline = Pipeline(
        engine="blob-a,blob-b",
        restorer="none",
        plugins=[Components(first, second)],
        autoload=False,
        output_types=[],
    )
    page = pipeline.run(blob_page()).pages[0]
    assert page.ok, page.error
    assert page.engine == "blob-a,blob-b"
    # The second engine read only the unsure region (a crop), not the page.
    assert first.images == [(400, 100)]
    (crop,) = second.images
    assert crop[0] < 400
    words = list(page.words())
    assert [w.text for w in words] == ["Fusion", "is", "here"]
    # Both engines read "Fusion" on the page as loaded: 1 - 0.6 * 0.05.
    assert words[0].source == "fused:original"
    assert words[0].confidence == pytest.approx(1 - 0.6 * 0.05)
    # blob-b misreads "is" as "1s" with low confidence: blob-a wins that slot.
    assert words[1].source == "blob-a"
    assert [a.text for a in words[1].alternatives] == ["1s"]
    # "here" was sure, but the region's context reaches it and grows over it whole,
    # so blob-b read it too, alike.
    assert (words[2].source, words[2].alternatives) == ("fused:original", [])
    assert page.counters["fusion_readings"] == 2
    assert page.counters["guard_kept_original"] == 0
    assert {"decide", "fusion", "ocr:blob-a", "ocr:blob-b"} <= set(page.timings)


def test_auto_runs_every_available_engine_and_off_only_the_first():
    pipeline = scripted(engine="auto")
    names = [e.name for e in pipeline.engines]
    assert {"script-a", "script-b"} <= set(names)
    assert "script-unavailable" not in names
    # Built-in engines come first: the first is what "--fusion off" keeps.
    assert names[0] == "tesseract" or "tesseract" not in names
    off = scripted(fusion="off")
    assert [e.name for e in off.engines] == names[:1]
    with pytest.raises(UsageError, match="fusion off"):
        scripted(engine="script-a,script-b", fusion="off")


def test_a_failing_second_engine_is_a_warning_not_a_failed_page():
    first = BlobEngine("blob-a", UNSURE_TWO)
    pipeline = Pipeline(
        engine="blob-a,script-crash",
        restorer="counting-copy",
        plugins=[FUSION_ENGINES, Components(first, CountingCopy())],
        autoload=False,
        output_types=[],
    )
    page = pipeline.run(blob_page()).pages[0]
    assert page.ok, page.error
    assert [w.text for w in page.words()] == ["Fusion", "is", "here"]
    # It failed on the unsure region of the page as loaded and on the restored one.
    assert any("script-crash failed on the page as loaded" in w for w in page.warnings)
    assert any("script-crash failed on the restored page" in w for w in page.warnings)
    # The primary engine's re-read of the restored region still counts.
    assert "ocr:blob-a:restored" in page.timings
    assert page.counters["fusion_readings"] == 2


# ---------------------------------------------------------------------- end to end

requires_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None and not shutil.which("tesseract", path="/usr/bin"),
    reason="tesseract is not installed",
)


def _rapidocr_installed() -> bool:
    try:
        importlib.metadata.distribution("tair-ocr-rapidocr")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def render_lines(lines, size=(1400, 420), font_size=40):
    font = ImageFont.truetype(_font(), font_size)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * 90), line, fill="black", font=font)
    return image


def _font() -> str:
    for path in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    ):
        if os.path.exists(path):
            return path
    pytest.skip("no TrueType font found")


@requires_tesseract
@pytest.mark.skipif(not _rapidocr_installed(), reason="tair-ocr-rapidocr is not installed")
def test_tesseract_and_rapidocr_fused_end_to_end():
    lines = ["Quarterly report for the", "northern district office", "Total amount 4125 dollars"]
    image = render_lines(lines)
    reference = " ".join(lines).split()
    copy = CountingCopy()

    def read(restore):
        pipeline = Pipeline(
            engine="tesseract,rapidocr",
            restorer="counting-copy",
            restore=restore,
            plugins=[Components(copy)],
            autoload=True,
            output_types=[],
        )
        return pipeline.run(image).pages[0]

    # Clean text, read confidently: tesseract alone, once.
    page = read("auto")
    assert page.ok, page.error
    assert page.engine == "tesseract,rapidocr"
    assert page.text.split() == reference
    assert {w.source for w in page.words()} == {"tesseract"}
    assert "ocr:rapidocr" not in page.timings and "fusion_readings" not in page.counters
    assert page.decision.tiles_restored == 0
    # Everything restored and read by both engines: four readings that agree.
    page = read("always")
    assert page.ok, page.error
    assert page.text.split() == reference
    sources = {w.source for w in page.words()}
    assert sources <= {"fused", "fused:original", "tesseract", "rapidocr"}
    assert "fused" in sources  # both engines agree on clean text
    assert page.counters["fusion_readings"] == 4
    assert {"ocr:rapidocr", "ocr:tesseract:restored", "ocr:rapidocr:restored"} <= set(page.timings)


@requires_tesseract
def test_guard_with_a_harmful_restorer_end_to_end():
    """A restorer that pastes wrong glyphs: the guard keeps the unrestored reading."""
    harmful = str(TEST_PLUGINS / "harmful_restorer.py")
    lines = ["Quarterly report for the", "northern district office", "Total amount 4125 dollars"]
    image = render_lines(lines)
    reference = " ".join(lines).split()

    def read(fusion, restore="always"):
        pipeline = Pipeline(
            engine="tesseract",
            restorer="harmful",
            fusion=fusion,
            restore=restore,
            plugins=[harmful],
            autoload=False,
            output_types=[],
        )
        return pipeline.run(image).pages[0]

    unguarded, guarded = read("off"), read("conservative")
    assert unguarded.ok and guarded.ok
    # The restorer does change what the page says...
    assert unguarded.text.split() != reference
    # ...and the guard gives the unrestored reading back.
    assert guarded.text.split() == reference
    assert guarded.counters["guard_kept_original"] > 0
    kept = [w for w in guarded.words() if KEPT_ORIGINAL in w.flags]
    assert all(w.source == "tesseract" and w.alternatives for w in kept)
    assert all(a.source == "tesseract:restored" for w in kept for a in w.alternatives)
    # Read first: a page read confidently is never given to the restorer.
    auto = read("off", restore="auto")
    assert auto.text.split() == reference
    assert auto.decision.tiles_restored == 0 and "restore" not in auto.timings


def test_fusion_engines_plugin_is_importable():
    # The scripted engines used above are a plain plugin file, like a user's.
    pm = PluginManager(plugins=[FUSION_ENGINES], autoload=False)
    assert {"script-a", "script-b", "script-crash"} <= set(pm.engines.names())


def test_a_reading_that_lost_edge_letters_does_not_beat_the_whole_word():
    # Tesseract on a crop read "ing" sure of itself; rapidocr read "ring", unsure.
    # Engines drop edge letters far more often than they invent them.
    region = [BBox(x0=0, y0=0, x1=500, y1=500)]
    page = Reading("rapidocr", [W("ring", 0, 100, 0.46)], restored=False)
    crop = Reading("tesseract", [W("ing", 20, 100, 0.99)], restored=False, regions=region)
    (word,) = fuse([page, crop])
    assert word.text == "ring"
    # Punctuation is no lost letter: "38.1" is not a fragment of "38.1'".
    sure = Reading("rapidocr", [W("38.1", 0, 100, 0.97)], restored=False)
    odd = Reading("tesseract", [W("38.1'", 0, 100, 0.2)], restored=False, regions=region)
    (word,) = fuse([sure, odd])
    assert word.text == "38.1" and word.confidence == pytest.approx(0.97)  # not lowered


def test_a_region_re_read_needs_a_margin_over_the_page_reading():
    # A second engine's crop reading barely more likely than the page's own
    # reading does not replace it ("JAVA" 0.82 against "JAYA" 0.70).
    region = [BBox(x0=0, y0=0, x1=500, y1=500)]
    page = Reading("rapidocr", [W("JAYA", 0, 100, 0.70)], restored=False)
    crop = Reading("tesseract", [W("JAVA", 0, 100, 0.82)], restored=False, regions=region)
    (word,) = fuse([page, crop], params=SECOND_OPINIONS)
    assert (word.text, word.source) == ("JAYA", "rapidocr")
    crop = Reading("tesseract", [W("JAVA", 0, 100, 0.95)], restored=False, regions=region)
    (word,) = fuse([page, crop], params=SECOND_OPINIONS)
    assert (word.text, word.source) == ("JAVA", "tesseract")
    # By default another engine never replaces the page reading's word...
    (word,) = fuse([page, crop])
    assert (word.text, word.source) == ("JAYA", "rapidocr")
    # ...but adds the words that reading lacks.
    extra = W("SCRIPT", 200, 300, 0.8)
    words = fuse([page, Reading("tesseract", [*crop.words, extra], False, regions=region)])
    assert texts(words) == ["JAYA", "SCRIPT"]


def test_a_word_that_two_words_of_another_reading_cover_together_is_aligned_with_them():
    # rapidocr splits "3 ×" (boxes estimated from its line, taller than the glyphs);
    # tesseract reads "3x" over both, but covers neither enough on its own.
    readings = [
        Reading(
            "rapidocr",
            [W("3", 308, 315, 0.9, 180, 197), W("×", 319, 326, 0.9, 180, 197)],
            restored=False,
        ),
        Reading(
            "tesseract",
            [W("3x", 308, 325, 0.6, 185, 192)],
            restored=False,
            regions=[BBox(x0=300, y0=170, x1=340, y1=210)],
        ),
    ]
    slots = build_slots(readings)
    assert len(slots) == 1 and [len(words) for words in slots[0]] == [2, 1]
    texts = [w.text for w in fuse(readings, "conservative")]
    assert texts == ["3", "×"]  # one reading of the place, not both
    # One word of the other reading covering half of it is no group: nothing joins.
    alone = [readings[0], Reading("tesseract", [W("3x", 308, 340, 0.6, 185, 192)], restored=False)]
    alone[0] = Reading("rapidocr", [W("3", 308, 315, 0.9, 180, 197)], restored=False)
    assert len(build_slots(alone)) == 2


def test_silence_counts_only_from_an_engine_that_can_read_the_page():
    region = [BBox(x0=0, y0=80, x1=400, y1=150)]
    weak = W("and", 0, 60, 0.2)  # the primary's weak word; tesseract saw nothing there
    able = [W("reads", 100, 180, 0.9), W("well", 200, 260, 0.95), W("here", 300, 360, 0.9)]
    unable = [W("xq", 100, 180, 0.05), W("Ll", 200, 260, 0.1), W("ii", 300, 360, 0.08)]
    for others, kept in ((able, False), (unable, True)):
        readings = [
            Reading(
                "rapidocr",
                [weak, *(W(w.text, w.bbox.x0, w.bbox.x1, 0.9) for w in able)],
                restored=False,
            ),
            Reading("tesseract", others, restored=False, regions=region),
        ]
        texts = [w.text for w in fuse(readings, "conservative")]
        assert ("and" in texts) is kept
    # Without words of its own, a reading is judged by its engine's page reading.
    readings = [
        Reading("tesseract", unable, restored=False),
        Reading("tesseract:restored", [], regions=region),
    ]
    assert "xq" in [
        w.text for w in fuse(readings, "conservative", FusionParams(null_confidence=0.3))
    ]


def test_a_re_read_that_found_nothing_where_words_are_sure_failed():
    # A page no engine reads well: RapidOCR reads its header surely and a few weak
    # words; tesseract's re-read of the whole page finds nothing at all. That
    # silence is a failure, not blank paper: the weak words stay.
    page = BBox(x0=0, y0=0, x1=600, y1=400)
    primary = [W("Bluebell", 0, 120, 0.87), W("=24a7.", 200, 280, 0.33), W("893=92", 300, 380, 0.4)]
    readings = [
        Reading("rapidocr", primary, restored=False),
        Reading("tesseract", [], restored=False, regions=[page]),
    ]
    assert texts(fuse(readings, "conservative")) == ["Bluebell", "=24a7.", "893=92"]
    # Without a sure word where it looked, its silence still says "no text here".
    unsure = [W("Bluebell", 0, 120, 0.6), *primary[1:]]
    readings[0] = Reading("rapidocr", unsure, restored=False)
    assert texts(fuse(readings, "conservative")) == ["Bluebell"]
    # Nor does a sure word of the same engine make its own empty re-read a failure.
    legible = [W("Bluebell", 0, 120, 0.87), W("Engineering", 130, 190, 0.83), primary[1]]
    readings = [
        Reading("rapidocr", legible, restored=False),
        Reading("rapidocr:restored", [], restored=True, regions=[page]),
    ]
    assert texts(fuse(readings, "conservative")) == ["Bluebell", "Engineering"]


def test_the_page_as_loaded_always_weighs_against_restored_only_words():
    # A page tesseract reads poorly (its words mostly unlikely); the restored
    # reading adds a weak word where the page reading saw nothing: still noise.
    region = [BBox(x0=0, y0=80, x1=400, y1=150)]
    poor = [W("xq", 100, 180, 0.2), W("Ll", 200, 260, 0.3)]
    readings = [
        Reading("tesseract", poor, restored=False),
        Reading("tesseract:restored", [W("junk", 300, 380, 0.45)], regions=region),
    ]
    assert "junk" not in [w.text for w in fuse(readings, "conservative")]
