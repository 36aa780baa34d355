"""Train the routing pathfinder by REINFORCE on a precomputed table (Path-Restore).

Each region is one decision ``a`` (bypass, quick, full) with the difficulty-regulated
reward of Path-Restore (Yu et al., arXiv:1804.03312; the seed slides)::

    r(a) = -p * cost(a) + d * (-dL2(a)),   -dL2(a) = L2(bypass) - L2(a)
    d    = L/L0 if L < L0 else 1 + log(L/L0),   L = L2(full) of the region

``cost`` is each path's restorer time in units of the full restorer's (bypass 0: the
seed's "no penalty for the bypass connection"), ``L0`` the median L2(full) of the table
and ``p`` the compute/quality knob (larger p: more regions go quick). ``L2`` is the
region's mean squared error (pixels in [0, 1]) against the clean image.

The policy gradient uses actions sampled from the policy and, as baseline, the policy's
expected reward under the table's known rewards (a self-critical baseline); an entropy
bonus keeps early exploration. Rewards are measured in units of p and floored at the
region's best action minus ``clip`` units, so bypassing a noisy region (hundreds of units
worse) does not drown the quick/full choice of every other region. Seeded;
single-threaded; a few thousand steps take seconds, so no checkpointing is needed.

CLI::

    python -m app.training.route_train table --data ../shared/data/train --out T.npz
    python -m app.training.route_train fit T.npz --p 1e-5 --out models/X.safetensors
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from app.core.route_plan import PATH_COSTS
from app.evaluation.routing import Table, build_table
from app.ml.archs.pathfinder import Pathfinder, PathfinderConfig

COSTS = PATH_COSTS  # bypass, quick, full restorer time per pixel, in units of full's


@dataclass(frozen=True)
class FitConfig:
    """REINFORCE settings."""

    p: float = 1e-5
    steps: int = 3000
    batch: int = 512
    lr: float = 3e-3
    entropy: float = 0.01
    difficulty: str = "seed"  # or "inverse" (see difficulty())
    clip: float = 2.0  # rewards (units of p) floored at the region's best minus this
    seed: int = 0


def difficulty(l2_full: np.ndarray, l0: float, kind: str = "seed") -> np.ndarray:
    """Path-Restore's difficulty (``kind="seed"``): ``L/L0`` below ``L0``, ``1 + log(L/L0)``
    above; ``"inverse"``: ``L0/L``, so a gain counts relative to the region's own error
    (about its change in dB), which is what a per-image PSNR rewards."""
    ratio = np.maximum(l2_full, 1e-12) / l0
    if kind == "inverse":
        return 1.0 / ratio
    if kind != "seed":
        raise ValueError(f"difficulty must be seed or inverse, not {kind!r}")
    return np.where(ratio < 1, ratio, 1 + np.log(ratio))


def rewards(
    table: Table, p: float, costs: Sequence[float] = COSTS, kind: str = "seed"
) -> np.ndarray:
    """(N, 3) reward of every action of every region (see the module docstring)."""
    l0 = float(np.median(table.l2[:, 2]))
    d = difficulty(table.l2[:, 2], l0, kind)[:, None]
    gain = table.l2[:, :1] - table.l2
    return (d * gain - p * np.asarray(costs)[None, :]).astype(np.float64)


def expected_loss(model: Pathfinder, feats: torch.Tensor, reward: torch.Tensor) -> float:
    """Minus the policy's mean expected reward over the table (what training lowers)."""
    with torch.no_grad():
        prob = torch.softmax(model(feats), 1)
        return float(-(prob * reward).sum(1).mean())


def reinforce_step(
    model: Pathfinder,
    opt: torch.optim.Optimizer,
    feats: torch.Tensor,
    reward: torch.Tensor,
    gen: torch.Generator,
    entropy: float,
) -> float:
    """One REINFORCE update on a batch: sample actions, advantage = r(a) - E_pi[r],
    normalised by its batch std (the bypass path's huge losses on noisy regions would
    otherwise drown the small quick/full differences once bypass is no longer taken)."""
    logits = model(feats)
    logp = torch.log_softmax(logits, 1)
    prob = logp.exp()
    action = torch.multinomial(prob.detach(), 1, generator=gen)[:, 0]
    taken = reward.gather(1, action[:, None])[:, 0]
    advantage = taken - (prob.detach() * reward).sum(1)
    advantage = advantage / advantage.std().clamp_min(1e-12)
    loss = -(advantage * logp.gather(1, action[:, None])[:, 0]).mean()
    loss = loss - entropy * -(prob * logp).sum(1).mean()
    opt.zero_grad()
    loss.backward()  # type: ignore[no-untyped-call]
    opt.step()
    return float(loss.detach())


