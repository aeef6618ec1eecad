using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>added_cond_kwargs</c> for a UNet with <c>addition_embed_type="text_time"</c> (SDXL): the pooled text
/// embedding [B, D] and the micro-conditioning ids [B, 6] (original H, W, crop top, left, target H, W).
/// </summary>
public sealed record AddedCondKwargs(Tensor TextEmbeds, Tensor TimeIds);
