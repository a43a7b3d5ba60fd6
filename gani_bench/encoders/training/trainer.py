"""The encoder training loop (pSp, e4e, ReStyle-pSp/e4e, W-encoder) with resumable checkpoints.

One step, as the authors' coaches do it: (progressive kinds) a critic step on mapping codes vs
encoder codes with R1 every ``r1_every`` steps; then the encoder loss on a batch where the
source is the target: L2 + LPIPS + ID (+ delta regulariser + critic term for e4e kinds). ReStyle
runs ``n_iters`` iterations per batch, each from the previous (detached) latent and render,
back-propagating every iteration's loss, then takes one optimiser step.

Checkpoints (``OUT/checkpoints/iteration_K.pt``) are in the authors' layout (``state_dict`` with
``encoder.*``, ``opts``, ``latent_avg``) plus the training state (optimiser, critic, code pools,
random-generator states) so a killed run resumes exactly where its last checkpoint was taken.
The finished encoder is written as ``OUT/encoder.pt`` without training state, like the released
files.
"""
from __future__ import annotations

import logging
import random
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import CheckpointError, ConfigError
from ..config import IR_SE50_STAGES, EncoderConfig
from ..loading import save_encoder
from ..model import InversionEncoder, pool_to
from .config import TrainConfig
from .critic import LatentCritic, LatentPool
from .data import ImageSource
from .losses import IdentityLoss, image_losses
from .ranger import Ranger

log = logging.getLogger(__name__)
CKPT_RE = re.compile(r"iteration_(\d+)\.pt$")


def latest_checkpoint(out: Path) -> Optional[Path]:
    found = [(int(m.group(1)), p) for p in (out / "checkpoints").glob("iteration_*.pt") for m in [CKPT_RE.search(p.name)] if m]
    return max(found)[1] if found else None


