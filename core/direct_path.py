"""The direct path: token embedding straight to the unembedding, read as a bigram table.

In the attention-only model the final stream is x0 + Σ heads, and x0 = W_E[t] + W_pos[i]. The
*token part* of the direct path gives the logits ``W_E[t] · W_Uᵀ`` ``[vocab]``: what the model
predicts after token t with no attention at all, i.e. a learned bigram table (row t = "after
t, which token?"). This module reads that table and compares it with the bigrams counted in
the training corpus (``models/wikitext2-bigrams.npz``, made by ``training/bigram_counts.py``;
derived from WikiText-2, CC BY-SA 3.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.validators import ValidationError

__all__ = [
    "BIGRAMS_FILE",
    "CorpusBigrams",
    "check_token_id",
    "direct_path_logits",
    "direct_path_top",
    "load_corpus_bigrams",
    "bigram_agreement",
]

BIGRAMS_FILE = Path(__file__).resolve().parent.parent / "models" / "wikitext2-bigrams.npz"

#: Rows of the [n, vocab] direct-path table computed at once (bounds memory on a large vocab).
_CHUNK = 1024


def check_token_id(model, token_id: Any, name: str = "token_id") -> int:
    """``token_id`` as an int, or a :class:`ValidationError` naming the accepted range."""
    vocab = model.config.vocab_size
    if isinstance(token_id, (np.integer,)):
        token_id = int(token_id)
    if isinstance(token_id, bool) or not isinstance(token_id, int) or not 0 <= token_id < vocab:
        raise ValidationError(
            f"{name} must be a whole number from 0 to {vocab - 1} (vocab_size = {vocab}); got "
            f"{token_id!r}."
        )
    return token_id


def _w(t: torch.Tensor) -> np.ndarray:
    """A float64 numpy copy of a weight (the model itself is never touched)."""
    return t.detach().to(torch.float64).cpu().numpy().copy()


@torch.no_grad()
def direct_path_logits(model, token_ids: Any) -> np.ndarray:
    """``[n, vocab]`` float64: rows ``W_E[t] · W_Uᵀ`` of the direct-path bigram table for the
    given token ids (validated)."""
    if isinstance(token_ids, (torch.Tensor, np.ndarray)):
        token_ids = token_ids.reshape(-1).tolist()
    ids = [check_token_id(model, t) for t in token_ids]
    w_e = model.W_E.detach()[torch.tensor(ids, dtype=torch.long)].double()
    return (w_e @ model.W_U.detach().double().T).cpu().numpy()


def direct_path_top(model, token_id: int, k: int = 10) -> list[dict[str, Any]]:
    """The k most likely next tokens after ``token_id`` through the direct path alone.

    Row ``W_E[token_id] · W_Uᵀ`` ``[vocab]``; each entry ``{"id", "logit", "prob"}`` where prob
    is the softmax over the whole vocabulary of that row. Sorted by logit, highest first.
    """
    token_id = check_token_id(model, token_id)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationError(f"k must be a positive whole number; got {k!r}.")
    row = direct_path_logits(model, [token_id])[0]
    probs = np.exp(row - row.max())
    probs /= probs.sum()
    top = np.argsort(-row, kind="stable")[:k]
    return [{"id": int(i), "logit": float(row[i]), "prob": float(probs[i])} for i in top]


@dataclass(frozen=True, eq=False)
class CorpusBigrams:
    """Bigram counts of the training corpus (see ``training/bigram_counts.py``).

    ``prev_count`` ``[vocab]``: occurrences of each token as the previous token of a bigram;
    ``succ_ids`` / ``succ_counts`` ``[vocab, k]``: its k most frequent successors, most
    frequent first (ids −1 / counts 0 as padding); ``n_bigrams``; ``licence``.
    """

    prev_count: np.ndarray
    succ_ids: np.ndarray
    succ_counts: np.ndarray
    n_bigrams: int
    licence: str = ""

    @property
    def vocab_size(self) -> int:
        return int(self.prev_count.shape[0])

    def successors(self, token_id: int, k: int = 10) -> list[tuple[int, int, float]]:
        """Up to k of ``token_id``'s most frequent successors: (id, count, count / the token's
        own count as a previous token), padding left out."""
        if isinstance(token_id, np.integer):
            token_id = int(token_id)
        if (
            isinstance(token_id, bool)
            or not isinstance(token_id, int)
            or not 0 <= token_id < self.vocab_size
        ):
            raise ValidationError(
                f"token_id must be a whole number from 0 to {self.vocab_size - 1}; got "
                f"{token_id!r}."
            )
        total = int(self.prev_count[token_id])
        out = []
        for i, c in zip(self.succ_ids[token_id, :k], self.succ_counts[token_id, :k]):
            if i < 0:
                break
            out.append((int(i), int(c), int(c) / total if total else 0.0))
        return out


def load_corpus_bigrams(path: Path | str = BIGRAMS_FILE) -> CorpusBigrams:
    """The shipped corpus bigram statistics (``models/wikitext2-bigrams.npz``)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(
            f"No bigram file at {path}: make it with `python training/bigram_counts.py`."
        )
    with np.load(path) as data:
        return CorpusBigrams(
            prev_count=data["prev_count"].astype(np.int64),
            succ_ids=data["succ_ids"].astype(np.int64),
            succ_counts=data["succ_counts"].astype(np.int64),
            n_bigrams=int(data["n_bigrams"]),
            licence=str(data["licence"]) if "licence" in data else "",
        )


