"""Datasets as data: JSON manifests, their registry, and loading their images.

A dataset is a JSON manifest (``datasets/<name>.json`` in the repository, installed as package
data ``gani_bench.manifests``; prepared ones such as CelebA-HQ live in the cache under
``$GANI_BENCH_HOME/datasets/``) or simply a folder of images. Keeping datasets as data means a
new one is a new file, and the exact list of images (with sha256) of a benchmark is recorded.

Manifest fields (all strings unless said):

``name``, ``description``, ``resolution`` (int, the native one), ``generator`` (the registered
generator the dataset is meant for), ``crop``, ``alignment``, ``license``, ``source``,
``split`` (object: ``name`` and a ``rule``), ``root_env`` (env var that may hold the image root),
``root`` (absolute root written by ``prepare``), ``download`` (one-line hint shown when the images
are missing), ``prepare`` (name of a ``datasets prepare`` target when the manifest is a template),
and ``images``: either ``"*"`` (every image file under the root, sorted) or a list of entries
``{"id", "path", "sha256"}`` (a file relative to the root) or ``{"id", "render": {"generator",
"seed", "truncation_psi", "noise_mode"}}`` (rendered by a generator at load time, so its true
latent is known).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch

from ..interface import opt
from ..errors import DatasetError, ImageError, UnknownNameError
from .images import DEFAULT_POLICY, IMAGE_EXTENSIONS, ImagePolicy, open_image, pil_to_tensor, prepare_pil

log = logging.getLogger(__name__)

#: the dataset `gani-bench run` uses when none is given
DEFAULT_DATASET = "demo"


# ----------------------------------------------------------------------------------- locations
def gani_home() -> Path:
    """The cache root (``$GANI_BENCH_HOME``, default ``~/.cache/gani_bench``)."""
    return Path(os.environ.get("GANI_BENCH_HOME", Path.home() / ".cache" / "gani_bench")).expanduser()


def prepared_dir() -> Path:
    """Where ``datasets prepare`` writes manifests (they name files on this machine only)."""
    return gani_home() / "datasets"


def builtin_manifest_dir() -> Path:
    """The shipped manifests and demo images.

    pyproject maps the checkout's top-level ``datasets/`` (data, not a Python package) into
    the wheel as ``gani_bench/manifests/``; an editable install or a plain checkout has no
    such folder, so the checkout's ``datasets/`` is used directly.
    """
    package_root = Path(__file__).resolve().parents[1]
    installed = package_root / "manifests"
    if installed.is_dir():
        return installed
    return package_root.parent / "datasets"


# ----------------------------------------------------------------------------------- manifests
@dataclass
class ImageEntry:
    """One image of a dataset, known before it is loaded (so runs can shard and resume cheaply)."""

    image_id: str
    path: Optional[Path] = None
    sha256: Optional[str] = None
    render: Optional[Dict[str, Any]] = None


@dataclass
class Manifest:
    name: str
    description: str = ""
    resolution: Optional[int] = None
    generator: Optional[str] = None
    crop: str = ""
    alignment: str = "none"
    license: str = ""
    source: str = ""
    split: Dict[str, Any] = field(default_factory=dict)
    root_env: Optional[str] = None
    root: Optional[str] = None
    download: str = ""
    prepare: Optional[str] = None
    images: Any = "*"
    #: the file the manifest was read from (None for a folder dataset)
    file: Optional[Path] = None

    @classmethod
    def from_dict(cls, data: Dict[str, Any], file: Optional[Path] = None) -> "Manifest":
        known = {f for f in cls.__dataclass_fields__ if f != "file"}
        where = file or data.get("name", "manifest")
        if "name" not in data:
            raise DatasetError(f"{where}: manifest has no 'name' field; add one")
        unknown = sorted(set(data) - known - {"$comment"})
        if unknown:
            raise DatasetError(f"{where}: unknown manifest field(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        return cls(file=file, **{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> Dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "file"}
        return out


def read_manifest(path: Path) -> Manifest:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read manifest ({exc}); fix or delete the file") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: a manifest must be a JSON object")
    return Manifest.from_dict(data, file=Path(path))


def _manifest_files() -> Dict[str, Path]:
    """name -> manifest file; a prepared manifest in the cache overrides the shipped template."""
    found: Dict[str, Path] = {}
    for folder in (builtin_manifest_dir(), prepared_dir()):
        if folder.is_dir():
            for p in sorted(folder.glob("*.json")):
                found[p.stem] = p
    return found


def is_prepared(m: Manifest) -> bool:
    """A manifest with a ``prepare`` target is usable only once prepare wrote it into the cache."""
    return m.file is not None and m.file.resolve().parent == prepared_dir().resolve()


def dataset_names() -> List[str]:
    return sorted(_manifest_files())


def get_manifest(name: str) -> Manifest:
    files = _manifest_files()
    if name not in files:
        raise UnknownNameError(
            f"unknown dataset {name!r} (neither a dataset name nor a folder); valid datasets: {', '.join(sorted(files))} (a folder of images or a manifest .json path is also accepted)"
        )
    return read_manifest(files[name])


def list_datasets() -> List[Dict[str, str]]:
    """One record per registered dataset with its readiness (for ``gani-bench datasets list``)."""
    rows = []
    for name in dataset_names():
        m = get_manifest(name)
        if m.prepare and not is_prepared(m):
            status = f"needs: gani-bench datasets prepare {m.prepare} --root DIR"
        elif m.images == "*" and not m.root and not (m.root_env and os.environ.get(m.root_env)):
            status = f"needs --root DIR or ${m.root_env}" if m.root_env else "needs --root DIR"
        else:
            status = "ready"
        rows.append({"name": name, "generator": m.generator or "", "resolution": str(m.resolution or ""),
                     "status": status, "description": m.description})
    return rows


# ----------------------------------------------------------------------------------- resolving
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_id(text: str) -> str:
    return _SAFE_ID.sub("_", text).strip("_") or "image"


def resolve_root(m: Manifest, root: Optional[Path]) -> Optional[Path]:
    """Root folder of ``m``'s image files; raises a one-line hint when the user must provide it."""
    if root is not None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DatasetError(f"dataset {m.name!r}: {opt('root', root)}: no such folder; pass the folder that holds its images")
        return root
    if m.root_env and os.environ.get(m.root_env):
        env_root = Path(os.environ[m.root_env]).expanduser()
        if not env_root.is_dir():
            raise DatasetError(f"dataset {m.name!r}: ${m.root_env}={env_root} is not a folder")
        return env_root
    if m.root:
        return Path(m.root)
    needs_files = m.images == "*" or any("path" in e for e in (m.images or []))
    if not needs_files:
        return None
    if m.root_env is None and m.file is not None and m.images != "*":
        return m.file.parent  # shipped images sit beside the manifest
    env = f" or set ${m.root_env}" if m.root_env else ""
    raise DatasetError(f"dataset {m.name!r} needs its images: pass {opt('root', 'DIR')}{env} ({m.download or m.source})")


