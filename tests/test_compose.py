"""Methods as embedding + refinement: equivalence with the papers' methods, stage timings, --set
routing, one-line errors, encoder embeddings and LEC with the method's own encoder."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import torch

from gani_bench import api
from gani_bench.encoders import InversionEncoder, save_encoder, small_config
from gani_bench.errors import ConfigError, UnknownNameError, WeightsUnavailable
from gani_bench.harness.selection import resolve_methods, split_overrides
from gani_bench.harness.store import read_results
from gani_bench.methods.base import METHODS, InversionMethod
from gani_bench.methods.compose import CURATED
from gani_bench.plugins import load_plugins
from gani_bench.report.tables import unavailable_metrics
from gani_bench.stylegan2.embedded import build_embedded_generator
from gani_bench.stylegan2.functional import synthesize
from helpers import mean_w_result

#: PTI's pivot as the sg2_w stage's fields (MSE-only, as the ``mse`` presets of both)
PIVOT = {"steps": 4, "lr": 0.01, "w_avg_samples": 600, "keep_noise": False}
TUNE = {"tune_steps": 4}


@pytest.fixture(scope="module")
def G():
    load_plugins()
    return build_embedded_generator(seed=0)


@pytest.fixture(scope="module")
def targets(G):
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return synthesize(G, G.mapping(z, None, truncation_psi=0.7)).clamp(-1, 1)


def _encoder_file(path, G, kind="e4e", num_ws=None, seed=0, **config):
    """A small (untrained, seeded) encoder in the authors' file layout: plumbing, not quality."""
    torch.manual_seed(seed)
    model = InversionEncoder(small_config(kind, num_ws or G.num_ws, G.w_dim, **config), G.mapping.w_avg.detach().clone())
    return str(save_encoder(model, path))


@pytest.fixture(scope="module")
def e4e_file(G, tmp_path_factory):
    return _encoder_file(tmp_path_factory.mktemp("enc") / "e4e.pt", G)


def _method(name, preset="mse", **overrides):
    cls = METHODS.get(name)
    return cls(cls.make_config(preset, overrides))


@pytest.mark.parametrize("refinement,extra", [("pti", {}), ("gani", {"hidden": 4})])
def test_plain_method_equals_sg2_w_plus_refinement_with_the_same_pivot(G, targets, refinement, extra):
    plain = _method(refinement, pivot_steps=4, **TUNE, **extra).invert(G, targets, seed=2)
    composed = _method(f"sg2_w+{refinement}", **{f"sg2_w.{k}": v for k, v in PIVOT.items()}, **TUNE, **extra)
    both = composed.invert(G, targets, seed=2)
    assert torch.equal(plain.latents, both.latents)
    assert torch.equal(plain.reconstruction, both.reconstruction)
    for a, b in zip(plain.weight_deltas, both.weight_deltas):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert plain.loss_curves == both.loss_curves
    # same steps, the pivot stage keeps its paper name in the plain method
    assert [{"pivot": s["pivot"], "tune": s["tune"]} for s in plain.steps] == \
        [{"pivot": s["project"], "tune": s["tune"]} for s in both.steps]


def test_stage_timings_stay_separate(G, targets, e4e_file):
    res = _method("sg2_w+pti", **{f"sg2_w.{k}": v for k, v in PIVOT.items()}, **TUNE).invert(G, targets[:1])
    assert list(res.stage_seconds) == ["project", "tune"] and all(v > 0 for v in res.stage_seconds.values())
    assert list(_method("pti", pivot_steps=2, tune_steps=2).invert(G, targets[:1]).stage_seconds) == ["pivot", "tune"]
    res = _method("e4e+gani", encoder=e4e_file, tune_steps=2, hidden=4).invert(G, targets[:1])
    assert list(res.stage_seconds) == ["encode", "gradient", "tune"]
    assert res.steps == [{"encode": 0, "tune": 2}] and len(res.loss_curves[0]) == 2
    assert res.total_seconds == pytest.approx(sum(res.stage_seconds.values()))


