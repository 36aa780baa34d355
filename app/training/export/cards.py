"""Model cards: the Markdown written next to the weights from a manifest entry.

One writer per family (VDIR, mask-loop networks, super-resolution); each appends
``RUN/card_notes.md`` (the run's measured tables and caveats) when present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def metrics_table(metrics: dict[str, Any]) -> list[str]:
    """Markdown rows for ``metrics``: {name: {"psnr":.., "ssim":.., ...}} or name: value."""
    lines = ["| setting | PSNR (dB) | SSIM | input PSNR | notes |", "|---|---|---|---|---|"]
    for name, value in metrics.items():
        if isinstance(value, dict):
            main = ("psnr", "ssim", "input_psnr")
            cells = [value.get(k, "") for k in main]
            note = ", ".join(f"{k} {_fmt(v)}" for k, v in value.items() if k not in main)
            lines.append(f"| {name} | " + " | ".join(_fmt(c) for c in cells) + f" | {note} |")
        else:
            lines.append(f"| {name} | {_fmt(value)} | | | |")
    return lines


def _fmt(value: Any) -> str:
    return str(round(value, 4)) if isinstance(value, float) else str(value)


def _spectrum_note(entry: dict[str, Any]) -> str:
    if not entry["training"]["config"]["arch"].get("block_dct"):
        return ""
    return ", the encoder also reading 8x8 block-DCT log-magnitudes on JPEG's grid"


def _restorer_note(entry: dict[str, Any]) -> str:
    arch = entry["training"]["config"]["arch"]
    if arch.get("enc_blocks", [1])[0] or arch.get("dec_blocks", [1])[0]:
        return (
            "restorer: 3-level NAFNet-block U-Net conditioned on c by concatenation at 1/4 "
            "and SFT at every level"
        )
    return (
        "restorer: NAFNet-block U-Net with blocks at 1/2 and 1/4 resolution only (the "
        "full-size level keeps just its entry and exit convs), conditioned on c by "
        "concatenation at 1/4 and SFT at 1/2 and 1/4: a quick preview restorer distilled "
        "from its full model, whose encoder, decoder and EST it shares"
    )


def write_vdir_card(path: Path, entry: dict[str, Any], run_dir: Path) -> None:
    """Write the VDIR card of ``entry``; ``run_dir/card_notes.md`` is appended when present."""
    tr = entry["training"]
    lines = [
        f"# {entry['title']} (`{entry['id']}`)", "",
        f"Task: **{entry['task']}**, blind. Architecture: VDIR (encoder q(c|y) -> 4-channel "
        f"latent at 1/4 resolution{_spectrum_note(entry)}; {_restorer_note(entry)}; "
        "decoder p(y|c) and EST head used in training).", "",
        f"- parameters: {entry['params']:,} in training (with the decoder); "
        f"{entry['params_inference']:,} used at inference (encoder, restorer, EST)",
        f"- inference MACs per pixel (encoder + restorer): {entry['macs_per_pixel']:,}",
        f"- weights: {entry['file']} ({entry['weights_dtype']}, safetensors; arch in metadata)",
        f"- architecture config: `{json.dumps(entry['training']['config']['arch'])}`",
        f"- training steps: {tr['steps']}, wall time: {tr['wall_s'] / 60:.1f} min, "
        f"device: {tr.get('device', 'cpu')}",
        f"- command: `{tr.get('command', '(see docs/models.md)')}`",
        f"- data: {tr.get('data', '../shared/data/train (BSDS500 train+test, 397 images)')}",
        "", "## Metrics", "", *metrics_table(entry.get("metrics", {})), "",
        "## Training config", "", "```json", json.dumps(tr["config"], indent=2), "```", "",
    ]  # fmt: skip
    notes = run_dir / "card_notes.md"
    if notes.exists():
        lines += [notes.read_text()]
    path.write_text("\n".join(lines) + "\n")


def write_mask_card(path: Path, entry: dict[str, Any], run_dir: Path) -> None:
    """Card of an inpainting or detector model: what it is, size, training, metrics
    (flattened), config, notes."""
    tr = entry["training"]
    lines = [
        f"# {entry['title']} (`{entry['id']}`)", "",
        f"- task: {entry['task']}, method: {entry['method']}, architecture: {entry['arch']} "
        f"(`{json.dumps(arch_only(entry['config']))}`)",
        f"- parameters: {entry['params']:,}; MACs per pixel (plain forward): "
        f"{entry['macs_per_pixel']:,}",
        f"- weights: {entry['file']} (float32 safetensors; arch in metadata)",
        f"- training: {tr['steps']} steps, {tr['wall_s'] / 60:.1f} min wall time on "
        f"{tr.get('device', 'cpu')}; data {tr.get('data', '../shared/data/train')}",
        f"- command: `{tr.get('command', '')}`", "",
        "## Metrics", "", *metric_lines(entry.get("metrics", {})), "",
        "## Training config", "", "```json", json.dumps(tr["config"], indent=2), "```", "",
    ]  # fmt: skip
    notes = run_dir / "card_notes.md"
    if notes.exists():
        lines.append(notes.read_text())
    path.write_text("\n".join(lines) + "\n")


def arch_only(config: dict[str, Any]) -> dict[str, Any]:
    """The architecture keys of a manifest config (without service params/description)."""
    return {k: v for k, v in config.items() if k not in ("params", "description")}


def metric_lines(metrics: dict[str, Any]) -> list[str]:
    """A table per result group (``inpaint``, ``detect``), other entries as bullets."""
    lines: list[str] = []
    for key, value in metrics.items():
        if key in ("inpaint", "detect") and isinstance(value, dict):
            lines += [f"**{key}**", "", *leaf_table(flatten(value)), ""]
        else:
            lines.append(f"- {key}: `{json.dumps(value)}`")
    return lines


def leaf_table(rows: dict[str, Any]) -> list[str]:
    """Markdown table: one row per flattened name, one column per leaf key."""
    keys: list[str] = []
    for value in rows.values():
        for k in value if isinstance(value, dict) else ["value"]:
            keys += [k] if k not in keys else []
    lines = ["| setting | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, value in rows.items():
        cells = value if isinstance(value, dict) else {"value": value}
        lines.append(f"| {name} | " + " | ".join(str(cells.get(k, "")) for k in keys) + " |")
    return lines


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested ``{a: {b: {"psnr":..}}}`` -> ``{"a / b": {"psnr":..}}`` for the card table."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
            out.update(flatten(value, name + " / "))
        else:
            out[name] = value
    return out


def write_sr_card(path: Path, entry: dict[str, Any], run_dir: Path) -> None:
    """Card of the DL-Net upscaler: what it is, size, both training stages, config, notes."""
    tr = entry["training"]
    lines = [
        f"# {entry['title']} (`{entry['id']}`)", "",
        f"- task: upscale (x2, x3, x4), method: dlnet, architecture: dlnet-sr "
        f"(`{json.dumps(entry['config'])}`)",
        f"- parameters: {entry['params']:,}; MACs per output pixel at x2 (plain forward, "
        f"the most of the three scales): {entry['macs_per_pixel']:,}",
        f"- weights: {entry['file']} ({entry['weights_dtype']} safetensors; arch in metadata)",
        f"- SR training: {tr['steps']} steps, {tr['wall_s'] / 60:.1f} min on "
        f"{tr.get('device', 'cpu')}; data {tr.get('data', '')}",
        f"- command: `{tr.get('command', '')}`",
        *[f"- then: `{c}`" for c in tr.get("later_commands", [])],
    ]  # fmt: skip
    est = tr.get("estimator_stage")
    if est:
        lines += [
            f"- estimator stage: {est['steps']} steps, {est['wall_s'] / 60:.1f} min, "
            f"command `{est.get('command', '')}`",
        ]
    lines += ["", "## Training config", "", "```json", json.dumps(tr["config"], indent=2), "```"]
    notes = run_dir / "card_notes.md"
    if notes.exists():
        lines += ["", notes.read_text()]
    path.write_text("\n".join(lines) + "\n")
