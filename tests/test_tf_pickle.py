"""NVIDIA's original TensorFlow StyleGAN2 pickles (``nvidia-tf-pkl``), loaded without TensorFlow.

What these tests prove, and what they cannot: no real TF pickle can be obtained here (the only
copies are NVIDIA's 300+ MB downloads) and TensorFlow 1.x does not run on this Python, so the
files are made at test time. :func:`tf_pickle` writes the byte-stream structure that
``dnnlib.tflib.network.Network.__getstate__`` produces: a tuple ``(G, D, Gs)`` of objects of a
class named ``dnnlib.tflib.network.Network`` (a fake injected into ``sys.modules`` only while
pickling) that has no ``__reduce__`` of its own, exactly like NVIDIA's, so pickle emits the same
opcodes (``NEWOBJ`` + ``BUILD`` for protocols 2-4, ``copyreg._reconstructor`` for 0/1) and the
state dict ``{version: 4, name, static_kwargs, components, build_module_src, build_func_name,
variables: [(name, numpy array)]}``, with numpy arrays and numpy scalars (0-d variables such as
``noise_strength`` come out of ``tf.Session.run`` as numpy scalars).

The TF variables are made from one of *our* Generators by :func:`to_tf_variables`, an inverse of
the conversion written separately here (names, [in,out] dense weights, HWIO kernels, flipped
up-sampling kernels, style biases minus 1). A round trip therefore proves self-consistency and
the file structure, not agreement with a real NVIDIA file. Two checks go further:

- ``tests/data/ckpt/nvidia_tf_legacy.safetensors`` was made by running NVIDIA's own TF converter
  (stylegan2-ada-pytorch ``legacy._LegacyUnpickler`` + ``convert_tf_generator``, outside the
  repository) on pickles written by :func:`tf_pickle`: NVIDIA's converter returned the source
  generator bit for bit (so this inverse is the exact inverse of NVIDIA's conversion), and the
  file keeps those tensors and the outputs of NVIDIA's network;
  :func:`test_matches_nvidias_own_tf_converter` requires our loader to reproduce both.
- :func:`test_layout_conventions_from_legacy_converter` pins each layout convention (kernel flip,
  the +1, names, channel_base = 2 * fmap_base) with explicit index formulas.

Neither replaces a real TF file: whether NVIDIA's converter matches TensorFlow is NVIDIA's claim.
"""
from __future__ import annotations

import math
import os
import pickle
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
import torch

from gani_bench.checkpoints import nvidia_tf_pkl as tfpkl
from gani_bench.errors import CheckpointError
from gani_bench.stylegan2.networks import Generator
from helpers import Evil, one_line_error, pickle_globals, write

#: a small generator in TF terms: 32 px, channels min(2*fmap_base/res, fmap_max) = 16,16,8,4
TF_KWARGS: Dict[str, Any] = dict(num_channels=3, resolution=32, label_size=0, latent_size=16, dlatent_size=16,
                                 mapping_layers=2, fmap_base=64, fmap_max=16)


def our_kwargs(architecture: str = "skip") -> Dict[str, Any]:
    """The same network as TF_KWARGS in our Generator's terms (written out by hand)."""
    return dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                mapping_kwargs=dict(num_layers=2),
                synthesis_kwargs=dict(channel_base=128, channel_max=16, architecture=architecture))


def random_generator(architecture: str = "skip", seed: int = 0) -> Generator:
    """Random weights; style biases on a 2**-10 grid so that ``(b - 1) + 1 == b`` exactly in float32."""
    G = Generator(**our_kwargs(architecture))
    gen = torch.Generator().manual_seed(seed)
    G.reset_parameters(gen)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.25)
            elif name.endswith("affine.bias") or (name.endswith(".bias") and "mapping" not in name):
                p.copy_(torch.round((1 + 0.5 * torch.randn(p.shape, generator=gen)) * 1024) / 1024)
        G.mapping.w_avg.copy_(torch.randn(G.w_dim, generator=gen))
    return G.eval()


