#!/usr/bin/env python
"""Train the bundled tiny GPT-2 (``models/tiny-gpt2-wikitext2``) from scratch on WikiText-2.

What it does, top to bottom:

1. Reads WikiText-2 ``valid.txt`` and ``test.txt`` (the only splits shipped in ``../shared/data``),
   undoes the corpus' pre-tokenisation (" , " -> ", ", " @-@ " -> "-", "don 't" -> "don't", ...),
   drops the ``<unk>`` placeholders and splits the text into articles (lines like `` = Title = ``).
2. Holds out every 10th article (index 9, 19, 29, ... in file order) for validation. Neither the
   tokenizer nor the model ever sees a held-out article.
3. Trains a byte-level BPE tokenizer (``tokenizers``) on the training articles, with ``<|endoftext|>``
   as the single special token (bos = eos = unk, as in GPT-2).
4. Trains transformers' ``GPT2LMHeadModel`` (learned positions, pre-LayerNorm, GELU MLP with
   n_inner = 4 x n_embd, tied embeddings) on random windows of the concatenated training articles.
5. Saves model (safetensors, float32) + tokenizer in Hugging Face format, reloads them from disk and
   measures: held-out loss and perplexity (per BPE token), top-5 next-token predictions for a few
   prompts, and per-head attention statistics (previous-token score, first-token score, self score,
   entropy) on held-out sentences. Everything goes to ``metrics.json`` beside the weights.

Runs on CPU (the default when no GPU is present) and on a GPU. Deterministic for a given device,
seed and thread count.

    python training/train_tiny_gpt2.py --steps 1000 --batch-size 16 --seq-len 128 \\
        --output-dir models/tiny-gpt2-wikitext2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "wikitext-2"
DEFAULT_OUTPUT_DIR = REPO_ROOT / "models" / "tiny-gpt2-wikitext2"
EOT = "<|endoftext|>"

PROMPTS = [
    "The capital of France is",
    "In 1995, the band released their first",
    "He was born in",
    "The game was released in North America on",
    "She is an American",
    "The river flows",
]

# ---------------------------------------------------------------------------------------------------
# 1. WikiText-2 -> plain text
# ---------------------------------------------------------------------------------------------------

# WikiText joins numbers and hyphenated words with these markers: "1 @,@ 000", "0 @.@ 7", "well @-@ known".
JOINERS = {"@-@": "-", "@,@": ",", "@.@": "."}
# Tokens that attach to the word before them.
NO_SPACE_BEFORE = {",", ".", ":", ";", "?", "!", ")", "]", "}", "%", "'", "’", "″", "′"}
# Clitics the corpus splits off: "it 's", "don 't" (WikiText writes "n't" as "n 't"), "I 'm", ...
CLITICS = {"'s", "'t", "'m", "'re", "'ve", "'ll", "'d", "n't", "’s", "’t"}
# Tokens that attach to the word after them.
NO_SPACE_AFTER = {"(", "[", "{", "$", "£", "€", "₤"}

ARTICLE_TITLE = re.compile(r"^ = [^=].* = $")  # " = Homarus gammarus = "
SECTION_TITLE = re.compile(r"^ (=(?: =)*) (.*?) \1 $")  # " = = Description = = "


def detokenize(line: str) -> str:
    """Undo WikiText's tokenisation of one line and drop its ``<unk>`` placeholders.

    >>> detokenize(" It 's 1 @,@ 000 km ( 621 mi ) long , and well @-@ known . ")
    "It's 1,000 km (621 mi) long, and well-known."
    >>> detokenize(' He said " yes " , but didn \\'t come . ')
    'He said "yes", but didn\\'t come.'
    """
    tokens = [t for t in line.split() if t != "<unk>"]
    out: list[str] = []
    glue_next = (
        True  # no space before the next token (start of line, after "(" or an opening quote)
    )
    in_quote = False
    for tok in tokens:
        if tok in JOINERS:
            out.append(JOINERS[tok])
            glue_next = True
            continue
        if tok == '"':
            if in_quote:  # closing quote: attach to the previous word
                out.append('"')
                glue_next = False
            else:  # opening quote: attach to the next word
                out.append(("" if glue_next else " ") + '"')
                glue_next = True
            in_quote = not in_quote
            continue
        attach = tok in NO_SPACE_BEFORE or tok.lower() in CLITICS
        out.append(tok if (glue_next or attach) else " " + tok)
        glue_next = tok in NO_SPACE_AFTER
    text = "".join(out)
    # Dropping <unk> can leave empty brackets ("( <unk> )") and doubled punctuation.
    text = re.sub(r"\s*\(\s*[,;]?\s*\)", "", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    text = re.sub(r",(?=[,.])", "", text)
    text = re.sub(r' ?""', "", text)  # a quotation that held only <unk>
    text = re.sub(r"  +", " ", text)
    return text.strip()


def read_articles(paths: list[Path]) -> list[str]:
    """Split WikiText files into articles (a `` = Title = `` line starts one) of detokenized text.

    The title and section headings become lines of their own; paragraphs are separated by newlines.
    """
    articles: list[list[str]] = []
    for path in paths:
        for raw in path.read_text(encoding="utf-8").splitlines():
            if ARTICLE_TITLE.match(raw):
                articles.append([])
            if not raw.strip() or not articles:
                continue
            heading = SECTION_TITLE.match(raw)
            text = detokenize(heading.group(2) if heading else raw)
            if text:
                articles[-1].append(text)
    return ["\n".join(lines) for lines in articles if lines]


def split_articles(articles: list[str], holdout_every: int) -> tuple[list[str], list[str]]:
    """Every ``holdout_every``-th article (1-based: 10th, 20th, ...) is held out; the rest train."""
    train = [a for i, a in enumerate(articles) if (i + 1) % holdout_every != 0]
    held_out = [a for i, a in enumerate(articles) if (i + 1) % holdout_every == 0]
    return train, held_out


# ---------------------------------------------------------------------------------------------------
# 2. Tokenizer
# ---------------------------------------------------------------------------------------------------


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE (GPT-2's scheme) trained on ``texts``; returns a transformers GPT2Tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT], show_progress=False
    )
    vocab = bpe.get_vocab()
    assert vocab[EOT] == 0, "the end-of-text token must be id 0"
    model = json.loads(bpe._tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = GPT2TokenizerFast(
        vocab=vocab,
        merges=merges,
        bos_token=EOT,
        eos_token=EOT,
        unk_token=EOT,
        add_prefix_space=False,
    )
    tokenizer.model_max_length = 10**9  # replaced by n_positions before saving
    tokenizer.clean_up_tokenization_spaces = False  # decode(encode(x)) == x
    return tokenizer


def encode_articles(tokenizer, articles: list[str]) -> torch.Tensor:
    """One long stream: article, <|endoftext|>, article, <|endoftext|>, ..."""
    ids: list[int] = []
    for text in articles:
        ids.extend(tokenizer.encode(text, add_special_tokens=False))
        ids.append(tokenizer.eos_token_id)
    return torch.tensor(ids, dtype=torch.long)


# ---------------------------------------------------------------------------------------------------
# 3. Model and training
# ---------------------------------------------------------------------------------------------------


def build_model(args, vocab_size: int, eot_id: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=args.n_positions,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_inner=None,  # GPT-2's convention: None means 4 * n_embd
        activation_function="gelu_new",
        resid_pdrop=args.dropout,
        embd_pdrop=args.dropout,
        attn_pdrop=args.dropout,
        bos_token_id=eot_id,
        eos_token_id=eot_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(config)
    if args.wpe_init == "sinusoidal":
        with torch.no_grad():
            wpe = model.transformer.wpe.weight
            wpe.copy_(
                sinusoidal_positions(args.n_positions, args.n_embd) * (wpe.std() / (0.5**0.5))
            )
    return model


def sinusoidal_positions(n_positions: int, d_model: int) -> torch.Tensor:
    """Vaswani et al.'s table [n_positions, d_model]: sin on even, cos on odd dimensions (d_model even).

    Used only to initialise GPT-2's *learned* position embeddings (--wpe-init sinusoidal): each row of
    the table is a fixed rotation of the row before it, which makes "attend to the previous token"
    easy for a head to learn; training is free to change it.
    """
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    freq = torch.exp(
        -math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model
    )
    table = torch.zeros(n_positions, d_model)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


def lr_at(step: int, args) -> float:
    """Linear warm-up, then cosine decay to ``min_lr``."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    progress = (step - args.warmup_steps) / max(1, args.steps - args.warmup_steps)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (
        1 + math.cos(math.pi * min(1.0, progress))
    )


