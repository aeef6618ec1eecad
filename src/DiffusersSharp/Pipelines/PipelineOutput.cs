using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

public enum OutputType
{
    /// <summary>Decoded images, float32 [B,H,W,3] in [0,1] (diffusers' <c>output_type="np"</c>).</summary>
    Image,
    /// <summary>The final latents, before the VAE scaling factor is undone (diffusers' <c>output_type="latent"</c>).</summary>
    Latent,
}

/// <summary>A pipeline's result; owns its tensor.</summary>
public sealed class PipelineOutput : IDisposable
{
    public PipelineOutput(Tensor? images, Tensor? latents)
    {
        Images = images;
        Latents = latents;
    }

    /// <summary>float32 [B,H,W,3] in [0,1], or null for <see cref="OutputType.Latent"/>.</summary>
    public Tensor? Images { get; }

    /// <summary>Final latents when <see cref="OutputType.Latent"/> was asked for.</summary>
    public Tensor? Latents { get; }

    public void Dispose()
    {
        Images?.Dispose();
        Latents?.Dispose();
    }
}
