"""The shared model-and-input controls (sidebar form) and the cached model / forward pass.

Every lesson page that uses the interpretable model calls :func:`model_sidebar` and then the
cached loaders below, so all pages share one model, one input and one forward pass per
(config, seed, input). The accepted settings live in ``st.session_state[SETTINGS_KEY]`` (not
a widget key, so they survive page switches); a refused submission keeps the previous settings
and leaves the learner's typing in the form to fix.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from typing import Any

import streamlit as st

from core.circuits import circuit_view, parameter_breakdown, qk_score_terms
from core.config import ResourceBudget, TransformerConfig, format_bytes
from core.lesson import REPEAT_HALF_LENGTH, SPEC_EXAMPLE_IDS, repeated_random_ids
from core.model import (
    TRAINED_MODELS,
    InterpretableTransformer,
    TextTokenizer,
    build_model,
    load_trained,
    read_trained_config,
)
from core.report import architecture_report, sequential_comparison
from core.trace import Trace, stream_profile, stream_statistics, trace_interpretable
from core.validators import ValidationError, parse_token_text
from ui import persistence
from ui.charts import text_label

#: Tokens in one input (heatmaps stay readable).
MAX_INPUT_TOKENS = 64

#: What one learner's model may cost on a shared, hosted machine (Community Cloud: 0.7–2.7 GB).
#: With the cache sizes below, the interpretable side holds at most
#: MODEL_CACHE × max_model_bytes + TRACE_CACHE × (a trace, ≤ max_activation_bytes / 2) and runs
#: at most MAX_CONCURRENT_RUNS passes at once; see bench/bench_memory.py for the measured RSS.
APP_BUDGET = ResourceBudget(
    max_parameters=12_000_000,
    max_model_bytes=64 * 1024**2,
    max_activation_bytes=48 * 1024**2,
    analysis_tokens=MAX_INPUT_TOKENS,
)
MODEL_CACHE = 2
TRACE_CACHE = 8
MAX_CONCURRENT_RUNS = 2
_RUNS = threading.BoundedSemaphore(MAX_CONCURRENT_RUNS)

RANDOM = "random"
SOURCE_TEXT = "Text typed below"
SOURCE_TYPED = "Token ids typed below"
SOURCE_WIKI = "Preset: a WikiText sentence"
SOURCE_NAME = "Preset: a sentence with a repeated name"
SOURCE_REPEAT = f"Preset: {REPEAT_HALF_LENGTH} random tokens, repeated twice"
SOURCE_SPEC = "Preset: the spec's ids 1, 15, 27, 89, 156, 234, 445, 567"
SOURCES = (SOURCE_TEXT, SOURCE_TYPED, SOURCE_WIKI, SOURCE_NAME, SOURCE_REPEAT, SOURCE_SPEC)
#: A sentence from a held-out WikiText-2 article (neither trained model saw it; CC BY-SA 3.0).
WIKI_SENTENCE = (
    "Asahi was a pre-dreadnought battleship built for the Imperial Japanese Navy in "
    "the late 1890s. As Japan lacked the industrial capacity to build such warships "
    "itself, the ship was designed and built in the United Kingdom."
)
#: An invented name the tokenizer splits into several pieces, written twice: the second time, an
#: induction head can copy each piece from the first.
NAME_SENTENCE = (
    "Anneliese Vanderbilt wrote the report in May. When the board met in June, "
    "Anneliese Vanderbilt presented it."
)
WEIGHT_SCALES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)

#: The random baseline's defaults: the spec's 4 layers × 8 heads, d_model 256, weight scale 0.02,
#: with the bundled tokenizer's 4,096-token vocabulary so the same text runs on every model.
DEFAULT_CONFIG = TransformerConfig(
    vocab_size=4096, n_positions=256, n_embd=256, n_layer=4, n_head=8, init_std=0.02
)
#: The trained model a learner starts on: the lesson's 4-layer model when it is shipped.
DEFAULT_MODEL = (
    "attn-only-4l"
    if "attn-only-4l" in TRAINED_MODELS
    else (TRAINED_MODELS[0] if TRAINED_MODELS else RANDOM)
)


@cache
def trained_config(name: str) -> TransformerConfig:
    """The config of a shipped trained model, read from its folder (no weights loaded)."""
    return read_trained_config(name)


@dataclass(frozen=True)
class ModelKey:
    """Which model: a shipped trained one by name, or random weights from (config, seed)."""

    name: str = DEFAULT_MODEL
    config: TransformerConfig = DEFAULT_CONFIG
    seed: int = 0

    @property
    def is_trained(self) -> bool:
        return self.name != RANDOM

    @property
    def label(self) -> str:
        return model_label(self.name, self.config, self.seed)


def model_label(name: str, config: TransformerConfig | None = None, seed: int = 0) -> str:
    """How a model is named in the sidebar and the captions."""
    if name == RANDOM:
        if config is None:
            return "Random weights (the spec's initialisation)"
        return (
            f"random weights: {config.n_layer} layers × {config.n_head} heads, d_model "
            f"{config.n_embd}, weight scale {config.init_std:g}, seed {seed}"
        )
    cfg = trained_config(name)
    return f"Trained: {cfg.n_layer} layers × {cfg.n_head} heads, d_model {cfg.n_embd} ({name})"


def _default_key() -> ModelKey:
    if DEFAULT_MODEL == RANDOM:
        return ModelKey(RANDOM, DEFAULT_CONFIG, 0)
    return ModelKey(DEFAULT_MODEL, trained_config(DEFAULT_MODEL), 0)


@dataclass(frozen=True)
class LabSettings:
    """What the learner applied: the model, the input ids, and the text they came from (if any)."""

    key: ModelKey = field(default_factory=_default_key)
    token_ids: tuple[int, ...] = ()
    text: str | None = None

    @property
    def config(self) -> TransformerConfig:
        return self.key.config

    @property
    def seed(self) -> int:
        return self.key.seed


def _default_settings() -> LabSettings:
    key = _default_key()
    if key.config.vocab_size == TextTokenizer.VOCAB_SIZE:
        ids = tuple(get_tokenizer().encode(WIKI_SENTENCE))[:MAX_INPUT_TOKENS]
        return LabSettings(key=key, token_ids=ids, text=WIKI_SENTENCE)
    return LabSettings(key=key, token_ids=SPEC_EXAMPLE_IDS)


#: Widget keys of the sidebar form, by the field they edit.
_W = {
    "model": "lab_w_model",
    "n_layer": "lab_w_n_layer",
    "n_head": "lab_w_n_head",
    "n_embd": "lab_w_n_embd",
    "vocab_size": "lab_w_vocab",
    "n_positions": "lab_w_n_positions",
    "init_std": "lab_w_init_std",
    "seed": "lab_w_seed",
    "tokens": "lab_w_tokens",
    "text": "lab_w_text",
    "source": "lab_w_source",
}
_LABELS = {
    "n_layer": "Layers",
    "n_head": "Heads per layer",
    "n_embd": "Width (d_model)",
    "vocab_size": "Vocabulary size",
    "n_positions": "Context (n_positions)",
    "seed": "Seed",
}
_CONFIG_FIELDS = ("n_layer", "n_head", "n_embd", "vocab_size", "n_positions")

#: The accepted settings (a :class:`LabSettings`; not a widget key, so it survives page changes).
SETTINGS_KEY = "lab_settings"
#: Why the last submission of the form was refused (None when it was accepted).
SETTINGS_ERROR_KEY = "lab_settings_error"
#: Every session key of this module (a learner switch clears them).
SESSION_KEYS = (SETTINGS_KEY, SETTINGS_ERROR_KEY, *_W.values())


def model_options() -> tuple[str, ...]:
    """The sidebar's model choices: the lesson's default model, the other trained ones, then
    random weights."""
    trained = sorted(TRAINED_MODELS, key=lambda name: name != DEFAULT_MODEL)
    return tuple(trained) + (RANDOM,)


def current_settings() -> LabSettings:
    settings = st.session_state.get(SETTINGS_KEY)
    if settings is None:
        settings = st.session_state[SETTINGS_KEY] = _default_settings()
    return settings


def settings_error() -> str | None:
    return st.session_state.get(SETTINGS_ERROR_KEY)


def _ids_text(ids: tuple[int, ...] | list[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _whole(field: str) -> int:
    value = st.session_state.get(_W[field])
    if value is None:
        raise ValidationError(f"{_LABELS[field]} is empty: type a whole number.")
    return int(value)


def _encode_text(text: str, config: TransformerConfig, max_tokens: int) -> list[int]:
    if config.vocab_size != TextTokenizer.VOCAB_SIZE:
        raise ValidationError(
            f"Text is split into tokens by the bundled tokenizer, whose ids run from 0 to "
            f"{TextTokenizer.VOCAB_SIZE - 1}; this random model's vocabulary has "
            f"{config.vocab_size} tokens. Set Vocabulary size to {TextTokenizer.VOCAB_SIZE} "
            f"to use text, or choose 'Token ids typed below'."
        )
    if not text or not text.strip():
        raise ValidationError("The text box is empty: type a sentence, or choose a preset.")
    ids = get_tokenizer().encode(text)
    if len(ids) > max_tokens:
        raise ValidationError(
            f"The text is {len(ids)} tokens long; this page accepts at most {max_tokens}. "
            f"Shorten it (the first {max_tokens} tokens end with "
            f'"{get_tokenizer().decode(ids[max_tokens - 8 : max_tokens]).strip()}").'
        )
    return ids


def _apply() -> None:
    """Form callback: validate everything (and run it), then commit or keep the last settings."""
    ss = st.session_state
    try:
        name = ss[_W["model"]]
        if name == RANDOM:
            config = TransformerConfig(
                **{f: _whole(f) for f in _CONFIG_FIELDS}, init_std=float(ss[_W["init_std"]])
            )
            APP_BUDGET.check(config)  # raises with the estimate and the limit when over budget
            key = ModelKey(RANDOM, config, _whole("seed"))
        else:
            key = ModelKey(name, trained_config(name), 0)
            config = key.config
        max_tokens = min(MAX_INPUT_TOKENS, config.n_positions)
        source = ss[_W["source"]]
        text = None
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
            ids = repeated_random_ids(config.vocab_size, REPEAT_HALF_LENGTH, key.seed)
        elif source in (SOURCE_TEXT, SOURCE_WIKI, SOURCE_NAME):
            text = {SOURCE_WIKI: WIKI_SENTENCE, SOURCE_NAME: NAME_SENTENCE}.get(
                source, ss.get(_W["text"])
            )
            ids = _encode_text(text, config, max_tokens)
        else:
            ids = parse_token_text(ss[_W["tokens"]], config.vocab_size, max_tokens)
        if len(ids) > max_tokens:
            raise ValidationError(
                f"The input has {len(ids)} tokens; this model's context (n_positions) allows "
                f"{max_tokens}."
            )
        candidate = LabSettings(key=key, token_ids=tuple(ids), text=text)
        get_trace(candidate.key, candidate.token_ids)  # e.g. an overflow
    except ValidationError as err:
        ss[SETTINGS_ERROR_KEY] = str(err)
        return
    ss[SETTINGS_KEY] = candidate
    ss[SETTINGS_ERROR_KEY] = None
    persistence.remember({"settings": settings_to_dict(candidate)})
    ss[_W["tokens"]] = _ids_text(ids)  # show exactly what runs
    if text is not None:
        ss[_W["text"]] = text
        ss[_W["source"]] = SOURCE_TEXT
    else:
        ss[_W["source"]] = SOURCE_TYPED


def settings_to_dict(settings: LabSettings) -> dict[str, Any]:
    """The accepted settings as JSON data, for the learner's record."""
    data = {
        "model": settings.key.name,
        "seed": settings.key.seed,
        "token_ids": list(settings.token_ids),
        "text": settings.text,
    }
    if not settings.key.is_trained:
        data["config"] = asdict(settings.key.config)
    return data


