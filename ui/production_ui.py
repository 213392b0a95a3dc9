"""Cached loaders for the Production mapping page (shared by all sessions, read-only)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.production import (
    BUNDLED,
    analyze_text,
    architecture_summary,
    load_production_model,
    parameter_breakdown,
)

MAX_TEXT_TOKENS = 48


@st.cache_resource(max_entries=3, show_spinner=False)
def get_production(source: str):
    """(model, tokenizer) for a source; failures raise and are not cached, so a retry works."""
    return load_production_model(source)


@st.cache_data(max_entries=8, show_spinner=False)
def get_mapping(source: str) -> dict[str, Any]:
    model, _ = get_production(source)
    return {"summary": architecture_summary(model), "parameters": parameter_breakdown(model)}


@st.cache_data(max_entries=32, show_spinner=False)
def get_text_analysis(source: str, text: str) -> dict[str, Any]:
    model, tokenizer = get_production(source)
    return analyze_text(model, tokenizer, text, max_tokens=MAX_TEXT_TOKENS)


def running_locally() -> bool:
    """True when the browser reached the app on this machine (local folders make sense)."""
    try:
        host = (st.context.headers.get("Host") or "").split(":")[0].lower()
    except Exception:  # no request context (tests, bare mode)
        return False
    return host in {"localhost", "127.0.0.1", "[::1]", "::1"}


__all__ = ["BUNDLED", "MAX_TEXT_TOKENS", "get_production", "get_mapping", "get_text_analysis",
           "running_locally"]
