"""Train one of the lesson's attention-only models (``core.model.InterpretableTransformer``) on
WikiText-2 plus synthetic repeated segments, and measure the circuits it learned.

The model is the lesson's own class: attention only, no LayerNorm, no MLP, fixed sinusoidal
positions, so every decomposition on the pages stays exact. The vocabulary is the bundled BPE
tokenizer (``models/tiny-gpt2-wikitext2/tokenizer.json``, 4,096 tokens), so learners type text.

Data (see ``make_batch``): 64-token WikiText windows from the training articles (every 10th article
is held out, the same split as the bundled GPT-2), each holding one segment of 8–28 tokens drawn
uniformly from the whole vocabulary that appears twice at random offsets. Copying the second
occurrence from the first is only possible in context: this is what makes an induction circuit
worth learning.

Measurements (``measure``), all recomputed from the saved weights:

- previous-token score per head: mean attention from position i to i − 1 on held-out WikiText
  windows;
- induction score per head: on 50 sequences of 25 tokens drawn uniformly from the whole
  vocabulary and repeated twice, the mean attention from each position of the second copy to the
  token after the same token's first occurrence;
- the mean loss on the second copy against the first copy of those sequences;
- held-out WikiText loss per token, next to an add-k bigram model counted on the training articles
  and evaluated on the same held-out windows.

    python training/train_interpretable.py --name attn-only-2l --n-layer 2 --n-head 4 \\
        --d-model 128 --steps 24000

Progressive growth (``--start-layers K``, used for attn-only-4l): only the first K layers train
(the others start with W_O = 0, so they add nothing, and are skipped) until the small model's
induction circuit has formed (an evaluation with induction >= ``--grow-induction`` in a layer
>= 1 and a layer-0 previous-token score >= ``--grow-previous``), or ``--grow-at`` at the latest;
then every layer trains. The circuit is built with its previous-token head in layer 0 before
the later layers exist to take that role.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from core.config import TransformerConfig  # noqa: E402
from core.model import build_model  # noqa: E402
from training.train_tiny_gpt2 import read_articles, split_articles  # noqa: E402

DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "wikitext-2"
TOKENIZER = REPO_ROOT / "models" / "tiny-gpt2-wikitext2" / "tokenizer.json"
WINDOW = 64


def load_tokenizer():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(TOKENIZER))


def encode(tokenizer, articles: list[str]) -> torch.Tensor:
    ids: list[int] = []
    for article in articles:
        ids.extend(tokenizer.encode(article).ids)
    return torch.tensor(ids, dtype=torch.long)


def make_batch(
    stream: torch.Tensor,
    batch: int,
    vocab: int,
    gen: torch.Generator,
    seg_min: int = 8,
    seg_max: int = 28,
) -> torch.Tensor:
    """``[batch, WINDOW]`` WikiText windows, each with one random segment written twice."""
    starts = torch.randint(0, len(stream) - WINDOW, (batch,), generator=gen)
    x = torch.stack([stream[s : s + WINDOW] for s in starts.tolist()])
    for row in range(batch):
        n = int(torch.randint(seg_min, seg_max + 1, (1,), generator=gen))
        seg = torch.randint(0, vocab, (n,), generator=gen)
        first = int(torch.randint(0, WINDOW - 2 * n + 1, (1,), generator=gen))
        second = int(torch.randint(first + n, WINDOW - n + 1, (1,), generator=gen))
        x[row, first : first + n] = seg
        x[row, second : second + n] = seg
    return x


def lm_loss(model, x: torch.Tensor, active: list[bool] | None = None) -> torch.Tensor:
    """Next-token cross-entropy. ``active[l]`` False skips layer l for this batch (LayerDrop)."""
    if active is None or all(active):
        logits = model(x)["logits"]
    else:
        stream = model.token_embedding(x) + model.positional_embedding(x.shape[1])
        for layer, on in zip(model.layers, active):
            if on:
                stream = stream + layer(stream)[0]
        logits = model.unembedding(stream)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))


def layer_drop_at(step: int, args) -> float:
    """Probability of skipping each layer ≥ 1 at ``step``: ``--layer-drop``, then a linear fall
    to 0 over the last ``--layer-drop-anneal`` of the run, so the model ends trained whole."""
    if args.layer_drop <= 0:
        return 0.0
    start = args.steps * (1 - args.layer_drop_anneal)
    if step < start:
        return args.layer_drop
    return args.layer_drop * max(0.0, 1 - (step - start) / max(1.0, args.steps - start))


def active_layers(n_layer: int, p: float, gen: torch.Generator) -> list[bool]:
    """Layer 0 always runs; each later layer is skipped with probability ``p``."""
    if p <= 0:
        return [True] * n_layer
    keep = (torch.rand(n_layer - 1, generator=gen) >= p).tolist()
    return [True] + keep


def start_small(model, start_layers: int | None) -> bool:
    """Progressive growth: with ``--start-layers K`` the layers from K on begin with W_O = 0, so
    they add nothing to the stream and the model is exactly its first K layers until it grows.
    Returns whether the model is already at full depth."""
    n_layer = len(model.layers)
    if start_layers is None or start_layers >= n_layer:
        return True
    with torch.no_grad():
        for layer in model.layers[start_layers:]:
            layer.W_O.zero_()
    return False


def growing_layers(n_layer: int, start_layers: int) -> list[bool]:
    """Before growth only the first ``start_layers`` layers run (and train)."""
    return [i < start_layers for i in range(n_layer)]


def circuit_formed(row: dict, args) -> bool:
    """Grow once the small model has its induction circuit: an induction head in a layer >= 1
    and a layer-0 previous-token head, by the thresholds of the targets."""
    return (
        row["induction"] >= args.grow_induction and row["previous_token_l0"] >= args.grow_previous
    )


def lr_at(step: int, args) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# -- measurements --------------------------------------------------------------------------------
def windows(stream: torch.Tensor, n: int, length: int = WINDOW) -> torch.Tensor:
    count = min(n, len(stream) // length)
    return stream[: count * length].view(count, length)


@torch.no_grad()
def attention_patterns(model, x: torch.Tensor) -> list[torch.Tensor]:
    """Per layer ``[batch, head, query, key]``."""
    out = model.analyze(x)
    return [la["attention_weights"] for la in out["analysis"]["layer_analyses"]]


@torch.no_grad()
def previous_token_scores(model, held: torch.Tensor) -> list[list[float]]:
    scores = []
    for w in attention_patterns(model, held):
        diag = torch.diagonal(w, offset=-1, dim1=-2, dim2=-1)  # [batch, head, seq-1]
        scores.append(diag.mean(dim=(0, 2)).tolist())
    return scores


def repeated_random(vocab: int, n_seq: int = 50, half: int = 25, seed: int = 1234) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    first = torch.randint(0, vocab, (n_seq, half), generator=gen)
    return torch.cat([first, first], dim=1)


@torch.no_grad()
def induction_scores(model, seqs: torch.Tensor) -> list[list[float]]:
    """Mean attention from position half + j to position j + 1, over j = 0 … half − 2."""
    half = seqs.shape[1] // 2
    queries = torch.arange(half, 2 * half - 1)
    keys = torch.arange(1, half)
    scores = []
    for w in attention_patterns(model, seqs):
        scores.append(w[:, :, queries, keys].mean(dim=(0, 2)).tolist())
    return scores


@torch.no_grad()
def repeat_losses(model, seqs: torch.Tensor) -> tuple[float, float]:
    """Mean next-token loss predicting the first copy's tokens (positions 1 … half − 1) and the
    second copy's (positions half … 2·half − 1)."""
    half = seqs.shape[1] // 2
    logits = model(seqs)["logits"][:, :-1]
    losses = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), seqs[:, 1:].reshape(-1), reduction="none"
    ).view(seqs.shape[0], -1)
    return float(losses[:, : half - 1].mean()), float(losses[:, half - 1 :].mean())


