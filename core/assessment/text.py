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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    "expand_pattern",
    "match_pattern",
    "PatternSet",
    "PredicateHit",
    "ClaimAnalysis",
    "analyse_claims",
    "subject_matches",
    "NEGATORS",
    "CLAUSE_WORDS",
]

_TERM = re.compile(r"[^\W_]+")  # letters or digits; underscores, hyphens, apostrophes split
_WORD = re.compile(r"\S+")
_HAS_ALNUM = re.compile(r"[^\W_]")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")

# Longest first. A suffix is removed only if at least 3 characters remain.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("ational", ""),
    ("itional", ""),
    ("ations", ""),
    ("itions", ""),
    ("ation", ""),
    ("ition", ""),
    ("ments", ""),
    ("ment", ""),
    ("ities", ""),
    ("ity", ""),
    ("ness", ""),
    ("ings", ""),
    ("ing", ""),
    ("ies", "y"),
    ("ied", "y"),
    ("ally", ""),
    ("ly", ""),
    ("ed", ""),
    ("es", ""),
    ("al", ""),
    ("s", ""),
    ("e", ""),
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
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "nor",
        "so",
        "yet",
        "if",
        "then",
        "than",
        "that",
        "this",
        "these",
        "those",
        "there",
        "here",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "about",
        "after",
        "before",
        "between",
        "through",
        "during",
        "without",
        "within",
        "among",
        "across",
        "against",
        "along",
        "around",
        "behind",
        "beyond",
        "toward",
        "towards",
        "upon",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "done",
        "has",
        "have",
        "had",
        "having",
        "can",
        "could",
        "may",
        "might",
        "must",
        "shall",
        "should",
        "will",
        "would",
        "it",
        "its",
        "it's",
        "they",
        "them",
        "their",
        "theirs",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "we",
        "us",
        "our",
        "ours",
        "you",
        "your",
        "yours",
        "i",
        "me",
        "my",
        "not",
        "no",
        "only",
        "also",
        "just",
        "very",
        "too",
        "as",
        "such",
        "both",
        "each",
        "every",
        "either",
        "neither",
        "all",
        "any",
        "some",
        "many",
        "much",
        "more",
        "most",
        "less",
        "least",
        "other",
        "another",
        "same",
        "own",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "because",
        "since",
        "while",
        "although",
        "though",
        "unless",
        "until",
        "whether",
        "one",
        "two",
        "first",
        "second",
        "next",
        "still",
        "even",
        "again",
        "ever",
        "never",
        "always",
        "often",
    ]
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


def find_phrase(
    stems: Sequence[str], phrase: Sequence[str], index: dict[str, list[int]] | None = None
) -> list[int]:
    """Start positions where the stem sequence ``phrase`` occurs in ``stems``."""
    if not phrase or len(phrase) > len(stems):
        return []
    if index is None:
        starts: Iterable[int] = (i for i, s in enumerate(stems) if s == phrase[0])
    else:
        starts = index.get(phrase[0], ())
    n = len(phrase)
    return [i for i in starts if tuple(stems[i : i + n]) == tuple(phrase)]


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


# --- claims: subject + predicate in one clause, with negation ---------------------------------
#
# A *pattern* is a phrase written by an instructor, with two extensions:
#   {a|b|c}   alternatives (an empty alternative makes the group optional: "{the |}QK")
#   ...       a gap of up to GAP_MAX words ("decide ... where")
# It is expanded into stem sequences (:func:`expand_pattern`); a gap is the element ``GAP``.

GAP = "\x00gap"
GAP_MAX = 5
_ALT = re.compile(r"\{([^{}]*)\}")