def fit(table: Table, cfg: FitConfig, log: list[dict[str, float]] | None = None) -> Pathfinder:
    """A pathfinder trained on ``table`` with penalty ``cfg.p`` (rewards in units of p)."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    feats = torch.from_numpy(table.features).float()
    raw = rewards(table, cfg.p, kind=cfg.difficulty)
    scaled = raw / max(cfg.p, 1e-12)
    scaled = np.maximum(scaled, scaled.max(1, keepdims=True) - cfg.clip)
    reward = torch.from_numpy(scaled).float()
    model = Pathfinder(PathfinderConfig(features=feats.shape[1]))
    model.fit_normaliser(feats)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for step in range(cfg.steps):
        idx = torch.randint(0, len(feats), (cfg.batch,), generator=gen)
        frac = 1.0 - step / cfg.steps
        reinforce_step(model, opt, feats[idx], reward[idx], gen, cfg.entropy * frac)
        if log is not None and (step % 500 == 0 or step == cfg.steps - 1):
            log.append({"step": step, "loss": expected_loss(model, feats, reward)})
    return model.eval()


def policy_summary(model: Pathfinder, table: Table) -> dict[str, float]:
    """Greedy policy on the table: path shares, relative restorer cost, L2 vs all-full."""
    with torch.no_grad():
        action = model(torch.from_numpy(table.features).float()).argmax(1).numpy()
    l2 = table.l2[np.arange(len(action)), action]
    shares = {n: float(np.mean(action == i)) for i, n in enumerate(("bypass", "quick", "full"))}
    cost = float(np.mean(np.asarray(COSTS)[action]))
    return {**shares, "cost": cost, "l2_ratio": float(l2.mean() / table.l2[:, 2].mean())}


def save_pathfinder(model: Pathfinder, path: Path, meta: dict[str, Any]) -> None:
    """Write the pathfinder's weights (fp32, a few kB) with ``arch`` and ``meta``."""
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    full = {"arch": model.cfg.to_dict(), "format": "patina-pathfinder-1", **meta}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={k: json.dumps(v) for k, v in full.items()})


def _table_cmd(args: argparse.Namespace) -> None:
    from app.ml import registry

    service = registry.create_service("denoise", args.model, device="cpu")
    start = time.perf_counter()
    table = build_table(service, args.data, args.crops, args.size, args.seed)  # type: ignore[arg-type]
    table.save(args.out)
    print(f"{len(table.l2)} regions in {time.perf_counter() - start:.0f} s -> {args.out}")


def _fit_cmd(args: argparse.Namespace) -> None:
    table = Table.load(args.table)
    cfg = FitConfig(p=args.p, steps=args.steps, seed=args.seed, difficulty=args.difficulty)
    start, log = time.perf_counter(), []  # type: ignore[var-annotated]
    model = fit(table, cfg, log)
    seconds = time.perf_counter() - start
    summary = policy_summary(model, table)
    print(json.dumps({"p": args.p, "seconds": round(seconds, 1), **summary, "log": log}))
    if args.out is not None:
        meta = {"p": args.p, "costs": list(COSTS), "fit": cfg.__dict__,
                "table": str(args.table), "regions": len(table.l2),
                "train_summary": summary, "wall_s": round(seconds, 1)}  # fmt: skip
        save_pathfinder(model, args.out, meta)


def main(argv: Sequence[str] | None = None) -> int:
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(prog="python -m app.training.route_train")
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table", help="precompute the per-region L2 table")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--model", default="vdir-denoise")
    t.add_argument("--crops", type=int, default=300)
    t.add_argument("--size", type=int, default=256)
    t.add_argument("--seed", type=int, default=0)
    f = sub.add_parser("fit", help="train a pathfinder on a table by REINFORCE")
    f.add_argument("table", type=Path)
    f.add_argument("--p", type=float, default=1e-5)
    f.add_argument("--steps", type=int, default=3000)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--difficulty", choices=("seed", "inverse"), default="seed")
    f.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    (_table_cmd if args.cmd == "table" else _fit_cmd)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