# --------------------------------------------------------------------------------------------
# the inverse conversion (ours -> TF variable lists), written independently of the loader


def _tf_kernel(w: torch.Tensor, flip: bool) -> np.ndarray:
    k = w.detach().numpy().transpose(2, 3, 1, 0)  # [out, in, kh, kw] -> [kh, kw, in, out]
    return np.ascontiguousarray(k[::-1, ::-1] if flip else k)


def to_tf_variables(G: Generator) -> Tuple[List[Tuple[str, Any]], List[Tuple[str, Any]], List[Tuple[str, Any]]]:
    """(Gs own variables, mapping variables, synthesis variables) as NVIDIA's networks name them."""
    sd = {k: v.detach() for k, v in G.state_dict().items()}
    np32 = lambda t: np.ascontiguousarray(t.numpy().astype(np.float32))  # noqa: E731
    gs = [("lod", np.float32(0.0)), ("dlatent_avg", np32(sd["mapping.w_avg"]))]
    mapping = []
    for i in range(G.mapping.num_layers):
        mapping += [(f"Dense{i}/weight", np32(sd[f"mapping.fc{i}.weight"].T)), (f"Dense{i}/bias", np32(sd[f"mapping.fc{i}.bias"]))]
    synthesis: List[Tuple[str, Any]] = []
    layer_idx = 0
    for res in G.synthesis.block_resolutions:
        block = f"synthesis.b{res}"
        scope = f"{res}x{res}"
        convs = [("conv1", f"{scope}/Conv")] if res == 4 else [("conv0", f"{scope}/Conv0_up"), ("conv1", f"{scope}/Conv1")]
        if res == 4:
            synthesis.append((f"{scope}/Const/const", np32(sd[f"{block}.const"][None])))
        for conv, tf_scope in convs:
            p = f"{block}.{conv}"
            synthesis += [
                (f"{tf_scope}/weight", _tf_kernel(sd[f"{p}.weight"], flip=(conv == "conv0"))),
                (f"{tf_scope}/mod_weight", np32(sd[f"{p}.affine.weight"].T)),
                (f"{tf_scope}/mod_bias", np32(sd[f"{p}.affine.bias"] - 1)),
                (f"{tf_scope}/noise_strength", np.float32(sd[f"{p}.noise_strength"].item())),
                (f"{tf_scope}/bias", np32(sd[f"{p}.bias"])),
                (f"noise{layer_idx}", np32(sd[f"{p}.noise_const"][None, None])),
            ]
            layer_idx += 1
        if f"{block}.skip.weight" in sd:
            synthesis.append((f"{scope}/Skip/weight", _tf_kernel(sd[f"{block}.skip.weight"], flip=True)))
        if f"{block}.torgb.weight" in sd:
            synthesis += [
                (f"{scope}/ToRGB/weight", _tf_kernel(sd[f"{block}.torgb.weight"], flip=False)),
                (f"{scope}/ToRGB/mod_weight", np32(sd[f"{block}.torgb.affine.weight"].T)),
                (f"{scope}/ToRGB/mod_bias", np32(sd[f"{block}.torgb.affine.bias"] - 1)),
                (f"{scope}/ToRGB/bias", np32(sd[f"{block}.torgb.bias"])),
            ]
    # TF lists noise variables first (created before the layers); order is irrelevant to the loader
    synthesis.sort(key=lambda item: not item[0].startswith("noise"))
    return gs, mapping, synthesis


#: stands in for NVIDIA's networks_stylegan2.py source; executing it would create SENTINEL_PATH
EVIL_SOURCE = "import pathlib\npathlib.Path({sentinel!r}).touch()\ndef G_main(*a, **k): pass\n"


def _net(cls: type, name: str, func: str, variables: List[Tuple[str, Any]], static_kwargs: Dict[str, Any],
         components: Optional[Dict[str, Any]] = None, src: str = "") -> Any:
    return cls(dict(version=4, name=name, static_kwargs=dict(static_kwargs), components=components or {},
                    build_module_src=src, build_func_name=func, variables=variables))


