"""A class on one server: N browser sessions open "Explain an image" and upload
different photos within a few seconds (issue 21).

Starts ``streamlit run streamlit_app.py`` on a free port (from this checkout, or from
``--repo`` to measure another version the same way), warms it up as a teacher would
(one session opens the page, so the sample's default panel is cached and the forward
engine built), then drives N sessions of one headless Chromium at once:

1. **page open**: each session opens "Explain an image" on the sample photo, whose
   maps are all cached: from ``goto`` to "N maps ready.";
2. **upload**: session i uploads its own photo ``i * spread / N`` seconds after the
   first; **first map**: upload to the first map tile drawn; **panel**: upload to
   "N maps ready." (the default panel);
3. error boxes and tracebacks on each page at the end.

Meanwhile the server's RSS is sampled every 50 ms (peak), and ``/_stcore/health`` is
timed every 0.25 s from this process: the server's own latency, to tell it apart from
the browsers, which share this machine's CPUs. Then, one session alone: the server's
CPU seconds for a rerun with every map cached (opening the page; moving the opacity
slider), and each method's estimated against its real time.

Last, **the floor**: the same N sessions open a bare Streamlit page
(``bench/floor_app.py``) and upload the same photos. The app's p95 times are printed as
multiples of the floor's, measured in the same run (``--no-floor`` skips it).

Reading the numbers: the browsers and the server share this machine's 2 CPUs, and Linux
(autogroups on) shares the CPUs evenly between the browsers' session and the server's
first, whatever the threads' nice values: while the pages draw, the server gets about one
core. ``--browsers-nice 19`` puts the browsers behind the server (their threads and their
autogroup), as if they ran on the students' own computers: what the server alone
achieves, not the class the targets describe.

Usage::

    python bench/classroom.py --students 8 --spread 4
    python bench/classroom.py --students 24 --spread 10
    python bench/classroom.py --students 1
    python bench/classroom.py --students 8 --repo /path/to/an/older/checkout
    python bench/classroom.py --students 8 --browsers-nice 19   # the server alone

Targets (this 2-core machine, browsers included): N = 8: first map p95 <= 3 s, panel
p95 <= 25 s, page open p95 <= 5 s, peak RSS <= 1.5 GB, no error; N = 24: every page and
panel completes, no error, peak RSS <= 1.7 GB; N = 1: first map <= 0.4 s, panel <= 3.5 s;
a cached rerun <= 0.2 s of server CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.memory import Sampler, photo  # noqa: E402
from bench.startup import peak_rss_mb, start_server, wait_until_healthy  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port  # noqa: E402

TIMEOUT_MS = 600_000  # per step (--timeout)
# the photo and every map tile (a figure with its colour bar; an image before issue 22)
TILE = (
    '[data-testid="stMain"] [data-testid="stPlotlyChart"], '
    '[data-testid="stMain"] [data-testid="stImage"] img'
)
READY = "maps ready."
FLOOR_READY = "Ready."  # bench/floor_app.py's last line
FLOOR_APP = "bench/floor_app.py"
MOVES = 6  # slider moves averaged (one move's CPU varied by +-0.03 s between runs)
SHOTS: Path | None = None  # --shots: a failing session's page is saved there


@dataclass
class Student:
    """One browser session's timings (seconds) and problems."""

    number: int
    page_open: float | None = None
    first_map: float | None = None
    panel: float | None = None
    errors: list[str] = field(default_factory=list)


class HealthProbe(threading.Thread):
    """Times ``/_stcore/health`` round trips every ``period`` seconds."""

    def __init__(self, url: str, period: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.url, self.period, self.times = url, period, []
        self.running = True

    def run(self) -> None:
        while self.running:
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=30) as answer:
                    answer.read()
                self.times.append(time.perf_counter() - start)
            except OSError:
                self.times.append(float("inf"))
            time.sleep(self.period)