def settings_from_dict(data: dict[str, Any]) -> LabSettings:
    """Settings read back from a record, checked as the form checks them (a model no longer
    shipped, a size over this server's budget, ids outside the vocabulary all raise
    :class:`ValidationError`)."""
    try:
        name = data["model"]
        if name == RANDOM:
            config = TransformerConfig(**data["config"])
            APP_BUDGET.check(config)
            key = ModelKey(RANDOM, config, int(data["seed"]))
        elif name in TRAINED_MODELS:
            key = ModelKey(name, trained_config(name), 0)
        else:
            raise ValidationError(f"the model {name!r} is not shipped with this copy of the lab")
        ids = tuple(int(i) for i in data["token_ids"])
        text = data.get("text")
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, ValidationError):
            raise
        raise ValidationError(f"the saved settings are incomplete ({err})") from None
    limit = min(MAX_INPUT_TOKENS, key.config.n_positions)
    if not ids or len(ids) > limit or min(ids) < 0 or max(ids) >= key.config.vocab_size:
        raise ValidationError("the saved input does not fit this model")
    return LabSettings(key=key, token_ids=ids, text=text if isinstance(text, str) else None)


def restore_settings(data: Any) -> None:
    """Use the learner's saved settings, unless this session already has its own; settings
    that no longer fit are replaced by the defaults, with a note."""
    ss = st.session_state
    if SETTINGS_KEY in ss:
        return
    try:
        ss[SETTINGS_KEY] = settings_from_dict(data if isinstance(data, dict) else {})
    except ValidationError as err:
        persistence.notify(
            f"Your saved model settings were not restored: {err}. The default model is shown."
        )


