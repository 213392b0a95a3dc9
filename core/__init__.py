"""Transformer Architecture Lab engine: pure Python + torch, no streamlit."""