class EncoderTrainer:
    def __init__(self, G: nn.Module, generator_name: str, enc_config: EncoderConfig, cfg: TrainConfig,
                 source: ImageSource, out: Path, *, lpips: Optional[nn.Module] = None,
                 identity: Optional[IdentityLoss] = None, device: torch.device | str = "cpu") -> None:
        self.G, self.generator_name, self.cfg, self.source = G, generator_name, cfg, source
        self.out, self.device = Path(out), torch.device(device)
        self.lpips, self.identity = lpips, identity
        torch.manual_seed(cfg.seed)  # initial weights (and later the generator's training noise) follow the seed
        self.model = InversionEncoder(enc_config, G.mapping.w_avg.detach().cpu()).to(self.device).train()
        self.progressive = self.model.kind.progressive
        self.opt = Ranger(self.model.encoder.parameters(), lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.rng = random.Random(cfg.seed)
        self.critic: Optional[LatentCritic] = None
        if self.progressive and cfg.critic_weight > 0:
            self.critic = LatentCritic(enc_config.w_dim).to(self.device)
            self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)
            self.real_pool, self.fake_pool = LatentPool(cfg.pool_size, self.rng), LatentPool(cfg.pool_size, self.rng)
        self.step_count = 0
        #: per-step loss values of this process (the progress bar shows the same)
        self.history: List[Dict[str, float]] = []
        self._avg_image: Optional[torch.Tensor] = None

    # ------------------------------------------------------------------ schedule and rendering
    def stage(self, step: int) -> int:
        """Progressive stage at ``step``: w0 only, then one more delta every ``progressive_every``."""
        if not self.progressive or step < self.cfg.progressive_start:
            return 0 if self.progressive else self.model.num_ws
        return min(self.model.num_ws - 1, 1 + (step - self.cfg.progressive_start) // self.cfg.progressive_every)

    def render(self, latents: torch.Tensor) -> torch.Tensor:
        img = self.G.synthesis(latents, noise_mode=self.cfg.noise_mode)
        return pool_to(img, self.model.config.input_size)

    def avg_image(self) -> torch.Tensor:
        if self._avg_image is None:
            with torch.no_grad():
                self._avg_image = pool_to(self.G.synthesis(self.model.latent_avg[None], noise_mode="const"),
                                          self.model.config.input_size)
        return self._avg_image

    def first_input(self, x: torch.Tensor) -> torch.Tensor:
        if not self.model.iterative:
            return x
        return torch.cat([x, self.avg_image().expand(x.shape[0], -1, -1, -1)], dim=1)

    # ------------------------------------------------------------------ losses
    def latent_terms(self, latents: torch.Tensor, stage: int, logs: Dict[str, float]) -> torch.Tensor:
        total = latents.new_zeros(())
        if not self.progressive:
            return total
        if self.cfg.delta_weight > 0 and stage > 0:
            delta = sum(torch.norm(latents[:, i] - latents[:, 0], 2, dim=1).mean() for i in range(1, stage + 1))
            total = total + self.cfg.delta_weight * delta
            logs["delta"] = delta.item()
        if self.critic is not None:
            dims = range(min(stage + 1, self.model.num_ws))
            adv = sum(F.softplus(-self.critic(latents[:, i])).mean() for i in dims) / len(dims)
            total = total + self.cfg.critic_weight * adv
            logs["adv"] = adv.item()
        return total

    def critic_step(self, x: torch.Tensor, stage: int, logs: Dict[str, float]) -> None:
        assert self.critic is not None
        self.critic.requires_grad_(True)
        with torch.no_grad():
            z = torch.randn(x.shape[0], self.G.z_dim, generator=self.gen).to(self.device)
            real = self.real_pool.query(self.G.mapping(z, None)[:, 0])
            fake = self.model.encoder(self.first_input(x)) + self.model.base(x.shape[0])
            fake = self.fake_pool.query(fake[:, : stage + 1])
        loss = F.softplus(-self.critic(real)).mean() + F.softplus(self.critic(fake)).mean()
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_opt.step()
        logs["critic"] = loss.item()
        if self.step_count % self.cfg.r1_every == 0:
            real = real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.critic(real).sum(), real, create_graph=True)
            r1 = grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()
            self.critic_opt.zero_grad(set_to_none=True)
            (self.cfg.r1_gamma / 2 * r1 * self.cfg.r1_every).backward()
            self.critic_opt.step()
            logs["r1"] = r1.item()
        self.critic.requires_grad_(False)

    # ------------------------------------------------------------------ one step
    def sample(self) -> torch.Tensor:
        idx = torch.randint(len(self.source), (self.cfg.batch_size,), generator=self.gen)
        y = self.source.batch(idx).to(self.device)
        if self.cfg.flip and not self.source.synthetic:
            flip = torch.rand(y.shape[0], generator=self.gen) < 0.5
            y = torch.where(flip.view(-1, 1, 1, 1).to(y.device), y.flip(-1), y)
        return y

    def train_step(self) -> Dict[str, float]:
        stage = self.stage(self.step_count)
        self.model.set_progressive_stage(stage)
        y = self.sample()
        logs: Dict[str, float] = {}
        if self.critic is not None:
            self.critic_step(y, stage, logs)
        self.opt.zero_grad(set_to_none=True)
        latent, y_hat = None, None
        for it in range(self.cfg.n_iters if self.model.iterative else 1):
            if latent is None:
                codes = self.model.encoder(self.first_input(y))
                latent = codes + self.model.base(y.shape[0])
            else:
                x = torch.cat([y, y_hat.detach()], dim=1)
                latent = latent.detach() + self.model.encoder(x)
            y_hat = self.render(latent)
            loss, logs_i = image_losses(y_hat, y, l2_weight=self.cfg.l2_weight, lpips=self.lpips,
                                        lpips_weight=self.cfg.lpips_weight, identity=self.identity, id_weight=self.cfg.id_weight)
            loss = loss + self.latent_terms(latent, stage, logs_i)
            loss.backward()
            logs.update(logs_i)
            logs["loss"] = loss.item()
        self.opt.step()
        self.step_count += 1
        return logs

    # ------------------------------------------------------------------ checkpoints
    def opts(self) -> Dict[str, Any]:
        c = self.cfg
        return {"max_steps": c.steps, "batch_size": c.batch_size, "learning_rate": c.lr, "optim_name": "ranger",
                "l2_lambda": c.l2_weight, "lpips_lambda": c.lpips_weight if self.lpips is not None else 0.0,
                "lpips_type": c.lpips_net, "id_lambda": c.id_weight if self.identity is not None else 0.0,
                "delta_norm": 2, "delta_norm_lambda": c.delta_weight if self.progressive else 0.0,
                "w_discriminator_lambda": c.critic_weight if self.critic is not None else 0.0,
                "w_discriminator_lr": c.critic_lr, "r1": c.r1_gamma, "d_reg_every": c.r1_every,
                "use_w_pool": True, "w_pool_size": c.pool_size,
                "progressive_start": c.progressive_start if self.progressive else None,
                "progressive_step_every": c.progressive_every, "dataset_type": "gani_bench",
                "stylegan_weights": self.generator_name, "gani_bench_train": c.as_dict(),
                "gani_bench_generator": self.generator_name}

    def training_state(self) -> Dict[str, Any]:
        state: Dict[str, Any] = {"global_step": self.step_count, "optimizer": self.opt.state_dict(),
                                 "torch_rng": torch.get_rng_state(), "sampler_rng": self.gen.get_state(),
                                 "python_rng": self.rng.getstate(), "best_val_loss": None}
        if self.critic is not None:
            state["discriminator_state_dict"] = self.critic.state_dict()
            state["discriminator_optimizer_state_dict"] = self.critic_opt.state_dict()
            for name, pool in (("real_w_pool", self.real_pool), ("fake_w_pool", self.fake_pool)):
                state[name] = torch.stack(pool.codes) if pool.codes else torch.zeros(0, self.model.w_dim)
        return state

    def save_checkpoint(self) -> Path:
        ckpt_dir = self.out / "checkpoints"
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        previous = latest_checkpoint(self.out)
        path = save_encoder(self.model, ckpt_dir / f"iteration_{self.step_count}.pt", opts=self.opts(),
                            extra=self.training_state())
        if previous is not None and previous != path:
            previous.unlink()  # keep only the newest (a 1024 px e4e checkpoint is ~1 GB)
        return path

    def resume(self, path: Path) -> None:
        from ...checkpoints.rosinality import read_torch_file

        ckpt = read_torch_file(path)
        opts = ckpt.get("opts", {})
        if opts.get("gani_bench_generator") != self.generator_name or opts.get("gani_bench_train", {}).get("kind") != self.cfg.kind:
            raise ConfigError(f"--resume: {path.name} was trained as {opts.get('gani_bench_train', {}).get('kind')!r} on "
                              f"{opts.get('gani_bench_generator')!r}, not {self.cfg.kind!r} on {self.generator_name!r}; "
                              "use another --out or drop --resume")
        try:
            enc = {k[len("encoder."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("encoder.")}
            self.model.encoder.load_state_dict(enc, strict=True)
            self.model.latent_avg.copy_(ckpt["latent_avg"])
            self.opt.load_state_dict(ckpt["optimizer"])
            torch.set_rng_state(ckpt["torch_rng"])
            self.gen.set_state(ckpt["sampler_rng"])
            self.rng.setstate(_as_rng_state(ckpt["python_rng"]))
            if self.critic is not None:
                self.critic.load_state_dict(ckpt["discriminator_state_dict"])
                self.critic_opt.load_state_dict(ckpt["discriminator_optimizer_state_dict"])
                self.real_pool.codes = list(ckpt["real_w_pool"])
                self.fake_pool.codes = list(ckpt["fake_w_pool"])
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path.name}: not a resumable gani-bench training checkpoint "
                                  f"({str(exc).splitlines()[0]}); drop --resume to start over") from None
        self.step_count = int(ckpt["global_step"])

    def export(self) -> Path:
        """The finished encoder in the authors' released layout (no training state)."""
        self.model.set_progressive_stage(self.model.num_ws)
        return save_encoder(self.model, self.out / "encoder.pt", opts=self.opts())

    def run(self, *, progress: bool = True, stop_after: Optional[int] = None) -> List[Dict[str, float]]:
        """Train to ``cfg.steps`` (or ``stop_after`` steps in this call); checkpoint every ``save_every``."""
        from tqdm.auto import tqdm

        history: List[Dict[str, float]] = []
        bar = tqdm(total=self.cfg.steps, initial=self.step_count, disable=not progress, desc=f"train {self.cfg.kind}")
        done_here = 0
        while self.step_count < self.cfg.steps and (stop_after is None or done_here < stop_after):
            logs = self.train_step()
            history.append(logs)
            self.history.append(logs)
            done_here += 1
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "l2", "lpips", "id", "delta", "adv")})
            if self.step_count % self.cfg.save_every == 0 or self.step_count == self.cfg.steps:
                self.save_checkpoint()
        bar.close()
        if self.step_count >= self.cfg.steps:
            self.export()
        return history