#: Words that negate the clause they stand in (stems are compared, apostrophes split words, so
#: "doesn't" reads as "doesn t": a final "t" after one of ``_NT_STEMS`` is a negator too).
NEGATORS: frozenset[str] = frozenset(
    [
        "not",
        "never",
        "no",
        "nothing",
        "none",
        "neither",
        "nor",
        "cannot",
        "nobody",
        "nowhere",
        "without_exception",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "cant",
        "couldnt",
        "wont",
        "wouldnt",
        "shouldnt",
        "hasnt",
        "havent",
        "hadnt",
        "mustnt",
        "aint",
    ]
)
_NT_STEMS = frozenset(
    [
        "doesn",
        "don",
        "didn",
        "isn",
        "aren",
        "wasn",
        "weren",
        "can",
        "couldn",
        "won",
        "wouldn",
        "shouldn",
        "hasn",
        "haven",
        "hadn",
        "mustn",
        "ain",
        "needn",
    ]
)
#: A negator directly followed by one of these does not negate ("not only", "no matter").
_NOT_NEGATING_NEXT = {
    "not": frozenset({"only", "just", "merely", "simply"}),
    "no": frozenset({"matter", "doubt"}),
}
#: Words that start a new clause (unless they are part of a matched rubric phrase).
CLAUSE_WORDS: frozenset[str] = frozenset(
    [
        "and",
        "but",
        "whereas",
        "while",
        "whilst",
        "although",
        "though",
        "however",
        "because",
        "since",
        "so",
        "therefore",
        "thus",
        "hence",
        "yet",
        "instead",
        "unlike",
        "which",
        "who",
        "meaning",
        "that",
    ]
)
#: After one of these, the rest of the sentence is negated ("it is not true that …").
_SENTENCE_NEGATORS: tuple[tuple[str, ...], ...] = tuple(
    tuple(stem(w) for w in p.split())
    for p in (
        "not true",
        "not the case",
        "not correct",
        "t true",
        "false",
        "untrue",
        "incorrect",
        "wrong to say",
        "a myth",
    )
)
#: A subject mention right after one of these is not the clause's subject ("… from QK …"),
#: unless no other mention fits.
_PREPOSITIONS = frozenset(
    ["from", "of", "with", "than", "like", "unlike", "as", "to", "into", "by", "via", "using"]
)
#: "and" starts a new clause only after at least this many terms ("QK and OV …", "more layers
#: and more parameters do not …" stay one clause, so a negation covers both). "or" never does
#: ("does not add MLPs or LayerNorm").
MIN_TERMS_BEFORE_AND = 4
_COORDINATORS = frozenset({"and"})
#: A clause with one of these is hypothetical: a contradiction in it is not held against the
#: answer ("the only way it could be removed is if …").
HEDGES: frozenset[str] = frozenset(
    ["could", "might", "may", "if", "unless", "whether", "perhaps", "possibly"]
)
_CLAUSE_PUNCT = re.compile(r"[,;:()\[\]{}\"“”—–]|\s-\s")


def expand_pattern(pattern: str) -> list[tuple[Any, ...]]:
    """Compile a pattern into a sequence of elements: :data:`GAP`, or a tuple of alternative stem
    sequences (a plain word is a group of one; an empty alternative makes a group optional).

    ``"{decide|choose} ... where"`` → ``[((("decid",), ("choos",)), GAP, (("wher",),))]`` (a
    list of one, so callers can treat it like a list of phrasings). Raises ``ValueError`` for
    unbalanced or nested braces, a gap inside braces, or a pattern with no words.
    """
    elements: list[Any] = []
    pos = 0
    text = pattern
    while pos < len(text):
        m = _ALT.search(text, pos)
        plain = text[pos : m.start()] if m else text[pos:]
        if any(ch in plain for ch in "{}|"):
            raise ValueError(
                f"the pattern {pattern!r} has unbalanced or nested braces, or a '|' outside braces"
            )
        for part in re.split(r"(\.\.\.|…)", plain):
            if part in ("...", "…"):
                if elements and elements[-1] != GAP:
                    elements.append(GAP)
            else:
                elements.extend(((stem(x),),) for x in terms(part))
        if not m:
            break
        alts = []
        for alt in m.group(1).split("|"):
            if "..." in alt or "…" in alt:
                raise ValueError(f"the pattern {pattern!r} has a gap (...) inside braces")
            seq = tuple(stem(x) for x in terms(alt))
            if seq not in alts:
                alts.append(seq)
        elements.append(tuple(alts))
        pos = m.end()
    while elements and elements[-1] == GAP:
        elements.pop()
    while elements and elements[0] == GAP:
        elements.pop(0)
    if not any(e != GAP and any(alt for alt in e) for e in elements):
        raise ValueError(f"the pattern {pattern!r} has no letters or digits")
    if elements[0] != GAP and () in elements[0] and len(elements) == 1:
        raise ValueError(f"the pattern {pattern!r} can match nothing")
    return [tuple(elements)]


