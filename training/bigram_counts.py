"""Corpus bigram counts for the Direct path page: ``models/wikitext2-bigrams.npz``.

The file is derived from WikiText-2 (Merity et al. 2016, CC BY-SA 3.0): it holds statistics
counted over the *training* articles the bundled attention-only models were trained on (the
valid + test files split into articles; every 10th article held out, as in
``training/train_interpretable.py``), tokenized with the bundled BPE tokenizer
(``models/tiny-gpt2-wikitext2/tokenizer.json``) and concatenated into one stream, exactly the
stream the models saw. It keeps no text, only counts:

- ``prev_count`` int32 ``[vocab]``: how often each token occurs as the *previous* token of a
  bigram (every position but the stream's last);
- ``succ_ids`` int32 ``[vocab, 20]``: each token's 20 most frequent successors, most frequent
  first (ties broken by the smaller id), ``-1`` where a token has fewer successors;
- ``succ_counts`` int32 ``[vocab, 20]``: their counts, ``0`` as padding;
- ``n_bigrams`` int64 scalar, ``source`` and ``licence`` strings.

Run from the repository root::

    python training/bigram_counts.py [--data-dir ../shared/data/wikitext-2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from training.train_interpretable import (  # noqa: E402
    DEFAULT_DATA_DIR,
    encode,
    load_tokenizer,
)
from training.train_tiny_gpt2 import read_articles, split_articles  # noqa: E402

OUT_FILE = REPO_ROOT / "models" / "wikitext2-bigrams.npz"
TOP_K = 20


def bigram_tables(stream: np.ndarray, vocab: int, top_k: int = TOP_K) -> dict[str, np.ndarray]:
    """Count the bigrams (stream[i], stream[i + 1]) of a 1-D id stream.

    Returns ``prev_count`` [vocab], ``succ_ids`` and ``succ_counts`` [vocab, top_k] (see the
    module docstring for the padding) and ``n_bigrams``.
    """
    stream = np.asarray(stream, dtype=np.int64)
    prev, nxt = stream[:-1], stream[1:]
    counts = np.bincount(prev * vocab + nxt, minlength=vocab * vocab).reshape(vocab, vocab)
    # Most frequent first; a stable sort of −count keeps the smaller id first among ties.
    order = np.argsort(-counts, axis=1, kind="stable")[:, :top_k]
    top_counts = np.take_along_axis(counts, order, axis=1)
    succ_ids = np.where(top_counts > 0, order, -1).astype(np.int32)
    return {
        "prev_count": counts.sum(axis=1).astype(np.int32),
        "succ_ids": succ_ids,
        "succ_counts": top_counts.astype(np.int32),
        "n_bigrams": np.int64(len(prev)),
    }


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument("--out", type=Path, default=OUT_FILE)
    args = ap.parse_args(argv)
    tokenizer = load_tokenizer()
    vocab = tokenizer.get_vocab_size()
    articles = read_articles([args.data_dir / "valid.txt", args.data_dir / "test.txt"])
    train_articles, _held_out = split_articles(articles, holdout_every=10)
    stream = encode(tokenizer, train_articles).numpy()
    tables = bigram_tables(stream, vocab)
    np.savez_compressed(
        args.out,
        **tables,
        source=np.array(
            "WikiText-2 (valid + test, training articles: all but every 10th), "
            "bundled BPE tokenizer"
        ),
        licence=np.array("CC BY-SA 3.0 (derived from WikiText-2)"),
    )
    print(
        f"{int(tables['n_bigrams']):,} bigrams over vocab {vocab} → {args.out} "
        f"({args.out.stat().st_size / 1024:.0f} KB)"
    )
    return args.out


if __name__ == "__main__":
    main()