def restore(record: persistence.LoadedRecord) -> None:
    """Take over this module's part of a loaded learner record (the accepted settings). A record
    that replaces another learner's first drops this session's settings and form."""
    ss = st.session_state
    if record.replaces:
        for key in SESSION_KEYS:
            ss.pop(key, None)
    if "settings" in record.state:
        restore_settings(record.state["settings"])


def token_labels(key: ModelKey, token_ids) -> list[str]:
    """Short per-position labels: "3 · ␣Paris" where the bundled tokenizer applies, else the id."""
    texts = token_texts(key, tuple(int(t) for t in token_ids))
    if texts is None:
        return [f"{i} · {int(t)}" for i, t in enumerate(token_ids)]
    return [f"{i} · {text_label(t)}" for i, t in enumerate(texts)]


def token_texts(key: ModelKey, token_ids: tuple[int, ...]) -> tuple[str, ...] | None:
    """Each token as text, or None for a random model whose vocabulary is not the tokenizer's."""
    if key.config.vocab_size != TextTokenizer.VOCAB_SIZE:
        return None
    tok = get_tokenizer()
    return tuple(tok.decode([t]) for t in token_ids)


def model_sidebar() -> LabSettings:
    """Render the shared sidebar form and return the accepted settings."""
    settings = current_settings()
    key = settings.key
    cfg = key.config if key.name == RANDOM else DEFAULT_CONFIG
    ss = st.session_state
    ss.setdefault(_W["model"], key.name)
    for f in _CONFIG_FIELDS + ("init_std",):
        ss.setdefault(_W[f], getattr(cfg, f))
    ss.setdefault(_W["seed"], key.seed)
    ss.setdefault(_W["tokens"], _ids_text(settings.token_ids))
    ss.setdefault(_W["text"], settings.text or "")
    ss.setdefault(_W["source"], SOURCE_TEXT if settings.text is not None else SOURCE_TYPED)

    with st.sidebar.form("lab_model_form"):
        st.markdown("**Model and input**")
        st.selectbox(
            "Model",
            model_options(),
            key=_W["model"],
            format_func=lambda name: model_label(name),
            help="The trained models were trained for this lesson (attention only, no "
            "LayerNorm, no MLP, so every decomposition stays exact). Random weights are "
            "the spec's untrained model, a baseline whose size you set below.",
        )
        st.radio(
            "Input",
            SOURCES,
            key=_W["source"],
            help="A preset replaces the boxes below when you apply. Random tokens repeated "
            "twice is the classic probe for induction heads (trained models have "
            "them; random weights do not).",
        )
        st.text_area(
            "Text (split into tokens by the bundled tokenizer)",
            key=_W["text"],
            height=90,
            help=f"Any text up to {MAX_INPUT_TOKENS} tokens. Used when "
            f"Input is 'Text typed below'.",
        )
        st.text_area(
            "Token ids (comma or space separated)",
            key=_W["tokens"],
            height=68,
            help=f"Whole numbers from 0 to vocabulary − 1, at most {MAX_INPUT_TOKENS}. "
            f"Used when Input is 'Token ids typed below'.",
        )
        with st.expander("Random-weights model (used when Model is Random weights)"):
            c1, c2 = st.columns(2)
            # value=None: an emptied box reads as None and is refused, never silently replaced.
            c1.number_input(
                "Layers (n_layer)",
                min_value=1,
                max_value=96,
                step=1,
                value=None,
                key=_W["n_layer"],
                help="Attention-only layers, each reading the stream.",
            )
            c2.number_input(
                "Heads per layer (n_head)",
                min_value=1,
                max_value=128,
                step=1,
                value=None,
                key=_W["n_head"],
                help="d_model must divide evenly by n_head.",
            )
            c1.number_input(
                "Width (d_model)",
                min_value=2,
                max_value=16384,
                step=2,
                value=None,
                key=_W["n_embd"],
                help="d_model (n_embd): size of the residual stream; even.",
            )
            c2.number_input(
                "Vocabulary size",
                min_value=2,
                max_value=200_000,
                step=1,
                value=None,
                key=_W["vocab_size"],
                help="Token ids run from 0 to vocabulary − 1. Text needs the "
                f"tokenizer's {TextTokenizer.VOCAB_SIZE:,}.",
            )
            c1.number_input(
                "Context (n_positions)",
                min_value=1,
                max_value=8192,
                step=1,
                value=None,
                key=_W["n_positions"],
                help="Longest input the model accepts.",
            )
            c2.number_input(
                "Seed",
                min_value=0,
                max_value=2**31 - 1,
                step=1,
                value=None,
                key=_W["seed"],
                help="Same seed, same random weights.",
            )
            st.select_slider(
                "Weight scale (init std)",
                options=WEIGHT_SCALES,
                key=_W["init_std"],
                help="Standard deviation of the random weights (the spec uses 0.02). Each head "
                "writes x·OVᵀ with OV = W_O W_V, which grows with the square of this "
                "scale: above about 0.05 the stream grows several times per layer, and "
                "with many layers it overflows (the app then refuses the model).",
            )
            st.caption(
                f"Budget on this server: {APP_BUDGET.max_parameters:,} parameters, "
                f"{format_bytes(APP_BUDGET.max_model_bytes)} per model and "
                f"{format_bytes(APP_BUDGET.max_activation_bytes)} per analysis pass."
            )
        st.form_submit_button("Apply", type="primary", on_click=_apply, width="stretch")
    labels = token_labels(key, settings.token_ids)
    st.sidebar.caption(
        f"**Running:** {key.label}. **Input**, {len(labels)} tokens (position · token): "
        + ", ".join(f"`{lab}`" for lab in labels)
    )
    return settings