@torch.no_grad()
def held_out_loss(model, held: torch.Tensor, batch: int = 32) -> float:
    total, count = 0.0, 0
    for i in range(0, len(held), batch):
        x = held[i : i + batch]
        logits = model(x)["logits"][:, :-1]
        total += float(
            F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum"
            )
        )
        count += x[:, 1:].numel()
    return total / count


def bigram_loss(train: torch.Tensor, held: torch.Tensor, vocab: int, k: float) -> float:
    """Cross-entropy (nats per token) of an add-k bigram model on the held-out windows."""
    counts = torch.zeros(vocab, vocab, dtype=torch.float64)
    counts.index_put_(
        (train[:-1], train[1:]), torch.ones(len(train) - 1, dtype=torch.float64), accumulate=True
    )
    probs = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * vocab)
    prev, nxt = held[:, :-1].reshape(-1), held[:, 1:].reshape(-1)
    return float(-torch.log(probs[prev, nxt]).mean())


def measure(model, train: torch.Tensor, held_stream: torch.Tensor, vocab: int) -> dict:
    held = windows(held_stream, 400)
    seqs = repeated_random(vocab)
    prev = previous_token_scores(model, held[:100])
    ind = induction_scores(model, seqs)
    first, second = repeat_losses(model, seqs)
    bigram = {str(k): bigram_loss(train, held, vocab, k) for k in (0.01, 0.1, 1.0)}
    best_prev = max((s, l, h) for l, row in enumerate(prev[:1]) for h, s in enumerate(row))
    best_prev_any = max((s, l, h) for l, row in enumerate(prev) for h, s in enumerate(row))
    later = [(s, l, h) for l, row in enumerate(ind) if l >= 1 for h, s in enumerate(row)]
    best_ind = max(later) if later else (0.0, -1, -1)
    loss = held_out_loss(model, held)
    return {
        "previous_token_scores": prev,
        "induction_scores": ind,
        "best_layer0_previous_token": {
            "score": best_prev[0],
            "layer": best_prev[1],
            "head": best_prev[2],
        },
        "best_previous_token_any_layer": {
            "score": best_prev_any[0],
            "layer": best_prev_any[1],
            "head": best_prev_any[2],
        },
        "best_induction_layer_ge_1": {
            "score": best_ind[0],
            "layer": best_ind[1],
            "head": best_ind[2],
        },
        "repeat_loss_first_half": first,
        "repeat_loss_second_half": second,
        "repeat_loss_drop": first - second,
        "held_out_loss": loss,
        "bigram_held_out_loss": bigram,
        "best_bigram_held_out_loss": min(bigram.values()),
        "held_out_tokens": int(held[:, 1:].numel()),
        "targets": {
            "previous_token >= 0.5": best_prev[0] >= 0.5,
            "induction >= 0.4": best_ind[0] >= 0.4,
            "repeat loss drop >= 2 nats": first - second >= 2.0,
            "held-out loss below bigram": loss < min(bigram.values()),
        },
    }


