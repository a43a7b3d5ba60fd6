"""Safe checkpoint loading: NVIDIA persistence pickles, gani-bench safetensors, the loader.

NVIDIA pickles are made here at test time, because a real one embeds NVIDIA's source code
(``module_src``), which the repository must not contain. :func:`persistence_pickle` writes the
same byte-stream structure as ``torch_utils.persistence``: every network is a
``_reconstruct_persistent_obj(meta)`` call with meta = {type: 'class', version: 6, module_src,
class_name, state = the module's ``__dict__`` (``_parameters``/``_buffers``/``_modules`` plus
plain attributes, ``_init_kwargs`` as an ``EasyDict``, numpy float64 gains)}, tensors pickled
by torch itself (``_rebuild_parameter`` / ``_rebuild_tensor_v2`` / ``_load_from_bytes``).

Structure check against the real thing: a tiny Generator pickled by NVIDIA's
stylegan2-ada-pytorch (snapshot dict built as its training loop does,
``copy.deepcopy(G).eval().requires_grad_(False)``) asks for exactly these globals:
protocol 3 ``builtins.set, collections.OrderedDict, dnnlib.util.EasyDict,
numpy._core.multiarray.scalar, numpy.dtype, torch._utils._rebuild_parameter,
torch._utils._rebuild_tensor_v2, torch.storage._load_from_bytes,
torch_utils.persistence._reconstruct_persistent_obj``; protocol 2 adds ``_codecs.encode`` and
spells ``__builtin__.set``; protocol 4 has no ``set`` global. Those measured sets are stored in
the metadata of ``tests/data/ckpt/nvidia_tiny_g_ema.safetensors`` and
:func:`test_handmade_pickle_asks_for_the_same_globals_as_nvidias` compares against them. The same
file holds that NVIDIA network's G_ema tensors, a z, its ws (truncation 0.7) and its image
(``noise_mode='const'``), all produced by running NVIDIA's code on CPU.
"""
from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import sys
import types
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import pytest
import torch
from safetensors import safe_open

from gani_bench.checkpoints import (
    FORMATS, load_generator_file, load_weight_deltas, save_generator, save_weight_deltas,
    sniff_format, state_fingerprint,
)
from gani_bench.checkpoints import nvidia_pkl
from gani_bench.errors import CheckpointError, UnknownNameError, WeightsUnavailable
from gani_bench.generators import GENERATORS, load_generator
from gani_bench.stylegan2.networks import Generator
from helpers import Evil, one_line_error, pickle_globals, write

FIXTURE = Path(__file__).resolve().parent / "data" / "ckpt" / "nvidia_tiny_g_ema.safetensors"

TINY_KWARGS = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                   mapping_kwargs=dict(num_layers=2),
                   synthesis_kwargs=dict(channel_base=128, channel_max=16, num_fp16_res=0, conv_clamp=256))


# --------------------------------------------------------------------------------------------
# helpers


def tiny_generator(seed: int = 0) -> Generator:
    G = Generator(**json.loads(json.dumps(TINY_KWARGS)))
    G.reset_parameters(torch.Generator().manual_seed(seed))
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
        G.mapping.w_avg.normal_(generator=torch.Generator().manual_seed(seed + 1))
    return G.eval()