def make_optimizer(model, args):
    decay, no_decay = [], []
    seen = set()
    for _name, p in model.named_parameters():
        if id(p) in seen:  # tied lm_head / wte
            continue
        seen.add(id(p))
        (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": args.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), eps=1e-8)


def sample_batch(stream: torch.Tensor, batch_size: int, seq_len: int, gen: torch.Generator):
    starts = torch.randint(0, len(stream) - seq_len - 1, (batch_size,), generator=gen)
    x = torch.stack([stream[s : s + seq_len] for s in starts.tolist()])
    y = torch.stack([stream[s + 1 : s + seq_len + 1] for s in starts.tolist()])
    return x, y


@torch.no_grad()
def evaluate(model, stream: torch.Tensor, seq_len: int, device, batch_size: int = 16) -> float:
    """Mean next-token cross-entropy over the whole stream, cut into non-overlapping windows.

    Every token after the first is predicted exactly once (each window sees only the tokens of its
    own window as context, so the figure is slightly pessimistic versus a sliding window).
    """
    was_training = model.training
    model.eval()
    n = (len(stream) - 1) // seq_len
    x_all = stream[: n * seq_len].view(n, seq_len)
    y_all = stream[1 : n * seq_len + 1].view(n, seq_len)
    total, count = 0.0, 0
    for i in range(0, n, batch_size):
        x = x_all[i : i + batch_size].to(device)
        y = y_all[i : i + batch_size].to(device)
        logits = model(input_ids=x).logits.float()
        total += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum"
        ).item()
        count += y.numel()
    model.train(was_training)
    return total / count