def test_e4e_plus_pti_starts_from_the_e4e_latents_and_reconstructs_better(G, targets, e4e_file):
    alone = _method("e4e", encoder=e4e_file).invert(G, targets)
    tuned = _method("e4e+pti", encoder=e4e_file, tune_steps=15, tune_lr=3e-3).invert(G, targets)
    assert torch.equal(tuned.latents, alone.latents)
    assert alone.latent_space == tuned.latent_space == "w+"
    assert alone.weight_deltas is None and len(tuned.weight_deltas) == 2
    mse = lambda r: ((r.reconstruction - targets) ** 2).flatten(1).mean(1)  # noqa: E731
    assert (mse(tuned) < 0.8 * mse(alone)).all(), (mse(tuned), mse(alone))
    # what the result says renders what it reconstructs: latents + deltas
    with torch.no_grad():
        again = synthesize(G, tuned.latents[1:], tuned.weight_deltas[1])
    torch.testing.assert_close(again, tuned.reconstruction[1:], atol=1e-5, rtol=1e-5)


def test_set_routing_for_composed_methods():
    load_plugins()
    methods = ["pti", "e4e+pti", "e4e+gani"]
    per = split_overrides(["pti.tune_steps=7", "e4e+gani.gani.hidden=2", "tune_lr=0.1", "e4e.encoder=x.pt",
                           "e4e+pti.locality=true"], methods)
    assert per == {
        "pti": {"tune_steps": "7", "tune_lr": "0.1"},
        "e4e+pti": {"pti.tune_steps": "7", "tune_lr": "0.1", "e4e.encoder": "x.pt", "locality": "true"},
        "e4e+gani": {"gani.hidden": "2", "tune_lr": "0.1", "e4e.encoder": "x.pt"},
    }
    cfg = METHODS.get("e4e+gani").make_config("fast", per["e4e+gani"])
    assert (cfg.gani.hidden, cfg.gani.tune_lr, cfg.gani.tune_steps, cfg.e4e.encoder) == (2, 0.1, 40, "x.pt")
    cfg = METHODS.get("e4e+pti").make_config("fast", per["e4e+pti"])
    assert (cfg.pti.tune_steps, cfg.pti.locality) == (7, True)
    # a bare field both stages have goes to both (sg2_w and pti each have `perceptual`)
    both = METHODS.get("sg2_w+pti").make_config("paper", {"perceptual": "none"})
    assert both.sg2_w.perceptual == both.pti.perceptual == "none"
    with pytest.raises(ConfigError, match=r"^method 'e4e\+pti' has no config field 'stepz'; valid fields: e4e.encoder, pti.tune_steps"):
        METHODS.get("e4e+pti").make_config("fast", {"stepz": 1})
    with pytest.raises(ConfigError, match=r"^stage 'pti' has no config field 'hidden'"):
        METHODS.get("e4e+pti").make_config("fast", {"pti.hidden": 1})
    with pytest.raises(ConfigError, match="none of the selected methods"):
        split_overrides(["hidden=3"], ["e4e+pti"])
    # the stored config names each stage
    assert set(dataclasses.asdict(cfg)) == {"e4e", "pti"}


def test_unknown_stage_is_one_line_listing_embeddings_and_refinements():
    load_plugins()
    with pytest.raises(UnknownNameError) as err:
        resolve_methods("e4x+pti")
    msg = str(err.value).strip("'\"")
    assert "\n" not in msg
    assert msg.startswith("method 'e4x+pti': 'e4x' is not an embedding; embeddings: ")
    assert "sg2_w" in msg and "restyle_e4e" in msg and "refinements: " in msg and "gani" in msg
    with pytest.raises(UnknownNameError, match="'nope' is not a refinement"):
        METHODS.get("e4e+nope")
    assert "restyle_e4e+gani" in METHODS and "e4e+nope" not in METHODS
    assert set(CURATED) <= set(resolve_methods("all"))
    assert {"e4e", "psp", "restyle_e4e", "w_encoder", "pti", "gani", "sg2_w"} <= set(resolve_methods("all"))


