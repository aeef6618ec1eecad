using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>The optional arguments of <c>UNet2DConditionModel.forward</c>, under diffusers' names.</summary>
public sealed record UNet2DConditionExtras
{
    /// <summary>Guidance embedding added through <c>time_embedding.cond_proj</c> (models with <c>time_cond_proj_dim</c>, e.g. LCM).</summary>
    public Tensor? TimestepCond { get; init; }

    /// <summary>SDXL's pooled text embedding and time ids; required when <c>addition_embed_type</c> is "text_time".</summary>
    public AddedCondKwargs? AddedCondKwargs { get; init; }

    /// <summary>
    /// ControlNet residuals, exactly one per skip tensor of the down path, given together with
    /// <see cref="MidBlockAdditionalResidual"/> (diffusers zips silently; a count mismatch is an error here). Given
    /// alone they are read as <see cref="DownIntrablockAdditionalResiduals"/>, diffusers' deprecated T2I-Adapter convention.
    /// </summary>
    public IReadOnlyList<Tensor>? DownBlockAdditionalResiduals { get; init; }

    /// <summary>ControlNet residual added to the mid block output.</summary>
    public Tensor? MidBlockAdditionalResidual { get; init; }

    /// <summary>T2I-Adapter features added inside the down blocks, in block order.</summary>
    public IReadOnlyList<Tensor>? DownIntrablockAdditionalResiduals { get; init; }

    /// <summary>Self-attention mask [B, N]: 1 keeps a token, 0 discards it.</summary>
    public Tensor? AttentionMask { get; init; }

    /// <summary>Cross-attention mask [B, M] over the encoder tokens: 1 keeps, 0 discards.</summary>
    public Tensor? EncoderAttentionMask { get; init; }
}