def _folder_entries(root: Path) -> List[ImageEntry]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    stems = [_safe_id(p.relative_to(root).with_suffix("").as_posix().replace("/", "__")) for p in files]
    counts: Dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    entries = []
    for p, s in zip(files, stems):
        image_id = s if counts[s] == 1 else _safe_id(p.relative_to(root).as_posix().replace("/", "__"))
        entries.append(ImageEntry(image_id=image_id, path=p))
    return entries


@dataclass
class Dataset:
    """A resolved dataset: its manifest and the ordered list of its image entries."""

    manifest: Manifest
    entries: List[ImageEntry]
    align: Optional[str] = None
    policy: ImagePolicy = DEFAULT_POLICY
    #: hash of the *full* image list (before --limit), so raising --limit later still resumes
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.manifest.name


def entries_fingerprint(entries: Sequence[ImageEntry], align: Optional[str]) -> str:
    """Hash of the image list (ids + checksums/seeds): results compare only on the same images."""
    h = hashlib.sha256()
    for e in entries:
        h.update(json.dumps([e.image_id, e.sha256, e.render], sort_keys=True).encode())
    h.update(str(align).encode())
    return h.hexdigest()[:16]


def _refuse_missing_path(spec: str, as_path: Path) -> None:
    """A ``--dataset`` that is written as a path (has a separator, ``.json``, ``~`` or ``.``) but does
    not exist says so, instead of "unknown dataset"."""
    if as_path.exists() or spec in _manifest_files():
        return
    if as_path.suffix == ".json":
        raise DatasetError(f"{opt('dataset', spec)}: no such manifest file; check the path")
    if any(sep in spec for sep in ("/", "\\")) or spec.startswith((".", "~")):
        raise DatasetError(f"{opt('dataset', spec)}: no such folder; give an existing folder of images, "
                           f"or a dataset name ({', '.join(dataset_names())})")