def test_all_leaves_out_encoder_methods_the_generator_has_no_encoder_for():
    load_plugins()
    demo = resolve_methods("all", "embedded-64")
    assert {"e4e", "psp", "restyle_e4e", "w_encoder", "e4e+pti", "e4e+gani", "pti", "gani", "sg2_w"} <= set(demo)
    assert "restyle_psp" not in demo  # no demo ReStyle-pSp encoder is shipped
    church = resolve_methods("all", "stylegan2-church-256")
    assert {"pti", "gani", "sg2_w", "sg2_wplus"} <= set(church)
    assert not {"e4e", "psp", "w_encoder", "e4e+pti"} & set(church)
    # named explicitly, it is still run (and fails with the one-line reason when it has no encoder)
    assert resolve_methods("restyle_psp", "embedded-64") == ["restyle_psp"]


def test_encoder_without_registered_weights_and_mismatched_encoder_are_one_line(G, targets, tmp_path):
    method = _method("restyle_e4e")
    method.generator_name = "stylegan2-church-256"
    with pytest.raises(WeightsUnavailable, match=r"^restyle_e4e: no restyle_e4e encoder is registered for generator "
                                                 r"'stylegan2-church-256'; pass one with --set restyle_e4e.encoder=FILE"):
        method.invert(G, targets[:1])
    wrong = _encoder_file(tmp_path / "wrong.pt", G, num_ws=12)
    method = _method("e4e", encoder=wrong)
    method.generator_name = "embedded-64"
    with pytest.raises(ConfigError) as err:
        method.invert(G, targets[:1])
    assert "12 x 128" in str(err.value) and "'embedded-64' takes 10 x 128" in str(err.value)
    assert "\n" not in str(err.value)


def test_released_encoder_not_downloaded_is_one_line_with_the_command(G, targets, tmp_path, monkeypatch):
    monkeypatch.setenv("GANI_BENCH_HOME", str(tmp_path))  # an empty cache: nothing is downloaded here
    for name, weights in (("e4e+pti", "e4e-ffhq-encode"), ("hyperstyle", "hyperstyle-faces-w-encoder")):
        method = _method(name)
        method.generator_name = "stylegan2-ffhq-1024"
        first = name.split("+")[0].replace("hyperstyle", "w_encoder")
        with pytest.raises(WeightsUnavailable, match=rf"^{first}: encoder weights '{weights}' are not downloaded; "
                                                     rf"run: gani-bench weights download {weights}$"):
            method.invert(G, targets[:1])


def test_restyle_iterates_with_the_generator(G, targets, tmp_path):
    path = _encoder_file(tmp_path / "restyle.pt", G, kind="restyle_e4e")
    one = _method("restyle_e4e", encoder=path, n_iters=1).invert(G, targets)
    five = _method("restyle_e4e", encoder=path).invert(G, targets)
    assert one.latents.shape == five.latents.shape == (2, G.num_ws, G.w_dim)
    assert not torch.allclose(one.latents, five.latents)  # each iteration adds a residual
    assert list(five.stage_seconds) == ["encode"]


def test_restyle_runs_the_iterations_its_file_was_trained_with(G, targets, tmp_path):
    """The demo ReStyle-e4e was trained with 2 iterations; the stage ran 5 (its old default) and
    diverged (demo L2 0.249 vs e4e's 0.160). Default now = the file's n_iters_per_batch."""
    path = _encoder_file(tmp_path / "restyle2.pt", G, kind="restyle_e4e", n_iters=2)
    default = _method("restyle_e4e", encoder=path).invert(G, targets)
    two = _method("restyle_e4e", encoder=path, n_iters=2).invert(G, targets)
    five = _method("restyle_e4e", encoder=path, n_iters="5").invert(G, targets)
    assert torch.equal(default.latents, two.latents)
    assert not torch.allclose(default.latents, five.latents)
    assert METHODS.get("restyle_e4e").make_config("paper").n_iters is None


