"""Model cards: Markdown written next to the weights from a manifest entry."""

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


def write_card(path: Path, entry: dict[str, Any], run_dir: Path) -> None:
    """Write the card of ``entry``; ``run_dir/card_notes.md`` is appended when present."""
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