def read_fixture() -> tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    with safe_open(str(FIXTURE), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


@pytest.fixture()
def nvidia_modules(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Fake ``torch_utils.persistence`` and ``dnnlib.util`` modules, so pickle can name them.

    Only the *pickling* side needs them (pickle writes globals by module and name); the loader
    under test never imports them.
    """
    def _reconstruct_persistent_obj(meta: Any) -> Any:  # pragma: no cover - must never run
        raise AssertionError("the loader called the pickle's reconstruct function")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict
    for name, mod in {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
                      "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=EasyDict)


class _Persistent:
    """Pickles as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``, like NVIDIA's."""

    def __init__(self, reconstruct: Any, meta: Dict[str, Any]) -> None:
        self.reconstruct, self.meta = reconstruct, meta

    def __reduce__(self) -> Any:
        return (self.reconstruct, (self.meta,))


_HOOK_DICTS = ("_backward_pre_hooks", "_backward_hooks", "_forward_hooks", "_forward_hooks_with_kwargs",
               "_forward_hooks_always_called", "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs",
               "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")


def _record(mods: types.SimpleNamespace, module: torch.nn.Module, tensors: Dict[str, torch.Tensor], prefix: str,
            class_names: Dict[str, str], init_kwargs: Optional[Dict[str, Any]]) -> _Persistent:
    state: Dict[str, Any] = {"training": False}
    state["_parameters"] = {n: torch.nn.Parameter(tensors[prefix + n].clone(), requires_grad=False)
                            for n in module._parameters}
    state["_buffers"] = {n: tensors[prefix + n].clone() for n in module._buffers}
    state["_non_persistent_buffers_set"] = set()
    state.update({h: collections.OrderedDict() for h in _HOOK_DICTS})
    state["_is_full_backward_hook"] = None
    state["_modules"] = {n: _record(mods, m, tensors, f"{prefix}{n}.", class_names, None)
                         for n, m in module._modules.items()}
    for key, value in vars(module).items():  # plain attributes, as NVIDIA's __dict__ carries them
        if isinstance(value, (bool, int, float, str)) and not key.startswith("_"):
            state[key] = value
    if "activation" in state and state["activation"] == "lrelu":
        state["act_gain"] = np.float64(math.sqrt(2))  # NVIDIA stores bias_act gains as numpy scalars
    state["_init_args"] = ()
    state["_init_kwargs"] = mods.EasyDict(
        {k: mods.EasyDict(v) if isinstance(v, dict) else v for k, v in (init_kwargs or {}).items()})
    meta = dict(type="class", version=6, module_src="# network source (not included in tests)\n",
                class_name=class_names.get(prefix, type(module).__name__), state=state)
    return _Persistent(mods.reconstruct, meta)


def persistence_pickle(mods: types.SimpleNamespace, tensors: Dict[str, torch.Tensor], init_kwargs: Dict[str, Any],
                       *, protocol: int = 3, g_tensors: Optional[Dict[str, torch.Tensor]] = None,
                       class_names: Optional[Dict[str, str]] = None, keys: tuple = ("G", "D", "G_ema", "augment_pipe"),
                       recorded_kwargs: Optional[Dict[str, Any]] = None, extra_state: Optional[Dict[str, Any]] = None) -> bytes:
    """An NVIDIA-style snapshot pickle of a Generator holding ``tensors`` (state-dict names).

    ``recorded_kwargs`` replaces the constructor arguments written into the file;
    ``extra_state`` adds entries to the generator record's state.
    """
    skeleton = Generator(**json.loads(json.dumps(init_kwargs)))
    names = class_names or {}
    snap: Dict[str, Any] = {"training_set_kwargs": {"path": "tiny", "resolution": init_kwargs["img_resolution"]}}
    for key in keys:
        if key in ("G_ema", "G"):
            rec = _record(mods, skeleton, tensors if key == "G_ema" else (g_tensors or tensors), "", names,
                          recorded_kwargs or init_kwargs)
            rec.meta["state"].update(extra_state or {})
            snap[key] = rec
        else:
            snap[key] = None
    return pickle.dumps(snap, protocol=protocol)


def fixture_pickle(mods: types.SimpleNamespace, protocol: int = 3, **kw: Any) -> tuple[bytes, Dict[str, torch.Tensor], Dict[str, Any]]:
    tensors, meta = read_fixture()
    g_ema = {k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")}
    init_kwargs = json.loads(meta["init_kwargs"])
    return persistence_pickle(mods, g_ema, init_kwargs, protocol=protocol, **kw), tensors, init_kwargs


# --------------------------------------------------------------------------------------------
# NVIDIA pickles


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_handmade_pickle_asks_for_the_same_globals_as_nvidias(nvidia_modules, protocol: int) -> None:
    data, _, _ = fixture_pickle(nvidia_modules, protocol)
    _, meta = read_fixture()
    measured_on_nvidia_code = set(json.loads(meta["pickle_globals"])[str(protocol)])
    assert pickle_globals(data) == measured_on_nvidia_code


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_nvidia_pickle_reproduces_nvidia_outputs(nvidia_modules, tmp_path: Path, protocol: int) -> None:
    data, tensors, init_kwargs = fixture_pickle(nvidia_modules, protocol)
    path = write(tmp_path, "tiny.pkl", data)
    G, info = load_generator(path)
    assert (info.format, info.resolution, info.num_ws, info.w_dim) == ("nvidia-pkl", 16, 6, 16)
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    with torch.no_grad():
        ws = G.mapping(tensors["z"], None, truncation_psi=0.7)
        img = G.synthesis(tensors["ws"], noise_mode="const")
    torch.testing.assert_close(ws, tensors["ws"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(img, tensors["img"], rtol=1e-4, atol=1e-4)
    assert info.metadata["init_kwargs"] == init_kwargs


def test_flattened_names_follow_the_module_nesting(nvidia_modules, tmp_path: Path) -> None:
    data, tensors, _ = fixture_pickle(nvidia_modules)
    snap = nvidia_pkl.read_generator_record(write(tmp_path, "a.pkl", data))
    expected = [k[len("G_ema."):] for k in tensors if k.startswith("G_ema.")]
    assert sorted(snap.state_dict) == sorted(expected)
    for name in ("mapping.fc0.weight", "mapping.w_avg", "synthesis.b4.const", "synthesis.b8.conv0.weight",
                 "synthesis.b8.conv0.affine.weight", "synthesis.b16.torgb.weight", "synthesis.b16.conv1.noise_const"):
        assert torch.equal(snap.state_dict[name], tensors["G_ema." + name])


def test_g_ema_is_preferred_over_g(nvidia_modules, tmp_path: Path) -> None:
    tensors, meta = read_fixture()
    g_ema = {k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")}
    other = {k: torch.zeros_like(v) for k, v in g_ema.items()}
    data = persistence_pickle(nvidia_modules, g_ema, json.loads(meta["init_kwargs"]), g_tensors=other)
    G, info = load_generator(write(tmp_path, "a.pkl", data))
    assert info.metadata["network_key"] == "G_ema"
    assert torch.equal(G.mapping.fc0.weight, g_ema["mapping.fc0.weight"])
    data = persistence_pickle(nvidia_modules, g_ema, json.loads(meta["init_kwargs"]), g_tensors=other, keys=("G", "D"))
    G, info = load_generator(write(tmp_path, "b.pkl", data))
    assert info.metadata["network_key"] == "G"
    assert torch.count_nonzero(G.mapping.fc0.weight) == 0


def test_stylegan3_repo_kwargs_layout_is_accepted(nvidia_modules, tmp_path: Path) -> None:
    """The stylegan3 repository's StyleGAN2 Generator records synthesis arguments at top level."""
    tensors, meta = read_fixture()
    g_ema = {k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")}
    kwargs = json.loads(meta["init_kwargs"])
    flat = {k: v for k, v in kwargs.items() if k != "synthesis_kwargs"}
    flat.update(kwargs["synthesis_kwargs"], fused_modconv_default="inference_only")
    data = persistence_pickle(nvidia_modules, g_ema, kwargs, recorded_kwargs=flat)
    G, info = load_generator(write(tmp_path, "sg3repo.pkl", data))
    assert info.metadata["init_kwargs"] == kwargs
    with torch.no_grad():
        torch.testing.assert_close(G.synthesis(tensors["ws"], noise_mode="const"), tensors["img"], rtol=1e-4, atol=1e-4)


def test_stylegan3_synthesis_is_refused(nvidia_modules, tmp_path: Path) -> None:
    data, _, _ = fixture_pickle(nvidia_modules, class_names={"synthesis.b4.": "SynthesisInput"})
    path = write(tmp_path, "sg3.pkl", data)
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "StyleGAN3" in one_line_error(exc, path)


def test_misshaped_and_missing_tensors_are_named(nvidia_modules, tmp_path: Path) -> None:
    tensors, meta = read_fixture()
    g_ema = {k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")}
    kwargs = json.loads(meta["init_kwargs"])
    bad = dict(g_ema, **{"synthesis.b8.conv0.weight": torch.zeros(3, 3, 3, 3)})
    path = write(tmp_path, "bad.pkl", persistence_pickle(nvidia_modules, bad, kwargs))
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    msg = one_line_error(exc, path)
    assert "mis-shaped" in msg and "synthesis.b8.conv0.weight (3, 3, 3, 3)" in msg
    # the recorded arguments promise one more mapping layer than the file holds: the missing tensors are named
    recorded = json.loads(json.dumps(kwargs))
    recorded["mapping_kwargs"]["num_layers"] = 3
    path = write(tmp_path, "short.pkl", persistence_pickle(nvidia_modules, g_ema, kwargs, recorded_kwargs=recorded))
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "missing 2 tensor(s): mapping.fc2.weight, mapping.fc2.bias" in one_line_error(exc, path)


@pytest.mark.parametrize("protocol", [0, 2, 4])
@pytest.mark.parametrize("func,expected", [(os.system, f"{os.name == 'nt' and 'nt' or 'posix'}.system"),
                                           (exec, "builtins.exec"), (eval, "builtins.eval")])
def test_code_execution_is_refused(tmp_path: Path, protocol: int, func: Any, expected: str) -> None:
    sentinel = tmp_path / "SENTINEL"
    arg = f"touch {sentinel}" if func is os.system else f"open({str(sentinel)!r}, 'w').close()"
    path = write(tmp_path, "evil.pkl", pickle.dumps({"G_ema": Evil(func, arg)}, protocol=protocol))
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    msg = one_line_error(exc, path)
    if protocol < 3:  # pickle spells the builtins module the Python 2 way below protocol 3
        expected = expected.replace("builtins.", "__builtin__.")
    assert f"refusing to load: the pickle asks for {expected}, which a StyleGAN2 checkpoint never contains" in msg
    assert not sentinel.exists()


def test_code_hidden_inside_a_valid_snapshot_is_refused(nvidia_modules, tmp_path: Path) -> None:
    import subprocess

    sentinel = tmp_path / "SENTINEL"
    tensors, meta = read_fixture()
    g_ema = {k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")}
    evil = Evil(subprocess.check_call, ["touch", str(sentinel)])
    data = persistence_pickle(nvidia_modules, g_ema, json.loads(meta["init_kwargs"]), extra_state={"hook": evil})
    path = write(tmp_path, "hidden.pkl", data)
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "refusing to load: the pickle asks for subprocess.check_call" in one_line_error(exc, path)
    assert not sentinel.exists()


def _storage_bomb(payload: bytes) -> bytes:
    """A pickle calling ``torch.storage._load_from_bytes(payload)``, as NVIDIA's tensors do."""

    class StorageBomb:
        def __reduce__(self) -> Any:
            return (nvidia_pkl._load_storage_from_bytes, (payload,))

    data = pickle.dumps({"G_ema": StorageBomb()}, protocol=3)
    return data.replace(b"gani_bench.checkpoints.nvidia_pkl\n_load_storage_from_bytes", b"torch.storage\n_load_from_bytes")


def test_storage_bytes_are_loaded_weights_only(tmp_path: Path) -> None:
    """A tampered ``_load_from_bytes`` payload (a pickle calling os.system) never runs."""
    sentinel = tmp_path / "SENTINEL"
    path = write(tmp_path, "bomb.pkl", _storage_bomb(pickle.dumps(Evil(os.system, f"touch {sentinel}"), protocol=2)))
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "weights_only" not in one_line_error(exc, path)  # torch's hint to disable the check is not passed on
    # the same payload as a legacy torch.save file: torch's weights-only unpickler names the global
    buf = io.BytesIO()
    torch.save(Evil(os.system, f"touch {sentinel}"), buf, _use_new_zipfile_serialization=False)
    path = write(tmp_path, "bomb2.pkl", _storage_bomb(buf.getvalue()))
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "refusing to load: the pickle asks for posix.system (inside a tensor's storage bytes)" in one_line_error(exc, path)
    assert not sentinel.exists()


def test_truncated_pickle_is_reported(nvidia_modules, tmp_path: Path) -> None:
    data, _, _ = fixture_pickle(nvidia_modules)
    path = write(tmp_path, "half.pkl", data[: len(data) // 2])
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "truncated" in one_line_error(exc, path)


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    return buf.getvalue()


@pytest.mark.parametrize("name,data,what", [
    ("image.pkl", b"\x89PNG\r\n\x1a\n" + bytes(64), "a PNG image"),
    ("notes.pt", b"these are not weights\n", "a text file"),
    ("archive.pt", _zip_bytes(), "a zip archive that is not a torch checkpoint"),
    ("empty.pkl", b"", "an empty file"),
    ("page.pkl", b"<!DOCTYPE html><html>quota exceeded</html>", "an HTML/XML page"),
])
def test_other_files_get_one_line_errors(tmp_path: Path, name: str, data: bytes, what: str) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    msg = one_line_error(exc, path)
    assert what in msg and "not a generator checkpoint" in msg


def test_pickle_that_is_not_a_snapshot(tmp_path: Path) -> None:
    path = write(tmp_path, "list.pkl", pickle.dumps([1, 2, 3], protocol=4))
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "not an NVIDIA snapshot dict" in one_line_error(exc, path)
    path = write(tmp_path, "dict.pkl", pickle.dumps({"D": None}, protocol=4))
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "no generator" in one_line_error(exc, path)


def test_format_is_sniffed_from_content_not_extension(nvidia_modules, tmp_path: Path) -> None:
    data, _, _ = fixture_pickle(nvidia_modules)
    assert sniff_format(write(tmp_path, "renamed.safetensors", data)).name == "nvidia-pkl"
    assert [name for name in FORMATS] == ["safetensors", "rosinality-pt", "nvidia-tf-pkl", "nvidia-pkl"]


# --------------------------------------------------------------------------------------------
# gani-bench safetensors


def test_native_roundtrip_and_fingerprint(tmp_path: Path) -> None:
    G = tiny_generator()
    path = save_generator(G, tmp_path / "g.safetensors", {"origin": "unit test"})
    G2, info = load_generator(path)
    assert info.format == "safetensors" and info.metadata["origin"] == "unit test"
    assert G2.init_kwargs == G.init_kwargs
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G2.state_dict().values()))
    assert info.fingerprint == state_fingerprint(G)
    G3, _ = load_generator_file(path)
    assert state_fingerprint(G3) == info.fingerprint
    # tampering with one tensor is caught by the recorded fingerprint
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x55
    (tmp_path / "t.safetensors").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError) as exc:
        load_generator(tmp_path / "t.safetensors")
    assert "fingerprint" in one_line_error(exc, tmp_path / "t.safetensors")


def test_native_truncated_file(tmp_path: Path) -> None:
    path = save_generator(tiny_generator(), tmp_path / "g.safetensors")
    cut = write(tmp_path, "cut.safetensors", path.read_bytes()[:-1000])
    with pytest.raises(CheckpointError) as exc:
        load_generator(cut)
    assert "truncated or corrupt" in one_line_error(exc, cut)


def test_weight_deltas_are_tied_to_their_base(tmp_path: Path) -> None:
    G, info = load_generator(save_generator(tiny_generator(0), tmp_path / "base.safetensors"))
    info.name = "tiny-base"
    deltas = {"synthesis.b8.conv0.weight": torch.randn_like(G.synthesis.b8.conv0.weight),
              "synthesis.b16.torgb.weight": torch.randn_like(G.synthesis.b16.torgb.weight)}
    path = save_weight_deltas(deltas, tmp_path / "d.safetensors", info, info={"method": "pti"})
    back = load_weight_deltas(path, G, fingerprint=info.fingerprint)
    assert back.keys() == deltas.keys() and all(torch.equal(back[k], deltas[k]) for k in deltas)
    assert load_weight_deltas(path, G).keys() == deltas.keys()  # fingerprint computed when not given
    other = tiny_generator(1)
    with pytest.raises(CheckpointError) as exc:
        load_weight_deltas(path, other)
    msg = one_line_error(exc, path)
    assert "belong to generator 'tiny-base'" in msg and info.fingerprint[:12] in msg
    with pytest.raises(CheckpointError) as exc:  # deltas are not a generator
        load_generator(path)
    assert "load_weight_deltas" in one_line_error(exc, path)
    bad = save_weight_deltas({"synthesis.b8.conv0.weight": torch.zeros(2, 2)}, tmp_path / "bad.safetensors", info)
    with pytest.raises(CheckpointError) as exc:
        load_weight_deltas(bad, G)
    assert "mis-shaped: synthesis.b8.conv0.weight" in one_line_error(exc, bad)


# --------------------------------------------------------------------------------------------
# names


def test_embedded_generator_by_name() -> None:
    G, info = load_generator("embedded-64")
    assert (info.name, info.format, info.resolution, info.num_ws, info.path, info.sha256) == ("embedded-64", "builtin", 64, 10, None, None)
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    assert info.fingerprint == state_fingerprint(G)


def test_unknown_name_lists_registered_generators(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError) as exc:
        load_generator("ffhq-typo")
    msg = one_line_error(exc)
    assert "'ffhq-typo' is neither a checkpoint file nor a registered generator" in msg
    assert all(name in msg for name in GENERATORS.names())
    with pytest.raises(CheckpointError) as exc:
        load_generator(tmp_path)
    assert "is a directory" in one_line_error(exc, tmp_path)


def test_missing_generator_file_says_no_such_file(tmp_path: Path) -> None:
    missing = tmp_path / "nosuch.pkl"
    with pytest.raises(CheckpointError) as exc:
        load_generator(missing)
    assert one_line_error(exc) == (f"{missing}: no such file; check the path, or give a registered generator name "
                                   f"({', '.join(GENERATORS.names())})")


def test_checkpoint_loader_does_not_import_named_generators() -> None:
    """The file-format layer stands alone: importing it must not pull in ``gani_bench.generators``
    (which sits above it), so the two modules cannot form an import circle again."""
    import subprocess
    import sys

    code = ("import sys, gani_bench.checkpoints.loader; "
            "print('gani_bench.generators' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_entries_match_spec() -> None:
    expected = {"stylegan2-ffhq-1024": (1024, 18), "stylegan2-ffhq-1024-rosinality": (1024, 18),
                "stylegan2-cars-512": (512, 16), "stylegan2-church-256": (256, 14), "stylegan2-horse-256": (256, 14),
                "stylegan2-afhqdog-512": (512, 16), "stylegan2-afhqcat-512": (512, 16),
                "stylegan2-afhqwild-512": (512, 16), "embedded-64": (64, 10)}
    assert {n: (GENERATORS.get(n).resolution, GENERATORS.get(n).num_ws) for n in GENERATORS} == expected
    from gani_bench.weights import WEIGHTS

    for name in GENERATORS:
        entry = GENERATORS.get(name)
        assert entry.weights is None or entry.weights in WEIGHTS


def test_named_generator_resolves_through_weights_fetch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import gani_bench.weights as weights

    def offline(name: str, **_: Any) -> Any:
        raise WeightsUnavailable(f"could not fetch {name}: offline; run `gani-bench weights download {name}`")

    monkeypatch.setattr(weights, "fetch", offline)
    with pytest.raises(WeightsUnavailable, match="stylegan2-church-256"):
        load_generator("stylegan2-church-256")
    # a cached file of the wrong network is caught by the entry's resolution check
    path = save_generator(tiny_generator(), tmp_path / "wrong.safetensors")
    monkeypatch.setattr(weights, "fetch", lambda name, **_: types.SimpleNamespace(path=path, format="safetensors"))
    with pytest.raises(CheckpointError) as exc:
        load_generator("stylegan2-church-256")
    assert "should be 256 px with 14 style vectors but the file holds 16 px / 6" in one_line_error(exc, path)


# --------------------------------------------------------------------------------------------
# original TensorFlow StyleGAN2 pickles


def _tf_variables(g: Dict[str, torch.Tensor], resolution: int, num_fc: int) -> tuple[list, list, list]:
    """NVIDIA PyTorch tensors laid out as TF StyleGAN2 variables (the inverse of legacy.py's rules)."""
    n = lambda t: t.detach().numpy().copy()  # noqa: E731
    kernel = lambda t: n(t.permute(2, 3, 1, 0))  # [out, in, kh, kw] -> [kh, kw, in, out]  # noqa: E731
    mapping = []
    for i in range(num_fc):
        mapping += [(f"Dense{i}/weight", n(g[f"mapping.fc{i}.weight"].T)), (f"Dense{i}/bias", n(g[f"mapping.fc{i}.bias"]))]
    synthesis = [("4x4/Const/const", n(g["synthesis.b4.const"][None]))]

    def layer(tf: str, ours: str, up: bool = False) -> list:
        w = kernel(g[f"{ours}.weight"])
        return [(f"{tf}/weight", w[::-1, ::-1].copy() if up else w), (f"{tf}/mod_weight", n(g[f"{ours}.affine.weight"].T)),
                (f"{tf}/mod_bias", n(g[f"{ours}.affine.bias"] - 1)), (f"{tf}/bias", n(g[f"{ours}.bias"]))] + (
                [(f"{tf}/noise_strength", n(g[f"{ours}.noise_strength"]))] if "ToRGB" not in tf else [])

    synthesis += layer("4x4/Conv", "synthesis.b4.conv1") + layer("4x4/ToRGB", "synthesis.b4.torgb")
    noises = [("noise0", n(g["synthesis.b4.conv1.noise_const"][None, None]))]
    r, idx = 8, 1
    while r <= resolution:
        synthesis += layer(f"{r}x{r}/Conv0_up", f"synthesis.b{r}.conv0", up=True)
        synthesis += layer(f"{r}x{r}/Conv1", f"synthesis.b{r}.conv1") + layer(f"{r}x{r}/ToRGB", f"synthesis.b{r}.torgb")
        noises += [(f"noise{idx}", n(g[f"synthesis.b{r}.conv0.noise_const"][None, None])),
                   (f"noise{idx + 1}", n(g[f"synthesis.b{r}.conv1.noise_const"][None, None]))]
        r, idx = r * 2, idx + 2
    return [("dlatent_avg", n(g["mapping.w_avg"]))], mapping, synthesis + noises + [("lod", np.float32(0))]


def test_tensorflow_pickle_reproduces_nvidia_outputs(tf_modules: type, tmp_path: Path) -> None:
    tensors, meta = read_fixture()
    g = {k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")}
    kw = json.loads(meta["init_kwargs"])
    top, mapping, synthesis = _tf_variables(g, kw["img_resolution"], kw["mapping_kwargs"]["num_layers"])
    net = lambda name, variables, comps, static: tf_modules(dict(  # noqa: E731
        version=4, name=name, static_kwargs=static, components=comps, build_module_src="raise SystemExit  # TF code, never run",
        build_func_name="G_main", variables=variables))
    static = dict(latent_size=kw["z_dim"], dlatent_size=kw["w_dim"], label_size=0, resolution=kw["img_resolution"],
                  mapping_layers=kw["mapping_kwargs"]["num_layers"], fmap_base=kw["synthesis_kwargs"]["channel_base"] // 2,
                  fmap_max=kw["synthesis_kwargs"]["channel_max"], conv_clamp=kw["synthesis_kwargs"]["conv_clamp"],
                  truncation_psi=0.5, structure="auto")
    Gs = net("G", top, {"mapping": net("G_mapping", mapping, {}, {}), "synthesis": net("G_synthesis", synthesis, {}, {})}, static)
    path = write(tmp_path, "tf.pkl", pickle.dumps((Gs, Gs, Gs), protocol=3))
    G, info = load_generator(path)
    assert info.format == "nvidia-tf-pkl" and info.metadata["network_key"] == "Gs"
    with torch.no_grad():
        torch.testing.assert_close(G.mapping(tensors["z"], None, truncation_psi=0.7), tensors["ws"], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(G.synthesis(tensors["ws"], noise_mode="const"), tensors["img"], rtol=1e-4, atol=1e-4)
    # an unknown build option is named rather than silently ignored
    Gs._state["static_kwargs"] = dict(static, fancy_new_option=1)
    path = write(tmp_path, "tf2.pkl", pickle.dumps((Gs, Gs, Gs), protocol=3))
    with pytest.raises(CheckpointError) as exc:
        load_generator(path)
    assert "options gani-bench does not know: fancy_new_option" in one_line_error(exc, path)
