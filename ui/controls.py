"""The shared model-and-input controls (sidebar form) and the cached model / forward pass.

Every lesson page that uses the interpretable model calls :func:`model_sidebar` and then the
cached loaders below, so all pages share one model, one input and one forward pass per
(config, seed, input). The accepted settings live in ``st.session_state["lab_settings"]`` (not
a widget key, so they survive page switches); a refused submission keeps the previous settings
and leaves the learner's typing in the form to fix.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import streamlit as st

from core.circuits import circuit_view, parameter_breakdown, qk_score_terms
from core.config import ResourceBudget, TransformerConfig, format_bytes
from core.lesson import SPEC_EXAMPLE_IDS, repeated_random_ids
from core.model import InterpretableTransformer, build_model
from core.report import architecture_report, sequential_comparison
from core.trace import Trace, stream_statistics, trace_interpretable
from core.validators import ValidationError, parse_token_text

#: Token ids typed in the box (heatmaps stay readable).
MAX_INPUT_TOKENS = 64
REPEAT_HALF_LENGTH = 8

#: What one learner's model may cost on a shared, hosted machine (Community Cloud: 0.7–2.7 GB).
#: With the cache sizes below, the interpretable side holds at most
#: MODEL_CACHE × max_model_bytes + TRACE_CACHE × (a trace, ≤ max_activation_bytes / 2) and runs
#: at most MAX_CONCURRENT_RUNS passes at once; see bench/bench_memory.py for the measured RSS.
APP_BUDGET = ResourceBudget(max_parameters=12_000_000, max_model_bytes=64 * 1024**2,
                            max_activation_bytes=48 * 1024**2, analysis_tokens=MAX_INPUT_TOKENS)
MODEL_CACHE = 2
TRACE_CACHE = 8
MAX_CONCURRENT_RUNS = 2
_RUNS = threading.BoundedSemaphore(MAX_CONCURRENT_RUNS)

SOURCE_TYPED = "Token ids typed below"
SOURCE_SPEC = "Spec example: 1, 15, 27, 89, 156, 234, 445, 567"
SOURCE_REPEAT = f"Random sequence of {REPEAT_HALF_LENGTH}, repeated twice"
SOURCES = (SOURCE_TYPED, SOURCE_SPEC, SOURCE_REPEAT)
WEIGHT_SCALES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)

DEFAULT_CONFIG = TransformerConfig(vocab_size=1000, n_positions=128, n_embd=256, n_layer=4,
                                   n_head=8, init_std=0.02)


@dataclass(frozen=True)
class LabSettings:
    """What the learner applied: one frozen config (the cache key as it is), a seed, an input."""

    config: TransformerConfig = DEFAULT_CONFIG
    seed: int = 0
    token_ids: tuple[int, ...] = SPEC_EXAMPLE_IDS


DEFAULTS = LabSettings()
#: Widget keys of the sidebar form, by the field they edit.
_W = {
    "n_layer": "lab_w_n_layer", "n_head": "lab_w_n_head", "n_embd": "lab_w_n_embd",
    "vocab_size": "lab_w_vocab", "n_positions": "lab_w_n_positions",
    "init_std": "lab_w_init_std", "seed": "lab_w_seed", "tokens": "lab_w_tokens",
    "source": "lab_w_source",
}
_LABELS = {"n_layer": "Layers", "n_head": "Heads per layer", "n_embd": "Width (d_model)",
           "vocab_size": "Vocabulary size", "n_positions": "Context (n_positions)",
           "seed": "Seed"}
_CONFIG_FIELDS = ("n_layer", "n_head", "n_embd", "vocab_size", "n_positions")


def current_settings() -> LabSettings:
    return st.session_state.setdefault("lab_settings", DEFAULTS)


def settings_error() -> str | None:
    return st.session_state.get("lab_settings_error")


def _ids_text(ids: tuple[int, ...] | list[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _whole(field: str) -> int:
    value = st.session_state.get(_W[field])
    if value is None:
        raise ValidationError(f"{_LABELS[field]} is empty: type a whole number.")
    return int(value)


def _apply() -> None:
    """Form callback: validate everything (and run it), then commit or keep the last settings."""
    ss = st.session_state
    try:
        config = TransformerConfig(**{f: _whole(f) for f in _CONFIG_FIELDS},
                                   init_std=float(ss[_W["init_std"]]))
        APP_BUDGET.check(config)  # raises with the estimate and the limit when over budget
        seed = _whole("seed")
        max_tokens = min(MAX_INPUT_TOKENS, config.n_positions)
        source = ss[_W["source"]]
        if source == SOURCE_SPEC:
            if config.vocab_size <= max(SPEC_EXAMPLE_IDS):
                raise ValidationError(
                    f"The spec example uses token ids up to {max(SPEC_EXAMPLE_IDS)}, but this "
                    f"vocabulary has only {config.vocab_size} tokens (ids 0 to "
                    f"{config.vocab_size - 1}). Use a vocabulary of at least "
                    f"{max(SPEC_EXAMPLE_IDS) + 1}, or type your own ids."
                )
            ids = list(SPEC_EXAMPLE_IDS)
        elif source == SOURCE_REPEAT:
            ids = repeated_random_ids(config.vocab_size, REPEAT_HALF_LENGTH, seed)
        else:
            ids = parse_token_text(ss[_W["tokens"]], config.vocab_size, max_tokens)
        if len(ids) > max_tokens:
            raise ValidationError(
                f"The input has {len(ids)} tokens; this model's context (n_positions) allows "
                f"{max_tokens}."
            )
        candidate = LabSettings(config=config, seed=seed, token_ids=tuple(ids))
        get_trace(candidate.config, candidate.seed, candidate.token_ids)  # e.g. an overflow
    except ValidationError as err:
        ss["lab_settings_error"] = str(err)
        return
    ss["lab_settings"] = candidate
    ss["lab_settings_error"] = None
    ss[_W["tokens"]] = _ids_text(ids)  # show exactly what runs
    ss[_W["source"]] = SOURCE_TYPED


def model_sidebar() -> LabSettings:
    """Render the shared sidebar form and return the accepted settings."""
    settings = current_settings()
    cfg = settings.config
    ss = st.session_state
    for field in _CONFIG_FIELDS + ("init_std",):
        ss.setdefault(_W[field], getattr(cfg, field))
    ss.setdefault(_W["seed"], settings.seed)
    ss.setdefault(_W["tokens"], _ids_text(settings.token_ids))
    ss.setdefault(_W["source"], SOURCE_TYPED)

    with st.sidebar.form("lab_model_form"):
        st.markdown("**Model and input**")
        c1, c2 = st.columns(2)
        # value=None: an emptied box reads as None and is refused, never silently replaced.
        c1.number_input("Layers (n_layer)", min_value=1, max_value=96, step=1, value=None,
                        key=_W["n_layer"], help="Attention-only layers, each reading the stream.")
        c2.number_input("Heads per layer (n_head)", min_value=1, max_value=128, step=1,
                        value=None, key=_W["n_head"],
                        help="d_model must divide evenly by n_head.")
        c1.number_input("Width (d_model)", min_value=2, max_value=16384, step=2, value=None,
                        key=_W["n_embd"],
                        help="d_model (n_embd): size of the residual stream; even.")
        c2.number_input("Vocabulary size", min_value=2, max_value=200_000, step=1, value=None,
                        key=_W["vocab_size"], help="Token ids run from 0 to vocabulary − 1.")
        c1.number_input("Context (n_positions)", min_value=1, max_value=8192, step=1,
                        value=None, key=_W["n_positions"],
                        help="Longest input the model accepts.")
        c2.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, value=None,
                        key=_W["seed"], help="Same seed, same random weights.")
        st.select_slider(
            "Weight scale (init std)", options=WEIGHT_SCALES, key=_W["init_std"],
            help="Standard deviation of the random weights (the spec uses 0.02). Each head "
                 "writes x·OVᵀ with OV = W_O W_V, which grows with the square of this scale: "
                 "above about 0.05 the stream grows several times per layer, and with many "
                 "layers it overflows (the app then refuses the model).")
        st.radio("Input", SOURCES, key=_W["source"],
                 help="A preset replaces the ids in the box below when you apply. A repeated "
                      "random sequence is the classic probe for induction heads, which only "
                      "trained models have: these random-weight models show nothing special "
                      "on it.")
        st.text_area("Token ids (comma or space separated)", key=_W["tokens"], height=80,
                     help=f"Whole numbers from 0 to vocabulary − 1, at most {MAX_INPUT_TOKENS}.")
        st.form_submit_button("Apply", type="primary", on_click=_apply, width="stretch")
        st.caption(
            f"Budget on this server: {APP_BUDGET.max_parameters:,} parameters, "
            f"{format_bytes(APP_BUDGET.max_model_bytes)} per model and "
            f"{format_bytes(APP_BUDGET.max_activation_bytes)} per analysis pass.")
    return settings


def show_settings_error() -> None:
    """The refusal of the last submission, if any, on the main page."""
    message = settings_error()
    if message:
        st.error(f"**Not applied.** {message}\n\nThe page still shows the last accepted model "
                 f"and input; fix the value in the sidebar and press Apply.", icon="⚠️")


# -- cached, shared across sessions (read-only after creation) ---------------------------------
# Models are shared resources; traces hold only numpy (never their model), so evicting a model
# frees it. Every expensive run waits for one of MAX_CONCURRENT_RUNS slots.
@st.cache_resource(max_entries=MODEL_CACHE, show_spinner="Building the model…")
def get_model(config: TransformerConfig, seed: int) -> InterpretableTransformer:
    with _RUNS:
        return build_model(config, seed=seed, budget=APP_BUDGET)


@st.cache_resource(max_entries=TRACE_CACHE, show_spinner="Running the forward pass…")
def get_trace(config: TransformerConfig, seed: int, token_ids: tuple[int, ...]) -> Trace:
    """One analysis forward pass per (model, input), shared by every page and session."""
    model = get_model(config, seed)
    with _RUNS:
        return trace_interpretable(model, list(token_ids))


@st.cache_data(max_entries=16, show_spinner=False)
def get_report(config: TransformerConfig, seed: int, token_ids: tuple[int, ...]) -> dict:
    return architecture_report(get_model(config, seed), get_trace(config, seed, token_ids))


@st.cache_data(max_entries=16, show_spinner=False)
def get_stream_statistics(config: TransformerConfig, seed: int,
                          token_ids: tuple[int, ...]) -> dict:
    return stream_statistics(get_trace(config, seed, token_ids))


@st.cache_data(max_entries=16, show_spinner="Running the heads in sequence…")
def get_sequential(config: TransformerConfig, seed: int, token_ids: tuple[int, ...]) -> dict:
    model = get_model(config, seed)
    with _RUNS:
        return sequential_comparison(model, list(token_ids))


@st.cache_data(max_entries=32, show_spinner=False)
def get_circuit(config: TransformerConfig, seed: int, layer: int, head: int,
                token_ids: tuple[int, ...]) -> dict[str, Any]:
    model = get_model(config, seed)
    view = circuit_view(model, layer, head, list(token_ids))
    terms = qk_score_terms(model, get_trace(config, seed, token_ids), layer, head)
    return {**view, "qk_shares": terms["shares"], "qk_magnitudes": terms["magnitudes"],
            "qk_sum_error": terms["sum_error"]}


@st.cache_data(max_entries=8, show_spinner=False)
def get_parameter_table(config: TransformerConfig, seed: int) -> list[dict]:
    return parameter_breakdown(get_model(config, seed))
