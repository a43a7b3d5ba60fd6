"""Read NVIDIA's original TensorFlow StyleGAN2 pickles without TensorFlow and without running them.

Why this exists: the LSUN Car 512, Church 256 and Horse 256 generators (``stylegan2-car-config-f.pkl``
and friends) were only ever published as pickles written by NVIDIA's TensorFlow code, and GAN
inversion papers (PTI, HyperStyle, e4e) report cars. Unpickling such a file the normal way
imports ``dnnlib.tflib.network.Network``, whose ``__setstate__`` *executes the Python source
stored in the file* (``build_module_src``) and needs TensorFlow 1.x.

What a genuine file holds (``Network.__getstate__`` in NVIDIA's ``dnnlib/tflib/network.py``): a
tuple ``(G, D, Gs)`` of ``Network`` objects, each pickled as "new ``Network`` object, then
``__setstate__(state)``" with ``state = {version: 4, name, static_kwargs, components (dict of
sub-networks: mapping, synthesis), build_module_src, build_func_name, variables: [(local name,
numpy array), ...]}``. Numpy arrays appear as ``numpy.core.multiarray._reconstruct`` /
``numpy.dtype`` / ``scalar`` globals (and ``_codecs.encode`` for protocol 2 bytes).

:class:`TFSafeUnpickler` resolves only those globals. ``Network`` becomes a
:class:`TFNetworkRecord` whose ``__setstate__`` keeps the fields and a sha256 of
``build_module_src``; the source is never compiled. Everything else (``posix.system``,
``builtins.exec``, torch's rebuilders, which a TF file never contains) stops the load with one
:class:`~gani_bench.errors.CheckpointError` line.

Conversion to our NVIDIA-PyTorch-compatible Generator follows the facts documented by
stylegan2-ada-pytorch's ``legacy.py`` (``convert_tf_generator``): the generator is ``Gs`` (the
EMA copy, third in the tuple); variables of sub-networks are named ``<component>/<local name>``
(``mapping/Dense0/weight``, ``synthesis/8x8/Conv0_up/weight``, ``synthesis/noise3``,
top-level ``dlatent_avg``); dense weights are ``[in, out]`` (transposed); conv kernels are
``[kh, kw, in, out]`` (-> ``[out, in, kh, kw]``), and those of up-sampling convolutions
(``Conv0_up``, resnet ``Skip``) are also flipped spatially because TF implements them as a
transposed convolution; style biases are stored without the constant 1 TF adds at run time;
``fmap_base`` counts channels per *stage* (``nf(stage) = fmap_base / 2**stage``, stage =
log2(res) - 1), so ``channel_base = 2 * fmap_base``. Equalised-learning-rate scales are applied
at run time by both implementations, so no tensor is rescaled. The table and rule code here are
ours.
"""
from __future__ import annotations

import hashlib
import io
import math
import pickle
import pickletools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Tuple, Union

import numpy as np
import torch

from ..errors import CheckpointError
from . import nvidia_pkl
from .state import construct_generator, finalize, load_state_strict, name_list, plain, problem_list

PathLike = Union[str, Path]

#: the registry name of this format (also used by gani_bench.weights Source(format=...))
FORMAT_NAME = "nvidia-tf-pkl"
FORMAT_DESCRIPTION = "NVIDIA StyleGAN2 TensorFlow network pickle ((G, D, Gs) of dnnlib.tflib Networks)"
#: module and class name a TF network pickle asks for
TF_NETWORK_GLOBAL = ("dnnlib.tflib.network", "Network")
#: ``Network.__getstate__`` versions whose variable layout the conversion knows (StyleGAN2 writes 4)
MIN_TF_VERSION = 4
#: build functions of NVIDIA's TF StyleGAN2 (stylegan2 and stylegan2-ada TF) generator networks
TF_MAIN_FUNC = "G_main"
#: synthesis build functions that use progressive growing (StyleGAN configs B-D): not convertible
PROGRESSIVE_SYNTHESIS = frozenset({"G_synthesis_stylegan_revised"})
#: leading bytes the sniffer parses (the first global sits within the first ~40 bytes)
SNIFF_BYTES = 512
#: TF variables that exist in a Gs but carry nothing for inference (progressive-growing level)
IGNORED_TF_VARIABLES = re.compile(r"(.+/)?lod")


