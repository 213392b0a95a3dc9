"""What the Production page keeps in memory: the bundled model plus at most one other."""

import pytest

import ui.production_ui as production_ui
from ui.production_ui import BUNDLED, FOLDER, HUB, get_production


@pytest.fixture
def counted_loads(monkeypatch):
    """Replace the loader with a stub that records each (source, folder, allowed) it loads."""
    loads = []

    def fake_load(source="bundled", *, folder=False, allow_local_folders=False):
        loads.append((source, folder, allow_local_folders))
        return object(), object()

    production_ui._bundled_model.clear()
    production_ui._other_model.clear()
    monkeypatch.setattr(production_ui, "load_production_model", fake_load)
    yield loads
    production_ui._bundled_model.clear()
    production_ui._other_model.clear()


def test_the_bundled_model_is_loaded_once_and_kept(counted_loads):
    first = get_production(BUNDLED, BUNDLED)
    get_production(HUB, "gpt2")
    get_production(HUB, "distilgpt2")
    assert get_production(BUNDLED, BUNDLED) is first
    assert counted_loads.count(("bundled", False, False)) == 1


def test_only_one_other_model_is_held(counted_loads):
    a = get_production(HUB, "gpt2")
    assert get_production(HUB, "gpt2") is a  # cached
    get_production(HUB, "distilgpt2")  # replaces gpt2
    assert get_production(HUB, "gpt2") is not a  # had to be loaded again
    assert [s for s, _, _ in counted_loads] == ["gpt2", "distilgpt2", "gpt2"]


def test_a_folder_is_loaded_with_the_requesting_sessions_permission(counted_loads):
    get_production(FOLDER, "/srv/model", allow_local_folders=False)
    get_production(FOLDER, "/srv/model", allow_local_folders=True)
    get_production(HUB, "gpt2", allow_local_folders=True)  # never passed on for a hub id
    assert counted_loads == [
        ("/srv/model", True, False),
        ("/srv/model", True, True),
        ("gpt2", False, False),
    ]