class BrowserNice(threading.Thread):
    """``--browsers-nice N``: every thread of every Chromium process at nice N (those of
    new pages too, checked every ``period`` s; Chromium raises its compositor threads'
    priority where it may), and the browsers' autogroup too (Linux with autogroups first
    shares the CPUs evenly between sessions, whatever the threads' nice: the browsers,
    launched in a session of their own, would still get half), so the browsers take only
    the CPU the server leaves.
    Not the class the targets describe: it stands in for students' browsers on their own
    computers, to tell what the server alone achieves from what this harness shows."""

    def __init__(self, nice: int, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.nice, self.period, self.running = nice, period, True

    def run(self) -> None:
        while self.running:
            for process in psutil.process_iter(["name"]):
                if "chrom" not in (process.info["name"] or ""):
                    continue
                try:
                    threads = [thread.id for thread in process.threads()]
                except psutil.Error:
                    continue
                # Linux shares the CPUs between sessions' autogroups first (none here, or
                # the process ended: nothing to do)
                with contextlib.suppress(OSError):
                    Path(f"/proc/{process.pid}/autogroup").write_text(str(self.nice))
                for thread in threads:  # ...then by each thread's own nice
                    try:
                        if os.getpriority(os.PRIO_PROCESS, thread) < self.nice:
                            os.setpriority(os.PRIO_PROCESS, thread, self.nice)
                    except OSError:
                        pass  # ended meanwhile
            time.sleep(self.period)


class CpuMeter(threading.Thread):
    """CPU seconds used by the server and by the browsers (every Chromium process, also
    those that end meanwhile: each process's last reading is kept) from start to stop.
    Processes that exist at the start count from their first reading; those started
    later from zero."""

    def __init__(self, server: int, period: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.server, self.period, self.running = server, period, True
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.existing = {server, *self._browsers()}

    @staticmethod
    def _browsers() -> set[int]:
        return {p.pid for p in psutil.process_iter(["name"]) if "chrom" in (p.info["name"] or "")}

    def _read(self) -> None:
        for pid in {self.server, *self._browsers()}:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            self.last[pid] = times.user + times.system
            self.first.setdefault(pid, self.last[pid] if pid in self.existing else 0.0)

    def run(self) -> None:
        while self.running:
            self._read()
            time.sleep(self.period)
        self._read()

    def seconds(self) -> tuple[float, float]:
        """(server, browsers) CPU seconds."""
        used = {pid: self.last[pid] - self.first[pid] for pid in self.last}
        return used.get(self.server, 0.0), sum(v for p, v in used.items() if p != self.server)


async def settled(page) -> None:  # type: ignore[no-untyped-def]
    """The app is connected and its script has finished."""
    await page.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=TIMEOUT_MS
    )
    await page.wait_for_timeout(300)
    await page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=TIMEOUT_MS
    )


async def errors_on(page) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for selector in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        found += [
            (await element.inner_text())[:200] for element in await page.locator(selector).all()
        ]
    return found


async def tiles(page) -> int:  # type: ignore[no-untyped-def]
    """Map tiles drawn (every picture but the photo)."""
    return max(0, await page.locator(TILE).count() - 1)


async def student(  # type: ignore[no-untyped-def]
    browser,
    url: str,
    number: int,
    delay: float,
    opened: asyncio.Event,
    go: asyncio.Event,
    floor: bool = False,
) -> Student:
    """One session: open the page, then upload photo ``1000 + number`` after ``delay``
    once ``go`` is set. ``floor``: on ``bench/floor_app.py``, where ``first_map`` is the
    upload until the picture is drawn (no panel)."""
    result = Student(number)
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)  # clicks too: 24 pages make a click wait
    page = await context.new_page()
    try:
        start = time.perf_counter()
        await page.goto(url if floor else f"{url}/explain")
        await page.get_by_text(FLOOR_READY if floor else READY).first.wait_for(timeout=TIMEOUT_MS)
        result.page_open = time.perf_counter() - start
        await settled(page)
        if not floor:
            await page.get_by_role("radio", name="Upload", exact=True).click()
            await settled(page)
        opened.set()
        await go.wait()
        await asyncio.sleep(delay)
        name, mime, data = photo(1000 + number)
        start = time.perf_counter()
        await page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            files=[{"name": name, "mimeType": mime, "buffer": data}]
        )
        if floor:
            await page.locator('[data-testid="stImage"] img').first.wait_for(timeout=TIMEOUT_MS)
            result.first_map = time.perf_counter() - start
            await settled(page)
            result.errors = await errors_on(page)
            return result
        await page.get_by_text(f"{name}, as").wait_for(timeout=TIMEOUT_MS)
        while await tiles(page) < 1:
            if time.perf_counter() - start > TIMEOUT_MS / 1000 or await errors_on(page):
                raise TimeoutError("no map tile was drawn (or an error box came)")
            await asyncio.sleep(0.05)
        result.first_map = time.perf_counter() - start
        await page.get_by_text(READY).first.wait_for(timeout=TIMEOUT_MS)
        result.panel = time.perf_counter() - start
        await settled(page)
        result.errors = await errors_on(page)
    except Exception as err:  # noqa: BLE001 - a session that fails is reported, not fatal
        result.errors.append(f"{type(err).__name__}: {str(err)[:200]}")
        result.errors += await errors_on(page)
        if SHOTS is not None:
            await page.screenshot(path=SHOTS / f"student-{number}.png")
    finally:
        opened.set()
        await context.close()
    return result