# --------------------------------------------------------------------------------------------
# restricted unpickling


class TFNetworkRecord:
    """Inert stand-in for ``dnnlib.tflib.network.Network``: the state fields, nothing callable.

    Pickle creates it empty (``NEWOBJ`` / ``copyreg._reconstructor``) and hands the state to
    :meth:`__setstate__`, which copies the data fields and keeps only a sha256 of
    ``build_module_src`` (for diagnostics); the source is never compiled or executed.
    """

    version: int = -1
    name: str = ""
    static_kwargs: Dict[str, Any]
    components: Dict[str, Any]
    build_func_name: str = ""
    build_module_src_sha256: str = ""
    variables: List[Tuple[str, Any]]

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, Mapping):
            raise pickle.UnpicklingError("dnnlib.tflib.network.Network state is not a dict")
        version = state.get("version")
        self.version = version if isinstance(version, int) else -1
        self.name = str(state.get("name") or "")
        self.static_kwargs = dict(state.get("static_kwargs") or {})
        self.components = dict(state.get("components") or {})
        self.build_func_name = str(state.get("build_func_name") or "")
        src = state.get("build_module_src") or ""
        raw = src if isinstance(src, (bytes, bytearray)) else str(src).encode("utf-8", "replace")
        self.build_module_src_sha256 = hashlib.sha256(raw).hexdigest()
        variables = state.get("variables") or []
        if not isinstance(variables, (list, tuple)):
            raise pickle.UnpicklingError("dnnlib.tflib.network.Network variables are not a list")
        self.variables = list(variables)

    def __repr__(self) -> str:
        return f"TFNetworkRecord(name={self.name!r}, build_func_name={self.build_func_name!r}, version={self.version})"


def _reconstructor(cls: Any, base: Any, state: Any = None) -> TFNetworkRecord:
    """``copyreg._reconstructor`` (protocols 0/1), allowed for the Network stand-in only."""
    if cls is not TFNetworkRecord or base is not object or state is not None:
        raise pickle.UnpicklingError("copyreg._reconstructor used for something other than a TF Network")
    return object.__new__(TFNetworkRecord)


