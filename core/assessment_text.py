"""Text analysis for essay grading: words, light stemming, phrase matching, a prose check.

Pure Python (``re`` and ``unicodedata``); no NLP library. Everything here is deterministic and
explainable to a learner in one sentence:

* **Words** are whitespace-separated chunks that contain a letter or a digit (what a word counter
  in an editor counts).
* **Matching** works on *terms*: the text is lower-cased, Unicode-normalised (NFKC) and split on
  every character that is not a letter or digit, so ``W_Q``, ``low-rank`` and ``head's`` split
  into ``w q``, ``low rank``, ``head s``. Each term is reduced by :func:`stem` (``heads → head``,
  ``composition / composes / composing / composed → compos``). A rubric phrase of several words
  matches the same stems in consecutive positions, so matches always fall on word boundaries.
* **Prose check**: a response with too few sentences, too few ordinary connecting words, a low
  share of distinct words, or mostly rubric words reads as a list of keywords, not an explanation.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Sequence

__all__ = [
    "stem",
    "terms",
    "phrase_stems",
    "count_words",
    "truncate_words",
    "count_sentences",
    "FUNCTION_WORDS",
    "TextStats",
    "text_stats",
    "find_phrase",
    "ProseCheck",
    "prose_check",
]

_TERM = re.compile(r"[^\W_]+")  # letters or digits; underscores, hyphens, apostrophes split
_WORD = re.compile(r"\S+")
_HAS_ALNUM = re.compile(r"[^\W_]")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")

# Longest first. A suffix is removed only if at least 3 characters remain.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("ational", ""), ("itional", ""),
    ("ations", ""), ("itions", ""), ("ation", ""), ("ition", ""),
    ("ments", ""), ("ment", ""),
    ("ities", ""), ("ity", ""),
    ("ness", ""),
    ("ings", ""), ("ing", ""),
    ("ies", "y"), ("ied", "y"),
    ("ally", ""), ("ly", ""),
    ("ed", ""), ("es", ""), ("al", ""),
    ("s", ""), ("e", ""),
)
_NO_PLURAL_S = ("ss", "us", "is")


def stem(word: str) -> str:
    """A deliberately small stemmer: one suffix off, then a final double consonant undoubled.

    ``head, heads → head``; ``compose, composes, composed, composing, composition → compos``;
    ``map, maps, mapped, mapping → map``; ``query, queries → query``. The same function is applied
    to the learner's words and to the rubric's phrases, so only consistency matters.
    """
    w = word.lower()
    for suffix, replacement in _SUFFIXES:
        if not w.endswith(suffix):
            continue
        if suffix == "s" and w.endswith(_NO_PLURAL_S):
            continue
        base = w[: len(w) - len(suffix)] + replacement
        if len(base) >= 3:
            w = base
            break
    if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "aeiou0123456789":
        w = w[:-1]
    return w


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def terms(text: str) -> list[str]:
    """The lower-cased terms of ``text`` (letters/digits runs), unstemmed."""
    return _TERM.findall(_normalise(text))


def phrase_stems(phrase: str) -> tuple[str, ...]:
    """The stem sequence a rubric phrase is matched by."""
    return tuple(stem(t) for t in terms(phrase))


def count_words(text: str) -> int:
    """Whitespace-separated chunks that contain at least one letter or digit."""
    return sum(1 for w in _WORD.findall(text) if _HAS_ALNUM.search(w))


def truncate_words(text: str, max_words: int) -> tuple[str, int]:
    """The prefix of ``text`` holding its first ``max_words`` words, and the full word count."""
    n = 0
    end = len(text)
    cut = None
    for m in _WORD.finditer(text):
        if not _HAS_ALNUM.search(m.group()):
            continue
        n += 1
        if n == max_words:
            cut = m.end()
    if n > max_words and cut is not None:
        end = cut
    return text[:end], n


#: Ordinary English connecting words. Prose is roughly 35–50 % of these; a keyword list has
#: almost none.
FUNCTION_WORDS: frozenset[str] = frozenset(
    """
    a an the and or but nor so yet if then than that this these those there here
    of to in on at by for with from into onto over under about after before between through
    during without within among across against along around behind beyond toward towards upon
    is are was were be been being am do does did doing done has have had having
    can could may might must shall should will would
    it its it's they them their theirs he him his she her hers we us our ours you your yours i me my
    not no only also just very too as such both each every either neither all any some many much
    more most less least other another same own what which who whom whose when where why how
    because since while although though unless until whether
    one two first second next still even again ever never always often
    """.split()
)


def count_sentences(text: str) -> int:
    """Segments ending in . ! ? (or a line break) with at least 3 words and a connecting word."""
    n = 0
    for seg in _SENTENCE_SPLIT.split(text):
        seg_terms = terms(seg)
        if len(seg_terms) >= 3 and any(t in FUNCTION_WORDS for t in seg_terms):
            n += 1
    return n


@dataclass(frozen=True)
class TextStats:
    """What the grader measured on (the graded part of) a response."""

    words: int
    terms: tuple[str, ...]
    stems: tuple[str, ...]
    sentences: int
    function_share: float  # share of terms that are connecting words
    distinct_share: float  # moving-average type/token ratio over windows of 50 terms


def _distinct_share(tokens: Sequence[str], window: int = 50) -> float:
    if not tokens:
        return 1.0
    if len(tokens) <= window:
        return len(set(tokens)) / len(tokens)
    # Moving-average type-token ratio: independent of length, unlike the plain ratio.
    counts: dict[str, int] = {}
    for t in tokens[:window]:
        counts[t] = counts.get(t, 0) + 1
    total = len(counts)
    n_windows = 1
    for i in range(window, len(tokens)):
        out, inn = tokens[i - window], tokens[i]
        counts[out] -= 1
        if counts[out] == 0:
            del counts[out]
        counts[inn] = counts.get(inn, 0) + 1
        total += len(counts)
        n_windows += 1
    return total / (n_windows * window)


def text_stats(text: str) -> TextStats:
    t = terms(text)
    return TextStats(
        words=count_words(text),
        terms=tuple(t),
        stems=tuple(stem(x) for x in t),
        sentences=count_sentences(text),
        function_share=(sum(1 for x in t if x in FUNCTION_WORDS) / len(t)) if t else 0.0,
        distinct_share=_distinct_share(t),
    )


def find_phrase(stems: Sequence[str], phrase: Sequence[str],
                index: dict[str, list[int]] | None = None) -> list[int]:
    """Start positions where the stem sequence ``phrase`` occurs in ``stems``."""
    if not phrase or len(phrase) > len(stems):
        return []
    if index is None:
        starts: Iterable[int] = (i for i, s in enumerate(stems) if s == phrase[0])
    else:
        starts = index.get(phrase[0], ())
    n = len(phrase)
    return [i for i in starts if tuple(stems[i:i + n]) == tuple(phrase)]


def stem_index(stems: Sequence[str]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, s in enumerate(stems):
        index.setdefault(s, []).append(i)
    return index


#: Below this many words the prose check is not applied (a one-line answer is judged on length).
PROSE_CHECK_MIN_WORDS = 12
#: Thresholds of the prose check (see :func:`prose_check`).
MIN_FUNCTION_SHARE = 0.15
MIN_DISTINCT_SHARE = 0.40
MAX_RUBRIC_SHARE = 0.50
WORDS_PER_SENTENCE = 60


@dataclass(frozen=True)
class ProseCheck:
    is_keyword_list: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)


def prose_check(stats: TextStats, rubric_share: float) -> ProseCheck:
    """Decide whether a response reads as a keyword list rather than prose.

    ``rubric_share`` is the share of the response's terms that belong to a matched rubric phrase.
    Any one signal is enough; each comes with a sentence the learner can act on.
    """
    if stats.words < PROSE_CHECK_MIN_WORDS:
        return ProseCheck(False)
    reasons: list[str] = []
    needed = max(1, math.ceil(stats.words / WORDS_PER_SENTENCE))
    if stats.sentences < needed:
        reasons.append(
            f"it has {stats.sentences} complete sentence{'s' if stats.sentences != 1 else ''} "
            f"for {stats.words} words (expected at least {needed})"
        )
    if stats.function_share < MIN_FUNCTION_SHARE:
        reasons.append(
            f"only {stats.function_share:.0%} of its words are ordinary connecting words "
            f"(the, of, is, because …); explanations are usually 35–50%"
        )
    if stats.distinct_share < MIN_DISTINCT_SHARE:
        reasons.append(
            f"it repeats itself: only {stats.distinct_share:.0%} of its words are distinct "
            f"within a 50-word stretch"
        )
    if rubric_share > MAX_RUBRIC_SHARE:
        reasons.append(f"{rubric_share:.0%} of its words are rubric terms")
    return ProseCheck(bool(reasons), tuple(reasons))