async def class_run(url: str, students: int, spread: float, floor: bool = False) -> list[Student]:
    """N sessions of one Chromium: every page opened first, then the uploads, spread
    over ``spread`` seconds (``floor``: on ``bench/floor_app.py``)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        go = asyncio.Event()
        opened = [asyncio.Event() for _ in range(students)]
        delays = [spread * i / max(1, students) for i in range(students)]
        tasks = [
            asyncio.create_task(student(browser, url, i, delays[i], opened[i], go, floor))
            for i in range(students)
        ]
        for event in opened:  # every page open first (the cached sample), then the uploads
            await event.wait()
        go.set()
        results = await asyncio.gather(*tasks)
        await browser.close()
    return list(results)


async def open_explain(playwright, url: str):  # type: ignore[no-untyped-def]
    """A browser with "Explain an image" open on the sample, its maps ready."""
    browser = await playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    await page.goto(f"{url}/explain")
    await page.get_by_text(READY).first.wait_for(timeout=TIMEOUT_MS)
    await settled(page)
    return browser, page


async def warm_up(url: str) -> None:
    """A teacher opens the page once: the sample's default panel is cached."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser, _ = await open_explain(playwright, url)
        await browser.close()


async def alone(url: str, pid: int) -> tuple[float, float, list[str]]:
    """One session alone, after the class: the server's CPU seconds for opening the page
    with every map cached and for moving the opacity slider (the mean of several moves);
    then a new photo's tile captions (each method's real time next to its estimate)."""
    from playwright.async_api import async_playwright

    server = psutil.Process(pid)

    def cpu() -> float:
        times = server.cpu_times()
        return times.user + times.system

    async with async_playwright() as playwright:
        browser, page = await open_explain(playwright, url)
        await asyncio.sleep(1)
        before = cpu()
        await page.reload()
        await page.get_by_text(READY).first.wait_for(timeout=TIMEOUT_MS)
        await settled(page)
        opening = cpu() - before
        slider = page.get_by_role("slider").first
        await slider.focus()
        before = cpu()
        for _ in range(MOVES):  # each to a value not seen yet: every tile is drawn anew
            await page.keyboard.press("ArrowRight")
            await settled(page)
        moving = (cpu() - before) / MOVES
        await page.get_by_role("radio", name="Upload", exact=True).click()
        await settled(page)
        name, mime, data = photo(5000)
        await page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            files=[{"name": name, "mimeType": mime, "buffer": data}]
        )
        await page.get_by_text(f"{name}, as").wait_for(timeout=TIMEOUT_MS)
        await page.get_by_text(READY).first.wait_for(timeout=TIMEOUT_MS)
        await settled(page)
        captions = [
            await caption.inner_text()
            for caption in await page.locator(
                '[data-testid="stCaptionContainer"], [data-testid="stImageCaption"]'
            ).all()
        ]
        await browser.close()
    return opening, moving, [c for c in captions if " · " in c]


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank) of some times."""
    done = sorted(values)
    return done[min(len(done) - 1, round(0.95 * (len(done) - 1)))]


def quantiles(values: list[float | None]) -> str:
    done = sorted(v for v in values if v is not None)
    if not done:
        return "none completed"
    return f"p50 {statistics.median(done):6.2f} s   p95 {p95(done):6.2f} s   max {done[-1]:6.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--spread", type=float, default=4.0, help="uploads within (s)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to serve")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per step")
    parser.add_argument("--shots", type=Path, help="save failing sessions' pages here")
    parser.add_argument("--server-log", type=Path, help="write the server's output here")
    parser.add_argument(
        "--browsers-nice", type=int, default=0,
        help="run the class's browsers at this nice value (stands in for browsers on the "
        "students' own computers; not the harness of the targets)",
    )  # fmt: skip
    parser.add_argument(
        "--no-floor", dest="floor", action="store_false",
        help="skip the same class on a bare Streamlit page (this harness's floor)",
    )  # fmt: skip
    args = parser.parse_args()
    global TIMEOUT_MS, SHOTS
    TIMEOUT_MS, SHOTS = int(args.timeout * 1000), args.shots
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(
        port, "--server.fileWatcherType", "none", repo=args.repo, log=args.server_log
    )
    sampler = Sampler(server.pid)
    probe = HealthProbe(url)
    try:
        wait_until_healthy(url)
        asyncio.run(warm_up(url))
        rest = psutil.Process(server.pid).memory_info().rss / 2**20
        meter = CpuMeter(server.pid)
        sampler.start()
        probe.start()
        meter.start()
        nicer = BrowserNice(args.browsers_nice)
        if args.browsers_nice:
            nicer.start()
        started = time.perf_counter()
        results = asyncio.run(class_run(url, args.students, args.spread))
        wall = time.perf_counter() - started
        probe.running = sampler.running = meter.running = nicer.running = False
        meter.join()
        niced = f", browsers at nice {args.browsers_nice}" if args.browsers_nice else ""
        print(f"{args.students} students, uploads within {args.spread:g} s, serving {args.repo}"
              f"{niced}")  # fmt: skip
        print(f"{'#':>3s} {'open s':>7s} {'first s':>8s} {'panel s':>8s}  errors")
        for r in results:
            cells = [f"{v:8.2f}" if v is not None else "       -" for v in
                     (r.page_open, r.first_map, r.panel)]  # fmt: skip
            print(f"{r.number:3d} {' '.join(cells)}  {'; '.join(r.errors) or '-'}")
        print(f"page open (maps cached): {quantiles([r.page_open for r in results])}")
        print(f"upload -> first map:     {quantiles([r.first_map for r in results])}")
        print(f"upload -> whole panel:   {quantiles([r.panel for r in results])}")
        print(f"sessions with an error:  {sum(1 for r in results if r.errors)}")
        health = [t for t in probe.times if t != float("inf")]
        print(f"server /_stcore/health:  {quantiles(health)} ({len(probe.times)} probes, "
              f"{len(probe.times) - len(health)} failed)")  # fmt: skip
        server_cpu, browser_cpu = meter.seconds()
        print(f"CPU seconds during the class: server {server_cpu:.0f}, browsers "
              f"{browser_cpu:.0f}, of {wall * psutil.cpu_count():.0f} on {psutil.cpu_count()} "
              "CPUs")  # fmt: skip
        print(f"server RSS: {rest:.0f} MB at rest, peak {sampler.peak / 2**20:.0f} MB sampled, "
              f"{peak_rss_mb(server.pid):.0f} MB VmHWM; run took {wall:.0f} s")  # fmt: skip
        opening, moving, captions = asyncio.run(alone(url, server.pid))
        print(f"server CPU, every map cached: open the page {opening:.2f} s, move a slider "
              f"{moving:.2f} s (target <= 0.2 s)")  # fmt: skip
        print("one session alone, a new photo (real time, estimate):")
        for caption in captions:
            print(f"  {caption}")
    finally:
        probe.running = sampler.running = False
        server.terminate()
        server.wait(timeout=20)
    if args.floor:
        floor(results, args.students, args.spread)


def floor(results: list[Student], students: int, spread: float) -> None:
    """The same class on a bare Streamlit page (``bench/floor_app.py``), and the app's
    p95 times as multiples of it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(port, "--server.fileWatcherType", "none", script=FLOOR_APP)
    try:
        wait_until_healthy(url)
        bare = asyncio.run(class_run(url, students, spread, floor=True))
    finally:
        server.terminate()
        server.wait(timeout=20)
    print(f"this harness's floor, the same {students} sessions on a bare Streamlit page "
          f"({FLOOR_APP}: a title, an uploader, the picture):")  # fmt: skip
    print(f"  page open:                {quantiles([r.page_open for r in bare])}")
    print(f"  upload -> picture drawn:  {quantiles([r.first_map for r in bare])}")
    print(f"  sessions with an error:   {sum(1 for r in bare if r.errors)}")
    for what, app, base in (
        ("page open", [r.page_open for r in results], [r.page_open for r in bare]),
        ("first map", [r.first_map for r in results], [r.first_map for r in bare]),
    ):
        known, floor_known = [v for v in app if v is not None], [v for v in base if v is not None]
        if known and floor_known:
            app_p95, floor_p95 = p95(known), p95(floor_known)
            print(f"  {what} p95: {app_p95:.2f} s = {app_p95 / floor_p95:.1f} x the floor's "
                  f"{floor_p95:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