def open_dataset(spec: str, *, root: Optional[Path | str] = None, align: Optional[str] = None,
                 limit: Optional[int] = None, policy: ImagePolicy = DEFAULT_POLICY) -> Dataset:
    """Resolve a dataset name, manifest path or image folder to a :class:`Dataset`."""
    as_path = Path(str(spec)).expanduser()
    if as_path.is_dir():
        m = Manifest(name=_safe_id(as_path.resolve().name), description=f"images under {as_path}",
                     source=str(as_path.resolve()), crop="centre square (see harness.images)",
                     alignment=align or "none")
        entries = _folder_entries(as_path)
        if not entries:
            raise DatasetError(f"{as_path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
    else:
        _refuse_missing_path(str(spec), as_path)
        m = read_manifest(as_path) if as_path.suffix == ".json" and as_path.is_file() else get_manifest(str(spec))
        if m.prepare and not is_prepared(m):
            raise DatasetError(
                f"dataset {m.name!r} is not prepared: {m.download}, then run `gani-bench datasets prepare {m.prepare} --root DIR`"
            )
        base = resolve_root(m, Path(root) if root is not None else None)
        if m.images == "*":
            assert base is not None
            entries = _folder_entries(base)
            if not entries:
                raise DatasetError(f"dataset {m.name!r}: no image files under {base}")
        else:
            entries = []
            for i, raw in enumerate(m.images):
                if "render" in raw:
                    entries.append(ImageEntry(image_id=raw.get("id", f"render{i:04d}"), render=dict(raw["render"])))
                elif "path" in raw:
                    assert base is not None
                    entries.append(ImageEntry(image_id=raw.get("id") or _safe_id(Path(raw["path"]).stem),
                                              path=base / raw["path"], sha256=raw.get("sha256")))
                else:
                    raise DatasetError(f"{m.file}: image entry {i} has neither 'path' nor 'render'")
        ids = [e.image_id for e in entries]
        if len(set(ids)) != len(ids):
            raise DatasetError(f"{m.file}: duplicate image ids in the manifest; make them unique")
    if align is not None:
        m.alignment = align
    fingerprint = entries_fingerprint(entries, align)
    if limit is not None:
        entries = entries[: max(0, int(limit))]
    return Dataset(manifest=m, entries=entries, align=align, policy=policy, fingerprint=fingerprint)


# ----------------------------------------------------------------------------------- loading
@dataclass
class Sample:
    image_id: str
    #: [3, R, R] in [-1, 1]
    target: torch.Tensor
    source: str
    fixes: List[str] = field(default_factory=list)
    #: [num_ws, w_dim] true latent for rendered images whose generator is the run's generator
    true_latent: Optional[torch.Tensor] = None


GeneratorProvider = Callable[[str], Any]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def render_entry(entry: ImageEntry, generator: Any, device: torch.device | str = "cpu") -> tuple:
    """Render a ``render`` entry: z from ``torch.Generator().manual_seed(seed)`` (CPU, so every
    machine draws the same z), mapped with the recorded truncation, synthesised with constant noise."""
    r = entry.render or {}
    seed = int(r["seed"])
    psi = float(r.get("truncation_psi", 1.0))
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(1, generator.z_dim, generator=g).to(device)
    with torch.no_grad():
        ws = generator.mapping(z, None, truncation_psi=psi)
        img = generator.synthesis(ws, noise_mode=r.get("noise_mode", "const"))
    return img[0].float().cpu(), ws[0].float().cpu()


def load_sample(ds: Dataset, entry: ImageEntry, resolution: int, *,
                generator_provider: Optional[GeneratorProvider] = None,
                run_generator_name: Optional[str] = None, device: torch.device | str = "cpu") -> Sample:
    """Load one entry as a :class:`Sample` at ``resolution``; raises :class:`ImageError` to skip it."""
    if entry.render is not None:
        gen_name = entry.render.get("generator", ds.manifest.generator)
        if generator_provider is None:
            raise ImageError(f"{entry.image_id}: a rendered image needs a generator ({gen_name})")
        G = generator_provider(gen_name)
        img, ws = render_entry(entry, G, device)
        true_latent = ws if gen_name == run_generator_name else None
        fixes: List[str] = []
        if img.shape[-1] != resolution:
            from .images import tensor_to_pil

            pil, fixes = prepare_pil(tensor_to_pil(img), resolution, name=entry.image_id, policy=ds.policy)
            img = pil_to_tensor(pil)
            true_latent = None
        return Sample(entry.image_id, img.clamp(-1, 1), f"render:{gen_name}:seed{entry.render['seed']}", fixes, true_latent)
    assert entry.path is not None
    if not entry.path.is_file():
        raise ImageError(f"{entry.path}: file is missing; restore it or re-run the dataset's prepare step")
    if entry.sha256 is not None:
        digest = sha256_file(entry.path)
        if digest != entry.sha256:
            raise ImageError(f"{entry.path}: sha256 {digest[:12]}... does not match the manifest; restore the original file")
    pil = open_image(entry.path, ds.policy)
    fixes = []
    if ds.align is not None:
        from ..alignment import align_face  # optional heavy dependency, imported only when asked

        aligned = align_face(pil.convert("RGB"), max(resolution, 256), landmarks=ds.align)
        if aligned is None:
            raise ImageError(f"{entry.path}: no face found by {ds.align} alignment; skipped")
        pil = aligned
        fixes.append(f"aligned ({ds.align})")
    pil, more = prepare_pil(pil, resolution, name=str(entry.path), policy=ds.policy)
    return Sample(entry.image_id, pil_to_tensor(pil), str(entry.path), fixes + more)


def iter_samples(ds: Dataset, entries: Sequence[ImageEntry], resolution: int,
                 on_skip: Callable[[ImageEntry, str], None], **kwargs: Any) -> Iterator[Sample]:
    """Yield loadable samples; every skipped entry is reported once through ``on_skip``."""
    for entry in entries:
        try:
            sample = load_sample(ds, entry, resolution, **kwargs)
        except ImageError as exc:
            on_skip(entry, str(exc))
            continue
        if sample.fixes:  # per image at debug level; the run summarises them once and the report lists them
            log.debug("%s: %s", entry.image_id, "; ".join(sample.fixes))
        yield sample
