"""``gani-bench train``: e4e on the embedded generator learns, and a killed run resumes exactly."""
from __future__ import annotations

import logging

import pytest
import torch

from gani_bench.cli import main
from gani_bench.encoders import load_encoder
from gani_bench.encoders.evaluate import heldout_reconstruction
from gani_bench.generators import load_named_generator
from gani_bench.encoders.training import train_encoder


def test_e4e_fast_lowers_loss_and_beats_latent_avg(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    # no LPIPS weights in the test cache, so LPIPS is off; every other authors' term is on
    trainer = train_encoder("e4e", "embedded-64", tmp_path / "run", synthetic=512, steps=120, seed=0,
                            lpips_weight=0.0, progress=False)
    l2 = [h["l2"] for h in trainer.history]
    assert len(l2) == 120 and {"delta", "adv", "critic"} <= set(trainer.history[-1])
    assert sum(l2[-20:]) / 20 < 0.7 * sum(l2[:10]) / 10
    assert [r.message for r in caplog.records if "ID loss off" in r.message] == [
        "ID loss off: the generator's domain is 'synthetic', not faces (the authors use MoCo there, not shipped)"]
    enc, info = load_encoder(tmp_path / "run" / "encoder.pt")
    assert info.opts["encoder_type"] == "Encoder4Editing" and info.opts["stylegan_size"] == 64
    G, _ = load_named_generator("embedded-64")
    score = heldout_reconstruction(enc, G, count=16)
    assert score.encoder_mse < 0.9 * score.latent_avg_mse, score


def test_killed_training_resumes_to_the_uninterrupted_result(tmp_path):
    common = dict(synthetic=64, steps=6, seed=3, lpips_weight=0.0, progress=False, batch_size=2, save_every=3)
    whole = train_encoder("e4e", "embedded-64", tmp_path / "whole", **common)
    # "kill" after the step-3 checkpoint: this process stops, a new one resumes from the file
    first = train_encoder("e4e", "embedded-64", tmp_path / "cut", stop_after=4, **common)
    assert first.step_count == 4 and (tmp_path / "cut" / "checkpoints" / "iteration_3.pt").is_file()
    assert not (tmp_path / "cut" / "encoder.pt").exists()
    resumed = train_encoder("e4e", "embedded-64", tmp_path / "cut", resume=True, **common)
    assert resumed.step_count == 6 and len(resumed.history) == 3  # steps 4, 5, 6 again from the checkpoint
    for (k, a), b in zip(whole.model.encoder.state_dict().items(), resumed.model.encoder.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), k
    assert torch.equal(whole.critic.mlp[0].weight, resumed.critic.mlp[0].weight)


def test_cli_refuses_an_existing_run_without_resume(tmp_path, capsys):
    args = ["train", "w_encoder", "--generator", "embedded-64", "--synthetic", "8", "--steps", "1",
            "--lpips-weight", "0", "--out", str(tmp_path / "r"), "--quiet"]
    main(args)
    assert (tmp_path / "r" / "encoder.pt").is_file()
    capsys.readouterr()  # the first run's own output (e.g. the one "ID loss off" warning)
    with pytest.raises(SystemExit):
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --out r already holds a training run; add --resume to continue it or choose another --out"]


@pytest.mark.parametrize("kind", ["psp", "restyle_psp", "restyle_e4e", "w_encoder"])
def test_every_kind_takes_a_step_and_writes_the_authors_layout(tmp_path, kind):
    trainer = train_encoder(kind, "embedded-64", tmp_path / kind, synthetic=4, steps=2, seed=1, lpips_weight=0.0,
                            progress=False, batch_size=2, n_iters=2)
    assert len(trainer.history) == 2 and trainer.history[0]["l2"] > 0
    ckpt = torch.load(tmp_path / kind / "encoder.pt", weights_only=True)
    assert set(ckpt) == {"state_dict", "opts", "latent_avg"}
    assert all(k.startswith("encoder.") for k in ckpt["state_dict"])
    enc, info = load_encoder(tmp_path / kind / "encoder.pt")
    assert info.kind == kind and info.opts["max_steps"] == 2
    G, _ = load_named_generator("embedded-64")
    # Ranger's first steps move every trained tensor: the file holds the trained weights, not the init
    torch.manual_seed(1)
    from gani_bench.encoders import InversionEncoder

    fresh = InversionEncoder(enc.config)
    moved = [k for k, v in fresh.encoder.state_dict().items() if v.dtype.is_floating_point
             and not torch.equal(v, enc.encoder.state_dict()[k])]
    assert len(moved) > 0.5 * len(fresh.encoder.state_dict())
    with torch.no_grad():
        assert enc.encode(torch.zeros(1, 3, 64, 64), generator=G).shape == (1, 10, 128)


def test_train_group_offers_every_encoder_kind_and_hyperstyle() -> None:
    """``gani-bench train KIND`` reaches each encoder trainer and HyperStyle's under one group."""
    from click.testing import CliRunner

    from gani_bench.cli import cli
    from gani_bench.encoders import ENCODER_KINDS

    result = CliRunner().invoke(cli, ["train", "--help"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(ENCODER_KINDS.names()) | {"hyperstyle"}
    from gani_bench.encoders import load_hyperstyle
    from gani_bench.hyperstyle import load_hyperstyle as original

    assert load_hyperstyle is original
