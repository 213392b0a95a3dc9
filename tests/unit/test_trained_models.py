"""The shipped trained attention-only models: they load offline, and the circuits their cards
claim are there, measured here from the weights with code independent of the training script
(and of core.head_scores)."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from core.model import TRAINED_MODELS, InterpretableTransformer, load_trained
from core.validators import ValidationError

ROOT = Path(__file__).resolve().parents[2]
#: Encyclopedia-style paragraphs written for these tests (not from WikiText, which is not in the
#: repository): 651 tokens, read as ten 64-token windows like the training script's held-out set.
FIXTURE = ROOT / "tests" / "fixtures" / "encyclopedia_style.txt"
WIKITEXT = ROOT.parent / "shared" / "data" / "wikitext-2"
WINDOW = 64

pytestmark = pytest.mark.skipif(not TRAINED_MODELS, reason="no trained model shipped")


@pytest.fixture(scope="module", params=TRAINED_MODELS)
def trained(request):
    return request.param, *load_trained(request.param)


def test_the_lesson_models_are_shipped():
    assert {"attn-only-2l", "attn-only-4l"} <= set(TRAINED_MODELS)


def test_the_model_loads_offline_and_decomposes_exactly(trained):
    name, model, tokenizer = trained
    assert isinstance(model, InterpretableTransformer) and not model.training
    assert tokenizer.vocab_size == model.config.vocab_size == 4096
    ids = tokenizer.encode("The history of the city")
    assert tokenizer.decode(ids) == "The history of the city"
    out = model(ids, return_analysis=True)
    assert out["analysis"]["path_decomposition"]["reconstruction_error"] < 1e-4


def test_unknown_name_is_refused_with_the_list():
    with pytest.raises(ValidationError, match="attn-only-2l"):
        load_trained("no-such-model")


def _repeated(vocab: int, n: int = 50, half: int = 25) -> torch.Tensor:
    """n sequences of ``half`` tokens drawn uniformly from the whole vocabulary, written twice."""
    first = torch.randint(0, vocab, (n, half), generator=torch.Generator().manual_seed(7))
    return torch.cat([first, first], dim=1)


@torch.no_grad()
def test_a_head_after_layer0_is_an_induction_head(trained):
    _, model, _ = trained
    seqs = _repeated(model.config.vocab_size)
    half = seqs.shape[1] // 2
    best = 0.0
    for la in model.analyze(seqs)["analysis"]["layer_analyses"][1:]:
        w = la["attention_weights"]
        # From position half + j (second copy of token j) to j + 1, for j = 0 .. half - 2.
        scores = torch.stack([w[:, :, half + j, j + 1] for j in range(half - 1)])
        best = max(best, float(scores.mean(dim=(0, 1)).max()))
    assert best >= 0.4


@torch.no_grad()
def test_the_repeat_is_predicted_in_context(trained):
    _, model, _ = trained
    seqs = _repeated(model.config.vocab_size)
    half = seqs.shape[1] // 2
    logits = model(seqs)["logits"]
    loss = F.cross_entropy(logits[:, :-1].transpose(1, 2), seqs[:, 1:], reduction="none")
    first, second = loss[:, : half - 1].mean(), loss[:, half - 1 :].mean()
    assert float(first - second) >= 2.0


def _previous_token_scores(model, tokenizer) -> torch.Tensor:
    """[layer, head]: mean attention from position i to i − 1 over the fixture's 64-token
    windows."""
    ids = tokenizer.encode(FIXTURE.read_text())
    n = len(ids) // WINDOW
    x = torch.tensor(ids[: n * WINDOW]).view(n, WINDOW)
    with torch.no_grad():
        layers = model.analyze(x)["analysis"]["layer_analyses"]
    return torch.stack(
        [
            torch.stack([la["attention_weights"][:, :, i, i - 1] for i in range(1, WINDOW)]).mean(
                dim=(0, 1)
            )
            for la in layers
        ]
    )


def _induction_by_layer(model) -> torch.Tensor:
    seqs = _repeated(model.config.vocab_size)
    half = seqs.shape[1] // 2
    with torch.no_grad():
        layers = model.analyze(seqs)["analysis"]["layer_analyses"]
    return torch.stack(
        [
            torch.stack(
                [la["attention_weights"][:, :, half + j, j + 1] for j in range(half - 1)]
            ).mean(dim=(0, 1))
            for la in layers
        ]
    )


def test_a_previous_token_head_sits_before_the_induction_head(trained):
    """The induction circuit's two parts: a previous-token head (≥ 0.5 on held-out-style text)
    in an earlier layer than the strongest induction head."""
    _, model, tokenizer = trained
    prev = _previous_token_scores(model, tokenizer)
    ind = _induction_by_layer(model)
    prev_layer = int(prev.max(dim=1).values.argmax())
    ind_layer = int(ind.max(dim=1).values.argmax())
    assert float(prev.max()) >= 0.5
    assert float(ind.max()) >= 0.4
    assert prev_layer < ind_layer


#: The issue's target is a previous-token head in layer 0. Both shipped models meet it (the
#: 4-layer one since it was retrained with progressive growth, see its card). A model that
#: misses it would be listed here as a strict expected failure, with the reason on its card.
LAYER0_MISSES: set[str] = set()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n,
            marks=pytest.mark.xfail(
                strict=True, reason="previous-token heads in layers 1–2, not 0 (see the model card)"
            ),
        )
        if n in LAYER0_MISSES
        else n
        for n in TRAINED_MODELS
    ],
)
def test_a_layer0_head_attends_to_the_previous_token(name):
    model, tokenizer = load_trained(name)
    assert float(_previous_token_scores(model, tokenizer)[0].max()) >= 0.5


@pytest.mark.skipif(
    not (WIKITEXT / "valid.txt").is_file(),
    reason="WikiText-2 is not in the repository; run where ../shared/data is",
)
@torch.no_grad()
def test_held_out_loss_is_below_the_bigram_baseline(trained):
    import sys

    sys.path.insert(0, str(ROOT))
    from training.train_tiny_gpt2 import read_articles, split_articles

    _, model, tokenizer = trained
    train_articles, held = split_articles(
        read_articles([WIKITEXT / "valid.txt", WIKITEXT / "test.txt"]), holdout_every=10
    )
    train = torch.tensor([i for a in train_articles for i in tokenizer.encode(a)])
    held_ids = torch.tensor([i for a in held for i in tokenizer.encode(a)])
    x = held_ids[: (len(held_ids) // WINDOW) * WINDOW].view(-1, WINDOW)[:400]
    vocab = model.config.vocab_size
    counts = torch.zeros(vocab, vocab, dtype=torch.float64)
    counts.index_put_(
        (train[:-1], train[1:]), torch.ones(len(train) - 1, dtype=torch.float64), accumulate=True
    )
    probs = (counts + 0.01) / (counts.sum(1, keepdim=True) + 0.01 * vocab)
    bigram = float(-torch.log(probs[x[:, :-1], x[:, 1:]]).mean())
    logits = torch.cat([model(x[i : i + 50])["logits"] for i in range(0, len(x), 50)])
    loss = float(F.cross_entropy(logits[:, :-1].reshape(-1, vocab), x[:, 1:].reshape(-1)))
    assert loss < bigram
