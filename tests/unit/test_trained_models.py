"""The shipped trained attention-only model: it loads offline, and the circuits its card claims are
there, measured here from the weights with code independent of the training script."""

import pytest
import torch
import torch.nn.functional as F

from core.model import TRAINED_MODELS, InterpretableTransformer, load_trained
from core.validators import ValidationError

NAME = "attn-only-2l"

# Ordinary English the model never saw (written for this test, not from WikiText).
PASSAGE = (
    "The old lighthouse stood on a rocky point above the harbour. Every evening the keeper "
    "climbed the narrow stairs, trimmed the wick and watched the fishing boats come home. In "
    "the winter storms the waves reached the lower windows, and the town relied on its light "
    "to guide the ships past the reef."
)


@pytest.fixture(scope="module")
def trained():
    return load_trained(NAME)


def test_the_model_is_listed_and_loads_offline(trained):
    assert NAME in TRAINED_MODELS
    model, tokenizer = trained
    assert isinstance(model, InterpretableTransformer) and not model.training
    assert model.config.n_layer == 2 and tokenizer.vocab_size == model.config.vocab_size
    ids = tokenizer.encode("The history of the city")
    assert tokenizer.decode(ids) == "The history of the city"
    out = model(ids, return_analysis=True)
    assert out["analysis"]["path_decomposition"]["reconstruction_error"] < 1e-4


def test_unknown_name_is_refused_with_the_list():
    with pytest.raises(ValidationError, match=NAME):
        load_trained("no-such-model")


def _repeated(vocab: int, n: int = 50, half: int = 25) -> torch.Tensor:
    first = torch.randint(0, vocab, (n, half), generator=torch.Generator().manual_seed(7))
    return torch.cat([first, first], dim=1)


@torch.no_grad()
def test_a_layer1_head_is_an_induction_head(trained):
    model, _ = trained
    seqs = _repeated(model.config.vocab_size)
    weights = model.analyze(seqs)["analysis"]["layer_analyses"][1]["attention_weights"]
    half = seqs.shape[1] // 2
    # From position half + j (second copy of token j) to position j + 1, for j = 0 .. half - 2.
    scores = torch.stack([weights[:, :, half + j, j + 1] for j in range(half - 1)]).mean(dim=(0, 1))
    assert float(scores.max()) >= 0.4


@torch.no_grad()
def test_the_repeat_is_predicted_in_context(trained):
    model, _ = trained
    seqs = _repeated(model.config.vocab_size)
    half = seqs.shape[1] // 2
    logits = model(seqs)["logits"]
    loss = F.cross_entropy(logits[:, :-1].transpose(1, 2), seqs[:, 1:], reduction="none")
    first, second = loss[:, : half - 1].mean(), loss[:, half - 1:].mean()
    assert float(first - second) >= 2.0


@torch.no_grad()
def test_a_layer0_head_attends_to_the_previous_token(trained):
    """On 64-token held-out WikiText windows the card reports 0.58 (metrics.json); on this
    88-token passage of other text the same head scores about 0.45, far above uniform."""
    model, tokenizer = trained
    ids = tokenizer.encode(PASSAGE)
    weights = model.analyze(ids)["analysis"]["layer_analyses"][0]["attention_weights"][0]
    prev = torch.stack([weights[:, i, i - 1] for i in range(1, len(ids))], dim=1).mean(dim=1)
    uniform = sum(1 / (i + 1) for i in range(1, len(ids))) / (len(ids) - 1)
    assert float(prev.max()) >= 0.4 and float(prev.max()) >= 5 * uniform
