"""The interpretable transformer: attention-only, no LayerNorm, every internal visible.

Shapes use the paper's names: ``[batch, seq, d_model]`` for the residual stream and
``[batch, head, query, key]`` for attention. Per head the weights are oriented as in the lesson:
``W_Q, W_K, W_V: [d_head, d_model]`` and ``W_O: [d_model, d_head]``, stored stacked over heads
so that all heads of a layer are computed together, from the same layer input.

Because there is no LayerNorm and no MLP, the final residual stream is *exactly*
``embeddings + Σ_layers Σ_heads head_output`` and ``logits = final · W_Uᵀ``;
:class:`PathDecomposition` measures that identity numerically.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.config import DEFAULT_BUDGET, ResourceBudget, TransformerConfig
from core.validators import ValidationError, validate_token_ids

__all__ = [
    "SinusoidalPositions",
    "AttentionLayer",
    "InterpretableTransformer",
    "LayerAnalysis",
    "PathDecomposition",
    "build_model",
    "forward_heads_in_sequence",
    "StreamOverflowError",
    "result_nbytes",
    "TRAINED_MODELS",
    "TextTokenizer",
    "read_trained_config",
    "load_trained",
]

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
#: The bundled BPE tokenizer (4,096 tokens) shared by the trained interpretable models.
TOKENIZER_FILE = MODELS_DIR / "tiny-gpt2-wikitext2" / "tokenizer.json"
#: Trained interpretable models shipped in models/<name>/ (weights, config, card, metrics).
TRAINED_MODELS: tuple[str, ...] = tuple(
    sorted(p.parent.name for p in MODELS_DIR.glob("attn-only-*/model.safetensors"))
)

#: Largest |value| accepted in the residual stream: well inside float32 (max ≈ 3.4e38), so the
#: analyses that square or sum stream values stay finite.
MAX_STREAM_VALUE = 1e30


class StreamOverflowError(ValidationError):
    """The residual stream grew past what float32 analyses can hold (huge weights × layers)."""


def _check_stream(x: torch.Tensor, layer: int, config: TransformerConfig) -> None:
    """Refuse a stream that overflowed, saying how fast it grew and what to change."""
    if bool(torch.isfinite(x).all()) and float(x.abs().max()) <= MAX_STREAM_VALUE:
        return
    raise StreamOverflowError(
        f"The residual stream overflowed after layer {layer}: with weight scale "
        f"{config.init_std:g} every layer multiplies the stream's size many times over (each "
        f"head writes x·OVᵀ, and OV = W_O W_V grows with the square of the weight scale), so "
        f"after {layer + 1} of {config.n_layer} layers its values pass {MAX_STREAM_VALUE:.0e} "
        f"and float32 arithmetic breaks down. Use a smaller weight scale or fewer layers."
    )


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal position embeddings W_pos ``[n_positions, d_model]`` (not trained)."""

    def __init__(self, n_positions: int, d_model: int):
        super().__init__()
        if d_model % 2:
            raise ValidationError(f"Sinusoidal positions need an even d_model; got {d_model}.")
        position = torch.arange(n_positions, dtype=torch.float64).unsqueeze(1)
        inv_freq = torch.exp(
            torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model)
        )
        pe = torch.zeros(n_positions, d_model, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(position * inv_freq)
        pe[:, 1::2] = torch.cos(position * inv_freq)
        self.register_buffer("W_pos", pe.float(), persistent=False)

    def forward(self, seq_len: int) -> torch.Tensor:  # [seq, d_model]
        return self.W_pos[:seq_len]


class AttentionLayer(nn.Module):
    """One layer of ``n_head`` causal heads that all read the same residual stream."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        h, dh, d = config.n_head, config.d_head, config.n_embd
        self.n_head, self.d_head = h, dh
        self.scale = 1.0 / math.sqrt(dh)
        self.W_Q = nn.Parameter(torch.empty(h, dh, d))  # [head, d_head, d_model]
        self.W_K = nn.Parameter(torch.empty(h, dh, d))
        self.W_V = nn.Parameter(torch.empty(h, dh, d))
        self.W_O = nn.Parameter(torch.empty(h, d, dh))  # [head, d_model, d_head]

    def _project(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x [batch, seq, d_model] · wᵀ for every head at once → [batch, head, seq, d_head]."""
        b, s, _ = x.shape
        flat = F.linear(x, w.reshape(self.n_head * self.d_head, -1))  # one matmul, all heads
        return flat.view(b, s, self.n_head, self.d_head).transpose(1, 2)

    def write_out(self, z: torch.Tensor) -> torch.Tensor:
        """Sum of all heads' outputs: z [batch, head, seq, d_head] → [batch, seq, d_model]."""
        return torch.einsum("bhsk,hdk->bsd", z, self.W_O)

    def head_outputs(self, z: torch.Tensor) -> torch.Tensor:
        """Each head's output separately: [batch, head, seq, d_model]."""
        return torch.einsum("bhsk,hdk->bhsd", z, self.W_O)

    def forward(self, x: torch.Tensor, return_analysis: bool = False):
        q = self._project(x, self.W_Q)  # [batch, head, seq, d_head]
        k = self._project(x, self.W_K)
        v = self._project(x, self.W_V)
        if not return_analysis:
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
            return self.write_out(z), None
        scores = self.attention_scores(q, k)  # [batch, head, query, key]
        weights = torch.softmax(scores, dim=-1)  # exactly 0 above the diagonal
        z = torch.matmul(weights, v)  # [batch, head, seq, d_head]
        out = self.write_out(z)
        # Scores and the layer output are re-derived on access (same ops, same numbers), so the
        # analysis holds no more than the weights, q, k, v and z of each layer.
        stored = {
            "attention_weights": weights.detach(),
            "queries": q.detach(),
            "keys": k.detach(),
            "values": v.detach(),
            "attended_values": z.detach(),
        }
        return out, stored

    def attention_scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Scaled, causally masked scores [batch, head, query, key] (−inf above the diagonal)."""
        seq = q.shape[2]
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        future = torch.ones(seq, seq, dtype=torch.bool, device=q.device).triu(1)
        return scores.masked_fill(future, float("-inf"))


class LayerAnalysis(Mapping):
    """What one layer did. Holds the attention internals; some entries are derived on access.

    Keys: attention_scores (scaled, causal-masked, pre-softmax) and attention_weights
    ``[batch, head, query, key]``; queries/keys/values/attended_values ``[batch, head, seq,
    d_head]``; input_stream and output_stream; and, derived on access from what is held (the
    same operations as the forward pass, so the same numbers): attention_scores, layer_output
    ``[batch, seq, d_model]`` (all heads summed) and head_outputs ``[batch, head, seq, d_model]``
    (what each head writes); layer_idx.
    """

    _LAZY = ("attention_scores", "layer_output", "head_outputs")

    def __init__(self, layer_idx: int, layer: AttentionLayer, stored: dict[str, Any]):
        self.layer_idx = layer_idx
        self._layer = layer
        self._stored = stored

    def stored_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors this object actually holds (for memory accounting)."""
        return dict(self._stored)

    def __getitem__(self, key: str) -> Any:
        if key in self._stored:
            return self._stored[key]
        if key in self._LAZY:
            with torch.no_grad():
                if key == "attention_scores":
                    return self._layer.attention_scores(
                        self._stored["queries"], self._stored["keys"]
                    )
                if key == "layer_output":
                    return self._layer.write_out(self._stored["attended_values"])
                return self._layer.head_outputs(self._stored["attended_values"])
        if key == "layer_idx":
            return self.layer_idx
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from self._stored
        yield from self._LAZY
        yield "layer_idx"

    def __len__(self) -> int:
        return len(self._stored) + len(self._LAZY) + 1

    def __repr__(self) -> str:
        return f"LayerAnalysis(layer={self.layer_idx}, keys={list(self)})"


class PathDecomposition(Mapping):
    """The exact split of the final residual stream by source.

    final = direct_path + Σ_l layer_contributions[l], and each layer's contribution is the sum of
    its heads' outputs. Keys:

    - ``direct_path`` ``[batch, seq, d_model]``: token + position embeddings (the path from
      embedding straight to unembedding); ``token_embedding`` and ``positional_embedding`` its
      two parts;
    - ``layer_contributions``: list of ``[batch, seq, d_model]``, one per layer;
    - ``head_contributions`` (derived): list of ``[batch, head, seq, d_model]``;
    - ``final_stream``: the model's final residual stream;
    - ``reconstruction_error`` (derived, float): max |direct + Σ heads − final|, summing the
      per-head outputs computed separately from the forward pass;
    - ``logit_reconstruction_error`` (derived, float): max |(direct + Σ heads)·W_Uᵀ − logits|.
    """

    _LAZY = (
        "layer_contributions",
        "head_contributions",
        "reconstruction",
        "reconstruction_error",
        "logit_reconstruction_error",
    )

    def __init__(
        self, model: InterpretableTransformer, stored: dict[str, Any], logits: torch.Tensor
    ):
        self._model = model
        self._stored = stored
        self._logits = logits
        self._scalars: dict[str, float] = {}

    def stored_tensors(self) -> dict[str, Any]:
        return dict(self._stored)

    def _reconstruction(self) -> torch.Tensor:
        with torch.no_grad():
            total = self._stored["direct_path"].clone()
            for layer, analysis_z in zip(self._model.layers, self._stored["_attended_values"]):
                total += layer.head_outputs(analysis_z).sum(dim=1)
            return total

    def __getitem__(self, key: str) -> Any:
        if key in self._stored and not key.startswith("_"):
            return self._stored[key]
        if key == "layer_contributions":
            with torch.no_grad():
                return [
                    layer.write_out(z)
                    for layer, z in zip(self._model.layers, self._stored["_attended_values"])
                ]
        if key == "head_contributions":
            with torch.no_grad():
                return [
                    layer.head_outputs(z)
                    for layer, z in zip(self._model.layers, self._stored["_attended_values"])
                ]
        if key == "reconstruction":
            return self._reconstruction()
        if key == "reconstruction_error":
            if key not in self._scalars:
                diff = self._reconstruction() - self._stored["final_stream"]
                self._scalars[key] = float(diff.abs().max())
            return self._scalars[key]
        if key == "logit_reconstruction_error":
            if key not in self._scalars:
                with torch.no_grad():
                    rebuilt = self._model.unembedding(self._reconstruction())
                self._scalars[key] = float((rebuilt - self._logits).abs().max())
            return self._scalars[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in self._stored if not k.startswith("_"))
        yield from self._LAZY

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"PathDecomposition(keys={list(self)})"


class InterpretableTransformer(nn.Module):
    """Token embedding → n_layer attention-only layers on the residual stream → unembedding."""

    def __init__(self, config: TransformerConfig, budget: ResourceBudget = DEFAULT_BUDGET):
        super().__init__()
        budget.check(config)  # before anything is allocated
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)  # W_E
        self.positional_embedding = SinusoidalPositions(config.n_positions, config.n_embd)
        self.layers = nn.ModuleList(AttentionLayer(config) for _ in range(config.n_layer))
        self.unembedding = nn.Linear(config.n_embd, config.vocab_size, bias=False)  # W_U
        self.reset_parameters()

    # -- weights -------------------------------------------------------------------------------
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Every weight ~ N(0, init_std²), drawn from ``generator`` for reproducibility."""
        with torch.no_grad():
            for p in self.parameters():
                p.normal_(0.0, self.config.init_std, generator=generator)

    @property
    def W_E(self) -> torch.Tensor:
        return self.token_embedding.weight  # [vocab, d_model]

    @property
    def W_U(self) -> torch.Tensor:
        return self.unembedding.weight  # [vocab, d_model]

    @property
    def W_pos(self) -> torch.Tensor:
        return self.positional_embedding.W_pos  # [n_positions, d_model]

    def _check_head(self, layer: int, head: int) -> None:
        for name, value, limit in (
            ("layer", layer, self.config.n_layer),
            ("head", head, self.config.n_head),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
                raise ValidationError(
                    f"{name} must be a whole number from 0 to {limit - 1}; got {value!r}."
                )

    def head_weights(self, layer: int, head: int) -> dict[str, torch.Tensor]:
        """W_Q, W_K, W_V ``[d_head, d_model]`` and W_O ``[d_model, d_head]`` of one head."""
        self._check_head(layer, head)
        blk = self.layers[layer]
        return {
            "W_Q": blk.W_Q[head],
            "W_K": blk.W_K[head],
            "W_V": blk.W_V[head],
            "W_O": blk.W_O[head],
        }

    def get_qk_circuit(self, layer: int, head: int) -> torch.Tensor:
        """QK = W_Qᵀ W_K ``[d_model, d_model]``: scores = x · QK · xᵀ / √d_head."""
        w = self.head_weights(layer, head)
        with torch.no_grad():
            return w["W_Q"].T @ w["W_K"]

    def get_ov_circuit(self, layer: int, head: int) -> torch.Tensor:
        """OV = W_O W_V ``[d_model, d_model]``: head output = A · x · OVᵀ."""
        w = self.head_weights(layer, head)
        with torch.no_grad():
            return w["W_O"] @ w["W_V"]

    # -- forward -------------------------------------------------------------------------------
    def forward(self, input_ids: Any, return_analysis: bool = False) -> dict[str, Any]:
        """Run the model. ``input_ids``: ``[batch, seq]`` or ``[seq]`` token ids.

        Returns ``{"logits": [batch, seq, vocab]}``, plus ``"analysis"`` when asked for.
        """
        cfg = self.config
        ids = validate_token_ids(input_ids, cfg.vocab_size, cfg.n_positions)
        ids = ids.to(self.W_E.device)
        tok = self.token_embedding(ids)  # [batch, seq, d_model]
        pos = self.positional_embedding(ids.shape[1])  # [seq, d_model]
        x = tok + pos
        if not return_analysis:
            for layer in self.layers:
                out, _ = layer(x)
                x = x + out
            return {"logits": self.unembedding(x)}

        streams = [x.detach()]
        stored_layers: list[dict[str, Any]] = []
        for l, layer in enumerate(self.layers):
            out, stored = layer(x, return_analysis=True)
            stored["input_stream"] = streams[-1]
            x = x + out
            _check_stream(x.detach(), l, cfg)
            stored["output_stream"] = x.detach()
            streams.append(stored["output_stream"])
            stored_layers.append(stored)
        logits = self.unembedding(x)
        analyses = [
            LayerAnalysis(i, layer, s)
            for i, (layer, s) in enumerate(zip(self.layers, stored_layers))
        ]
        # Only the rows in use: a view of W_pos would keep the whole table alive in the result.
        pos_rows = pos.detach().clone()
        decomposition = PathDecomposition(
            self,
            {
                "direct_path": streams[0],
                "token_embedding": tok.detach(),
                "positional_embedding": pos_rows,
                "final_stream": streams[-1],
                "_attended_values": [s["attended_values"] for s in stored_layers],
            },
            logits.detach(),
        )
        return {
            "logits": logits,
            "analysis": {
                "input_ids": ids,
                "residual_streams": streams,
                "layer_analyses": analyses,
                "path_decomposition": decomposition,
            },
        }

    @torch.no_grad()
    def analyze(self, input_ids: Any) -> dict[str, Any]:
        """``forward(input_ids, return_analysis=True)`` without building a gradient graph."""
        return self.forward(input_ids, return_analysis=True)


def build_model(
    config: TransformerConfig, seed: int = 0, budget: ResourceBudget = DEFAULT_BUDGET
) -> InterpretableTransformer:
    """A freshly initialised model in eval mode; the same ``seed`` gives the same weights.

    ``config`` is checked against ``budget`` before anything is allocated.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValidationError(f"seed must be a whole number from 0 to 2^63 − 1; got {seed!r}.")
    model = InterpretableTransformer(config, budget)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    return model.eval()


