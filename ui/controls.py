"""The shared model-and-input controls (sidebar form) and the cached model / forward pass.

Every lesson page that uses the interpretable model calls :func:`model_sidebar` and then the
cached loaders below, so all pages share one model, one input and one forward pass per
(config, seed, input). The accepted settings live in ``st.session_state["lab_settings"]`` (not
a widget key, so they survive page switches); a refused submission keeps the previous settings
and leaves the learner's typing in the form to fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import streamlit as st

from core.circuits import circuit_view, parameter_breakdown
from core.config import TransformerConfig, format_bytes
from core.lesson import SPEC_EXAMPLE_IDS, repeated_random_ids
from core.model import InterpretableTransformer, build_model
from core.report import architecture_report, residual_report
from core.validators import ValidationError, parse_token_text

#: What one learner may ask of a shared, hosted machine (Community Cloud: 0.7–2.7 GB of RAM).
APP_MAX_PARAMETERS = 40_000_000
APP_MAX_ACTIVATION_BYTES = 768 * 1024**2
#: Token ids typed in the box (heatmaps stay readable).
MAX_INPUT_TOKENS = 64
REPEAT_HALF_LENGTH = 8

SOURCE_TYPED = "Token ids typed below"
SOURCE_SPEC = "Spec example: 1, 15, 27, 89, 156, 234, 445, 567"
SOURCE_REPEAT = f"Random sequence of {REPEAT_HALF_LENGTH}, repeated twice"
SOURCES = (SOURCE_TYPED, SOURCE_SPEC, SOURCE_REPEAT)
WEIGHT_SCALES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class LabSettings:
    n_layer: int = 4
    n_head: int = 8
    n_embd: int = 256
    vocab_size: int = 1000
    n_positions: int = 128
    init_std: float = 0.02
    seed: int = 0
    token_ids: tuple[int, ...] = SPEC_EXAMPLE_IDS

    def config_kwargs(self) -> tuple[tuple[str, Any], ...]:
        """Hashable config description (the cache key)."""
        d = asdict(self)
        d.pop("seed")
        d.pop("token_ids")
        return tuple(sorted(d.items()))

    def config(self) -> TransformerConfig:
        return make_config(self.config_kwargs())


def make_config(config_kwargs: tuple[tuple[str, Any], ...]) -> TransformerConfig:
    return TransformerConfig(**dict(config_kwargs), max_parameters=APP_MAX_PARAMETERS,
                             max_activation_bytes=APP_MAX_ACTIVATION_BYTES)


DEFAULTS = LabSettings()
_W = {  # widget keys
    "n_layer": "lab_w_n_layer", "n_head": "lab_w_n_head", "n_embd": "lab_w_n_embd",
    "vocab_size": "lab_w_vocab", "n_positions": "lab_w_n_positions",
    "init_std": "lab_w_init_std", "seed": "lab_w_seed", "tokens": "lab_w_tokens",
    "source": "lab_w_source",
}


def current_settings() -> LabSettings:
    return st.session_state.setdefault("lab_settings", DEFAULTS)


def settings_error() -> str | None:
    return st.session_state.get("lab_settings_error")


def _ids_text(ids: tuple[int, ...] | list[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _apply() -> None:
    """Form callback: validate everything, then commit or keep the previous settings."""
    ss = st.session_state
    try:
        candidate = LabSettings(
            n_layer=int(ss[_W["n_layer"]]), n_head=int(ss[_W["n_head"]]),
            n_embd=int(ss[_W["n_embd"]]), vocab_size=int(ss[_W["vocab_size"]]),
            n_positions=int(ss[_W["n_positions"]]), init_std=float(ss[_W["init_std"]]),
            seed=int(ss[_W["seed"]]),
        )
        candidate.config()  # raises with the estimate and the limit when over budget
        max_tokens = min(MAX_INPUT_TOKENS, candidate.n_positions)
        source = ss[_W["source"]]
        if source == SOURCE_SPEC:
            if candidate.vocab_size <= max(SPEC_EXAMPLE_IDS):
                raise ValidationError(
                    f"The spec example uses token ids up to {max(SPEC_EXAMPLE_IDS)}, but this "
                    f"vocabulary has only {candidate.vocab_size} tokens (ids 0 to "
                    f"{candidate.vocab_size - 1}). Use a vocabulary of at least "
                    f"{max(SPEC_EXAMPLE_IDS) + 1}, or type your own ids."
                )
            ids = list(SPEC_EXAMPLE_IDS)
        elif source == SOURCE_REPEAT:
            ids = repeated_random_ids(candidate.vocab_size, REPEAT_HALF_LENGTH, candidate.seed)
        else:
            ids = parse_token_text(ss[_W["tokens"]], candidate.vocab_size, max_tokens)
        if len(ids) > max_tokens:
            raise ValidationError(
                f"The input has {len(ids)} tokens; this model's context (n_positions) allows "
                f"{max_tokens}."
            )
    except ValidationError as err:
        ss["lab_settings_error"] = str(err)
        return
    ss["lab_settings"] = replace(candidate, token_ids=tuple(ids))
    ss["lab_settings_error"] = None
    ss[_W["tokens"]] = _ids_text(ids)  # show exactly what runs
    ss[_W["source"]] = SOURCE_TYPED


def model_sidebar() -> LabSettings:
    """Render the shared sidebar form and return the accepted settings."""
    settings = current_settings()
    ss = st.session_state
    for field in ("n_layer", "n_head", "n_embd", "vocab_size", "n_positions", "init_std", "seed"):
        ss.setdefault(_W[field], getattr(settings, field))
    ss.setdefault(_W["tokens"], _ids_text(settings.token_ids))
    ss.setdefault(_W["source"], SOURCE_TYPED)

    with st.sidebar.form("lab_model_form"):
        st.markdown("**Model and input**")
        c1, c2 = st.columns(2)
        c1.number_input("Layers (n_layer)", min_value=1, max_value=96, step=1,
                        key=_W["n_layer"], help="Attention-only layers, each reading the stream.")
        c2.number_input("Heads per layer (n_head)", min_value=1, max_value=128, step=1,
                        key=_W["n_head"], help="n_embd must divide evenly by n_head.")
        c1.number_input("Width (n_embd)", min_value=2, max_value=16384, step=2,
                        key=_W["n_embd"], help="d_model: size of the residual stream; even.")
        c2.number_input("Vocabulary size", min_value=2, max_value=200_000, step=1,
                        key=_W["vocab_size"], help="Token ids run from 0 to vocabulary − 1.")
        c1.number_input("Context (n_positions)", min_value=1, max_value=8192, step=1,
                        key=_W["n_positions"], help="Longest input the model accepts.")
        c2.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=_W["seed"],
                        help="Same seed, same random weights.")
        st.select_slider("Weight scale (init std)", options=WEIGHT_SCALES, key=_W["init_std"],
                         help="Standard deviation of the random weights. The spec uses 0.02; "
                              "larger values give sharper random attention patterns.")
        st.radio("Input", SOURCES, key=_W["source"],
                 help="A preset replaces the ids in the box below when you apply.")
        st.text_area("Token ids (comma or space separated)", key=_W["tokens"], height=80,
                     help=f"Whole numbers from 0 to vocabulary − 1, at most {MAX_INPUT_TOKENS}.")
        st.form_submit_button("Apply", type="primary", on_click=_apply,
                              use_container_width=True)
        limits = (f"Budget on this server: {APP_MAX_PARAMETERS:,} parameters and "
                  f"{format_bytes(APP_MAX_ACTIVATION_BYTES)} for one analysis pass.")
        st.caption(limits)
    return settings


def show_settings_error() -> None:
    """The refusal of the last submission, if any, on the main page."""
    message = settings_error()
    if message:
        st.error(f"**Not applied.** {message}\n\nThe page still shows the last accepted model "
                 f"and input; fix the value in the sidebar and press Apply.", icon="⚠️")


# -- cached, shared across sessions (read-only after creation) ---------------------------------
@st.cache_resource(max_entries=4, show_spinner="Building the model…")
def get_model(config_kwargs: tuple[tuple[str, Any], ...], seed: int) -> InterpretableTransformer:
    return build_model(make_config(config_kwargs), seed=seed)


@st.cache_resource(max_entries=8, show_spinner="Running the forward pass…")
def get_forward(config_kwargs: tuple[tuple[str, Any], ...], seed: int,
                token_ids: tuple[int, ...]) -> dict[str, Any]:
    """One analysis forward pass per (model, input), shared by every page and session.

    Read-only after creation: the reports below only read from it.
    """
    return get_model(config_kwargs, seed).analyze(list(token_ids))


@st.cache_data(max_entries=32, show_spinner=False)
def get_report(config_kwargs: tuple[tuple[str, Any], ...], seed: int,
               token_ids: tuple[int, ...]) -> dict[str, Any]:
    return architecture_report(get_model(config_kwargs, seed), list(token_ids),
                               result=get_forward(config_kwargs, seed, token_ids))


@st.cache_data(max_entries=32, show_spinner=False)
def get_residual_report(config_kwargs: tuple[tuple[str, Any], ...], seed: int,
                        token_ids: tuple[int, ...]) -> dict[str, Any]:
    return residual_report(get_model(config_kwargs, seed), list(token_ids),
                           result=get_forward(config_kwargs, seed, token_ids))


@st.cache_data(max_entries=64, show_spinner=False)
def get_circuit(config_kwargs: tuple[tuple[str, Any], ...], seed: int, layer: int, head: int,
                token_ids: tuple[int, ...]) -> dict[str, Any]:
    return circuit_view(get_model(config_kwargs, seed), layer, head, list(token_ids))


@st.cache_data(max_entries=16, show_spinner=False)
def get_parameter_table(config_kwargs: tuple[tuple[str, Any], ...], seed: int) -> list[dict]:
    return parameter_breakdown(get_model(config_kwargs, seed))
