"""The lesson's pages: one module each, with a ``render()`` function that app.py's navigation
runs (see ``app.py``). The page list, titles and objectives live in ``core.lesson``
(``ui/navigation.py`` turns them into navigation entries)."""