@torch.no_grad()
def forward_heads_in_sequence(
    model: InterpretableTransformer, input_ids: Any, head_order: Sequence[int] | None = None
) -> dict[str, Any]:
    """The seed's ``TransformerLayer``, on the same weights: inside each layer the heads run one
    after another, and each head's output is added to the stream *before* the next head reads it.

    This is a different function from the transformer (where every head of a layer reads the same
    x_l). ``head_order`` (a permutation of the heads) is the order used in every layer. Returns
    ``final_stream`` ``[batch, seq, d_model]``, ``embeddings`` (x0), ``head_outputs`` (one
    ``[batch, seq, d_model]`` per layer and head, in the order run) and ``logits``. Every write
    is still added to the stream, so final = x0 + Σ head outputs holds here too.
    """
    cfg = model.config
    order = list(range(cfg.n_head)) if head_order is None else [int(h) for h in head_order]
    if sorted(order) != list(range(cfg.n_head)):
        raise ValidationError(
            f"head_order must list each head 0 to {cfg.n_head - 1} once; got {head_order!r}."
        )
    ids = validate_token_ids(input_ids, cfg.vocab_size, cfg.n_positions).to(model.W_E.device)
    x0 = model.token_embedding(ids) + model.positional_embedding(ids.shape[1])
    x = x0
    outputs: list[torch.Tensor] = []
    for l, layer in enumerate(model.layers):
        for h in order:
            # One head on the *current* stream: the layer's batched code restricted to head h.
            q = F.linear(x, layer.W_Q[h])  # [batch, seq, d_head]
            k = F.linear(x, layer.W_K[h])
            v = F.linear(x, layer.W_V[h])
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=layer.scale)
            out = F.linear(z, layer.W_O[h])  # [batch, seq, d_model]
            outputs.append(out)
            x = x + out
        _check_stream(x, l, cfg)
    return {
        "embeddings": x0,
        "head_outputs": outputs,
        "final_stream": x,
        "logits": model.unembedding(x),
    }