def match_pattern(stems: Sequence[str], seq: Sequence[Any]) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` where the compiled pattern ``seq`` (see :func:`expand_pattern`;
    a plain tuple of stems works too) occurs; one span per start, preferring the shortest."""
    return [(s, e) for s, e, _ in match_pattern_terms(stems, seq)]


def match_pattern_terms(
    stems: Sequence[str], seq: Sequence[Any]
) -> list[tuple[int, int, tuple[int, ...]]]:
    """Like :func:`match_pattern`, with the positions of the matched words (a gap's words are
    inside the span but not matched)."""
    elems = [e if e == GAP or isinstance(e, tuple) else ((e,),) for e in seq]
    n = len(stems)

    def walk(pos: int, k: int) -> tuple[int, tuple[int, ...]] | None:
        if k == len(elems):
            return pos, ()
        e = elems[k]
        if e == GAP:
            for skip in range(GAP_MAX + 1):
                if pos + skip > n:
                    break
                res = walk(pos + skip, k + 1)
                if res is not None:
                    return res
            return None
        for alt in sorted(e, key=len):
            if tuple(stems[pos : pos + len(alt)]) == alt:
                res = walk(pos + len(alt), k + 1)
                if res is not None:
                    return res[0], tuple(range(pos, pos + len(alt))) + res[1]
        return None

    out = []
    for i in range(n):
        res = walk(i, 0)
        if res is not None and res[0] > i:
            out.append((i, res[0], res[1]))
    return out


@dataclass(frozen=True)
class Clause:
    """One clause of a response: its text, its terms' stems and whether it is negated."""

    sentence: int
    text: str
    stems: tuple[str, ...]


_STRONG_PUNCT = re.compile(r"[;:()\[\]—–]")


def _chunks(text: str) -> list[tuple[int, int, str]]:
    """(sentence index, segment index, chunk text): sentences split at . ! ? and line breaks,
    segments at ; : ( ) —, chunks at commas and the other clause punctuation. "It is not true
    that …" negates the rest of its segment."""
    out: list[tuple[int, int, str]] = []
    seg = 0
    for si, sent in enumerate(_SENTENCE_SPLIT.split(_normalise_keep_case(text))):
        for part in _STRONG_PUNCT.split(sent):
            seg += 1
            for chunk in _CLAUSE_PUNCT.split(part):
                if _TERM.search(chunk):
                    out.append((si, seg, chunk.strip()))
    return out


def _normalise_keep_case(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _is_negator(stems: Sequence[str], i: int) -> bool:
    s = stems[i]
    if s == "t":
        return i > 0 and stems[i - 1] in _NT_STEMS
    if s not in NEGATORS:
        return False
    follow = _NOT_NEGATING_NEXT.get(s)
    if follow and i + 1 < len(stems) and stems[i + 1] in follow:
        return False
    # "whether or not" does not negate
    return not (s == "not" and i >= 2 and stems[i - 1] == "or" and stems[i - 2] == "whether")


@dataclass(frozen=True)
class PatternSet:
    """Compiled patterns with a label each (any hashable)."""

    entries: tuple[tuple[Any, tuple[str, ...]], ...]

    @staticmethod
    def build(labelled: Iterable[tuple[Any, str]]) -> PatternSet:
        return PatternSet(tuple((label, seq) for label, p in labelled for seq in expand_pattern(p)))

    def find(self, stems: Sequence[str]) -> list[tuple[int, int, Any]]:
        return [(s, e, label) for s, e, label, _ in self.find_terms(stems)]

    def find_terms(self, stems: Sequence[str]) -> list[tuple[int, int, Any, tuple[int, ...]]]:
        return [
            (s, e, label, pos)
            for label, seq in self.entries
            for s, e, pos in match_pattern_terms(stems, seq)
        ]


def _resolve(spans: list[tuple[int, int, Any]]) -> list[tuple[int, int, Any]]:
    """Keep the longest of overlapping spans (all labels of an accepted span's exact extent)."""
    spans = sorted(spans, key=lambda x: (-(x[1] - x[0]), x[0]))
    kept: list[tuple[int, int, Any]] = []
    for s, e, lab in spans:
        if any(s < ke and ks < e and (s, e) != (ks, ke) for ks, ke, _ in kept):
            continue
        kept.append((s, e, lab))
    return sorted(kept, key=lambda x: (x[0], x[1]))


@dataclass(frozen=True)
class PredicateHit:
    """A predicate found in a clause, with the subject it was bound to and its polarity."""

    label: Any
    clause: str
    subject: tuple[str, ...] | None  # stems of the bound subject mention; None when there is none
    negated: bool
    hedged: bool = False  # the clause is hypothetical (could, might, if …)
    #: when the clause names no subject: the other subjects named earlier in the same sentence
    others: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ClaimAnalysis:
    hits: tuple[PredicateHit, ...]
    covered_terms: int  # terms inside matched subject/predicate phrases (for the prose check)
    total_terms: int


def analyse_claims(text: str, subjects: PatternSet, predicates: PatternSet) -> ClaimAnalysis:
    """Find every predicate phrase, bind it to a subject and decide whether its clause negates it.

    * Sentences split at ``. ! ?`` and line breaks, then clauses at ``, ; : ( ) —`` and at
      connecting words (:data:`CLAUSE_WORDS`) that are not inside a matched phrase.
    * A predicate binds to the nearest subject mention before it in its clause (one right after a
      preposition only if nothing else fits), else the nearest after it, else the last subject
      mentioned in an earlier clause ("… . It decides …"); then ``others`` lists the subjects
      named anywhere in the same sentence (a claim may use them, a contradiction may not).
    * "and" splits only after :data:`MIN_TERMS_BEFORE_AND` terms, so a negation covers
      coordinated subjects.
    * Overlapping predicate matches compete only within a label group (a tuple label's first
      element: one rubric concept); the longest wins ("not lost" over "lost").
    * A clause that starts with "that" right after a negated clause is negated too ("this does
      not mean that …").
    * A clause is negated when it holds a negator (:data:`NEGATORS`, "n't") outside the matched
      phrases; "it is not true that …" negates the rest of its sentence up to ; : ( —. A phrase that contains
      its own negator ("not lost", "no longer expand") is matched as written.
    """
    hits: list[PredicateHit] = []
    covered = total = 0
    carried: tuple[str, ...] | None = None
    sentence_negated: dict[int, bool] = {}
    sentence_subjects: dict[int, list[tuple[str, ...]]] = {}
    chunks = _chunks(text)
    for si, _, chunk in chunks:  # every subject named in each sentence, for lenient binding
        st = [stem(t) for t in terms(chunk)]
        sentence_subjects.setdefault(si, []).extend(
            tuple(st[s:e]) for s, e, _ in _resolve(subjects.find(st))
        )
    for si, seg, chunk in chunks:
        chunk_stems = [stem(t) for t in terms(chunk)]
        total += len(chunk_stems)
        subj_t = subjects.find_terms(chunk_stems)
        pred_t = predicates.find_terms(chunk_stems)
        subj = _resolve([(s, e, lab) for s, e, lab, _ in subj_t])
        groups: dict[Any, list[tuple[int, int, Any]]] = {}
        for s_, e_, lab, _ in pred_t:
            groups.setdefault(lab[0] if isinstance(lab, tuple) else lab, []).append((s_, e_, lab))
        pred = sorted((x for g in groups.values() for x in _resolve(g)), key=lambda x: x[:2])
        # Words matched by a kept phrase (a gap's words are not): they are never clause cuts or
        # negators ("not lost" is matched as written; "does not … gone" across a gap is negated).
        kept = {(s, e) for s, e, _ in subj + pred}
        matched = {j for s, e, _, pos in subj_t + pred_t if (s, e) in kept for j in pos}
        inside = [j in matched for j in range(len(chunk_stems))]
        covered += len(matched)
        # Split the chunk into clauses at connecting words outside matched phrases.
        cuts = [0]
        for i, st in enumerate(chunk_stems):
            if i == 0 or inside[i] or (st not in CLAUSE_WORDS and st not in _COORDINATORS):
                continue
            if st in _COORDINATORS and i - cuts[-1] < MIN_TERMS_BEFORE_AND:
                continue
            cuts.append(i)
        cuts.append(len(chunk_stems))
        prev_negated = False
        for a, b in zip(cuts, cuts[1:]):
            if a >= b:
                continue
            c_stems = chunk_stems[a:b]
            negated = sentence_negated.get(seg, False) or any(
                _is_negator(chunk_stems, i) and not inside[i] for i in range(a, b)
            )
            # "… does not mean / it is not true | that X": the negation reaches into the that-clause
            if c_stems[0] == "that" and prev_negated:
                negated = True
            prev_negated = negated
            for pat in _SENTENCE_NEGATORS:
                if any(tuple(c_stems[i : i + len(pat)]) == pat for i in range(len(c_stems))):
                    sentence_negated[seg] = True
                    negated = True
            c_subj = [(s, e) for s, e, _ in subj if a <= s < b]
            c_pred = [(s, e, lab) for s, e, lab in pred if a <= s < b]
            clause_text = " ".join(terms(chunk)[a:b])
            hedged = any(st in HEDGES for st in c_stems)
            for s, e, lab in c_pred:
                before = [x for x in c_subj if x[1] <= s]
                plain = [
                    x for x in before if x[0] == 0 or chunk_stems[x[0] - 1] not in _PREPOSITIONS
                ]
                after = [x for x in c_subj if x[0] >= e]
                ms = plain[-1] if plain else after[0] if after else before[-1] if before else None
                bound = tuple(chunk_stems[ms[0] : ms[1]]) if ms else carried
                others = () if ms else tuple(sentence_subjects.get(si, ()))
                hits.append(PredicateHit(lab, clause_text, bound, negated, hedged, others))
            if c_subj:
                lead_negator = _is_negator(chunk_stems, a) and not c_pred
                if not lead_negator:
                    carried = tuple(chunk_stems[c_subj[-1][0] : c_subj[-1][1]])
    return ClaimAnalysis(tuple(hits), covered, total)


def subject_matches(mention: tuple[str, ...] | None, seqs: Sequence[tuple[str, ...]]) -> bool:
    """Whether a bound subject mention contains one of the subject phrasings ``seqs``."""
    if mention is None:
        return False
    return any(match_pattern(mention, seq) for seq in seqs)