# -- re-measuring a saved model ----------------------------------------------------------------
def remeasure(name: str, data_dir: Path = DEFAULT_DATA_DIR) -> dict:
    """Recompute the measurements of ``models/<name>`` from its saved weights and update its
    metrics.json (the training record in it is kept)."""
    from safetensors.torch import load_file

    from core.model import InterpretableTransformer

    folder = REPO_ROOT / "models" / name
    config = TransformerConfig(**json.loads((folder / "config.json").read_text()))
    model = InterpretableTransformer(config)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    model.eval()
    tokenizer = load_tokenizer()
    articles = read_articles([data_dir / "valid.txt", data_dir / "test.txt"])
    train_articles, held_articles = split_articles(articles, holdout_every=10)
    train, held = encode(tokenizer, train_articles), encode(tokenizer, held_articles)
    path = folder / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    metrics.update(measure(model, train, held, config.vocab_size))
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


# -- main -------------------------------------------------------------------------------------------
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True, help="folder under models/")
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--n-positions", type=int, default=256)
    ap.add_argument("--steps", type=int, default=24000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--init-std", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--layer-drop",
        type=float,
        default=0.0,
        help="probability of skipping each layer >= 1 in a training step (LayerDrop)",
    )
    ap.add_argument(
        "--layer-drop-anneal",
        type=float,
        default=0.2,
        help="fraction of the run at the end over which --layer-drop falls to 0",
    )
    ap.add_argument(
        "--start-layers",
        type=int,
        default=None,
        help="progressive growth: train only the first K layers (the others start "
        "with W_O = 0 and are skipped) until the circuit has formed",
    )
    ap.add_argument(
        "--grow-at",
        type=int,
        default=None,
        help="with --start-layers: grow to full depth at this step at the latest",
    )
    ap.add_argument(
        "--grow-induction",
        type=float,
        default=0.4,
        help="with --start-layers: grow at the first evaluation with an induction "
        "score at least this high ...",
    )
    ap.add_argument(
        "--grow-previous",
        type=float,
        default=0.5,
        help="... and a layer-0 previous-token score at least this high",
    )
    ap.add_argument("--eval-every", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="also save the weights here at every evaluation (to inspect a long run)",
    )
    return ap.parse_args(argv)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = REPO_ROOT / "models" / args.name
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer()
    vocab = tokenizer.get_vocab_size()
    articles = read_articles([args.data_dir / "valid.txt", args.data_dir / "test.txt"])
    train_articles, held_articles = split_articles(articles, holdout_every=10)
    train, held = encode(tokenizer, train_articles), encode(tokenizer, held_articles)
    log(f"{len(train):,} training tokens, {len(held):,} held-out tokens, vocabulary {vocab}")

    config = TransformerConfig(
        vocab_size=vocab,
        n_positions=args.n_positions,
        n_embd=args.d_model,
        n_layer=args.n_layer,
        n_head=args.n_head,
        init_std=args.init_std,
    )
    model = build_model(config, seed=args.seed).train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}], lr=args.lr, betas=(0.9, 0.95)
    )
    gen = torch.Generator().manual_seed(args.seed + 1)
    drop_gen = torch.Generator().manual_seed(args.seed + 2)  # data batches stay as without it
    grown = start_small(model, args.start_layers)
    grew_at = None if not grown else 0
    history, t0 = [], time.perf_counter()
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args)
        if not grown and args.grow_at is not None and step >= args.grow_at:
            grown, grew_at = True, step
            log(f"growing to {args.n_layer} layers at step {step} (--grow-at)")
        if grown:
            active = active_layers(args.n_layer, layer_drop_at(step, args), drop_gen)
        else:
            active = growing_layers(args.n_layer, args.start_layers)
        loss = lm_loss(model, make_batch(train, args.batch, vocab, gen), active)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            model.eval()
            seqs = repeated_random(vocab)
            ind = induction_scores(model, seqs)
            prev = previous_token_scores(model, windows(held, 50))
            first, second = repeat_losses(model, seqs)
            row = {
                "step": step + 1,
                "train_loss": loss.item(),
                "induction": max(max(r) for r in ind[1:]) if len(ind) > 1 else 0.0,
                "previous_token_l0": max(prev[0]),
                "repeat_drop": first - second,
                "best_previous_token_per_layer": [round(max(r), 3) for r in prev],
                "best_induction_per_layer": [round(max(r), 3) for r in ind],
                "layer_drop": layer_drop_at(step, args),
                "layers_training": sum(active),
                "seconds": time.perf_counter() - t0,
            }
            history.append(row)
            log(json.dumps(row))
            if not grown and circuit_formed(row, args):
                grown, grew_at = True, step + 1
                log(f"circuit formed: growing to {args.n_layer} layers after step {step + 1}")
            if args.checkpoint is not None:
                from safetensors.torch import save_file as save_checkpoint

                save_checkpoint(
                    {k: v.contiguous() for k, v in model.state_dict().items()}, str(args.checkpoint)
                )
            model.train()
    train_seconds = time.perf_counter() - t0
    model.eval()
    from safetensors.torch import save_file

    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors")
    )
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    metrics = measure(model, train, held, vocab)
    metrics.update(
        {
            "command": "python training/train_interpretable.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "train_seconds": train_seconds,
            "hardware": f"{platform.processor() or platform.machine()}, {args.threads} CPU threads",
            "torch": torch.__version__,
            "history": history,
            "grew_to_full_depth_at_step": grew_at,
            "parameters": sum(p.numel() for p in model.parameters()),
        }
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log(json.dumps(metrics["targets"]))
    return metrics


if __name__ == "__main__":
    main()