def tf_networks(cls: type, G: Generator, static_kwargs: Dict[str, Any], sentinel: Path,
                g_train: Optional[Generator] = None) -> Tuple[Any, Any, Any]:
    """(G, D, Gs) like NVIDIA's training snapshots; G holds other weights so the choice of Gs shows."""
    src = EVIL_SOURCE.format(sentinel=str(sentinel))

    def generator(name: str, model: Generator) -> Any:
        own, mapping, synthesis = to_tf_variables(model)
        comps = {"synthesis": _net(cls, "G_synthesis", "G_synthesis_stylegan2", synthesis, static_kwargs, src=src),
                 "mapping": _net(cls, "G_mapping", "G_mapping", mapping, dict(static_kwargs, dlatent_broadcast=G.num_ws), src=src)}
        return _net(cls, name, "G_main", own, static_kwargs, comps, src)

    d_vars = [("lod", np.float32(0.0)), ("32x32/Conv0/weight", np.ones((3, 3, 4, 4), np.float32)),
              ("Output/weight", np.ones((16, 1), np.float32))]
    D = _net(cls, "D", "D_stylegan2", d_vars, {k: static_kwargs[k] for k in ("num_channels", "resolution", "label_size")}, src=src)
    return generator("G", g_train or random_generator(seed=99)), D, generator("Gs", G)


def tf_pickle(cls: type, G: Generator, static_kwargs: Dict[str, Any], sentinel: Path, protocol: int = 3) -> bytes:
    return pickle.dumps(tf_networks(cls, G, static_kwargs, sentinel), protocol=protocol)


#: the spelling of the expected sets below, whichever numpy (``numpy._core``) or protocol
#: (Python 2's ``copy_reg`` for protocols 0/1) wrote the stream
GLOBALS_SPELLING = {"numpy._core.": "numpy.core.", "copy_reg.": "copyreg."}


def z_batch(n: int = 3) -> torch.Tensor:
    return torch.randn([n, 16], generator=torch.Generator().manual_seed(7))


# --------------------------------------------------------------------------------------------
# round trip


@pytest.mark.parametrize("protocol", [0, 2, 3, 4])
def test_stream_has_nvidias_structure_and_nothing_else(tf_modules, tmp_path: Path, protocol: int) -> None:
    data = tf_pickle(tf_modules, random_generator(), TF_KWARGS, tmp_path / "SENTINEL", protocol)
    expected = {"dnnlib.tflib.network.Network", "numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype",
                "numpy.core.multiarray.scalar"}
    if protocol < 2:
        expected |= {"copyreg._reconstructor", "__builtin__.object"}  # how protocols 0/1 spell "new Network"
    if protocol < 3:
        expected |= {"_codecs.encode"}  # no bytes opcode below protocol 3: numpy's buffers go through it
    assert pickle_globals(data, GLOBALS_SPELLING) == expected
    assert tfpkl.is_tf_pickle(data[:tfpkl.SNIFF_BYTES])


@pytest.mark.parametrize("protocol", [0, 2, 3, 4])
@pytest.mark.parametrize("architecture", ["skip", "resnet", "orig"])
def test_round_trip_reproduces_the_generator_exactly(tf_modules, tmp_path: Path, protocol: int, architecture: str) -> None:
    G = random_generator(architecture)
    sentinel = tmp_path / "SENTINEL"
    path = write(tmp_path, "net.pkl", tf_pickle(tf_modules, G, dict(TF_KWARGS, architecture=architecture), sentinel, protocol))
    loaded, meta = tfpkl.load_nvidia_tf_pkl(path)
    assert not sentinel.exists(), "build_module_src was executed"
    assert loaded.init_kwargs["synthesis_kwargs"]["channel_base"] == 128
    expected, got = G.state_dict(), loaded.state_dict()
    assert set(got) == set(expected)
    for name in expected:
        assert torch.equal(got[name], expected[name]), name
    z = z_batch()
    with torch.no_grad():
        assert torch.equal(loaded(z, None, noise_mode="const"), G(z, None, noise_mode="const"))
        assert torch.equal(loaded.mapping(z, None, truncation_psi=0.7), G.mapping(z, None, truncation_psi=0.7))
    assert meta["network_key"] == "Gs" and meta["tf_network_name"] == "Gs"
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())


