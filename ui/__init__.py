"""Streamlit-side helpers: chart builders, shared controls, diagrams."""
