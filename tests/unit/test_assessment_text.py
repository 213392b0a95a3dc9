"""Essay text helpers: words, stems, phrase matching, the prose check."""

import pytest

from core.assessment.text import (
    count_sentences,
    count_words,
    find_phrase,
    phrase_stems,
    stem,
    text_stats,
    truncate_words,
)


@pytest.mark.parametrize(
    "group",
    [
        ["head", "heads", "Heads"],
        ["compose", "composes", "composed", "composing", "composition", "compositional"],
        ["map", "maps", "mapped", "mapping"],
        ["query", "queries"],
        ["embedding", "embeddings"],
        ["attend", "attends", "attended", "attending"],
        ["transform", "transforms", "transformed", "transformation"],
        ["linear", "linearly", "linearity"],
        ["value", "values"],
    ],
)
def test_inflections_share_a_stem(group):
    assert len({stem(w) for w in group}) == 1, {w: stem(w) for w in group}


@pytest.mark.parametrize(
    "a, b",
    [
        ("attention", "attend"),
        ("transformer", "transform"),
        ("layer", "lay"),
        ("analysis", "analyses"),
    ],
)
def test_different_words_keep_different_stems(a, b):
    assert stem(a) != stem(b)


def test_words_are_whitespace_chunks_with_a_letter_or_digit():
    assert count_words("The QK circuit — W_Q^T W_K — decides (where) to attend.") == 9
    assert count_words("  ") == 0
    assert count_words("low-rank, 4×d_model!") == 2


def test_truncate_keeps_the_first_words():
    text = "one two three four five"
    assert truncate_words(text, 3) == ("one two three", 5)
    assert truncate_words(text, 10) == (text, 5)


def test_phrases_match_on_word_boundaries_across_punctuation():
    stems = text_stats("Its low-rank W_O·W_V matrix; a lowrank one.").stems
    assert find_phrase(stems, phrase_stems("low rank")) == [1]
    assert find_phrase(stems, phrase_stems("W_O W_V")) == [3]
    assert find_phrase(stems, phrase_stems("rank matrix")) == []


def test_sentences_need_words_and_a_connecting_word():
    assert count_sentences("The head attends to the previous token. It copies it.") == 2
    assert count_sentences("QK circuit. OV circuit. Attention pattern.") == 0
    assert count_sentences("- the head reads the stream\n- it writes back to the stream") == 2


def test_function_word_share_separates_prose_from_lists():
    prose = text_stats("The head reads the stream and writes what it found back into it.")
    listing = text_stats("QK circuit, OV circuit, attention pattern, softmax, value vectors")
    assert prose.function_share > 0.35
    assert listing.function_share == 0.0