def test_old_numpy_module_names_load(tf_modules, tmp_path: Path) -> None:
    """Files written with numpy 1.x name ``numpy.core.multiarray``; numpy 2 writes ``numpy._core``."""
    G = random_generator()
    data = tf_pickle(tf_modules, G, TF_KWARGS, tmp_path / "SENTINEL", protocol=3)
    old = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert old != data and b"numpy._core" not in old
    loaded, _ = tfpkl.load_nvidia_tf_pkl(write(tmp_path, "old.pkl", old))
    z = z_batch()
    with torch.no_grad():
        assert torch.equal(loaded(z, None, noise_mode="const"), G(z, None, noise_mode="const"))


def test_lone_gs_network_loads(tf_modules, tmp_path: Path) -> None:
    G = random_generator()
    _, _, gs = tf_networks(tf_modules, G, TF_KWARGS, tmp_path / "SENTINEL")
    loaded, _ = tfpkl.load_nvidia_tf_pkl(write(tmp_path, "gs.pkl", pickle.dumps(gs, protocol=3)))
    assert torch.equal(loaded.synthesis.b32.conv0.weight, G.synthesis.b32.conv0.weight)


LEGACY_FIXTURE = Path(__file__).resolve().parent / "data" / "ckpt" / "nvidia_tf_legacy.safetensors"


@pytest.mark.parametrize("architecture", ["skip", "resnet"])
def test_matches_nvidias_own_tf_converter(tf_modules, tmp_path: Path, architecture: str) -> None:
    """Same TF bytes -> the tensors and images NVIDIA's legacy.convert_tf_generator produced."""
    from safetensors import safe_open

    with safe_open(str(LEGACY_FIXTURE), framework="pt") as f:
        ref = {k: f.get_tensor(k) for k in f.keys()}
        assert "convert_tf_generator" in f.metadata()["produced_by"]
    nvidia = {k[len(architecture) + 1:]: v for k, v in ref.items() if k.startswith(architecture + ".")}
    source = Generator(**our_kwargs(architecture))
    missing, unexpected = source.load_state_dict(nvidia, strict=False)
    assert not unexpected and all(k.endswith("resample_filter") for k in missing)
    path = write(tmp_path, "tf.pkl", tf_pickle(tf_modules, source.eval(), dict(TF_KWARGS, architecture=architecture), tmp_path / "S"))
    G, _ = tfpkl.load_nvidia_tf_pkl(path)
    ours = G.state_dict()
    for name, tensor in nvidia.items():
        assert torch.equal(ours[name], tensor), name
    with torch.no_grad():
        ws = G.mapping(ref["z"], None, truncation_psi=0.7)
        torch.testing.assert_close(ws, ref[f"ws_{architecture}"], rtol=1e-6, atol=1e-6)
        img = G.synthesis(ref[f"ws_{architecture}"], noise_mode="const")
    torch.testing.assert_close(img, ref[f"img_{architecture}"], rtol=1e-5, atol=1e-4)


# --------------------------------------------------------------------------------------------
# layout conventions, each pinned on its own


