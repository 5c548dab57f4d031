"""Rewrite the layer-table golden files (tests/golden/layer_table_*.csv).

Run after a deliberate change to the table's columns or formatting, then review the
diff: ``python scripts/regenerate_layer_table_golden.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.arithmetic import model_layer_table, to_csv  # noqa: E402
from core.models import load_model  # noqa: E402

# name -> pretrained (the table does not depend on weight values; random init is enough)
GOLDEN_MODELS = {"efficientnet_lite0": False, "resnet18": False}


def golden_path(name: str) -> Path:
    """Where the golden table of a registered model lives."""
    return ROOT / "tests" / "golden" / f"layer_table_{name}.csv"


def main() -> None:
    for name, pretrained in GOLDEN_MODELS.items():
        text = to_csv(model_layer_table(load_model(name, pretrained=pretrained)))
        golden_path(name).write_text(text)
        print(f"wrote {golden_path(name)} ({text.count(chr(10)) - 1} rows)")


if __name__ == "__main__":
    main()
