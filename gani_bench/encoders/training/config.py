"""Training configuration of the encoders, with the authors' values as the ``paper`` preset.

Sources (their ``options/*train_options.py`` and README training commands): L2 1.0,
LPIPS-alex 0.8, ID 0.1, Ranger lr 1e-4, batch 8; e4e and ReStyle-e4e add the delta regulariser
2e-4 (L2 norm of w_i - w_0), the latent critic (weight 0.1, Adam 2e-5, R1 gamma 10 every 16
steps, pools of 50 codes) and progressive deltas (first at step 20,000, one more every 2,000);
ReStyle runs 5 iterations per batch. The ``fast`` preset keeps every loss but shrinks the run
for a CPU: 1,000 steps, batch 4, 2 ReStyle iterations, progressive thresholds scaled by
steps / 300,000 (the released e4e's length).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, Optional

#: length of the authors' released e4e run; the fast preset scales the schedule by steps / this
PAPER_STEPS = 300_000


@dataclass(frozen=True)
class TrainConfig:
    kind: str = "e4e"
    steps: int = PAPER_STEPS
    batch_size: int = 8
    lr: float = 1e-4
    l2_weight: float = 1.0
    lpips_weight: float = 0.8
    lpips_net: str = "alex"
    id_weight: float = 0.1
    delta_weight: float = 2e-4
    critic_weight: float = 0.1
    critic_lr: float = 2e-5
    r1_gamma: float = 10.0
    r1_every: int = 16
    pool_size: int = 50
    progressive_start: int = 20_000
    progressive_every: int = 2_000
    #: ReStyle iterations per training batch (authors: 5)
    n_iters: int = 5
    save_every: int = 5_000
    seed: int = 0
    #: horizontal flips of dataset images (authors: yes); synthetic renders are never flipped
    flip: bool = True
    #: noise of the generator while training (authors: randomize_noise=True)
    noise_mode: str = "random"
    #: encoder input size for a small generator (its resolution, at most 256)
    small_input_size: Optional[int] = None

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> "TrainConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def preset(name: str, kind: str, steps: Optional[int] = None) -> TrainConfig:
    """``paper`` (the authors' values) or ``fast`` (CPU-sized); ``steps`` overrides the length."""
    from ...errors import ConfigError

    if name == "paper":
        cfg = TrainConfig(kind=kind)
        return cfg.with_(steps=steps)
    if name == "fast":
        n = int(steps or 1_000)
        scale = n / PAPER_STEPS
        return TrainConfig(kind=kind, steps=n, batch_size=4, n_iters=2, save_every=max(1, min(250, n)),
                           progressive_start=max(1, round(20_000 * scale)), progressive_every=max(1, round(2_000 * scale)))
    raise ConfigError(f"--preset {name!r} is not known; use --preset fast or --preset paper")
