using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>DiagonalGaussianDistribution</c>: the VAE posterior, a Gaussian per latent element whose mean and
/// log-variance are the two halves (along channels) of the encoder's moments. Owns its tensors, including the moments
/// passed in.
/// </summary>
public sealed class DiagonalGaussianDistribution : IDisposable
{
    /// <param name="parameters">[B, 2·C, h, w] moments; the distribution takes ownership.</param>
    /// <param name="deterministic">As diffusers: zero variance, so <see cref="Sample"/> returns the mean plus 0·noise.</param>
    public DiagonalGaussianDistribution(Tensor parameters, bool deterministic = false)
    {
        Parameters = parameters;
        Deterministic = deterministic;
        var chunks = parameters.chunk(2, dim: 1);
        Mean = chunks[0];
        using (var rawLogVar = chunks[1])
            LogVar = rawLogVar.clamp(-30.0, 20.0);
        if (deterministic)
        {
            Std = zeros_like(Mean);
            Var = zeros_like(Mean);
        }
        else
        {
            Std = (LogVar * 0.5).exp_();
            Var = LogVar.exp();
        }
    }

    public Tensor Parameters { get; }
    public bool Deterministic { get; }
    public Tensor Mean { get; }
    /// <summary>Log-variance clamped to [-30, 20].</summary>
    public Tensor LogVar { get; }
    public Tensor Std { get; }
    public Tensor Var { get; }

    /// <summary>
    /// mean + std · noise, with noise drawn as diffusers' <c>randn_tensor(mean.shape, generator, device, dtype)</c>:
    /// from <paramref name="generator"/> (on its device; a CPU generator draws on the CPU and the result moves over), or
    /// from the global RNG of the parameters' device.
    /// </summary>
    public Tensor Sample(Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var device = Parameters.device;
        var drawOnCpu = generator is not null && generator.device.type == DeviceType.CPU && device.type != DeviceType.CPU;
        var noise = randn(Mean.shape, Parameters.dtype, drawOnCpu ? CPU : device, generator: generator);
        if (drawOnCpu) noise = noise.to(device);
        return (Mean + Std * noise).MoveToOuterDisposeScope();
    }

    /// <summary>The mean (a new handle on the same storage, so disposing it leaves the distribution intact).</summary>
    public Tensor Mode() => Mean.alias();

    public void Dispose()
    {
        Var.Dispose();
        Std.Dispose();
        LogVar.Dispose();
        Mean.Dispose();
        Parameters.Dispose();
    }
}