@dataclass
class _PluginConfig:
    scale: float = 1.0


class _Plugin(InversionMethod):
    """A method written against the InversionMethod API before stages existed."""

    name = "t_legacy_plugin"
    Config = _PluginConfig
    presets = {"paper": {}, "fast": {}, "fast_mse": {}}

    def invert(self, generator, targets, *, seed=0):
        return mean_w_result(generator, targets * self.config.scale, stage_seconds={"fit": 1e-3}, steps={"fit": 1})


METHODS.add("t_legacy_plugin", _Plugin, replace=True)


def test_lec_has_numbers_for_encoder_methods_and_says_why_not_elsewhere(G, tmp_path, e4e_file, monkeypatch):
    # the module's embedded-64, named as such, so the run neither rebuilds it nor renders the demo with another
    monkeypatch.setattr(G, "name", "embedded-64", raising=False)
    # fast_mse: no LPIPS network to load for PTI's tuning (the test is about LEC, not the loss)
    res = api.run(methods=["e4e", "e4e+pti", "t_legacy_plugin"], limit=2, out=tmp_path / "run", metrics=["mse", "lec"],
                  preset="fast_mse", generator=G,
                  overrides={"encoder": e4e_file, "tune_steps": 2, "scale": 0.5}, device="cpu", progress=False, report=False)
    rows = read_results(res.run_dir).set_index(["method", "image_id"])
    assert (rows["status"] == "ok").all(), rows["error"]
    lec = rows["metric:lec/mean"]
    assert lec.loc["e4e"].notna().all() and (lec.loc["e4e"] >= 0).all()
    assert lec.loc["e4e+pti"].notna().all()
    assert lec.loc["t_legacy_plugin"].isna().all()
    note = unavailable_metrics([res.run_dir])["lec"]
    assert note.startswith("not computed for t_legacy_plugin: lec needs an encoder")
    assert set(res.table["method"]) >= {"e4e", "e4e+pti", "t_legacy_plugin"}
    assert rows.loc["e4e", "stage_seconds"].map(lambda s: list(s) == ["encode"]).all()


def test_hyperstyle_refines_at_fixed_encoder_latents_with_additive_deltas(G, targets, tmp_path):
    from gani_bench.hyperstyle import HyperStyle, config_for_generator, save_hyperstyle

    torch.manual_seed(0)
    hs = save_hyperstyle(HyperStyle(config_for_generator(G, width=8, code_channels=8, input_size=32)).fit(G),
                         tmp_path / "hs.pt")
    w_enc = _encoder_file(tmp_path / "w.pt", G, kind="w_encoder")
    alone = _method("w_encoder", encoder=w_enc).invert(G, targets)
    method = _method("hyperstyle", encoder=w_enc, model=str(hs), n_iters=2)
    res = method.invert(G, targets)
    assert torch.equal(res.latents, alone.latents) and res.latent_space == "w"
    assert list(res.stage_seconds) == ["encode", "refine"]
    assert method.config.hyperstyle.n_iters == 2 and METHODS.get("hyperstyle").make_config("fast").hyperstyle.n_iters == 5
    # additive deltas W * Delta render what HyperStyle's W * (1 + Delta) rendered (float32 rounding)
    for i in range(2):
        assert res.weight_deltas[i] and any(d.abs().max() > 0 for d in res.weight_deltas[i].values())
        with torch.no_grad():
            again = synthesize(G, res.latents[i : i + 1], res.weight_deltas[i])
        torch.testing.assert_close(again, res.reconstruction[i : i + 1], atol=1e-4, rtol=1e-4)
    assert res.encoder is not None  # LEC re-encodes with the W-encoder