def show_settings_error() -> None:
    """The refusal of the last submission, if any, on the main page."""
    message = settings_error()
    if message:
        st.error(
            f"**Not applied.** {message}\n\nThe page still shows the last accepted model "
            f"and input; fix the value in the sidebar and press Apply.",
            icon="⚠️",
        )


# -- cached, shared across sessions (read-only after creation) ---------------------------------
# Models are shared resources; traces hold only numpy (never their model), so evicting a model
# frees it. Every expensive run waits for one of MAX_CONCURRENT_RUNS slots.
@st.cache_resource(show_spinner=False)
def get_tokenizer() -> TextTokenizer:
    """The bundled tokenizer, loaded once per process (read-only)."""
    return TextTokenizer()


@st.cache_resource(max_entries=len(TRAINED_MODELS) or 1, show_spinner="Loading the trained model…")
def _get_trained(name: str) -> InterpretableTransformer:
    with _RUNS:
        return load_trained(name)[0]


@st.cache_resource(max_entries=MODEL_CACHE, show_spinner="Building the model…")
def _get_random(config: TransformerConfig, seed: int) -> InterpretableTransformer:
    with _RUNS:
        return build_model(config, seed=seed, budget=APP_BUDGET)


def get_model(key: ModelKey) -> InterpretableTransformer:
    """The model ``key`` names, shared by every session: never modify it."""
    if key.is_trained:
        return _get_trained(key.name)
    return _get_random(key.config, key.seed)