@torch.no_grad()
def bigram_agreement(model, bigrams: CorpusBigrams, min_count: int = 50) -> dict[str, Any]:
    """How well the direct-path bigram table matches the corpus's bigrams.

    Over the tokens seen at least ``min_count`` times as a previous token:

    - ``top1``: fraction whose direct-path argmax equals the corpus's most frequent successor;
    - ``top5_overlap``: mean |top-5 direct ∩ top-5 corpus| / 5 (corpus top-5 = its listed
      successors, fewer where a token has fewer);
    - ``unigram_baseline_top1``: the top-1 rate of the constant guess "the corpus's most
      frequent token" (``unigram_token``) — the trivial baseline a model must beat;
    - ``best_constant_top1``: the best any constant guess can do (``best_constant_token``: the
      token that is most often the most frequent successor), a stricter baseline;
    - ``n_tokens``, ``min_count``.
    """
    if bigrams.vocab_size != model.config.vocab_size:
        raise ValidationError(
            f"The bigram table has vocab {bigrams.vocab_size} but the model has "
            f"{model.config.vocab_size}: they come from different tokenizers."
        )
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValidationError(f"min_count must be a positive whole number; got {min_count!r}.")
    tokens = np.flatnonzero(bigrams.prev_count >= min_count)
    if tokens.size == 0:
        raise ValidationError(f"No token occurs {min_count} times or more in the corpus.")
    best = bigrams.succ_ids[tokens, 0]  # the corpus's most frequent successor of each token
    w_u = model.W_U.detach().double()
    w_e = model.W_E.detach().double()
    hits, overlap = [], []
    for start in range(0, tokens.size, _CHUNK):
        chunk = tokens[start : start + _CHUNK]
        logits = w_e[torch.from_numpy(chunk)] @ w_u.T  # [chunk, vocab]
        top5 = torch.topk(logits, 5, dim=-1).indices.numpy()
        hits.append(top5[:, 0] == best[start : start + _CHUNK])
        corpus5 = bigrams.succ_ids[chunk, :5]
        overlap.append([len(set(a) & set(b[b >= 0])) / 5 for a, b in zip(top5, corpus5)])
    # The unigram guess: always the corpus's most frequent token (prev_count is each token's
    # frequency up to the stream's last token). The best constant guess: the token that is most
    # often some token's most frequent successor (no constant does better on top-1).
    unigram = int(np.argmax(bigrams.prev_count))
    values, counts = np.unique(best, return_counts=True)
    constant = int(values[np.argmax(counts)])
    return {
        "top1": float(np.concatenate(hits).mean()),
        "top5_overlap": float(np.mean(np.concatenate(overlap))),
        "unigram_baseline_top1": float(np.mean(best == unigram)),
        "unigram_token": unigram,
        "best_constant_top1": float(np.mean(best == constant)),
        "best_constant_token": constant,
        "n_tokens": int(tokens.size),
        "min_count": min_count,
    }