def _as_rng_state(s: Any) -> tuple:
    """random.Random states come back from torch files as nested lists/tuples: rebuild the tuple."""
    version, internal, gauss = s
    return int(version), tuple(int(v) for v in internal), gauss


def encoder_config_for(G: nn.Module, kind: str, small_input_size: Optional[int] = None) -> EncoderConfig:
    """The authors' layout for generators of 256 px and more with w_dim 512, else the small one."""
    from ..config import authors_config, small_config

    res, w_dim = int(G.img_resolution), int(G.w_dim)
    if res >= 256 and w_dim == 512 and small_input_size is None:
        return authors_config(kind, res)
    size = small_input_size or max(16, min(256, res) // 16 * 16)
    return small_config(kind, int(G.num_ws), w_dim, input_size=size)


def init_trunk_from_arcface(model: InversionEncoder) -> bool:
    """Start the IR-SE50 trunk from ArcFace as the authors do (extra ReStyle channels: random)."""
    from ...weights import fetch, missing_weights_reason

    if model.config.stages != IR_SE50_STAGES or missing_weights_reason("arcface-ir-se50") is not None:
        return False
    state = torch.load(fetch("arcface-ir-se50").path, map_location="cpu", weights_only=True)
    own = model.encoder.state_dict()
    take = {k: v for k, v in state.items() if k in own and (k.startswith("input_layer") or k.startswith("body"))}
    w = take.get("input_layer.0.weight")
    if w is not None and w.shape[1] != own["input_layer.0.weight"].shape[1]:
        extra = torch.randn(w.shape[0], own["input_layer.0.weight"].shape[1] - w.shape[1], *w.shape[2:])
        take["input_layer.0.weight"] = torch.cat([w, extra], dim=1)
    model.encoder.load_state_dict(take, strict=False)
    return True