def random_twin(key: ModelKey) -> ModelKey:
    """The same architecture with the spec's random initialisation (std 0.02, seed 0): the
    baseline a trained model is compared with."""
    return ModelKey(RANDOM, replace(key.config, init_std=0.02), 0)


@st.cache_resource(max_entries=TRACE_CACHE, show_spinner="Running the forward pass…")
def get_trace(key: ModelKey, token_ids: tuple[int, ...]) -> Trace:
    """One analysis forward pass per (model, input), shared by every page and session."""
    model = get_model(key)
    with _RUNS:
        trace = trace_interpretable(model, list(token_ids), name=key.label)
    return replace(trace, token_texts=token_texts(key, tuple(token_ids)))


def comparison_keys(settings: LabSettings) -> tuple[ModelKey, ModelKey] | str:
    """(trained, random) models to compare on the settings' input, or why there are none.

    A trained model is compared with its random twin (same shape, the spec's initialisation); a
    random model with the default trained model, when the input is in that model's vocabulary.
    """
    key = settings.key
    if key.is_trained:
        return key, random_twin(key)
    if DEFAULT_MODEL == RANDOM:
        return "No trained model is shipped with this copy of the lab."
    trained = ModelKey(DEFAULT_MODEL, trained_config(DEFAULT_MODEL), 0)
    if key.config.vocab_size != trained.config.vocab_size:
        return (
            f"The trained model reads the bundled tokenizer's {trained.config.vocab_size:,} "
            f"tokens; this random model has a vocabulary of {key.config.vocab_size:,}, so "
            f"the same input cannot run on both. Set Vocabulary size to "
            f"{trained.config.vocab_size} (or choose a trained model) to compare."
        )
    if len(settings.token_ids) > trained.config.n_positions:
        return (
            f"The input has {len(settings.token_ids)} tokens, more than the trained "
            f"model's context of {trained.config.n_positions}."
        )
    return trained, key