#: globals of nvidia_pkl's whitelist that a TF pickle can contain (numpy arrays and containers)
_SHARED_GLOBALS = (
    ("collections", "OrderedDict"), ("builtins", "set"), ("__builtin__", "set"),
    ("builtins", "frozenset"), ("__builtin__", "frozenset"), ("_codecs", "encode"),
    ("dnnlib.util", "EasyDict"), ("dnnlib", "EasyDict"), ("numpy", "dtype"), ("numpy", "ndarray"),
    *((m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("scalar", "_reconstruct")),
)

#: (module, name) -> harmless stand-in; nothing from torch: a TF pickle holds numpy arrays only
TF_ALLOWED_GLOBALS: Dict[Tuple[str, str], Any] = {
    TF_NETWORK_GLOBAL: TFNetworkRecord,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("builtins", "object"): object,  # the base class protocols 0/1 pass to _reconstructor
    ("__builtin__", "object"): object,
    **{key: nvidia_pkl.ALLOWED_GLOBALS[key] for key in _SHARED_GLOBALS},
}


class TFSafeUnpickler(nvidia_pkl.SafeUnpickler):
    """:class:`~.nvidia_pkl.SafeUnpickler` with the TF whitelist (no persistent ids either)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return TF_ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise nvidia_pkl.UnsafeGlobal(f"{module}.{name}") from None


def read_tf_pickle(path: PathLike) -> Any:
    """Unpickle ``path`` with :class:`TFSafeUnpickler`; every failure is one CheckpointError line."""
    try:
        with open(path, "rb") as f:
            return TFSafeUnpickler(f).load()
    except nvidia_pkl.UnsafeGlobal as exc:
        raise nvidia_pkl.refusal(path, exc.qualname) from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the file ({exc.strerror}); check the path and permissions") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, AttributeError,
            KeyError, RuntimeError, MemoryError, UnicodeDecodeError, OverflowError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, EOFError) or "truncated" in detail or "ran out of input" in detail.lower():
            raise CheckpointError(f"{path}: the pickle ends early ({detail or 'truncated'}); the file is truncated: download it again") from None
        raise CheckpointError(f"{path}: not a readable TensorFlow StyleGAN2 pickle ({type(exc).__name__}: {detail}); "
                              f"the file is corrupt or of another format") from None


def _leading_globals(head: bytes, count: int = 2) -> List[Tuple[str, str]]:
    """(module, name) of the first ``count`` globals a pickle stream names, read from its opcodes."""
    found: List[Tuple[str, str]] = []
    strings: List[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(head)):
            if opcode.name == "GLOBAL":
                module, _, name = str(arg).partition(" ")
                found.append((module, name))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append((strings[-2], strings[-1]))
            elif isinstance(arg, str):
                strings.append(arg)
            if len(found) >= count or opcode.name in ("STOP", "REDUCE", "BUILD", "NEWOBJ", "SETITEM", "SETITEMS"):
                break
    except (ValueError, UnicodeDecodeError):
        pass  # the head cuts an opcode in half, or it is not a pickle at all
    return found


_RECONSTRUCTORS = {("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")}


def is_tf_pickle(head: bytes) -> bool:
    """Sniffer: the stream opens with ``dnnlib.tflib.network.Network`` (any pickle protocol).

    NVIDIA's TF pickles start with the first network of the ``(G, D, Gs)`` tuple, so its class is
    the first global the stream names (protocols 2+: ``NEWOBJ``), or the second, after
    ``copyreg._reconstructor`` (protocols 0/1). PyTorch snapshots start with a dict and torch globals.
    """
    found = _leading_globals(head[:SNIFF_BYTES])
    if found and found[0] in _RECONSTRUCTORS:
        found = found[1:]
    return bool(found) and found[0] == TF_NETWORK_GLOBAL


# --------------------------------------------------------------------------------------------
# picking the generator


def _is_record(obj: Any) -> bool:
    return isinstance(obj, TFNetworkRecord)


def select_gs(path: PathLike, data: Any) -> TFNetworkRecord:
    """``Gs`` (the EMA generator NVIDIA evaluates) from ``(G, D, Gs)``, or a lone ``Gs`` network."""
    if isinstance(data, (tuple, list)):
        if len(data) != 3 or not all(_is_record(x) for x in data):
            kinds = ", ".join(getattr(x, "name", "") or type(x).__name__ for x in data)
            raise CheckpointError(f"{path}: the pickle holds a {type(data).__name__} of {len(data)} item(s) ({kinds}) but NVIDIA's "
                                  f"TensorFlow pickles are (G, D, Gs); no Gs generator to load: use the original .pkl file")
        gs = data[2]
    elif _is_record(data):
        gs = data
    else:
        raise CheckpointError(f"{path}: the pickle holds a {type(data).__name__}, not NVIDIA's (G, D, Gs) tuple of TensorFlow networks; "
                              f"use the original .pkl file")
    _check_generator(path, gs)
    return gs


def _check_generator(path: PathLike, gs: TFNetworkRecord) -> None:
    if gs.version < MIN_TF_VERSION:
        raise CheckpointError(f"{path}: TensorFlow network pickle version {gs.version} (StyleGAN v1 or older); gani-bench converts "
                              f"StyleGAN2 pickles (version {MIN_TF_VERSION}) only")
    if gs.build_func_name != TF_MAIN_FUNC:
        raise CheckpointError(f"{path}: the third network {gs.name!r} is built by {gs.build_func_name!r}, not StyleGAN2's "
                              f"{TF_MAIN_FUNC}; this is not a StyleGAN2 generator pickle")
    missing = [c for c in ("mapping", "synthesis") if not _is_record(gs.components.get(c))]
    if missing:
        raise CheckpointError(f"{path}: generator {gs.name!r} lacks its {' and '.join(missing)} network(s); the file is corrupt")
    synthesis = gs.components["synthesis"]
    if synthesis.build_func_name in PROGRESSIVE_SYNTHESIS:
        raise CheckpointError(f"{path}: generator {gs.name!r} uses {synthesis.build_func_name} (StyleGAN2 configs B-D, progressive "
                              f"growing); gani-bench converts configs E/F (skip/resnet generators) only")


def collect_tf_variables(path: PathLike, net: TFNetworkRecord, prefix: str = "") -> Dict[str, np.ndarray]:
    """``{"mapping/Dense0/weight": array, "dlatent_avg": array, ...}``: own variables, then components'."""
    out: Dict[str, np.ndarray] = {}
    for item in net.variables:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
            raise CheckpointError(f"{path}: network {net.name!r} has a malformed variable entry; the file is corrupt")
        name, value = item
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu":
            raise CheckpointError(f"{path}: TensorFlow variable {prefix + name!r} has dtype {arr.dtype}, not numbers; the file is corrupt")
        out[prefix + name] = arr
    for comp_name, comp in net.components.items():
        if not _is_record(comp):
            raise CheckpointError(f"{path}: component {prefix + str(comp_name)!r} of {net.name!r} is a {type(comp).__name__}, "
                                  f"not a network; the file is corrupt")
        out.update(collect_tf_variables(path, comp, f"{prefix}{comp_name}/"))
    return out


# --------------------------------------------------------------------------------------------
# static_kwargs -> Generator(**init_kwargs)


@dataclass(frozen=True)
class KwargRule:
    """TF build argument ``tf_name`` becomes ``section[name]`` (section "" = Generator itself)."""

    tf_name: str
    section: str
    name: str
    default: Any
    convert: Callable[[Any], Any] = lambda v: v


def _resample_filter(value: Any) -> List[float]:
    # TF's upfirdn helpers read None as a box filter of the resampling factor (2)
    return [1, 1] if value is None else list(value)


def _channel_base(fmap_base: Any) -> int:
    # TF: nf(stage) = fmap_base / 2**stage with stage = log2(res) - 1; ours: channel_base / res
    return 2 * int(fmap_base)


#: TF G_main / G_mapping / G_synthesis arguments with a PyTorch counterpart; defaults are TF's
KWARG_RULES: Tuple[KwargRule, ...] = (
    KwargRule("latent_size", "", "z_dim", 512),
    KwargRule("label_size", "", "c_dim", 0),
    KwargRule("dlatent_size", "", "w_dim", 512),
    KwargRule("resolution", "", "img_resolution", 1024),
    KwargRule("num_channels", "", "img_channels", 3),
    KwargRule("mapping_layers", "mapping", "num_layers", 8),
    KwargRule("label_fmaps", "mapping", "embed_features", None),
    KwargRule("mapping_fmaps", "mapping", "layer_features", None),
    KwargRule("mapping_nonlinearity", "mapping", "activation", "lrelu"),
    KwargRule("mapping_lrmul", "mapping", "lr_multiplier", 0.01),
    KwargRule("fmap_base", "synthesis", "channel_base", 16 << 10, _channel_base),
    KwargRule("fmap_max", "synthesis", "channel_max", 512),
    KwargRule("num_fp16_res", "synthesis", "num_fp16_res", 0),
    KwargRule("conv_clamp", "synthesis", "conv_clamp", None),
    KwargRule("architecture", "synthesis", "architecture", "skip"),
    KwargRule("resample_kernel", "synthesis", "resample_filter", [1, 3, 3, 1], _resample_filter),
    KwargRule("use_noise", "synthesis", "use_noise", True),
    KwargRule("nonlinearity", "synthesis", "activation", "lrelu"),
)
#: names of the W moving-average decay (stylegan2 TF spells it dlatent_avg_beta); it only
#: decides whether w_avg exists, and a Gs always carries dlatent_avg, so None -> 1 (kept)
W_AVG_BETA_NAMES = ("dlatent_avg_beta", "w_avg_beta")
#: arguments that change training or TF's run-time defaults only, never the converted weights
INFERENCE_IRRELEVANT = frozenset({
    "truncation_psi", "truncation_cutoff", "truncation_psi_val", "truncation_cutoff_val", "style_mixing_prob",
    "structure", "randomize_noise", "fused_modconv", "dtype", "is_template_graph",
})
#: arguments accepted only at the value our Generator implicitly has (else: not convertible)
_FIXED_VALUES: Dict[str, Tuple[Any, ...]] = {
    "normalize_latents": (True,),
    "fmap_decay": (1, 1.0),
    "mapping_func": ("G_mapping",),
    "synthesis_func": ("G_synthesis", "G_synthesis_stylegan2"),
}


def tf_kwargs_to_init_kwargs(path: PathLike, static_kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """Our ``Generator`` constructor arguments for a TF ``Gs`` built with ``static_kwargs``."""
    tf_kwargs = plain(dict(static_kwargs))
    init: Dict[str, Any] = {"mapping_kwargs": {}, "synthesis_kwargs": {}}
    for rule in KWARG_RULES:
        value = tf_kwargs.get(rule.tf_name, rule.default)
        target = init if not rule.section else init[f"{rule.section}_kwargs"]
        try:
            target[rule.name] = rule.convert(value)
        except (TypeError, ValueError):
            raise CheckpointError(f"{path}: the TensorFlow generator has {rule.tf_name}={value!r}, which does not convert to "
                                  f"{rule.name}; the file is corrupt") from None
    beta = next((tf_kwargs[n] for n in W_AVG_BETA_NAMES if n in tf_kwargs), 0.995)
    init["mapping_kwargs"]["w_avg_beta"] = 1 if beta is None else beta

    known = {r.tf_name for r in KWARG_RULES} | set(W_AVG_BETA_NAMES) | INFERENCE_IRRELEVANT | set(_FIXED_VALUES) | {"fmap_min", "fmap_const"}
    unknown = sorted(set(tf_kwargs) - known)
    if unknown:
        raise CheckpointError(f"{path}: the TensorFlow generator was built with options gani-bench does not know: "
                              f"{name_list(unknown)}; only NVIDIA StyleGAN2 / StyleGAN2-ADA (TF) generators are supported")
    for name, allowed in _FIXED_VALUES.items():
        if name in tf_kwargs and tf_kwargs[name] not in allowed:
            raise CheckpointError(f"{path}: the TensorFlow generator has {name}={tf_kwargs[name]!r}; gani-bench's StyleGAN2 "
                                  f"Generator implements {name}={allowed[0]!r} only")
    synth = init["synthesis_kwargs"]
    res = int(init["img_resolution"])
    if res < 4 or res & (res - 1):
        raise CheckpointError(f"{path}: the TensorFlow generator has resolution {res}, not a power of two >= 4; the file is corrupt")
    channels = [min(synth["channel_base"] // r, synth["channel_max"]) for r in (2 ** i for i in range(2, int(math.log2(res)) + 1))]
    fmap_min = tf_kwargs.get("fmap_min")
    if fmap_min is not None and int(fmap_min) > min(channels):
        raise CheckpointError(f"{path}: fmap_min={fmap_min} raises some layers above fmap_base/2**stage; gani-bench's Generator "
                              f"has no minimum channel count")
    fmap_const = tf_kwargs.get("fmap_const")
    if fmap_const is not None and int(fmap_const) != channels[0]:
        raise CheckpointError(f"{path}: fmap_const={fmap_const} differs from the 4x4 block's {channels[0]} channels; gani-bench's "
                              f"Generator ties the constant input to that block")
    return init


# --------------------------------------------------------------------------------------------
# TF variables -> state dict


def _dense(v: np.ndarray) -> np.ndarray:  # [in, out] -> [out, in]
    return v.T


def _conv(v: np.ndarray) -> np.ndarray:  # [kh, kw, in, out] -> [out, in, kh, kw]
    return v.transpose(3, 2, 0, 1)


def _conv_up(v: np.ndarray) -> np.ndarray:  # TF's transposed conv sees the kernel flipped
    return v[::-1, ::-1].transpose(3, 2, 0, 1)


def _style_bias(v: np.ndarray) -> np.ndarray:  # TF adds the constant 1 at run time
    return v + np.asarray(1, dtype=v.dtype)


def _keep(v: np.ndarray) -> np.ndarray:
    return v


def _layer_scope(res: int, conv: str) -> str:
    if res == 4:
        return "synthesis/4x4/Conv"
    return f"synthesis/{res}x{res}/" + ("Conv0_up" if conv == "conv0" else "Conv1")


def _noise_index(res: int, conv: str) -> int:
    # one noise input per conv layer, numbered from the 4x4 conv: conv0 of b_R is 2*log2(R)-5
    return 2 * int(math.log2(res)) - (5 if conv == "conv0" else 4)


@dataclass(frozen=True)
class ParamRule:
    """A state-dict name pattern, the TF variable it comes from, and the layout change."""

    pattern: str
    tf_name: Callable[..., str]
    convert: Callable[[np.ndarray], np.ndarray]


def _layer_rule(field: str, tf_field: str, convert: Callable[[np.ndarray], np.ndarray]) -> ParamRule:
    """``synthesis.b<R>.conv<k>.<field>`` <- ``<layer scope>/<tf_field>``."""
    return ParamRule(rf"synthesis\.b(\d+)\.(conv[01])\.{re.escape(field)}",
                     lambda r, c: f"{_layer_scope(int(r), c)}/{tf_field}", convert)


_LAYER_FIELDS: Dict[str, Tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "bias": ("bias", _keep), "noise_strength": ("noise_strength", _keep),
    "affine.weight": ("mod_weight", _dense), "affine.bias": ("mod_bias", _style_bias),
}

#: every parameter/buffer of our Generator except ``resample_filter`` (derived from the config)
PARAM_RULES: Tuple[ParamRule, ...] = (
    ParamRule(r"mapping\.w_avg", lambda: "dlatent_avg", _keep),
    ParamRule(r"mapping\.embed\.weight", lambda: "mapping/LabelEmbed/weight", _dense),
    ParamRule(r"mapping\.embed\.bias", lambda: "mapping/LabelEmbed/bias", _keep),
    ParamRule(r"mapping\.fc(\d+)\.weight", lambda i: f"mapping/Dense{i}/weight", _dense),
    ParamRule(r"mapping\.fc(\d+)\.bias", lambda i: f"mapping/Dense{i}/bias", _keep),
    ParamRule(r"synthesis\.b4\.const", lambda: "synthesis/4x4/Const/const", lambda v: v[0]),
    ParamRule(r"synthesis\.b(\d+)\.(conv0)\.weight", lambda r, c: f"{_layer_scope(int(r), c)}/weight", _conv_up),
    ParamRule(r"synthesis\.b(\d+)\.(conv1)\.weight", lambda r, c: f"{_layer_scope(int(r), c)}/weight", _conv),
    ParamRule(r"synthesis\.b(\d+)\.(conv[01])\.noise_const", lambda r, c: f"synthesis/noise{_noise_index(int(r), c)}",
              lambda v: v[0, 0]),
    *(_layer_rule(field, tf_field, convert) for field, (tf_field, convert) in _LAYER_FIELDS.items()),
    ParamRule(r"synthesis\.b(\d+)\.torgb\.weight", lambda r: f"synthesis/{r}x{r}/ToRGB/weight", _conv),
    ParamRule(r"synthesis\.b(\d+)\.torgb\.bias", lambda r: f"synthesis/{r}x{r}/ToRGB/bias", _keep),
    ParamRule(r"synthesis\.b(\d+)\.torgb\.affine\.weight", lambda r: f"synthesis/{r}x{r}/ToRGB/mod_weight", _dense),
    ParamRule(r"synthesis\.b(\d+)\.torgb\.affine\.bias", lambda r: f"synthesis/{r}x{r}/ToRGB/mod_bias", _style_bias),
    ParamRule(r"synthesis\.b(\d+)\.skip\.weight", lambda r: f"synthesis/{r}x{r}/Skip/weight", _conv_up),
)
_DERIVED = re.compile(r".*\.resample_filter")


def tf_variables_to_state_dict(path: PathLike, G: torch.nn.Module, tf_vars: Mapping[str, np.ndarray]) -> Dict[str, torch.Tensor]:
    """State dict for ``G`` from TF variables; one CheckpointError line for missing/extra/mis-shaped."""
    expected = G.state_dict()
    state: Dict[str, torch.Tensor] = {}
    used: set = set()
    missing: List[str] = []
    misshaped: List[str] = []
    unmapped: List[str] = []
    for name, ref in expected.items():
        if _DERIVED.fullmatch(name):
            state[name] = ref.detach().clone()
            continue
        for rule in PARAM_RULES:
            match = re.fullmatch(rule.pattern, name)
            if match:
                break
        else:
            unmapped.append(name)
            continue
        tf_name = rule.tf_name(*match.groups())
        if tf_name not in tf_vars:
            missing.append(tf_name)
            continue
        used.add(tf_name)
        value = np.array(rule.convert(tf_vars[tf_name]), order="C")  # a copy; keeps 0-d (ascontiguousarray would not)
        if tuple(value.shape) != tuple(ref.shape):
            misshaped.append(f"{tf_name} -> {name} {tuple(value.shape)} != {tuple(ref.shape)}")
            continue
        state[name] = torch.from_numpy(value).to(ref.dtype)
    if unmapped:  # a Generator parameter no rule knows: a programming error, reported plainly
        raise CheckpointError(f"{path}: no TensorFlow counterpart is known for {name_list(unmapped)}; report this to gani-bench")
    extra = sorted(n for n in tf_vars if n not in used and not IGNORED_TF_VARIABLES.fullmatch(n))
    problems = problem_list({
        "missing {n} TF variable(s)": missing,
        "mis-shaped {n}": misshaped,
        "{n} TF variable(s) with no place in it": extra,
    })
    if problems:
        raise CheckpointError(f"{path}: the TensorFlow variables do not fit the generator its static_kwargs describe: "
                              f"{'; '.join(problems)}; the file is corrupt or not a StyleGAN2 config-E/F generator")
    return state


# --------------------------------------------------------------------------------------------
# entry points


@dataclass
class TFGeneratorRecord:
    """What :func:`read_tf_generator` extracts: enough to build the network, nothing live."""

    name: str
    init_kwargs: Dict[str, Any]
    tf_variables: Dict[str, np.ndarray]
    static_kwargs: Dict[str, Any]
    build_module_src_sha256: str


def read_tf_generator(path: PathLike) -> TFGeneratorRecord:
    gs = select_gs(path, read_tf_pickle(path))
    return TFGeneratorRecord(
        name=gs.name, init_kwargs=tf_kwargs_to_init_kwargs(path, gs.static_kwargs),
        tf_variables=collect_tf_variables(path, gs), static_kwargs=plain(dict(gs.static_kwargs)),
        build_module_src_sha256=gs.components["synthesis"].build_module_src_sha256,
    )


def load_nvidia_tf_pkl(path: PathLike, device: Union[str, torch.device] = "cpu") -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """Our Generator from NVIDIA's TF ``(G, D, Gs)`` pickle (``Gs``); returns ``(G, metadata)``.

    Matches the ``Loader`` signature of :data:`gani_bench.checkpoints.loader.FORMATS`.
    """
    rec = read_tf_generator(path)
    G = construct_generator(path, rec.init_kwargs)
    state = tf_variables_to_state_dict(path, G, rec.tf_variables)
    load_state_strict(path, G, state)
    meta = {"network_key": "Gs", "tf_network_name": rec.name, "init_kwargs": rec.init_kwargs,
            "tf_static_kwargs": rec.static_kwargs, "tf_build_module_sha256": rec.build_module_src_sha256}
    return finalize(G, device), meta


__all__ = [
    "FORMAT_NAME", "FORMAT_DESCRIPTION", "TFNetworkRecord", "TFSafeUnpickler", "TF_ALLOWED_GLOBALS", "read_tf_pickle",
    "is_tf_pickle", "select_gs", "collect_tf_variables", "tf_kwargs_to_init_kwargs", "tf_variables_to_state_dict",
    "read_tf_generator", "load_nvidia_tf_pkl", "KWARG_RULES", "PARAM_RULES",
]
