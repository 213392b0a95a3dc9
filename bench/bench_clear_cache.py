"""What one client's ``clear_cache`` message costs everyone else, with and without the app's
filter (ui/backmsg_filter.py), against real servers over Streamlit's own protocol.

For each server (``streamlit run app.py``, which serves itself through ``st.App`` with the
filter, and the same app run plainly, without it) the script opens every lesson page twice
(warm times), then, for each page, has a stranger's session send ``clear_cache`` and a
bystander open the page again. It prints the median warm time and the median time after the
message, per page, side by side with the unfiltered server as the reference::

    python bench/bench_clear_cache.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from load_server import start_server  # noqa: E402
from st_client import Session, run_sync  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402

PAGES = ["", "architecture", "residual_stream", "circuits", "production", "assessment"]
#: The app without the filter: app.py run as a plain script (no st.App), for the reference.
UNFILTERED = "import runpy\nrunpy.run_path('app.py', run_name='__main__')\n"


async def _measure(base: str, repeats: int) -> dict[str, tuple[float, float]]:
    out = {}
    async with Session(base) as bystander, Session(base) as stranger:
        await stranger.open("")
        for page in PAGES:
            warm = []
            for _ in range(repeats + 1):
                warm.append((await bystander.open(page)).seconds)
            after = []
            for _ in range(repeats):
                await stranger.send_raw(BackMsg(clear_cache=True))
                await stranger.rerun()  # the message is handled before this run answers
                after.append((await bystander.open(page)).seconds)
            out[page or "home"] = (statistics.median(warm[1:]), statistics.median(after))
    return out


def _server_times(script: str, repeats: int) -> dict[str, tuple[float, float]]:
    log = Path(tempfile.mkdtemp(prefix="bench-clear-cache-")) / "server.log"
    proc, base = start_server(
        tempfile.mkdtemp(prefix="bench-clear-cache-data-"), log, script=script
    )
    try:
        return run_sync(_measure(base, repeats))
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    wrapper = ROOT / ".bench_unfiltered_app.py"
    wrapper.write_text(UNFILTERED)
    try:
        plain = _server_times(wrapper.name, args.repeats)
    finally:
        wrapper.unlink()
    filtered = _server_times("app.py", args.repeats)
    print(
        f"\nPage open time (s), median of {args.repeats}: warm, and after another client's "
        f"clear_cache"
    )
    print(
        f"{'page':<16} {'filtered warm':>13} {'filtered after':>15} "
        f"{'unfiltered warm':>16} {'unfiltered after':>17}"
    )
    for page in plain:
        fw, fa = filtered[page]
        pw, pa = plain[page]
        print(f"{page:<16} {fw:>13.3f} {fa:>15.3f} {pw:>16.3f} {pa:>17.3f}")
    return {"filtered": filtered, "unfiltered": plain}


if __name__ == "__main__":
    main()
