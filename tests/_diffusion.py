"""Tiny Stable Diffusion pipelines built at test time from random-initialised components (no hub access).

The folders are written by the test session itself, never committed: a folder saved by one
transformers major version can silently re-initialise the text encoder under another. They are
read back through the same path a user's folder takes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def byte_vocab() -> dict[str, int]:
    """A byte-level CLIP vocabulary: the two specials, the 256 byte characters and their end-of-word forms.
    Without it every character is the unknown token and prompts cannot differ."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    chars = [chr(b) if b in printable else chr(next(extra)) for b in range(256)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for c in chars:
            vocab[c + suffix] = len(vocab)
    return vocab


def text_parts(folder: Path) -> tuple[Any, Any]:
    """A 2-layer CLIP text encoder and a byte-level tokenizer."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, vocab_size=514, max_position_embeddings=77, layer_norm_eps=1e-5))
    vocab_dir = folder / "vocab"
    vocab_dir.mkdir(parents=True, exist_ok=True)
    (vocab_dir / "vocab.json").write_text(json.dumps(byte_vocab()))
    (vocab_dir / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(vocab_dir / "vocab.json"), str(vocab_dir / "merges.txt"), model_max_length=77)
    return text_encoder, tokenizer


def tiny_inpainting_pipeline(folder: Path) -> Path:
    """A 9-channel inpainting UNet, a 2-block VAE, a 2-layer CLIP text encoder and DDIM, seeded, saved as a folder."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=9, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=(2, 4), norm_num_groups=16)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        norm_num_groups=16)
    text_encoder, tokenizer = text_parts(folder)
    pipe = StableDiffusionInpaintPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                          scheduler=DDIMScheduler(steps_offset=1, clip_sample=False),
                                          safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder / "pipeline")
    return folder / "pipeline"


def tiny_base_pipeline(folder: Path, *, sample_size: int = 16) -> tuple[Path, Path]:
    """A base (4-channel) SD pipeline shaped like SD 1.5 in miniature — a 4-block VAE (8× like the real one), a
    2-level UNet with cross-attention, PNDM as SD folders ship — and a tile ControlNet made from its UNet.
    Returns (pipeline folder, ControlNet folder)."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=sample_size, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=(2, 4), norm_num_groups=16)
    vae = AutoencoderKL(block_out_channels=[16, 16, 16, 16], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                        norm_num_groups=8, sample_size=sample_size * 8)
    text_encoder, tokenizer = text_parts(folder)
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                              steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder / "base")
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 16, 16))
    with torch.no_grad():  # from_unet zeroes the output convolutions; random ones make the ControlNet matter
        for block in (*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block):
            block.weight.normal_(0, 0.02)
    controlnet.save_pretrained(folder / "controlnet")
    return folder / "base", folder / "controlnet"
