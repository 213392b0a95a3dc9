"""Transformer Architecture Lab: entry point.

Run with ``streamlit run app.py``. Each lesson page is one script in ``pages/``, listed in
``ui/shell.py``; this file only starts the navigation.
"""

from ui.shell import run_app

run_app()
