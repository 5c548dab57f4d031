"""Benchmark and report: can the maps be trusted? (issue 11)

On every sample photo with EfficientNet-Lite0 (top-1 class): the deletion and insertion
AUC of each default method, of occlusion, and of the three baselines (the map reversed, a
smooth random map, an image-only edge map), with every case where Grad-CAM or occlusion
does not beat all three baselines on deletion, or its reversed map on insertion. Then the
time of the page's section (curves for the six default methods: target <= 5 s) and of
the sanity cascade of those methods, with its verdicts.

Run: ``python bench/trust.py [--photos cat.jpg espresso.jpg] [--no-sanity]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.attribution import DEFAULT_METHODS, attributor_for  # noqa: E402
from core.common.samples import SAMPLES, sample_path  # noqa: E402
from core.evaluation import faithfulness, sanity_cascade  # noqa: E402
from core.evaluation.faithfulness import EDGES, RANDOM  # noqa: E402
from core.models import load_model  # noqa: E402

CHECKED = ("gradcam", "occlusion")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", nargs="*", default=list(SAMPLES))
    parser.add_argument("--no-sanity", action="store_true")
    args = parser.parse_args()
    model = load_model("efficientnet_lite0")
    methods = [*DEFAULT_METHODS, "occlusion"]
    misses: list[str] = []
    section_times: list[float] = []
    print(f"{'photo':24s} {'map':32s} {'deletion':>9s} {'insertion':>9s}")
    for photo in args.photos:
        image = Image.open(sample_path(photo))
        run = attributor_for(model, image)
        target = int(run.logits().argmax())
        maps = {name: run.attribute(name, target).heatmap for name in methods}
        faithfulness(model, image, maps, target)  # warm-up (engine build, caches)
        default_maps = {name: maps[name] for name in DEFAULT_METHODS}
        start = time.perf_counter()
        faithfulness(model, image, default_maps, target)
        section_times.append(time.perf_counter() - start)
        table = faithfulness(model, image, maps, target)
        label = f"{photo} ({model.labels[target]})"
        for row in sorted(table.rows, key=lambda r: (r.method or "~", r.baseline)):
            print(
                f"{label[:24]:24s} {row.name:32s} {row.deletion.auc:9.3f} {row.insertion.auc:9.3f}"
            )
        for name in CHECKED:
            own = table.row(name)
            for baseline in (f"{name} reversed", RANDOM, EDGES):
                other = table.row(baseline)
                if own.deletion.auc >= other.deletion.auc:
                    misses.append(
                        f"{photo}: {name} deletion {own.deletion.auc:.3f} >= {baseline} "
                        f"{other.deletion.auc:.3f}"
                    )
            reverse = table.row(f"{name} reversed")
            if own.insertion.auc <= reverse.insertion.auc:
                misses.append(
                    f"{photo}: {name} insertion {own.insertion.auc:.3f} <= reversed "
                    f"{reverse.insertion.auc:.3f}"
                )
        print()
    print("Cases where Grad-CAM or occlusion does not beat a baseline:")
    for miss in misses or ["(none)"]:
        print(f"  {miss}")
    print(
        f"\nsection time, curves of the six default methods (28 steps, 812 images): "
        f"median {sorted(section_times)[len(section_times) // 2]:.2f} s, "
        f"max {max(section_times):.2f} s (target <= 5 s)"
    )
    if args.no_sanity:
        return
    image = Image.open(sample_path("cat.jpg"))
    print("\nsanity cascade on cat.jpg (Egyptian cat), Spearman of |map| at full randomisation:")
    total = 0.0
    for name in DEFAULT_METHODS:
        start = time.perf_counter()
        result = sanity_cascade(model, image, name, 285)
        seconds = time.perf_counter() - start
        total += seconds
        last = result.steps[-1].similarity
        middle = result.steps[len(result.steps) // 2].similarity
        verdict = result.verdict().text()
        print(
            f"  {name:22s} {seconds:6.2f} s  half-way {middle.spearman_abs:5.2f}  "
            f"full {last.spearman_abs:5.2f}  SSIM {last.ssim:4.2f}  HOG {last.hog:4.2f}  {verdict}"
        )
    print(
        f"  total {total:.1f} s for {len(result.steps) - 1} blocks x {len(DEFAULT_METHODS)} methods"
    )


if __name__ == "__main__":
    main()
