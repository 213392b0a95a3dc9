"""A minimal client of Streamlit's browser protocol, for load benchmarks against a real server.

It speaks what the browser speaks over ``/_stcore/stream`` (protobuf ``BackMsg`` out,
``ForwardMsg`` in) without rendering anything, so many learners can be simulated on one small
machine while the server does exactly the work it does for browsers: full page runs, fragment
runs (a widget inside an ``st.fragment`` reruns only that fragment, as in the browser), widget
callbacks, reruns requested by the app, query parameters and page changes.

Each call of :meth:`Session.run` is one interaction: it sends one rerun request and waits until
the server says the run (and any rerun the app asked for) finished. The time it returns is the
server's time for that interaction as the client sees it (on localhost: script time plus
serialisation and transport).

Only what the lesson's benchmark needs is implemented: selectboxes, radios, checkboxes, text
inputs and areas, number inputs, multiselects and buttons (no file uploads, no charts' selections).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

FINISHED = ForwardMsg.ScriptFinishedStatus
WIDGET_TYPES = (
    "selectbox",
    "radio",
    "checkbox",
    "text_input",
    "text_area",
    "number_input",
    "multiselect",
    "button",
    "slider",
)


@dataclass
class Widget:
    kind: str
    id: str
    label: str
    fragment_id: str
    proto: Any


@dataclass
class RunResult:
    seconds: float
    status: str
    texts: list[str] = field(default_factory=list)  # markdown, headings, alerts, metrics drawn
    exceptions: list[str] = field(default_factory=list)


class ProtocolError(RuntimeError):
    pass


class Session:
    """One browser tab: a websocket, the widget states the tab would hold, and its address."""

    def __init__(
        self, base_url: str, query_string: str = "", headers: dict[str, str] | None = None
    ) -> None:
        self.url = base_url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self.query_string = query_string
        self.headers = dict(headers or {})  # sent with the websocket's opening request
        self.page_name = ""
        self.page_hash = ""
        self.widgets: dict[tuple[str, str], Widget] = {}
        self.states: dict[str, WidgetState] = {}
        self.ws = None
        self.last: RunResult | None = None  # the result of the latest interaction

    async def __aenter__(self) -> Session:
        self.ws = await websockets.connect(
            self.url,
            subprotocols=["streamlit"],
            max_size=2**28,
            additional_headers=self.headers or None,
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    # -- widgets ----------------------------------------------------------------------------------
    def widget(self, kind: str, label: str) -> Widget:
        try:
            return self.widgets[(kind, label)]
        except KeyError:
            have = sorted(lbl for k, lbl in self.widgets if k == kind)
            raise ProtocolError(f"no {kind} labelled {label!r}; have {have}") from None

    def set(self, kind: str, label: str, value: Any) -> Widget:
        """Give a widget a new value (as the browser would on a change); returns the widget."""
        w = self.widget(kind, label)
        s = WidgetState(id=w.id)
        if kind in ("selectbox", "radio"):
            s.string_value = str(value)
        elif kind == "checkbox":
            s.bool_value = bool(value)
        elif kind in ("text_input", "text_area"):
            s.string_value = str(value)
        elif kind == "number_input":
            s.double_value = float(value)
        elif kind == "multiselect":
            s.string_array_value.data.extend(str(v) for v in value)
        else:
            raise ProtocolError(f"setting a {kind} is not supported")
        self.states[w.id] = s
        return w

    # -- runs -------------------------------------------------------------------------------------
    async def open(self, page_name: str = "") -> RunResult:
        """Open a page (the first request of a tab, or a click in the sidebar navigation)."""
        self.page_name, self.page_hash = page_name, ""
        self.states = {}  # the browser forgets the widgets of the page it leaves
        return await self._rerun(fragment_id="", page_change=True)

    async def send_raw(self, msg: BackMsg) -> None:
        """Send any BackMsg as it is (e.g. ``BackMsg(clear_cache=True)``), without waiting."""
        await self.ws.send(msg.SerializeToString())

    async def rerun(self) -> RunResult:
        """Rerun the page this tab shows, as a browser's "Rerun" does."""
        return await self._rerun(fragment_id="")

    async def change(self, kind: str, label: str, value: Any) -> RunResult:
        w = self.set(kind, label, value)
        return await self._rerun(fragment_id=w.fragment_id)

    async def click(self, label: str) -> RunResult:
        w = self.widget("button", label)
        return await self._rerun(
            fragment_id=w.fragment_id, trigger=WidgetState(id=w.id, trigger_value=True)
        )

    async def _rerun(
        self, fragment_id: str, trigger: WidgetState | None = None, page_change: bool = False
    ) -> RunResult:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query_string
        cs.page_script_hash = "" if page_change else self.page_hash
        cs.page_name = self.page_name
        cs.fragment_id = fragment_id
        states = [s for i, s in self.states.items() if trigger is None or i != trigger.id]
        if trigger is not None:
            states.append(trigger)
        cs.widget_states.widgets.extend(states)
        if not fragment_id:
            self.widgets = {}  # a full run redraws every widget
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        result = await self._until_finished()
        result.seconds = time.perf_counter() - t0
        self.last = result
        return result

    async def _until_finished(self) -> RunResult:
        result = RunResult(0.0, "")
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await self.ws.recv())
            kind = fm.WhichOneof("type")
            if kind == "delta":
                self._delta(fm, result)
            elif kind == "page_info_changed":
                self.query_string = fm.page_info_changed.query_string
            elif kind == "navigation":  # which page this run showed (st.navigation)
                self.page_hash = fm.navigation.page_script_hash
                for page in fm.navigation.app_pages:
                    if page.page_script_hash == self.page_hash:
                        self.page_name = page.url_pathname
            elif kind == "script_finished":
                status = fm.script_finished
                if status == FINISHED.FINISHED_EARLY_FOR_RERUN:
                    continue  # the app asked for a rerun (st.rerun): it follows at once
                result.status = FINISHED.Name(status)
                if status == FINISHED.FINISHED_WITH_COMPILE_ERROR:
                    raise ProtocolError("the script did not compile")
                return result
            elif kind == "auto_rerun":
                continue

    def _delta(self, fm: ForwardMsg, result: RunResult) -> None:
        delta = fm.delta
        if delta.WhichOneof("type") != "new_element":
            return
        el = delta.new_element
        kind = el.WhichOneof("type")
        if kind in WIDGET_TYPES:
            proto = getattr(el, kind)
            self.widgets[(kind, proto.label)] = Widget(
                kind, proto.id, proto.label, delta.fragment_id, proto
            )
        elif kind == "exception":
            result.exceptions.append(f"{el.exception.type}: {el.exception.message}")
        elif kind == "markdown":
            result.texts.append(el.markdown.body)
        elif kind == "alert":
            result.texts.append(el.alert.body)
        elif kind == "heading":
            result.texts.append(el.heading.body)
        elif kind == "metric":
            result.texts.append(f"{el.metric.label}: {el.metric.body}")
        elif kind == "code":
            result.texts.append(el.code.code_text)


def run_sync(coro):
    """``asyncio.run(coro)``, also where this thread already runs an event loop (e.g. under
    pytest after Playwright's sync API started one): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as err:  # noqa: BLE001 - handed back to the caller
            box["error"] = err

    worker = threading.Thread(target=target, name="st-client")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")


async def gather_timed(coros) -> tuple[list[Any], float]:
    """Run coroutines at once; their results and the wall time until the last finished."""
    t0 = time.perf_counter()
    out = await asyncio.gather(*coros)
    return list(out), time.perf_counter() - t0
