"""The synthetic camera-noise and film-grain table of docs/models.md, by `patina eval`.

    .venv/bin/python tools/docs/real_noise_table.py --data ../shared/data/test/CBSD68 \\
        --methods bilateral,vdir,vdir-real --out runs/real_noise_table.json

Runs ``patina eval --task denoise`` for every method and setting (CBSD68 through the
camera pipeline at several ISO presets, with and without the camera's JPEG, and film
grain), keeps each run's mean PSNR/SSIM in ``--out`` (a JSON file that later runs add
to, so methods can be measured separately), and prints the markdown table of all that
the file holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.cli import main as patina  # noqa: E402

SETTINGS = (
    "camera=iso400",
    "camera=iso1600",
    "camera=iso3200",
    "camera=iso6400",
    "camera=iso1600,jpeg=90",
    "camera=iso3200,demosaic=ea,jpeg=80",
    "grain=0.4,grain_size=1.5",
    "grain=0.3,grain_size=1.0,grain_color=0",
)


def measure(method: str, setting: str, data: str, limit: int | None) -> dict[str, float]:
    """Mean PSNR / SSIM / input PSNR of one ``patina eval`` run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "eval.json"
        argv = ["eval", "--task", "denoise", "--method", method, "--data", data]
        argv += ["--degrade", setting, "--json", str(out)]
        argv += ["--limit", str(limit)] if limit else []
        if patina(argv) != 0:
            raise SystemExit(f"patina eval failed for {method} at {setting}")
        report = json.loads(out.read_text())
    return {**report["mean"], "ms_per_mp": report["ms_per_mp"]}


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: one row per setting, input PSNR then PSNR / SSIM per method."""
    methods = sorted({m for row in results.values() for m in row})
    head = "| setting | input | " + " | ".join(methods) + " |"
    lines = [head, "|" + "---|" * (len(methods) + 2)]
    for setting in [s for s in SETTINGS if s in results] + sorted(set(results) - set(SETTINGS)):
        row = results[setting]
        first = next(iter(row.values()))
        cells = [
            f"{row[m]['psnr']:.2f} / {row[m]['ssim']:.4f}" if m in row else "" for m in methods
        ]
        lines.append(f"| `{setting}` | {first['input_psnr']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "test" / "CBSD68"))
    p.add_argument("--methods", default="bilateral,vdir")
    p.add_argument("--settings", default=";".join(SETTINGS),
                   help="';'-separated specs (default: the table's)")  # fmt: skip
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "real_noise_table.json")
    args = p.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for setting in [s for s in args.settings.split(";") if s.strip()]:
        for method in args.methods.split(","):
            results.setdefault(setting, {})[method] = measure(
                method, setting, args.data, args.limit
            )
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
