"""core.production.trace_gpt2: the hand-walked GPT-2 forward, its exact identities, and purity.

The expected values come from two independent places: transformers' own forward pass (logits,
attentions, hidden states) and a slow float64 GPT-2 written here from the weights alone
(``reference_gpt2``), which shares no code with core.
"""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.production import (
    BUNDLED,
    direct_logit_attribution,
    load_production_model,
    trace_gpt2,
)
from core.trace import Trace, component_sum_error

DEFAULT_TEXT = "The history of the city began in the"  # the Production page's default sentence
SENTENCES = [
    DEFAULT_TEXT,
    "In 1995, the band released their first album.",
    "The river flows through the old town and into the",
    "She said that he",
]


@pytest.fixture(scope="module")
def bundled():
    return load_production_model(BUNDLED)


def reference_gpt2(model, ids: list[int]) -> dict:
    """GPT-2 in float64 from the state dict: components, final stream, attention, logits."""
    cfg = model.config
    w = {k: v.detach().double() for k, v in model.state_dict().items()}
    d, n_head = cfg.n_embd, cfg.n_head
    d_head, seq, eps = d // n_head, len(ids), cfg.layer_norm_epsilon

    def layer_norm(x, name):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * w[name + ".weight"] + w[name + ".bias"]

    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:seq]  # [seq, d]
    components, attention = [x], []
    future = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)
    for l in range(cfg.n_layer):
        p = f"transformer.h.{l}."
        h = layer_norm(x, p + "ln_1")
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # Conv1D: [in, out]
        q, k, v = (t.reshape(seq, n_head, d_head).transpose(0, 1) for t in qkv.split(d, -1))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d_head)
        a = torch.softmax(scores.masked_fill(future, -math.inf), -1)  # [head, query, key]
        z = (a @ v).transpose(0, 1).reshape(seq, d)
        attn_out = z @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        x = x + attn_out
        h = layer_norm(x, p + "ln_2")
        hidden = F.gelu(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"], approximate="tanh")
        mlp_out = hidden @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = x + mlp_out
        components += [attn_out, mlp_out]
        attention.append(a)
    w_u = model.lm_head.weight.detach().double()
    logits = layer_norm(x, "transformer.ln_f") @ w_u.T
    return {
        "components": torch.stack(components).numpy(),
        "final": x.numpy(),
        "attention": torch.stack(attention).numpy(),
        "logits": logits.numpy(),
        "gamma": w["transformer.ln_f.weight"].numpy(),
        "beta": w["transformer.ln_f.bias"].numpy(),
        "eps": eps,
        "w_u": w_u.numpy(),
    }


@pytest.fixture(scope="module")
def default_run(bundled):
    model, tokenizer = bundled
    trace = trace_gpt2(model, tokenizer, DEFAULT_TEXT)
    ids = trace.token_ids.tolist()
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    return trace, out, reference_gpt2(model, ids)


# -- the walk is the model -------------------------------------------------------------------------
def test_trace_is_numpy_only_and_shaped_as_documented(default_run, bundled):
    trace, _, _ = default_run
    cfg = bundled[0].config
    seq = trace.seq_len
    assert isinstance(trace, Trace) and trace.model_kind == "gpt2"
    assert trace.streams.shape == (cfg.n_layer + 1, seq, cfg.n_embd)
    assert trace.attention.shape == (cfg.n_layer, cfg.n_head, seq, seq)
    assert trace.component_names == ("embeddings",) + tuple(
        n for l in range(cfg.n_layer) for n in (f"attention {l}", f"MLP {l}")
    )
    assert trace.components.shape == (2 * cfg.n_layer + 1, seq, cfg.n_embd)
    for value in vars(trace).values():
        assert not isinstance(value, (torch.Tensor, torch.nn.Module))
    assert "".join(trace.token_texts) == DEFAULT_TEXT


def test_logits_from_the_trace_equal_the_models_own(default_run, bundled):
    trace, out, _ = default_run
    model = bundled[0]
    with torch.no_grad():
        final = torch.from_numpy(trace.streams[-1]).float()
        logits = model.lm_head(model.transformer.ln_f(final))
    assert torch.allclose(logits, out.logits[0], atol=1e-5, rtol=0)
    probs, ids = torch.softmax(out.logits[0].double(), -1).topk(5, dim=-1)
    assert np.array_equal(trace.top_ids, ids.numpy())
    assert np.allclose(trace.top_probs, probs.numpy(), atol=1e-6)


def test_attention_equals_output_attentions(default_run):
    trace, out, _ = default_run
    expected = np.stack([a[0].double().numpy() for a in out.attentions])
    assert np.allclose(trace.attention, expected, atol=1e-6, rtol=0)


def test_streams_equal_transformers_hidden_states_before_ln_f(default_run, bundled):
    trace, out, _ = default_run
    n_layer = bundled[0].config.n_layer
    for l in range(n_layer):  # transformers' last hidden state is ln_f(x_L), hence range(L)
        assert np.allclose(trace.streams[l], out.hidden_states[l][0].double().numpy(), atol=1e-5)
    ln_f = bundled[0].transformer.ln_f
    with torch.no_grad():
        after = ln_f(torch.from_numpy(trace.streams[-1]).float())
    assert torch.allclose(after, out.hidden_states[-1][0], atol=1e-5)
    assert np.allclose(trace.token_part + trace.position_part, trace.streams[0], atol=1e-6)


def test_every_part_matches_a_float64_reference(default_run):
    trace, _, ref = default_run
    scale = np.abs(ref["components"]).max()
    assert np.abs(trace.components - ref["components"]).max() < 1e-5 * scale
    assert np.allclose(trace.attention, ref["attention"], atol=1e-5)


# -- identity 1: the stream is the sum of its parts ------------------------------------------------
def test_final_stream_is_x0_plus_every_attention_and_mlp_output(default_run):
    trace, _, ref = default_run
    # Float64 reference: the sum of the parts is the final stream (to float64 rounding).
    assert np.abs(ref["components"].sum(axis=0) - ref["final"]).max() < 1e-12
    # The model's float32 stream equals that independently computed sum to float32 precision.
    scale = np.abs(ref["final"]).max()
    assert np.abs(trace.streams[-1] - ref["components"].sum(axis=0)).max() < 1e-6 * scale
    # And the number the page shows: max |Σ parts − x_L| on the model's own numbers.
    error = component_sum_error(trace)
    assert error == np.abs(trace.components.sum(axis=0) - trace.streams[-1]).max()
    assert 0 <= error < 1e-5


# -- identity 2: direct logit attribution with ln_f's scale frozen ---------------------------------
def test_direct_logit_attribution_sums_to_the_logit(default_run, bundled):
    trace, out, ref = default_run
    dla = trace.extras["dla"]
    t = dla["token_id"]
    assert t == int(out.logits[0, -1].argmax()) and dla["position"] == trace.seq_len - 1
    assert dla["token"] == bundled[1].decode([t])
    assert dla["components"] == list(trace.component_names) + ["final LayerNorm bias β"]
    # Sums to the model's own logit (transformers' forward), and to the float64 reference's.
    assert abs(sum(dla["contributions"]) - float(out.logits[0, -1, t])) < 1e-5
    assert abs(sum(dla["contributions"]) - ref["logits"][-1, t]) < 1e-4
    assert dla["sum_error"] < 1e-5


def test_each_contribution_is_the_frozen_scale_ablation_of_its_component(default_run):
    """Independently: with σ frozen, logit(x) is linear in x, so component c's term is
    logit(x) − logit(x − c), computed here on the float64 reference's parts."""
    trace, _, ref = default_run
    dla = trace.extras["dla"]
    t, parts = dla["token_id"], ref["components"][:, -1]  # [component, d_model], last position
    x = parts.sum(axis=0)
    sigma = np.sqrt(((x - x.mean()) ** 2).mean() + ref["eps"])

    def frozen_logit(v):
        return float(((v - v.mean()) / sigma * ref["gamma"] + ref["beta"]) @ ref["w_u"][t])

    expected = [frozen_logit(x) - frozen_logit(x - c) for c in parts]
    expected.append(float(ref["beta"] @ ref["w_u"][t]))
    assert dla["sigma"] == pytest.approx(sigma, rel=1e-5)
    assert np.allclose(dla["contributions"], expected, atol=1e-4)
    assert sum(expected) == pytest.approx(ref["logits"][-1, t], abs=1e-9)


def test_direct_logit_attribution_on_a_hand_example():
    """Two parts in d_model = 2: x = (3, 1), mean 2, var 1, σ = √(1 + eps)."""
    parts = np.array([[[1.0, 1.0]], [[2.0, 0.0]]])  # [component, seq=1, d_model=2]
    gamma, beta, w_u = np.array([1.0, 2.0]), np.array([0.5, 0.0]), np.array([1.0, 1.0])
    eps = 1e-5
    sigma = math.sqrt(1 + eps)
    # ln_f(x) = ((3, 1) − 2) / σ · γ + β = (1/σ + 0.5, −2/σ); logit = 0.5 − 1/σ.
    logit = 0.5 - 1 / sigma
    out = direct_logit_attribution(parts, ("a", "b"), gamma, beta, eps, w_u, logit)
    # part a = (1, 1): centred (0, 0) → 0; part b = (2, 0): centred (1, −1) → (1 − 2)/σ.
    assert out["contributions"] == pytest.approx([0.0, -1 / sigma, 0.5])
    assert out["total"] == pytest.approx(logit) and out["sum_error"] < 1e-12
    assert out["components"] == ["a", "b", "final LayerNorm bias β"]


@pytest.mark.parametrize("text", SENTENCES[1:])
def test_both_identities_hold_on_other_sentences(bundled, text):
    trace = trace_gpt2(*bundled, text)
    assert component_sum_error(trace) < 1e-5
    assert trace.extras["dla"]["sum_error"] < 1e-5


# -- purity: a shared model is only read -----------------------------------------------------------
def test_tracing_changes_nothing_on_the_model(bundled):
    model, tokenizer = bundled
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = copy.deepcopy(model.config.to_dict())
    attn_impl = model.config._attn_implementation
    backend_state = (tokenizer.backend_tokenizer.truncation, tokenizer.backend_tokenizer.padding)

    def hooks():  # transformers installs its own output recorders: none may be added
        return [
            (name, tuple(m._forward_hooks), tuple(m._forward_pre_hooks))
            for name, m in model.named_modules()
        ]

    hooks_before = hooks()
    for text in SENTENCES:
        trace_gpt2(model, tokenizer, text)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.config.to_dict() == config and model.config._attn_implementation == attn_impl
    assert not model.training
    assert hooks() == hooks_before
    assert (
        (tokenizer.backend_tokenizer.truncation, tokenizer.backend_tokenizer.padding)
        == backend_state
        == (None, None)
    )


def test_a_model_in_training_mode_is_refused_not_switched(bundled):
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(
        GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=4096, n_positions=16)
    )
    model.train()
    with pytest.raises(ValueError, match="training mode"):
        trace_gpt2(model, bundled[1], "The city")
    assert model.training


def test_a_trace_does_not_keep_its_model_alive(bundled):
    import gc
    import weakref

    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=4096, n_positions=16)
    model = GPT2LMHeadModel._from_config(config, attn_implementation="eager").eval()
    trace = trace_gpt2(model, bundled[1], "The city")
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
    assert trace.streams.shape == (2, 2, 8)
