"""Memory soak: the server's RSS over N different uploads on "Explain an image" (issue 15).

Starts ``streamlit run streamlit_app.py`` on a free port, opens "Explain an image" in
headless Chromium, and uploads N generated photos (different sizes, scenes and formats)
one after the other through the real upload widget, with the default panel of methods.
The server's RSS is sampled every 50 ms in a background thread (so peaks during a
computation are caught) and after each upload's maps are ready; VmHWM (the kernel's own
peak) is read at the end.

Prints the per-upload curve, the peak, and the growth (RSS after the last upload minus
after the first). Targets with this machine's torch build: peak <= 1.3 GB, growth <=
150 MB.

Usage: ``python bench/memory.py [--uploads 50] [--every 0]`` (``--every`` adds a pause
in seconds between uploads, as a user would).
"""

from __future__ import annotations

import argparse
import io
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.startup import peak_rss_mb, start_server, wait_until_healthy  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port  # noqa: E402
from tests.browser.helpers import upload, wait_for_app  # noqa: E402

TIMEOUT_MS = 300_000


def photo(index: int) -> tuple[str, str, bytes]:
    """A different generated "photo" each time: gradients, shapes and noise, at various
    sizes, as JPEG or PNG. Returns ``(name, mime, bytes)``."""
    rng = np.random.default_rng(index)
    width, height = int(rng.integers(300, 1600)), int(rng.integers(300, 1200))
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([np.sin(6 * x + index), np.cos(5 * y - index), x * y], axis=2)
    pixels = (base - base.min()) / np.ptp(base) * 200 + rng.normal(0, 12, base.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, width - 20)), int(rng.integers(0, height - 20))
        box = (
            x0,
            y0,
            x0 + int(rng.integers(20, width // 2)),
            y0 + int(rng.integers(20, height // 2)),
        )
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    buffer = io.BytesIO()
    if index % 3 == 2:
        image.save(buffer, format="PNG")
        return f"photo_{index}.png", "image/png", buffer.getvalue()
    image.save(buffer, format="JPEG", quality=90)
    return f"photo_{index}.jpg", "image/jpeg", buffer.getvalue()


class Sampler(threading.Thread):
    """Samples a process's RSS every ``period`` seconds; keeps the maximum."""

    def __init__(self, pid: int, period: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.period = period
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(self.period)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--every", type=float, default=0.0, help="pause between uploads (s)")
    args = parser.parse_args()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(port, "--server.fileWatcherType", "none")
    sampler = Sampler(server.pid)
    curve: list[tuple[int, float, float, float]] = []  # upload, RSS after, peak so far, seconds
    try:
        wait_until_healthy(url)
        sampler.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/explain")
            wait_for_app(page, TIMEOUT_MS)
            page.get_by_role("radio", name="Upload", exact=True).click()
            wait_for_app(page, TIMEOUT_MS)
            rest = psutil.Process(server.pid).memory_info().rss / 2**20
            print(f"server RSS with the page open, before any upload: {rest:.0f} MB")
            print(f"{'upload':>6s} {'size':>11s} {'RSS MB':>7s} {'peak MB':>8s} {'s':>6s}")
            for index in range(args.uploads):
                name, mime, data = photo(index)
                start = time.perf_counter()
                upload(page, name, data, mime)
                page.get_by_text(f"{name}, as").wait_for(timeout=TIMEOUT_MS)
                page.get_by_text("maps ready.").wait_for(timeout=TIMEOUT_MS)
                wait_for_app(page, TIMEOUT_MS)
                seconds = time.perf_counter() - start
                rss = psutil.Process(server.pid).memory_info().rss / 2**20
                curve.append((index + 1, rss, sampler.peak / 2**20, seconds))
                size = "x".join(map(str, Image.open(io.BytesIO(data)).size))
                print(f"{index + 1:6d} {size:>11s} {rss:7.0f} {sampler.peak / 2**20:8.0f} "
                      f"{seconds:6.1f}", flush=True)  # fmt: skip
                if args.every:
                    time.sleep(args.every)
            browser.close()
        sampler.running = False
        first, last = curve[0][1], curve[-1][1]
        print(f"\npeak RSS (sampled every 50 ms): {sampler.peak / 2**20:7.0f} MB (target <= 1300)")
        print(f"peak RSS (VmHWM):               {peak_rss_mb(server.pid):7.0f} MB")
        print(f"RSS after upload 1:             {first:7.0f} MB")
        print(f"RSS after upload {len(curve):<3d}            {last:7.0f} MB")
        print(f"growth:                         {last - first:+7.0f} MB (target <= 150)")
        print(f"min / max RSS after an upload:  {min(c[1] for c in curve):.0f} / "
              f"{max(c[1] for c in curve):.0f} MB")  # fmt: skip
    finally:
        sampler.running = False
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
