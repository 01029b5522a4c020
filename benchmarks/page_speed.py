"""Page speed in a real browser: sidebar page switches and widget changes on the demo data.

    python -m benchmarks.page_speed                  # 5 cold rounds, then 5 warm rounds
    python -m benchmarks.page_speed --repeat 3 --phases warm --timeline --profile

Starts ``streamlit run app.py`` on a free port over a fresh temporary workspace (the app seeds
the demo data on first use) and drives Debian's Chromium with Playwright. Times are taken in
the page with ``performance.now()`` from the user's input event (pointerdown/keydown; for a
page load, from navigation start):

- first chart: a plotly chart drawn by this run is on screen (after a page switch, on the new
  page); done: the server said the script finished, no stale element or skeleton is left and
  every visible chart is drawn.
- server: rerun request sent → script_finished received (the websocket is tapped in the page);
  browser: script_finished → done.
- srv CPU: the streamlit process's CPU time (/proc), which hardly changes when other processes
  load the machine; page busy: the tab's main-thread task time (Chrome's TaskDuration, also
  split into script and style+layout in the JSON); load: the 1-minute load average.
  Streamlit settings pass through the environment, e.g. STREAMLIT_SERVER_FILE_WATCHER_TYPE=none.

Cold: a fresh server process each round (empty ``st.cache_data``, first visit of each page;
a new browser context, so every JS chunk is fetched again); warm: one server and tab after a
warm-up pass, every result cached. ``--timeline`` prints every websocket message of the
last round's runs; ``--profile`` samples the page's JavaScript over one more warm pass and sums
self time per script file (plotly.js against Streamlit's own bundles). Targets (issue 8): a
page switch shows its first chart within 1.5 s; a widget change has redrawn within 1 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, Server

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "page_speed.json"
TARGETS_MS = {"switch": 1500, "widget": 1000, "load": None}
TITLES = {"Home": "Customer journey analytics", "Paths": "Paths", "Funnels": "Funnels"}
TIMEOUT_MS = 90_000
VIEWPORT = {"width": 1400, "height": 1000}
#: Medians reported per (phase, action); the table shows the first ones.
MEASURES = ("first_chart_ms", "done_ms", "server_ms", "after_server_ms", "server_cpu_ms",
            "browser_cpu_ms", "browser_script_ms", "browser_layout_ms", "kb_received", "load")

INIT_JS = r"""(() => {
  const B = window.__bench = {msgs: [], inputs: [], old: new WeakSet(), firstChart: null,
                              finished: null, done: null};
  const fields = (buf) => {  // top-level protobuf field numbers of a ForwardMsg
    const b = new Uint8Array(buf), out = []; let i = 0;
    const varint = () => { let x = 0, s = 0, c; do { c = b[i++]; x += (c & 127) * 2 ** s;
      s += 7; } while (c & 128); return x; };
    while (i < b.length) { const tag = varint(), w = tag % 8; out.push(Math.floor(tag / 8));
      const skip = w === 0 ? (varint(), 0) : w === 2 ? varint() : w === 1 ? 8 : w === 5 ? 4 : -1;
      if (skip < 0) break; i += skip; }
    return out;
  };
  const Native = window.WebSocket;
  function Tapped(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener('message', (ev) => {
      const t = performance.now();
      B.msgs.push({t, dir: 'in', data: ev.data});
      if (B.finished === null && ev.data instanceof ArrayBuffer && fields(ev.data).includes(6))
        B.finished = t;
    });
    return ws;
  }
  Tapped.prototype = Native.prototype;
  Object.assign(Tapped, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Tapped;
  const send = Native.prototype.send;
  Native.prototype.send = function (data) {
    B.msgs.push({t: performance.now(), dir: 'out', data}); return send.call(this, data);
  };
  for (const type of ['pointerdown', 'keydown'])
    addEventListener(type, () => B.inputs.push(performance.now()), true);
})();"""

# Before an action: forget the log, remember which chart drawings already exist.
MARK_JS = """() => { const B = window.__bench;
  Object.assign(B, {msgs: [], inputs: [], firstChart: null, finished: null, done: null,
                    old: new WeakSet()});
  for (const gd of document.querySelectorAll('.js-plotly-plot'))
    if (gd._fullLayout) B.old.add(gd._fullLayout); }"""

# Polled every animation frame until the run is done; records the first-chart time.
WATCH_JS = """([title, needChart]) => { const B = window.__bench, now = performance.now();
  const live = (el) => !el.closest('[data-stale="true"]');
  if (![...document.querySelectorAll('h1')].some(
      (h) => live(h) && h.textContent.trim() === title)) return false;
  const charts = [...document.querySelectorAll('.js-plotly-plot')].filter(
      (gd) => live(gd) && gd.offsetParent);
  if (B.firstChart === null && charts.some((gd) => gd._fullLayout &&
      !B.old.has(gd._fullLayout) && gd.querySelector('.main-svg'))) B.firstChart = now;
  if (B.finished === null || (needChart && B.firstChart === null)) return false;
  if (document.querySelector('[data-stale="true"], [data-testid="stSkeleton"]')) return false;
  if (charts.some((gd) => !gd.querySelector('.main-svg'))) return false;
  B.done = now; return true; }"""

COLLECT_JS = """() => { const B = window.__bench;
  const b64 = (d) => { if (typeof d === 'string') return btoa(unescape(encodeURIComponent(d)));
    const u = new Uint8Array(d); let s = '';
    for (let i = 0; i < u.length; i += 0x8000)
      s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
    return btoa(s); };
  return {t0: B.inputs.length ? B.inputs[0] : 0, firstChart: B.firstChart,
          finished: B.finished, done: B.done,
          msgs: B.msgs.map((m) => ({t: m.t, dir: m.dir, data: b64(m.data)}))}; }"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds per phase")
    parser.add_argument("--phases", nargs="+", choices=("cold", "warm"),
                        default=["cold", "warm"])
    parser.add_argument("--timeline", action="store_true",
                        help="print every websocket message of the last round's runs")
    parser.add_argument("--profile", action="store_true",
                        help="sample the page's JavaScript over one more warm pass")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def describe(raw_msg: dict) -> tuple[str, str, int]:
    """(direction, what, bytes) of one tapped websocket message."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    data = base64.b64decode(raw_msg["data"])
    if raw_msg["dir"] == "out":
        return "out", BackMsg.FromString(data).WhichOneof("type") or "?", len(data)
    msg = ForwardMsg.FromString(data)
    kind = msg.WhichOneof("type") or "?"
    if kind == "delta":
        what = msg.delta.WhichOneof("type") or "?"
        if what == "new_element":
            what = msg.delta.new_element.WhichOneof("type") or "?"
        elif what == "add_block":
            what = "block:" + (msg.delta.add_block.WhichOneof("type") or "vertical")
        kind = f"delta {what}"
    return "in", kind, len(data)


def analyse(raw: dict) -> dict:
    """The times of one run in ms from the user's input, and its message timeline."""
    t0 = raw["t0"]
    timeline = [(round(m["t"] - t0), *describe(m)) for m in raw["msgs"]]
    sent = [t for t, d, kind, _ in timeline if d == "out" and kind == "rerun_script"]
    request = sent[0] if sent else 0
    return {
        "first_chart_ms": None if raw["firstChart"] is None else raw["firstChart"] - t0,
        "done_ms": raw["done"] - t0,
        "server_ms": raw["finished"] - t0 - request,
        "after_server_ms": raw["done"] - raw["finished"],
        "kb_received": sum(n for _, d, _, n in timeline if d == "in") / 1024,
        "timeline": timeline,
    }


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(samples: dict[tuple[str, str, str], list[dict]]) -> list[dict]:
    """One row per (phase, kind, action): the median of each measure over the runs."""
    rows = []
    for (phase, kind, action), runs in samples.items():
        row = {"phase": phase, "kind": kind, "action": action, "n": len(runs),
               "target_ms": TARGETS_MS[kind]}
        for key in MEASURES:
            value = median([r.get(key) for r in runs])
            row[key] = None if value is None else round(value, 1)
        row["done_all_ms"] = [round(r["done_ms"]) for r in runs]
        rows.append(row)
    return rows


