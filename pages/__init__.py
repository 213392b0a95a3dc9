"""The lesson's pages: one module each, with a ``render()`` function that app.py's navigation
runs (see ``ui/shell.py``). The page list, titles and objectives live in ``core.lesson``."""