def test_layout_conventions_from_legacy_converter(tmp_path: Path) -> None:
    """Index formulas for the conventions stylegan2-ada-pytorch's legacy.py documents."""
    G = Generator(**our_kwargs("resnet"))
    rng = np.random.default_rng(0)
    tf_vars: Dict[str, np.ndarray] = {}  # every TF variable of G's shape, filled with fresh numbers
    own, mapping, synthesis = to_tf_variables(G)
    for prefix, items in (("", own), ("mapping/", mapping), ("synthesis/", synthesis)):
        for name, value in items:
            tf_vars[prefix + name] = rng.standard_normal(np.shape(value)).astype(np.float32)
    sd = tfpkl.tf_variables_to_state_dict(tmp_path / "x.pkl", G, tf_vars)

    up = tf_vars["synthesis/16x16/Conv0_up/weight"]  # [kh, kw, in, out]
    w = sd["synthesis.b16.conv0.weight"].numpy()  # [out, in, kh, kw]
    o, i, y, x = 3, 5, 0, 2
    assert w[o, i, y, x] == up[2 - y, 2 - x, i, o]  # up-sampling kernels are flipped
    plain = tf_vars["synthesis/16x16/Conv1/weight"]
    assert sd["synthesis.b16.conv1.weight"].numpy()[o, i, y, x] == plain[y, x, i, o]  # others are not
    skip = tf_vars["synthesis/16x16/Skip/weight"]  # resnet's 1x1 up-sampling shortcut: flipped too (a no-op at 1x1)
    assert sd["synthesis.b16.skip.weight"].numpy()[o, i, 0, 0] == skip[0, 0, i, o]
    rgb = tf_vars["synthesis/32x32/ToRGB/weight"]
    assert sd["synthesis.b32.torgb.weight"].numpy()[2, 1, 0, 0] == rgb[0, 0, 1, 2]
    dense = tf_vars["mapping/Dense1/weight"]  # [in, out]
    assert sd["mapping.fc1.weight"].numpy()[2, 7] == dense[7, 2]
    mod_bias = tf_vars["synthesis/32x32/ToRGB/mod_bias"]  # TF adds the 1 at run time; ours stores it
    assert np.array_equal(sd["synthesis.b32.torgb.affine.bias"].numpy(), mod_bias + np.float32(1))
    assert np.array_equal(sd["synthesis.b8.conv1.affine.bias"].numpy(), tf_vars["synthesis/8x8/Conv1/mod_bias"] + np.float32(1))
    noise = tf_vars["synthesis/noise3"]  # one per conv from 4x4: 4x4 = 0, 8x8 = 1, 2, 16x16 conv0 = 3
    assert np.array_equal(sd["synthesis.b16.conv0.noise_const"].numpy(), noise[0, 0])
    assert np.array_equal(sd["synthesis.b4.const"].numpy(), tf_vars["synthesis/4x4/Const/const"][0])
    assert np.array_equal(sd["mapping.w_avg"].numpy(), tf_vars["dlatent_avg"])


def test_config_f_car_kwargs_give_nvidias_channel_counts(tmp_path: Path) -> None:
    """TF config-f: nf(stage) = min(fmap_base / 2**stage, fmap_max), stage = log2(res) - 1, fmap_base = 16 << 10."""
    kwargs = tfpkl.tf_kwargs_to_init_kwargs(tmp_path / "car.pkl", dict(num_channels=3, resolution=512, label_size=0,
                                                                       fmap_base=16 << 10, truncation_psi=0.5))
    assert kwargs["synthesis_kwargs"]["channel_base"] == 32768 and kwargs["mapping_kwargs"]["num_layers"] == 8
    G = Generator(**kwargs)
    for res in G.synthesis.block_resolutions:
        stage = int(math.log2(res)) - 1
        assert getattr(G.synthesis, f"b{res}").conv1.weight.shape[0] == min(int((16 << 10) / 2 ** stage), 512), res
    assert (G.img_resolution, G.num_ws, G.w_dim, G.z_dim) == (512, 16, 512, 512)


# --------------------------------------------------------------------------------------------
# refusals and one-line errors


