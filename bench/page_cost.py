"""Where a browser's CPU goes when it opens a page (issue 21: in a class on this 2-core
machine the browsers take ~70% of the CPU, the server ~25%).

Starts ``streamlit run streamlit_app.py`` on a free port, opens the page once so that
its maps are cached, then opens it ``--rounds`` times in fresh browser contexts, each
time recording Chromium's CPU seconds per process type (renderer, GPU, browser,
utility) and a CDP sampling profile of the page's main thread, summed by script file
and by function.

Usage::

    python bench/page_cost.py                       # "Explain an image"
    python bench/page_cost.py --path / --ready "Top-5"   # another page, its last text
    python bench/page_cost.py --upload    # upload a new photo until its panel is drawn
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.memory import photo  # noqa: E402
from bench.startup import start_server, wait_until_healthy  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port  # noqa: E402
from tests.browser.helpers import upload, wait_for_app  # noqa: E402

TIMEOUT_MS = 300_000
VIEWPORT = {"width": 1400, "height": 900}


def chromium_cpu() -> collections.Counter[str]:
    """CPU seconds so far of every Chromium process, by its ``--type`` (the browser
    process has none)."""
    seconds: collections.Counter[str] = collections.Counter()
    for process in psutil.process_iter(["name", "cmdline"]):
        if "chrom" not in (process.info["name"] or ""):
            continue
        arguments = process.info["cmdline"] or []
        kind = next((a.split("=", 1)[1] for a in arguments if a.startswith("--type=")), "browser")
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        seconds[kind] += times.user + times.system
    return seconds


def self_times(profile: dict) -> collections.Counter[tuple[str, str]]:
    """A CDP ``Profiler.stop`` profile -> seconds spent in each (function, script file)."""
    nodes = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    spent: collections.Counter[tuple[str, str]] = collections.Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = nodes[sample]
        spent[(frame["functionName"] or "(anonymous)", frame["url"].rsplit("/", 1)[-1])] += (
            delta / 1e6
        )
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default="/explain", help="the page's URL path")
    parser.add_argument("--ready", default="maps ready.", help="text shown once it is drawn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--upload", action="store_true",
        help="measure an upload of a new photo until its panel is drawn, not the page open",
    )  # fmt: skip
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(port)
    try:
        wait_until_healthy(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            for round_number in range(args.rounds + 1):  # round 0 warms the server's caches
                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                if args.upload:  # the page first, unmeasured
                    page.goto(url + args.path)
                    page.get_by_text(args.ready).first.wait_for(timeout=TIMEOUT_MS)
                    wait_for_app(page)
                    page.get_by_role("radio", name="Upload", exact=True).click()
                    wait_for_app(page)
                cdp.send("Profiler.enable")
                cdp.send("Profiler.setSamplingInterval", {"interval": 500})
                cdp.send("Profiler.start")
                before, start = chromium_cpu(), time.perf_counter()
                if args.upload:  # a new photo each round: its maps are computed
                    name, mime, data = photo(3000 + round_number)
                    upload(page, name, data, mime)
                else:
                    page.goto(url + args.path)
                page.get_by_text(args.ready).first.wait_for(timeout=TIMEOUT_MS)
                wait_for_app(page)
                wall, after = time.perf_counter() - start, chromium_cpu()
                spent = self_times(cdp.send("Profiler.stop")["profile"])
                context.close()
                if round_number == 0:
                    continue
                used = {kind: after[kind] - before[kind] for kind in after}
                busy = sum(v for (name, _), v in spent.items() if name != "(idle)")
                print(f"round {round_number}: {wall:.2f} s to draw; Chromium CPU "
                      f"{sum(used.values()):.2f} s: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in sorted(used.items()) if v > 0.005)
                      + f"; main thread busy {busy:.2f} s")  # fmt: skip
                by_file: collections.Counter[str] = collections.Counter()
                for (name, file), seconds in spent.items():
                    if name != "(idle)":
                        by_file[file or f"({name.strip('()')})"] += seconds
                top = by_file.most_common(8)
                print("  by script: " + ", ".join(f"{file} {seconds:.2f}" for file, seconds in top))
                for (name, file), seconds in spent.most_common(12):
                    if name != "(idle)":
                        print(f"    {seconds:6.3f} s  {name}  {file}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