def result_nbytes(obj: Any) -> int:
    """Bytes of distinct tensor storage held by ``obj`` (dicts, lists, our lazy containers).

    Derived entries of :class:`LayerAnalysis` / :class:`PathDecomposition` are not materialised.
    """
    seen: set[int] = set()
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
        elif hasattr(item, "stored_tensors"):
            stack.extend(item.stored_tensors().values())
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total


class TextTokenizer:
    """The bundled BPE tokenizer: ``encode(text)`` → ids and ``decode(ids)`` → text (offline)."""

    #: Its vocabulary size (ids 0 … 4095); a test checks it against the file.
    VOCAB_SIZE = 4096

    def __init__(self, path: Path = TOKENIZER_FILE):
        from tokenizers import Tokenizer  # the tokenizers package; imported only when needed

        self._tok = Tokenizer.from_file(str(path))

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids])


def read_trained_config(name: str) -> TransformerConfig:
    """The :class:`TransformerConfig` of a shipped trained model (reads only its config.json)."""
    if name not in TRAINED_MODELS:
        raise ValidationError(
            f"There is no trained model called {name!r}; the shipped ones are "
            f"{', '.join(TRAINED_MODELS) or 'none'}."
        )
    return TransformerConfig(**json.loads((MODELS_DIR / name / "config.json").read_text()))


def load_trained(name: str) -> tuple[InterpretableTransformer, TextTokenizer]:
    """``(model, tokenizer)`` for a shipped trained model: an eval-mode
    :class:`InterpretableTransformer` and the bundled tokenizer. Loading is offline."""
    config = read_trained_config(name)
    from safetensors.torch import load_file

    folder = MODELS_DIR / name
    model = InterpretableTransformer(config)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model.eval(), TextTokenizer()