def verdict(row: dict) -> str:
    """Against the target: a page switch's first chart, a widget change's redraw."""
    if row["target_ms"] is None:
        return ""
    value = row["first_chart_ms"] if row["kind"] == "switch" else row["done_ms"]
    return "ok" if value is not None and value <= row["target_ms"] else "SLOW"


def format_table(rows: list[dict]) -> str:
    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:,.0f}"

    heads = ("first chart", "done", "server", "browser", "srv CPU", "page busy", "load",
             "target")
    lines = [f"{'phase':<6}{'action':<25}" + "".join(f"{h:>10}" for h in heads), "-" * 111]
    for r in rows:
        cells = (ms(r["first_chart_ms"]), ms(r["done_ms"]), ms(r["server_ms"]),
                 ms(r["after_server_ms"]), ms(r["server_cpu_ms"]), ms(r["browser_cpu_ms"]),
                 "–" if r["load"] is None else f"{r['load']:.1f}", ms(r["target_ms"]))
        lines.append(f"{r['phase']:<6}{r['action']:<25}" + "".join(f"{c:>10}" for c in cells)
                     + f"  {verdict(r)}")
    lines.append("ms, medians. server: rerun request → script_finished; browser: "
                 "script_finished → done; srv CPU: streamlit process; page busy: the tab's "
                 "main-thread tasks; load: 1-min load average")
    return "\n".join(lines)


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