@pytest.mark.parametrize("protocol", [0, 3, 4])
@pytest.mark.parametrize("func,expected", [(os.system, f"{os.name == 'nt' and 'nt' or 'posix'}.system"), (exec, "builtins.exec")])
def test_code_execution_is_refused(tmp_path: Path, protocol: int, func: Any, expected: str) -> None:
    sentinel = tmp_path / "SENTINEL"
    arg = f"touch {sentinel}" if func is os.system else f"open({str(sentinel)!r}, 'w').close()"
    path = write(tmp_path, "evil.pkl", pickle.dumps((Evil(func, arg),), protocol=protocol))
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    if protocol < 3:
        expected = expected.replace("builtins.", "__builtin__.")
    assert f"refusing to load: the pickle asks for {expected}" in one_line_error(exc, path)
    assert not sentinel.exists()


def test_code_hidden_among_the_variables_is_refused(tf_modules, tmp_path: Path) -> None:
    sentinel = tmp_path / "SENTINEL"
    G, D, Gs = tf_networks(tf_modules, random_generator(), TF_KWARGS, sentinel)
    Gs._state["variables"].append(("dlatent_avg_evil", Evil(os.system, f"touch {sentinel}")))
    path = write(tmp_path, "hidden.pkl", pickle.dumps((G, D, Gs), protocol=3))
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    assert "refusing to load: the pickle asks for posix.system" in one_line_error(exc, path)
    assert not sentinel.exists()


def test_torch_globals_are_not_accepted_in_a_tf_pickle(tmp_path: Path) -> None:
    """The TF whitelist is narrower than the PyTorch one: a TF file never holds torch tensors."""
    path = write(tmp_path, "torch.pkl", pickle.dumps((torch.zeros(2),), protocol=3))
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    assert "refusing to load: the pickle asks for torch." in one_line_error(exc, path)


