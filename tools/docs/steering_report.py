"""Measure latent steering and write docs/steering.md (+ figures and window screenshots).

    python tools/docs/steering_report.py                      # models/vdir-denoise.safetensors
    python tools/docs/steering_report.py --run runs/denoise   # a training run's checkpoint

What it measures (CPU unless --device says otherwise, offscreen Qt):

1. A sigma-30 CBSD68 image (126007, seed 0, 8-bit protocol) restored across the strength
   range: PSNR against the clean image and the residual noise level of the result
   (Immerkær's estimator, 0..255; the clean image's own value is the floor texture gives).
2. The sweep sheet (strength and per-channel offsets) of a crop of that image.
3. The embedding of CBSD68 patches (64 px, average-pooled latent, PCA), each image with
   its own noise sigma in 5..55, coloured by the true sigma; the EST-vs-true correlation.
4. Preview latency in the real window: slider release -> visible region updated, 1 MP
   viewport at 100 %, median of 5.
5. Screenshots of the Latent panel (window grabs) into docs/screenshots/latent-*.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from app.core import image_io  # noqa: E402
from app.core.degradations import DegradationSpec, degrade, quantize8  # noqa: E402
from app.core.layers import LayerKind  # noqa: E402
from app.core.metrics import psnr  # noqa: E402
from app.core.progress import drive  # noqa: E402
from app.ml.services.vdir import VDIRService  # noqa: E402
from app.ml.steering import SteeredService, embedding, estimate_step, sweep  # noqa: E402
from app.ml.steering.edit import LatentEdit  # noqa: E402
from app.ml.steering.views import contact_sheet, noise_level, tsne_2d  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "test" / "CBSD68"
IMAGE = "126007.png"
STRENGTHS = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)


class Entry:
    def __init__(self, id: str, task: str, file: str, title: str, preview: str = "") -> None:
        self.id, self.task, self.file, self.title = id, task, file, title
        self.preview = preview


class InMemoryVDIR(VDIRService):
    """A VDIRService over an already built model (a training run's checkpoint)."""

    def __init__(self, model: Any, title: str, device: str) -> None:
        super().__init__(Entry(f"mem-{id(model)}", "denoise", "", title), device=device)
        self._model = model.to(self.device)

    @property
    def model(self) -> Any:
        return self._model


def load_service(args: argparse.Namespace) -> tuple[VDIRService, str]:
    """The denoiser to measure and a line saying which weights it is."""
    if args.run is not None:
        from app.training.export.vdir import model_from_run

        model, cfg, side = model_from_run(args.run)
        label = f"training checkpoint {args.run} (step {side.get('step')})"
        return InMemoryVDIR(model.eval(), "VDIR denoise (checkpoint)", args.device), label
    weights = args.weights
    if not weights.is_file():
        raise SystemExit(f"{weights} not found; pass --run runs/denoise for a checkpoint")
    quick = weights.with_name(weights.stem + "-preview.safetensors")
    preview = str(quick.resolve()) if quick.is_file() else ""
    entry = Entry("vdir-denoise", "denoise", str(weights.resolve()), "VDIR denoise", preview)
    return VDIRService(entry, device=args.device), f"shipped weights {weights.name}"


def noisy_pair(name: str, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    clean = quantize8(image_io.load(DATA / name).pixels)
    return clean, degrade(clean, DegradationSpec(sigma=sigma, seed=seed)).image


# ------------------------------------------------------------------------ measurements


def strength_note(rows: list[dict[str, Any]]) -> str:
    """What the table shows about residual noise, in words (from the numbers)."""
    steps = [r for r in rows if isinstance(r["strength"], float)]
    low = min(steps, key=lambda r: r["noise"])
    first, last = steps[0], steps[-1]
    falling = all(a["noise"] > b["noise"] for a, b in zip(steps, steps[1:]))
    if falling:
        return (f"More strength always leaves less noise ({first['noise']:.2f} at 0 down to "
                f"{last['noise']:.2f} at {last['strength']:g}).")  # fmt: skip
    return (f"Residual noise falls from {first['noise']:.2f} at strength 0 to "
            f"{low['noise']:.2f} at {low['strength']:g}; beyond that it stays about level "
            f"({last['noise']:.2f} at {last['strength']:g}) while PSNR keeps dropping: the "
            "picture is smoothed (fine texture and edges go), not cleaned further.")  # fmt: skip


def strength_table(service: VDIRService) -> list[dict[str, float]]:
    clean, noisy = noisy_pair(IMAGE, 30.0, 0)
    rows = [{"strength": "input", "psnr": psnr(noisy, clean), "noise": noise_level(noisy)}]
    for s in STRENGTHS:
        out = quantize8(drive(SteeredService(service, LatentEdit(strength=s)).run(noisy)))
        rows.append({"strength": s, "psnr": psnr(out, clean), "noise": noise_level(out)})
        print(f"strength {s}: PSNR {rows[-1]['psnr']:.2f} dB, noise {rows[-1]['noise']:.2f}")
    rows.append({"strength": "clean", "psnr": float("inf"), "noise": noise_level(clean)})
    return rows


def sweep_sheets(service: VDIRService, out: Path) -> dict[str, str]:
    _, noisy = noisy_pair(IMAGE, 30.0, 0)
    crop = noisy[40:200, 140:380]
    values = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
    cells = sweep(service, crop, "strength", values)
    sheet = contact_sheet(
        [crop, *cells], ["input (sigma 30)", *[f"strength {v:g}" for v in values]], cols=4
    )
    image_io.save(out / "latent-sweep.png", sheet, overwrite=True)
    offsets = [-1.5, -0.5, 0.0, 0.5, 1.5]
    grid, labels = [], []
    for k in range(4):
        grid += sweep(service, crop[:, :160], f"offset{k}", offsets)
        labels += [f"c{k} {v:+g}" for v in offsets]
    sheet = contact_sheet(grid, labels, cols=len(offsets))
    image_io.save(out / "latent-sweep-channels.png", sheet, overwrite=True)
    return {
        "strength": "screenshots/latent-sweep.png",
        "channels": "screenshots/latent-sweep-channels.png",
    }


def cbsd68_embedding(service: VDIRService, out: Path, count: int) -> dict[str, Any]:
    from app.ui.app import setup_application
    from app.ui.dialogs.embedding import ScatterView

    setup_application()
    files = sorted(DATA.glob("*.png"))[:count]
    sigmas = np.linspace(5, 55, 11)
    images, truth = [], []
    for i, path in enumerate(files):
        sigma = float(sigmas[i % len(sigmas)])
        images.append(noisy_pair(path.name, sigma, i)[1])
        truth.append(sigma)
    emb = embedding(service, images, patch=64)
    true = np.asarray(truth)[emb.boxes[:, 0]]
    corr = float(np.corrcoef(true, emb.est)[0, 1])
    mae = float(np.mean(np.abs(true - emb.est)))
    axis_corr = [float(abs(np.corrcoef(true, emb.points[:, a])[0, 1])) for a in (0, 1)]
    view = ScatterView()
    view.resize(700, 740)
    caption = f"PC1 {emb.explained[0]:.0%} · PC2 {emb.explained[1]:.0%} · colour: true sigma 5…55"
    view.set_points(emb.points, true, caption)
    view.to_image(700).save(str(out / "latent-embedding.png"))
    view.set_points(emb.points, emb.est, "colour: EST estimate")
    view.to_image(700).save(str(out / "latent-embedding-est.png"))
    view.set_points(tsne_2d(emb.features), true, "t-SNE · colour: true sigma 5…55")
    view.to_image(700).save(str(out / "latent-embedding-tsne.png"))
    return {"patches": len(true), "images": len(images), "explained": emb.explained,
            "est_corr": corr, "est_mae": mae, "pc_corr": axis_corr}  # fmt: skip


# ---------------------------------------------------------------- the window


def settle(ms: int = 200) -> None:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
    QApplication.processEvents()


def wait_for(signal: Any, timeout_ms: int = 300_000) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def wait_step(window: Any) -> None:
    """Until the window has fixed the document's automatic strength step."""
    for _ in range(600):
        if window.latent.panel.step.value() > 0:
            return
        settle(100)


def make_window(service: VDIRService, size: tuple[int, int]) -> Any:
    import types

    from PySide6.QtCore import QSettings

    import app.ml
    from app.ui.app import setup_application
    from app.ui.main_window import MainWindow

    fake = types.ModuleType("app.ml.registry")
    fake.list_services = lambda task=None: [service.info] if task in (None, "denoise") else []  # type: ignore[attr-defined]
    fake.default_method = lambda task: "vdir"  # type: ignore[attr-defined]
    fake.create_service = lambda task, method, device="auto": service  # type: ignore[attr-defined]
    sys.modules["app.ml.registry"] = fake
    app.ml.registry = fake  # type: ignore[attr-defined]
    setup_application()
    settings = QSettings(str(Path("/tmp") / "patina-steering.ini"), QSettings.Format.IniFormat)
    settings.clear()
    window = MainWindow(settings=settings)
    window.confirm = False
    window.restore_panel.live.setChecked(False)
    window.latent.base_factory = lambda task, method: service
    window.resize(*size)
    window.show()
    settle()
    return window


# (key, quick previews, window size): the 1 MP viewport and a larger 1.2 MP one
LATENCY_CASES = (
    ("full_1mp", False, (1376, 1073)),
    ("quick_1mp", True, (1376, 1073)),
    ("full", False, (1500, 1150)),
    ("quick", True, (1500, 1150)),
)


def latencies(service: VDIRService, note: str | None) -> dict[str, dict[str, Any]]:
    """:func:`preview_latency` of every LATENCY_CASES entry the model supports."""
    out = {}
    for key, quick, size in LATENCY_CASES:
        if quick and not service.preview_file:
            continue
        out[key] = {**preview_latency(service, quick=quick, size=size), "quick": quick}
        if note:
            out[key]["note"] = note
        print("latency", key, out[key], flush=True)
    return out


def preview_latency(
    service: VDIRService,
    repeats: int = 5,
    quick: bool = False,
    size: tuple[int, int] = (1500, 1150),
) -> dict[str, Any]:
    """Slider release -> whole view updated, in the real window of ``size``; ``quick``:
    with the model's quick preview restorer (the Latent dock's "Quick previews")."""
    from app.core.document import Document

    clean = quantize8(image_io.load(DATA / IMAGE).pixels)
    big = cv2.resize(clean, (1800, 1200), interpolation=cv2.INTER_CUBIC)
    noisy = degrade(np.clip(big, 0, 1), DegradationSpec(sigma=30.0, seed=1)).image
    window = make_window(service, size)
    window.set_document(Document.from_image(noisy))
    window.restore_panel.select("denoise", "vdir")
    wait_step(window)
    window.latent.panel.quick_preview.setChecked(quick)
    if quick and not window.latent.panel.quick_preview.isEnabled():
        raise SystemExit("the model has no quick preview restorer")
    window.latent_dock.hide()  # a larger canvas: the viewport is what is measured
    window.layers_dock.hide()
    settle()
    window.area.view.set_zoom(1.0)
    settle()
    y0, x0, y1, x1 = window.area.view.visible_rect()
    times, focus, cpu = [], [], []
    for s in (1.5, 0.7, 2.0, 1.2, 0.4, 1.8)[: repeats + 1]:
        window.latent.last_preview_latency = None
        cpu0 = time.process_time()
        window.latent.panel.strength.set_value(s)
        window.latent.panel.strength.released.emit()
        while window.latent.last_preview_latency is None:
            wait_for(window.jobs.result_applied)
        times.append(window.latent.last_preview_latency * 1000)
        cpu.append((time.process_time() - cpu0) * 1000)
        focus.append((window.latent.last_focus_latency or float("nan")) * 1000)
    window.shutdown()
    window.close()
    ms, fms = times[1:], focus[1:]  # the first includes loading the model
    return {"viewport": [x1 - x0, y1 - y0], "megapixels": (x1 - x0) * (y1 - y0) / 1e6,
            "median_ms": statistics.median(ms), "all_ms": ms, "first_ms": times[0],
            "focus_median_ms": statistics.median(fms), "focus_ms": fms,
            "cpu_median_ms": statistics.median(cpu[1:]),
            "load": os.getloadavg()[0]}  # fmt: skip


def screenshots(service: VDIRService, out: Path) -> list[str]:
    from app.core.document import Document

    clean, noisy = noisy_pair(IMAGE, 30.0, 0)
    window = make_window(service, (1440, 900))
    window.set_document(Document.from_image(noisy, ground_truth=clean))
    window.restore_panel.select("denoise", "vdir")
    wait_step(window)
    window.render_full()
    wait_for(window.jobs.result_applied)
    combo = window.latent.panel.layer_combo
    combo.setCurrentIndex(combo.findData("EST sigma"))
    window.latent.show_cursor_estimate(200, 120)
    names = []

    def shot(name: str, widget: Any = None) -> None:
        settle(300)
        (widget or window).grab().save(str(out / f"{name}.png"))
        names.append(f"screenshots/{name}.png")

    shot("latent-panel")
    combo.setCurrentIndex(0)
    h, w = window.document.size
    window.latent.use_latent_brush(False)
    window.set_brush_radius(40)
    editor = window.latent.strength_editor
    editor.begin_stroke(w * 0.1, h * 0.15)
    for x in np.linspace(0.1, 0.9, 12):
        editor.stroke_to(w * x, h * 0.15)
    editor.end_stroke()
    window.latent.use_latent_brush(True)
    editor.begin_stroke(w * 0.15, h * 0.85, erase=True)
    for x in np.linspace(0.15, 0.85, 12):
        editor.stroke_to(w * x, h * 0.85)
    editor.end_stroke()
    window.latent.panel.strength.set_value(1.3)
    window.render_full()
    wait_for(window.jobs.result_applied)
    shot("latent-brush")
    research = window.latent.research
    research.open_sweep()
    research.sweep_dialog.count.setValue(6)
    research.sweep_dialog.run()
    wait_for(research.sweep_dialog.finished_sweep)
    shot("latent-sweep-dialog", research.sweep_dialog)
    research.sweep_dialog.close()
    research.open_embedding()
    research.embedding_dialog.run()
    wait_for(research.embedding_dialog.computed)
    dots = research.embedding_dialog.view
    dots.select(len(dots.dots) // 3)
    smap = window.document.layers.find(LayerKind.STRENGTH)
    window.document.set_layer_property(smap, "visible", False)
    shot("latent-embedding-dialog", research.embedding_dialog)
    shot("latent-embedding-canvas")
    research.embedding_dialog.close()
    window.shutdown()
    window.close()
    return names


# ---------------------------------------------------------------------------- doc


def strength_lines(rows: list[dict[str, Any]], quick: list[dict[str, Any]] | None) -> list[str]:
    """The strength table: full model, and the quick preview restorer when measured."""
    extra = " PSNR, quick preview (dB) | noise, quick preview |" if quick else ""
    lines = [
        f"| strength | PSNR (dB) | residual noise (Immerkær σ, 0..255) |{extra}",
        "|---|---|---|" + ("---|---|" if quick else ""),
    ]
    for i, r in enumerate(rows):
        p = "—" if r["strength"] == "clean" else f"{r['psnr']:.2f}"
        name = f"**{r['strength']}** (neutral)" if r["strength"] == 1.0 else str(r["strength"])
        line = f"| {name} | {p} | {r['noise']:.2f} |"
        if quick and isinstance(r["strength"], float):
            line += f" {quick[i]['psnr']:.2f} | {quick[i]['noise']:.2f} |"
        elif quick:
            line += " | |"
        lines.append(line)
    return lines


def latency_table(runs: dict[str, dict[str, Any]]) -> str:
    """One row per measured case: viewport, restorer, centre first, medians, all times."""
    lines = [
        "| viewport | previews with | centre 512² first (median) | whole view updated "
        "(median) | whole view, all (ms) | process CPU per preview |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs.values():
        vw, vh = run["viewport"]
        focus = run["focus_median_ms"]
        centre = "no (one pass)" if focus != focus else f"{focus:.0f} ms"  # nan: one pass
        times = ", ".join(f"{t:.0f}" for t in run["all_ms"])
        lines.append(
            f"| {vw}×{vh} ({run['megapixels']:.2f} MP) | "
            f"{'quick restorer' if run['quick'] else 'full model'} | {centre} | "
            f"**{run['median_ms']:.0f} ms** | {times} | {run['cpu_median_ms']:.0f} ms |"
        )
    return "\n".join(lines)


def write_doc(path: Path, info: dict[str, Any]) -> None:
    rows = info["table"]
    lines = strength_lines(rows, info.get("table_quick"))
    emb, runs = info["embedding"], info["latency"]
    lat = {k: v["median_ms"] for k, v in runs.items()}
    first = next(iter(runs.values()))
    template = (ROOT / "tools" / "docs" / "steering_report.md.in").read_text(encoding="utf-8")
    text = template.format(
        model=info["model"], machine=info["machine"], date=info["date"], table="\n".join(lines),
        best=max((r for r in rows if isinstance(r["strength"], float)), key=lambda r: r["psnr"]),
        emb=emb, pc0=emb["pc_corr"][0], pc1=emb["pc_corr"][1],
        ex0=emb["explained"][0], ex1=emb["explained"][1], lat=lat,
        conditions=first.get("note") or SHARED_NOTE.format(load=first["load"]),
        n_lat=len(first["all_ms"]), latency_table=latency_table(runs),
        note=strength_note(rows), step=info["step"],
    )  # fmt: skip
    path.write_text(text, encoding="utf-8")


SHARED_NOTE = (
    "These runs shared the 2 cores with model training and other work (load average "
    "{load:.1f} at the end), so the wall times are upper bounds by a wide margin."
)


def load_report(path: Path) -> dict[str, Any]:
    """The JSON a previous run wrote (strength rows back to floats)."""
    info: dict[str, Any] = json.loads(path.read_text())
    for row in info["table"]:
        if row["strength"] not in ("input", "clean"):
            row["strength"] = float(row["strength"])
    return info


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--weights", type=Path, default=ROOT / "models" / "vdir-denoise.safetensors"
    )
    parser.add_argument("--run", type=Path, help="use a training run's checkpoint instead")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=68, help="CBSD68 images in the embedding")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--latency-only", action="store_true",
                        help="re-measure only the preview latency (other results from the "
                             "last run's JSON), e.g. with training jobs paused")  # fmt: skip
    parser.add_argument("--note", help="how the latency was measured (replaces the default)")
    parser.add_argument("--doc-only", action="store_true",
                        help="rewrite steering.md from the last run's JSON")  # fmt: skip
    args = parser.parse_args()
    if args.doc_only:
        write_doc(
            args.out / "steering.md", load_report(args.out / "screenshots" / "steering-report.json")
        )
        return 0
    import torch

    torch.set_num_threads(2)
    shots = args.out / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    service, label = load_service(args)
    if args.latency_only:
        info = load_report(shots / "steering-report.json")
        info["latency"] = latencies(service, args.note)
        (shots / "steering-report.json").write_text(json.dumps(info, indent=1, default=str))
        write_doc(args.out / "steering.md", info)
        return 0
    info: dict[str, Any] = {"model": label, "date": time.strftime("%Y-%m-%d"),
                            "machine": f"{platform.processor() or platform.machine()}, "
                                       f"{os.cpu_count()} cores, torch {torch.__version__}, "
                                       f"device {service.device}"}  # fmt: skip
    info["table"] = strength_table(service)
    if service.preview_file:
        print("with the quick preview restorer:")
        info["table_quick"] = strength_table(service.quick())
    info["step"] = estimate_step(service, noisy_pair(IMAGE, 30.0, 0)[1])
    info["sheets"] = sweep_sheets(service, shots)
    info["embedding"] = cbsd68_embedding(service, shots, args.images)
    print("embedding", info["embedding"])
    info["latency"] = latencies(service, args.note)
    info["screenshots"] = screenshots(service, shots)
    (shots / "steering-report.json").write_text(json.dumps(info, indent=1, default=str))
    write_doc(args.out / "steering.md", info)
    print("wrote", args.out / "steering.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