# ---------------------------------------------------------------------------------------------------
# 4. Measurements on the saved model
# ---------------------------------------------------------------------------------------------------


@torch.no_grad()
def top5(model, tokenizer, prompts: list[str]) -> list[dict]:
    rows = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        probs = model(input_ids=ids).logits[0, -1].float().softmax(-1)
        p, idx = probs.topk(5)
        rows.append(
            {
                "prompt": prompt,
                "top5": [
                    {"token": tokenizer.decode([int(i)]), "prob": round(float(q), 4)}
                    for q, i in zip(p, idx)
                ],
            }
        )
    return rows


@torch.no_grad()
def greedy(model, tokenizer, prompt: str, new_tokens: int = 20) -> str:
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    for _ in range(new_tokens):
        nxt = model(input_ids=ids[:, -model.config.n_positions :]).logits[0, -1].argmax()
        ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
    return tokenizer.decode(ids[0])


def held_out_sentences(held_out: list[str], n: int, min_words: int = 12) -> list[str]:
    """The first ``n`` ordinary sentences of the held-out articles (not headings, not tiny ones)."""
    sentences = []
    for article in held_out:
        for paragraph in article.split("\n")[1:]:
            for sent in re.split(r"(?<=[.!?])\s+", paragraph):
                if len(sent.split()) >= min_words:
                    sentences.append(sent)
                    break  # one per paragraph, for variety
        if len(sentences) >= n:
            break
    return sentences[:n]