@st.cache_data(max_entries=16, show_spinner=False)
def get_profile(key: ModelKey, token_ids: tuple[int, ...]) -> dict:
    return stream_profile(get_trace(key, token_ids))


@st.cache_data(max_entries=16, show_spinner=False)
def get_report(key: ModelKey, token_ids: tuple[int, ...]) -> dict:
    return architecture_report(get_model(key), get_trace(key, token_ids))


@st.cache_data(max_entries=16, show_spinner=False)
def get_stream_statistics(key: ModelKey, token_ids: tuple[int, ...]) -> dict:
    return stream_statistics(get_trace(key, token_ids))


@st.cache_data(max_entries=16, show_spinner="Running the heads in sequence…")
def get_sequential(key: ModelKey, token_ids: tuple[int, ...]) -> dict:
    model = get_model(key)
    with _RUNS:
        return sequential_comparison(model, list(token_ids))


@st.cache_data(max_entries=32, show_spinner=False)
def get_circuit(key: ModelKey, layer: int, head: int, token_ids: tuple[int, ...]) -> dict[str, Any]:
    model = get_model(key)
    view = circuit_view(model, layer, head, list(token_ids))
    terms = qk_score_terms(model, get_trace(key, token_ids), layer, head)
    return {
        **view,
        "qk_shares": terms["shares"],
        "qk_magnitudes": terms["magnitudes"],
        "qk_sum_error": terms["sum_error"],
    }


@st.cache_data(max_entries=8, show_spinner=False)
def get_parameter_table(key: ModelKey) -> list[dict]:
    return parameter_breakdown(get_model(key))