class Tab:
    """A browser tab on the app, with the CPU counters each run is measured by."""

    def __init__(self, context: BrowserContext, server: Server) -> None:
        self.page = context.new_page()
        self.cdp = context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")
        self.server = server

    def counters(self) -> dict[str, float]:
        got = {m["name"]: m["value"] * 1000
               for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        return {"server_cpu_ms": cpu_ms(self.server.proc.pid),
                "browser_cpu_ms": got["TaskDuration"], "browser_script_ms": got["ScriptDuration"],
                "browser_layout_ms": got["LayoutDuration"] + got["RecalcStyleDuration"]}

    def measure(self, trigger: Callable[[Page], None] | None, title: str, *,
                chart: bool = True, timeout_ms: int = TIMEOUT_MS) -> dict:
        """Do one user action (None: load the app's Home) and wait until its run is done
        (with ``chart``, also until a chart of this run is drawn)."""
        load, before = os.getloadavg()[0], self.counters()
        if trigger is None:
            self.page.goto(self.server.url)
        else:
            self.page.evaluate(MARK_JS)
            trigger(self.page)
        self.page.wait_for_function(WATCH_JS, arg=[title, chart], polling="raf",
                                    timeout=timeout_ms)
        run = analyse(self.page.evaluate(COLLECT_JS))
        after = self.counters()
        # A new document starts the page's counters afresh.
        run.update({k: v - before[k] if v >= before[k] else v for k, v in after.items()})
        return {**run, "load": load}


def _forget_inputs(page: Page) -> None:
    page.evaluate("() => { window.__bench.inputs = []; }")


def switch_to(label: str) -> Callable[[Page], None]:
    def trigger(page: Page) -> None:
        page.locator('[data-testid="stSidebar"]').get_by_role("link", name=label).first.click()
    return trigger


def paths_steps(page: Page) -> None:
    """One step more on the Steps slider (one less at the maximum), from the keyboard."""
    thumb = page.get_by_test_id("stSlider").filter(has_text="Steps").first.locator("input")
    thumb.focus()
    _forget_inputs(page)
    page.keyboard.press("ArrowRight" if int(thumb.input_value()) < 10 else "ArrowLeft")


def funnels_order(page: Page) -> None:
    """Switch the funnel's Order between in order and strictly consecutive."""
    box = page.get_by_test_id("stSelectbox").filter(has_text="Order").first.get_by_role(
        "combobox")
    strict = "Strictly" in box.input_value()
    box.click()
    _forget_inputs(page)
    page.get_by_role("option", name="In order" if strict else "Strictly consecutive").click()


#: One pass through the app: (kind, action, trigger, title of the page it lands on).
CYCLE: tuple[tuple[str, str, Callable[[Page], None] | None, str], ...] = (
    ("load", "open Home (page load)", None, TITLES["Home"]),
    ("switch", "Home → Paths", switch_to("Paths"), TITLES["Paths"]),
    ("widget", "Paths: Steps slider", paths_steps, TITLES["Paths"]),
    ("switch", "Paths → Funnels", switch_to("Funnels"), TITLES["Funnels"]),
    ("widget", "Funnels: Order select", funnels_order, TITLES["Funnels"]),
    ("switch", "Funnels → Home", switch_to("Home"), TITLES["Home"]),
)


def one_round(tab: Tab, phase: str, samples: dict, last: dict) -> None:
    """Load Home in the tab, then go once through CYCLE; each run added to ``samples``."""
    for kind, action, trigger, title in CYCLE:
        run = tab.measure(trigger, title, chart=kind != "widget")
        samples.setdefault((phase, kind, action), []).append(run)
        last[f"{phase}: {action}"] = {"done_ms": round(run["done_ms"]),
                                      "timeline": run.pop("timeline")}


def self_time_by_script(profile: dict, top: int = 10) -> list[tuple[str, int]]:
    """Milliseconds of JavaScript self time per script file (or V8 bucket) in a CPU profile."""
    names = {}
    for node in profile["nodes"]:
        frame = node["callFrame"]
        url = frame.get("url") or ""
        names[node["id"]] = url.rsplit("/", 1)[-1] if url else frame["functionName"] or "?"
    totals: dict[str, float] = {}
    for node_id, delta_us in zip(profile["samples"], profile["timeDeltas"], strict=True):
        totals[names[node_id]] = totals.get(names[node_id], 0.0) + delta_us / 1000
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return [(name, round(ms)) for name, ms in ranked if name != "(idle)"][:top]


def profile_pass(tab: Tab) -> list[tuple[str, int]]:
    tab.cdp.send("Profiler.enable")
    tab.cdp.send("Profiler.setSamplingInterval", {"interval": 200})
    tab.cdp.send("Profiler.start")
    one_round(tab, "profile", {}, {})
    return self_time_by_script(tab.cdp.send("Profiler.stop")["profile"])


def new_tab(browser, server: Server) -> Tab:
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(INIT_JS)
    return Tab(context, server)


def benchmark(args: argparse.Namespace) -> dict:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    samples: dict[tuple[str, str, str], list[dict]] = {}
    result: dict = {"cpus": os.cpu_count(), "repeat": args.repeat, "timelines": {},
                    "env": {k: v for k, v in os.environ.items() if k.startswith("STREAMLIT_")}}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        server = Server(Path(tmp) / "workspace")
        try:
            server.start()
            seed = new_tab(browser, server).measure(None, TITLES["Home"], timeout_ms=600_000)
            result["first_open_seeds_demo_ms"] = round(seed["done_ms"])
            for phase in args.phases:
                for i in range(args.repeat + (phase == "warm")):
                    if phase == "cold" or i == 0:
                        server.restart()
                        tab = new_tab(browser, server)
                    # The warm phase's first round is its warm-up.
                    keep = samples if phase == "cold" or i else {}
                    one_round(tab, phase, keep, result["timelines"])
                    print(f"{phase} round {i + 1} done", file=sys.stderr, flush=True)
            if args.profile:
                try:
                    result["js_self_ms_warm_pass"] = profile_pass(tab)
                except PlaywrightError as error:  # the numbers above stand without it
                    result["js_self_ms_warm_pass"] = [(f"failed: {error}"[:200], 0)]
        finally:
            server.stop()
            browser.close()
    result["rows"] = summarise(samples)
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = benchmark(args)
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(format_table(result["rows"]))
    print(f"first open of a new workspace (seeds the demo): "
          f"{result['first_open_seeds_demo_ms']:,} ms")
    if args.profile:
        print("JavaScript self time over one warm pass (ms): " + ", ".join(
            f"{name} {ms:,}" for name, ms in result["js_self_ms_warm_pass"]))
    for name, run in result["timelines"].items() if args.timeline else ():
        print(f"\n{name}: done at {run['done_ms']:,} ms")
        for t, direction, kind, size in run["timeline"]:
            print(f"  {t:>6} ms  {'→' if direction == 'out' else '←'} {kind:<32}{size:>9,} B")


if __name__ == "__main__":
    main()