@torch.no_grad()
def attention_stats(model, tokenizer, sentences: list[str], max_tokens: int = 64) -> dict:
    """Per layer and head, averaged over sentences and query positions:

    - prev_token: attention weight on position i-1 (queries i >= 1);
    - first_token: weight on position 0 (queries i >= 1), the usual "attention sink";
    - self: weight on position i itself (queries i >= 1);
    - entropy: entropy (nats) of each query's attention distribution (queries i >= 1);
    - offset_profile: mean weight on keys 0..4 positions back (queries i >= 4).
    A previous-token head has prev_token near 1; uniform causal attention would give ~ mean 1/(i+1).
    """
    n_layer, n_head = model.config.n_layer, model.config.n_head
    max_tokens = min(max_tokens, model.config.n_positions)
    sums = {
        k: torch.zeros(n_layer, n_head, dtype=torch.float64)
        for k in ("prev_token", "first_token", "self", "entropy", "uniform_prev")
    }
    count = 0
    max_offset = 4
    offsets = torch.zeros(n_layer, n_head, max_offset + 1, dtype=torch.float64)
    offset_count = 0
    for sent in sentences:
        ids = tokenizer(sent, return_tensors="pt")["input_ids"][:, :max_tokens]
        T = ids.shape[1]
        att = torch.stack(
            model(input_ids=ids, output_attentions=True).attentions
        )  # [layer, 1, head, q, k]
        att = att[:, 0].double()  # [layer, head, q, k]
        q = torch.arange(1, T)
        sums["prev_token"] += att[:, :, q, q - 1].sum(-1)
        sums["first_token"] += att[:, :, q, 0].sum(-1)
        sums["self"] += att[:, :, q, q].sum(-1)
        ent = -(att * att.clamp_min(1e-12).log()).sum(-1)  # [layer, head, q]
        sums["entropy"] += ent[:, :, 1:].sum(-1)
        sums["uniform_prev"] += (1.0 / (q + 1).double()).sum()
        count += T - 1
        for off in range(max_offset + 1):  # queries far enough in that every offset exists
            qq = torch.arange(max_offset, T)
            offsets[:, :, off] += att[:, :, qq, qq - off].sum(-1)
        offset_count += max(0, T - max_offset)
    stats = {k: (v / count) for k, v in sums.items()}
    baseline = float(stats.pop("uniform_prev")[0, 0])
    ranked = sorted(
        ((float(stats["prev_token"][l, h]), l, h) for l in range(n_layer) for h in range(n_head)),
        reverse=True,
    )
    return {
        "n_sentences": len(sentences),
        "n_query_positions": count,
        "uniform_baseline_prev_token": round(baseline, 4),
        "per_head": {k: [[round(float(x), 4) for x in row] for row in v] for k, v in stats.items()},
        "offset_profile": {
            "about": f"mean weight on key position i - offset, offset 0..{max_offset}, queries i >= {max_offset}",
            "per_head": [
                [[round(float(x), 4) for x in cell] for cell in row]
                for row in offsets / max(1, offset_count)
            ],
        },
        "top_previous_token_heads": [
            {"layer": l, "head": h, "prev_token": round(s, 4)} for s, l, h in ranked[:5]
        ],
    }