def test_truncated_file_is_reported(tf_modules, tmp_path: Path) -> None:
    data = tf_pickle(tf_modules, random_generator(), TF_KWARGS, tmp_path / "SENTINEL")
    path = write(tmp_path, "half.pkl", data[: len(data) // 2])
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    assert "truncated" in one_line_error(exc, path)


def test_tuple_without_gs_is_refused(tf_modules, tmp_path: Path) -> None:
    G, D, _ = tf_networks(tf_modules, random_generator(), TF_KWARGS, tmp_path / "SENTINEL")
    path = write(tmp_path, "gd.pkl", pickle.dumps((G, D), protocol=3))
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    msg = one_line_error(exc, path)
    assert "tuple of 2 item(s) (G, D)" in msg and "(G, D, Gs)" in msg
    path = write(tmp_path, "dict.pkl", pickle.dumps({"G_ema": None}, protocol=3))
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    assert "holds a dict, not NVIDIA's (G, D, Gs) tuple" in one_line_error(exc, path)


def test_discriminator_in_third_place_is_refused(tf_modules, tmp_path: Path) -> None:
    G, D, Gs = tf_networks(tf_modules, random_generator(), TF_KWARGS, tmp_path / "SENTINEL")
    path = write(tmp_path, "gsd.pkl", pickle.dumps((G, Gs, D), protocol=3))
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    assert "built by 'D_stylegan2', not StyleGAN2's G_main" in one_line_error(exc, path)


def _edited(tf_modules: type, tmp_path: Path, edit: Any, name: str) -> Path:
    G, D, Gs = tf_networks(tf_modules, random_generator(), TF_KWARGS, tmp_path / "SENTINEL")
    edit(Gs._state)
    return write(tmp_path, name, pickle.dumps((G, D, Gs), protocol=3))


def _synthesis_vars(state: Dict[str, Any]) -> List[Tuple[str, Any]]:
    return state["components"]["synthesis"]._state["variables"]


def test_missing_misshaped_and_extra_variables_are_named(tf_modules, tmp_path: Path) -> None:
    def drop(state: Dict[str, Any]) -> None:
        v = _synthesis_vars(state)
        v[:] = [item for item in v if item[0] != "16x16/Conv0_up/weight"]

    path = _edited(tf_modules, tmp_path, drop, "missing.pkl")
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    assert "missing 1 TF variable(s): synthesis/16x16/Conv0_up/weight" in one_line_error(exc, path)

    def reshape(state: Dict[str, Any]) -> None:
        v = _synthesis_vars(state)
        v[:] = [(n, np.zeros((3, 3, 8, 9), np.float32)) if n == "16x16/Conv1/weight" else (n, a) for n, a in v]

    path = _edited(tf_modules, tmp_path, reshape, "shape.pkl")
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    assert "mis-shaped 1: synthesis/16x16/Conv1/weight -> synthesis.b16.conv1.weight (9, 8, 3, 3) != (8, 8, 3, 3)" in one_line_error(exc, path)

    def extra(state: Dict[str, Any]) -> None:
        _synthesis_vars(state).append(("32x32/Skip/weight", np.zeros((1, 1, 8, 4), np.float32)))

    path = _edited(tf_modules, tmp_path, extra, "extra.pkl")
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    assert "1 TF variable(s) with no place in it: synthesis/32x32/Skip/weight" in one_line_error(exc, path)


@pytest.mark.parametrize("kwargs,expected", [
    (dict(fmap_decay=0.5), "fmap_decay=0.5"),
    (dict(normalize_latents=False), "normalize_latents=False"),
    (dict(my_new_layer=3), "options gani-bench does not know: my_new_layer"),
    (dict(resolution=48), "resolution 48, not a power of two"),
])
def test_unconvertible_static_kwargs_are_named(tmp_path: Path, kwargs: Dict[str, Any], expected: str) -> None:
    path = tmp_path / "k.pkl"
    with pytest.raises(CheckpointError) as exc:
        tfpkl.tf_kwargs_to_init_kwargs(path, dict(TF_KWARGS, **kwargs))
    assert expected in one_line_error(exc, path)


def test_progressive_synthesis_is_refused(tf_modules, tmp_path: Path) -> None:
    def revised(state: Dict[str, Any]) -> None:
        state["components"]["synthesis"]._state["build_func_name"] = "G_synthesis_stylegan_revised"

    path = _edited(tf_modules, tmp_path, revised, "configd.pkl")
    with pytest.raises(CheckpointError) as exc:
        tfpkl.load_nvidia_tf_pkl(path)
    assert "G_synthesis_stylegan_revised (StyleGAN2 configs B-D" in one_line_error(exc, path)


# --------------------------------------------------------------------------------------------
# format sniffing and the checkpoint loader


def test_sniffer_tells_tf_pickles_from_pytorch_ones(tf_modules, tmp_path: Path) -> None:
    for protocol in (0, 1, 2, 3, 4, 5):
        data = tf_pickle(tf_modules, random_generator(), TF_KWARGS, tmp_path / "SENTINEL", protocol)
        assert tfpkl.is_tf_pickle(data[:512]), protocol
    assert not tfpkl.is_tf_pickle(pickle.dumps({"G_ema": np.zeros(3)}, protocol=3)[:512])
    assert not tfpkl.is_tf_pickle(pickle.dumps((np.zeros(3), 1), protocol=4)[:512])
    assert not tfpkl.is_tf_pickle(b"\x89PNG\r\n\x1a\n" + bytes(64))
    assert not tfpkl.is_tf_pickle(b"")


def test_checkpoint_loader_dispatches_tf_pickles(tf_modules, tmp_path: Path) -> None:
    """``load_generator`` finds this format by content, ahead of the PyTorch-pickle sniffer."""
    from gani_bench.checkpoints import sniff_format
    from gani_bench.generators import load_generator

    G = random_generator()
    path = write(tmp_path, "stylegan2-car-config-f.bin", tf_pickle(tf_modules, G, TF_KWARGS, tmp_path / "SENTINEL"))
    assert sniff_format(path).name == tfpkl.FORMAT_NAME
    loaded, info = load_generator(path)
    assert info.format == tfpkl.FORMAT_NAME and (info.resolution, info.num_ws) == (32, 8)
    z = z_batch()
    with torch.no_grad():
        assert torch.equal(loaded(z, None, noise_mode="const"), G(z, None, noise_mode="const"))
