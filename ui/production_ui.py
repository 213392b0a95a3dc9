"""Cached loaders and the local-folder permission for the Production mapping page.

Models are shared by every session through ``st.cache_resource`` and never mutated afterwards
(``core.production.trace_gpt2`` only reads them). At most two models are held: the bundled one
and one other (hub or folder); loading a third replaces the other. Per-sentence analyses are
plain data (numpy, no model reference) in ``st.cache_data``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import streamlit as st

from core.locality import FORWARDING_HEADERS, is_local_peer
from core.production import (
    BUNDLED,
    analyze_text,
    architecture_summary,
    load_production_model,
    parameter_breakdown,
)

MAX_TEXT_TOKENS = 48
#: Setting this to 1 (true, yes, on) turns local folders off even for a learner on this machine.
DISABLE_LOCAL_ENV = "LAB_DISABLE_LOCAL_MODELS"
_TRUE = {"1", "true", "yes", "on"}

HUB, FOLDER = "hub", "folder"


@st.cache_resource(max_entries=1, show_spinner=False)
def _bundled_model():
    return load_production_model(BUNDLED)


@st.cache_resource(max_entries=1, show_spinner=False)
def _other_model(kind: str, source: str, allow_local_folders: bool):
    """The one non-bundled model held at a time (max_entries=1: a new one evicts the last)."""
    return load_production_model(
        source, folder=(kind == FOLDER), allow_local_folders=allow_local_folders
    )


def get_production(kind: str, source: str, allow_local_folders: bool = False):
    """``(model, tokenizer)`` for ``("bundled", "bundled")``, ``("hub", id)`` or
    ``("folder", path)``. Failures raise ``ProductionModelError`` and are not cached, so a
    retry works. Read-only: never change the returned objects."""
    if kind == BUNDLED:
        return _bundled_model()
    return _other_model(kind, source, bool(allow_local_folders and kind == FOLDER))


@st.cache_data(max_entries=4, show_spinner=False)
def get_mapping(kind: str, source: str, allow_local_folders: bool = False) -> dict[str, Any]:
    model, _ = get_production(kind, source, allow_local_folders)
    return {"summary": architecture_summary(model), "parameters": parameter_breakdown(model)}


@st.cache_data(max_entries=16, show_spinner=False)
def get_text_analysis(
    kind: str, source: str, text: str, allow_local_folders: bool = False
) -> dict[str, Any]:
    model, tokenizer = get_production(kind, source, allow_local_folders)
    return analyze_text(model, tokenizer, text, max_tokens=MAX_TEXT_TOKENS)


def local_access_allowed(
    ip_address: str | None, headers: Mapping[str, str] | None, environ: Mapping[str, str]
) -> bool:
    """May this request load models from folders on the server? Only a learner on this machine.

    - ``ip_address``: ``st.context.ip_address``, which Streamlit takes from the WebSocket's TCP
      peer and reports as None exactly when that peer is 127.0.0.1 or ::1 (and also when there
      is no client at all, hence the next rule);
    - ``headers``: the request's headers; empty means no live browser request: refused;
    - any proxy forwarding header (X-Forwarded-For, Forwarded, X-Real-Ip, …): the loopback peer
      is a reverse proxy on this machine relaying someone else: refused;
    - ``LAB_DISABLE_LOCAL_MODELS=1`` in ``environ``: the operator has switched folders off.

    Headers can only take the permission away: the decision to allow rests on the connection.
    """
    if str(environ.get(DISABLE_LOCAL_ENV, "")).strip().lower() in _TRUE:
        return False
    return is_local_peer(ip_address, headers)


def local_folders_allowed() -> bool:
    """:func:`local_access_allowed` for the current Streamlit request."""
    try:
        ip = st.context.ip_address
        headers = st.context.headers.to_dict()
    except Exception:  # no request context (bare mode): nobody to trust
        return False
    return local_access_allowed(ip, headers, os.environ)


__all__ = [
    "BUNDLED",
    "HUB",
    "FOLDER",
    "MAX_TEXT_TOKENS",
    "DISABLE_LOCAL_ENV",
    "FORWARDING_HEADERS",
    "get_production",
    "get_mapping",
    "get_text_analysis",
    "local_access_allowed",
    "local_folders_allowed",
]