def measure(
    out: Path,
    seq_len: int,
    held_out_articles: list[str],
    held_stream: torch.Tensor,
    train_stream: torch.Tensor,
) -> dict:
    """Reload the saved model and tokenizer from ``out`` (float32, CPU, eager attention, eval mode)
    and measure them: held-out loss and perplexity, loss on a same-sized slice of training text,
    top-5 predictions, greedy continuations and per-head attention statistics."""
    from transformers import AutoTokenizer, GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(
        out, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    tok = AutoTokenizer.from_pretrained(out)
    cpu = torch.device("cpu")
    held_loss = evaluate(model, held_stream, seq_len, cpu)
    train_loss = evaluate(model, train_stream[: len(held_stream)], seq_len, cpu)
    assert not model.training  # every measurement is without dropout
    log(
        f"held-out loss {held_loss:.4f} ppl {math.exp(held_loss):.2f} | train-slice loss {train_loss:.4f}"
    )
    predictions = top5(model, tok, PROMPTS)
    samples = [{"prompt": p, "greedy": greedy(model, tok, p)} for p in PROMPTS[:3]]
    attn = attention_stats(model, tok, held_out_sentences(held_out_articles, 20))
    for row in predictions:
        log(
            f"{row['prompt']!r} -> "
            + ", ".join(f"{t['token']!r} {t['prob']:.3f}" for t in row["top5"])
        )
    for row in attn["top_previous_token_heads"]:
        log(f"previous-token head L{row['layer']}H{row['head']}: {row['prev_token']:.3f}")
    return {
        "held_out_loss": round(held_loss, 4),
        "held_out_perplexity": round(math.exp(held_loss), 2),
        "train_slice_loss": round(train_loss, 4),
        "perplexity_unit": "per BPE token of this tokenizer (not comparable with word-level WikiText-2 perplexities)",
        "top5": predictions,
        "greedy_samples": samples,
        "attention": attn,
    }


def remeasure(args) -> dict:
    """Measure an already trained ``--output-dir`` again (no training) and update its metrics.json.

    Uses the saved tokenizer and the same data split; the training record (command, history,
    train_seconds) is kept."""
    from transformers import AutoTokenizer

    out = args.output_dir
    metrics_path = out / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.exists() else {}
    seq_len = metrics.get("args", {}).get("seq_len", args.seq_len)
    holdout_every = metrics.get("args", {}).get("holdout_every", args.holdout_every)
    articles = read_articles([args.data_dir / "valid.txt", args.data_dir / "test.txt"])
    train_articles, held_out_articles = split_articles(articles, holdout_every)
    tok = AutoTokenizer.from_pretrained(out)
    measured = measure(
        out,
        seq_len,
        held_out_articles,
        encode_articles(tok, held_out_articles),
        encode_articles(tok, train_articles),
    )
    metrics.update(measured)
    metrics["measured_by"] = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    metrics_path.write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    log(f"updated {metrics_path}")
    return metrics


def dir_size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


# ---------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder with WikiText-2 valid.txt and test.txt",
    )
    p.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument(
        "--seq-len", type=int, default=128, help="training window length (<= n_positions)"
    )
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--n-positions", type=int, default=256)
    p.add_argument("--n-embd", type=int, default=256)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument(
        "--wpe-init",
        choices=["normal", "sinusoidal"],
        default="normal",
        help="initialisation of the learned position embeddings (normal: GPT-2's N(0, 0.02))",
    )
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument(
        "--eval-every",
        type=int,
        default=250,
        help="held-out loss every N steps (0: only at the end)",
    )
    p.add_argument("--holdout-every", type=int, default=10, help="hold out every N-th article")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument(
        "--remeasure",
        action="store_true",
        help="do not train: reload --output-dir, measure it again and update its metrics.json",
    )
    p.add_argument(
        "--save-dtype",
        choices=["float32", "float16"],
        default="float32",
        help="storage dtype of the weights",
    )
    args = p.parse_args(argv)
    if args.seq_len > args.n_positions:
        p.error("--seq-len must be <= --n-positions")
    if args.seq_len < args.n_positions and not args.remeasure:
        print(
            f"note: training windows are {args.seq_len} tokens, so position embeddings "
            f"{args.seq_len}..{args.n_positions - 1} stay at their initial values",
            file=sys.stderr,
        )
    return args


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main(argv=None) -> dict:
    args = parse_args(argv)
    command = "python " + " ".join(
        shlex.quote(a) for a in ([sys.argv[0]] + (argv if argv is not None else sys.argv[1:]))
    )
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    log(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    if args.remeasure:
        return remeasure(args)

    import tokenizers
    import transformers

    # 1. data
    files = [args.data_dir / "valid.txt", args.data_dir / "test.txt"]
    articles = read_articles(files)
    train_articles, held_out_articles = split_articles(articles, args.holdout_every)
    log(f"{len(articles)} articles: {len(train_articles)} train, {len(held_out_articles)} held out")

    # 2. tokenizer (training articles only)
    tokenizer = train_tokenizer(train_articles, args.vocab_size)
    train_stream = encode_articles(tokenizer, train_articles)
    held_stream = encode_articles(tokenizer, held_out_articles)
    log(
        f"vocab={len(tokenizer)} train tokens={len(train_stream):,} held-out tokens={len(held_stream):,}"
    )

    # 3. model + training
    model = build_model(args, len(tokenizer), tokenizer.eos_token_id).to(device)
    n_params = sum(p.numel() for p in model.parameters())  # tied weights counted once
    log(f"parameters={n_params:,}")
    optimizer = make_optimizer(model, args)
    gen = torch.Generator().manual_seed(args.seed)
    history = []
    model.train()
    t0 = time.perf_counter()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args)
        x, y = sample_batch(train_stream, args.batch_size, args.seq_len, gen)
        x, y = x.to(device), y.to(device)
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        done = step + 1
        if done % 25 == 0 or done == 1:
            elapsed = time.perf_counter() - t0
            log(
                f"step {done}/{args.steps} loss {loss.item():.4f} lr {lr_at(step, args):.2e} "
                f"{elapsed:.0f}s ({elapsed / done:.2f}s/step, eta {elapsed / done * (args.steps - done):.0f}s)"
            )
        if args.eval_every and done % args.eval_every == 0 and done < args.steps:
            val = evaluate(model, held_stream, args.seq_len, device)
            history.append(
                {"step": done, "train_loss": round(loss.item(), 4), "held_out_loss": round(val, 4)}
            )
            log(f"step {done}: held-out loss {val:.4f} ppl {math.exp(val):.1f}")
    train_seconds = time.perf_counter() - t0

    # 4. save (Hugging Face format) and measure the saved files
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.to("cpu")
    if args.save_dtype == "float16":
        model.half()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.model_max_length = args.n_positions
    tokenizer.save_pretrained(out)

    measured = measure(out, args.seq_len, held_out_articles, held_stream, train_stream)
    history.append(
        {
            "step": args.steps,
            "train_loss": round(loss.item(), 4),
            "held_out_loss": measured["held_out_loss"],
        }
    )

    metrics = {
        "command": command,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "device": str(device),
        "threads": torch.get_num_threads(),
        "args": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("data_dir", "output_dir")
        },
        "data": {
            "source": "WikiText-2 (raw files valid.txt + test.txt), CC BY-SA 3.0",
            "articles": len(articles),
            "train_articles": len(train_articles),
            "held_out_articles": len(held_out_articles),
            "held_out_rule": f"every {args.holdout_every}th article in file order (valid.txt then test.txt)",
            "train_tokens": len(train_stream),
            "held_out_tokens": len(held_stream),
            "epochs_seen": round(
                args.steps * args.batch_size * args.seq_len / len(train_stream), 2
            ),
        },
        "model": {
            "parameters": n_params,
            "vocab_size": len(tokenizer),
            "n_positions": args.n_positions,
            "n_embd": args.n_embd,
            "n_layer": args.n_layer,
            "n_head": args.n_head,
            "d_head": args.n_embd // args.n_head,
            "n_inner": None,
            "mlp_width": 4 * args.n_embd,
            "save_dtype": args.save_dtype,
        },
        "train_seconds": round(train_seconds, 1),
        "history": history,
        **measured,
    }
    (out / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    log(f"wrote {out} ({dir_size_bytes(out) / 1e6:.2f} MB)")
    return metrics


if __name__ == "__main__":
    main()
