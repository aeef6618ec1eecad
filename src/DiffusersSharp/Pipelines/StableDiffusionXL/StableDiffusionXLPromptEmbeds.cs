using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines.StableDiffusionXL;

/// <summary>
/// What SDXL's <c>encode_prompt</c> returns, repeated per image: <see cref="PromptEmbeds"/> [B·K, 77, D1 + D2],
/// <see cref="PooledPromptEmbeds"/> [B·K, projection_dim], and the negative ones when guidance is on (null otherwise).
/// Disposing frees them all.
/// </summary>
public sealed record StableDiffusionXLPromptEmbeds(Tensor PromptEmbeds, Tensor? NegativePromptEmbeds, Tensor PooledPromptEmbeds, Tensor? NegativePooledPromptEmbeds)
    : IDisposable
{
    public void Dispose()
    {
        PromptEmbeds.Dispose();
        NegativePromptEmbeds?.Dispose();
        PooledPromptEmbeds.Dispose();
        NegativePooledPromptEmbeds?.Dispose();
    }
}
