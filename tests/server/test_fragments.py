"""Pickers rerun only their part of the page (st.fragment), checked against a real server over
Streamlit's protocol: the widget belongs to a fragment, the run redraws the chosen head's
section, and nothing outside it (no page title, no sidebar) is sent again."""

import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from st_client import Session, run_sync  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.server.test_load_server import _bench

    bench = _bench()
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc, base = bench.start_server(tempfile.mkdtemp(prefix="lab-fragments-"), log)
    yield base
    proc.terminate()
    proc.wait(timeout=20)


async def _pick(base: str, page: str, label: str, pick) -> tuple[object, object, str]:
    async with Session(base) as s:
        opened = await s.open(page)
        widget = s.widget("selectbox", label)
        value = pick(list(widget.proto.options))
        changed = await s.change("selectbox", label, value)
        return opened, changed, widget.fragment_id


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "page, label, pick, drawn",
    [
        ("architecture", "Layer", lambda o: o[1], "QK and OV circuits of layer 1, head 0"),
        ("architecture", "Head", lambda o: o[2], "QK and OV circuits of layer 0, head 2"),
        ("residual_stream", "Stream for the spectrum", lambda o: o[0], None),
        ("production", "Layer", lambda o: o[3], None),
    ],
)
def test_a_picker_reruns_only_its_fragment(server, page, label, pick, drawn):
    opened, changed, fragment_id = run_sync(_pick(server, page, label, pick))
    assert not opened.exceptions and not changed.exceptions
    assert fragment_id, f"{label!r} on {page} is not inside a fragment"
    assert changed.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"
    # The whole page drew the sidebar's progress panel; the picker's run did not.
    assert any("Your progress" in t for t in opened.texts)
    assert not any("Your progress" in t for t in changed.texts)
    assert len(changed.texts) < len(opened.texts)
    if drawn:
        assert any(drawn in t for t in changed.texts), changed.texts[:5]
        assert not any(t.startswith("Architecture") for t in changed.texts)  # the page title


async def _submit(base: str) -> tuple[object, object]:
    async with Session(base) as s:
        opened = await s.open("architecture")
        options = list(s.widget("radio", "Answer to question 1 (choose one)").proto.options)
        await s.change("radio", "Answer to question 1 (choose one)", options[0])
        submitted = await s.click("Submit answers")
        return opened, submitted


@pytest.mark.timeout(600)
def test_a_submission_redraws_its_result_and_the_sidebar_progress_but_not_the_page(server):
    opened, submitted = run_sync(_submit(server))
    assert not submitted.exceptions
    assert submitted.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"
    assert any(t.startswith(("**Not passed yet:", "**Passed:")) for t in submitted.texts), (
        submitted.texts[:8]
    )
    progress = [t for t in submitted.texts if "- Checkpoint 1 (Architecture):" in t]
    assert progress and "not attempted" not in progress[0].split("- Checkpoint 2")[0]
    assert any("1. How information flows" in t for t in opened.texts)
    assert not any("1. How information flows" in t for t in submitted.texts)
