"""HyperStyle training: the loss goes down, a killed run resumes to the same weights, CLI errors."""
from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import torch
from click.testing import CliRunner

from gani_bench.hyperstyle import load_hyperstyle
from gani_bench.hyperstyle.data import SyntheticImages
from gani_bench.hyperstyle.training import TrainConfig, batch_step, build_model, train_hyperstyle
from gani_bench.stylegan2 import Generator


@pytest.fixture(scope="module")
def G() -> Generator:
    torch.manual_seed(3)
    return Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3, mapping_kwargs={"num_layers": 2},
                     synthesis_kwargs={"channel_base": 256, "channel_max": 16}).eval().requires_grad_(False)


class AvgEncoder:
    """Stand-in W-encoder: every image starts at w_avg (what an untrained encoder gives)."""

    def __init__(self, G: Generator) -> None:
        self.G = G

    def encode(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        return self.G.mapping.w_avg.expand(x.shape[0], self.G.num_ws, -1).clone()


def _cfg(**kw) -> TrainConfig:
    base = dict(steps=6, batch_size=2, n_iters=2, lr=1e-3, optimizer="ranger", lpips_lambda=0.0, id_lambda=0.0,
                save_every=2, layout="small", small=dict(width=8, code_channels=8, input_size=32), seed=0)
    base.update(kw)
    return TrainConfig(**base)


def _state(path) -> dict:
    return {k: v for k, v in torch.load(str(path), weights_only=True)["state_dict"].items() if k.startswith("hypernet.")}


def test_training_lowers_the_loss(G: Generator, tmp_path) -> None:
    images = SyntheticImages(G, 8, seed=0)
    cfg = _cfg(steps=30, lr=1e-2)
    final = train_hyperstyle(G, AvgEncoder(G), tmp_path / "run", images=images, config=cfg, progress=False)
    x = images.images(list(range(8)))
    lat = AvgEncoder(G).encode(x)
    torch.manual_seed(0)  # train_hyperstyle seeds the same way: this is its initial network
    before = build_model(G, cfg).eval()
    after, info = load_hyperstyle(final)
    with torch.no_grad():
        l0 = batch_step(before, G, x, lat, cfg, None, train=False)["l2"]
        l1 = batch_step(after, G, x, lat, cfg, None, train=False)["l2"]
    assert l1 < 0.9 * l0, (l0, l1)
    ckpt = torch.load(str(final), weights_only=True)
    assert ckpt["global_step"] == 30 and ckpt["opts"]["optim_name"] == "ranger" and "optimizer" in ckpt
    assert info.generator is not None  # the decoder is in the file, as in the authors' checkpoints


def test_killed_run_resumes_to_the_same_weights(G: Generator, tmp_path) -> None:
    images = SyntheticImages(G, 8, seed=0)
    whole = train_hyperstyle(G, AvgEncoder(G), tmp_path / "whole", images=images, config=_cfg(), progress=False)
    train_hyperstyle(G, AvgEncoder(G), tmp_path / "cut", images=images, config=_cfg(steps=4), progress=False)  # "killed" after 4
    resumed = train_hyperstyle(G, AvgEncoder(G), tmp_path / "cut", images=images, config=_cfg(), progress=False)
    a, b = _state(whole), _state(resumed)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    with pytest.raises(Exception, match="cannot resume: it was trained with batch_size=2, this run asks for 4"):
        train_hyperstyle(G, AvgEncoder(G), tmp_path / "cut", images=images, config=_cfg(steps=8, batch_size=4), progress=False)


def test_scratch_notice(G: Generator, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="gani_bench"):
        train_hyperstyle(G, AvgEncoder(G), tmp_path / "r", images=SyntheticImages(G, 2, 0), config=_cfg(steps=1), progress=False)
    assert any("initialised from scratch" in r.getMessage() for r in caplog.records)


def test_cli_needs_exactly_one_data_source(tmp_path) -> None:
    from gani_bench.cli.train_hyperstyle import hyperstyle
    from gani_bench.errors import ConfigError

    result = CliRunner().invoke(hyperstyle, ["--generator", "embedded-64", "--w-encoder", "x", "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == "give exactly one of --dataset D or --synthetic N"


def test_imagenet_init_maps_resnet34_like_the_authors(tmp_path) -> None:
    import torchvision

    from gani_bench.hyperstyle import HyperStyle, authors_config
    from gani_bench.hyperstyle.training import imagenet_init

    ref = torchvision.models.resnet34(weights=None).state_dict()  # same names as the ImageNet file
    path = tmp_path / "resnet34.pth"
    torch.save(ref, str(path))
    # the authors' stem and ResNet34 body; no refinement blocks and a tiny shared code keep it cheap
    cfg = replace(authors_config(256, layers_to_tune=()), code_channels=8)
    model = HyperStyle(cfg)
    imagenet_init(model, path)
    got = model.hypernet.state_dict()
    assert torch.equal(got["body.0.conv1.weight"], ref["layer1.0.conv1.weight"])
    assert torch.equal(got["body.3.downsample.0.weight"], ref["layer2.0.downsample.0.weight"])
    assert torch.equal(got["body.15.bn2.running_var"], ref["layer4.2.bn2.running_var"])
    assert torch.equal(got["bn1.weight"], ref["bn1.weight"])
    assert torch.equal(got["conv1.weight"][:, :3], ref["conv1.weight"]) and got["conv1.weight"].shape[1] == 6


def _photo_folder(tmp_path, sizes):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for i, (w, h) in enumerate(sizes):
        pixels = (torch.rand(h, w, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"img{i}.png")
    return folder


def test_dataset_images_load_a_folder_at_the_generator_size_and_skip_a_corrupt_file(tmp_path):
    """Training on a folder (``--dataset DIR``): the encoders' loader, so bad files are skipped the same way."""
    from gani_bench.hyperstyle.data import DatasetImages

    folder = _photo_folder(tmp_path, [(40, 40), (48, 32), (32, 32)])
    (folder / "broken.png").write_bytes(b"not a png")
    images = DatasetImages(str(folder), 32, seed=0)
    assert images.data.shape == (3, 3, 32, 32)
    assert float(images.data.min()) >= -1.0 and float(images.data.max()) <= 1.0
    batch = images.batch(0, 2)
    assert batch.shape == (2, 3, 32, 32)
    assert torch.equal(batch, images.batch(0, 2))  # deterministic in (seed, step): what resume relies on


def test_a_folder_without_a_usable_image_is_one_line(tmp_path):
    from gani_bench.errors import DatasetError
    from gani_bench.hyperstyle.data import DatasetImages

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError) as exc:
        DatasetImages(str(folder), 32, seed=0)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"--dataset {folder}: no usable image (1 skipped, the first: ")
    assert message.endswith("); give another --dataset")
