using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>Timesteps</c>: the sinusoidal embedding of (possibly fractional) timesteps. It has no weights and,
/// like diffusers, always computes in float32; callers cast the result to the model's dtype.
/// </summary>
public sealed class Timesteps : DiffusersModule<Tensor, Tensor>
{
    private readonly int _numChannels;
    private readonly bool _flipSinToCos;
    private readonly double _downscaleFreqShift;
    private readonly double _scale;

    public Timesteps(int numChannels, bool flipSinToCos, double downscaleFreqShift, double scale = 1) : base(nameof(Timesteps))
    {
        _numChannels = numChannels;
        _flipSinToCos = flipSinToCos;
        _downscaleFreqShift = downscaleFreqShift;
        _scale = scale;
    }

    /// <param name="timesteps">1-D tensor of N timesteps (any numeric dtype).</param>
    /// <returns>[N, numChannels] float32.</returns>
    public override Tensor forward(Tensor timesteps) =>
        GetTimestepEmbedding(timesteps, _numChannels, _flipSinToCos, _downscaleFreqShift, _scale);

    /// <summary>diffusers' <c>get_timestep_embedding</c> (DDPM's sinusoidal embedding), step for step in float32.</summary>
    public static Tensor GetTimestepEmbedding(Tensor timesteps, int embeddingDim, bool flipSinToCos = false,
        double downscaleFreqShift = 1, double scale = 1, int maxPeriod = 10000)
    {
        if (timesteps.ndim != 1)
            throw new ArgumentException($"Timesteps must be a 1-D tensor; got shape [{string.Join(", ", timesteps.shape)}].", nameof(timesteps));
        using var scope = NewDisposeScope();
        var halfDim = embeddingDim / 2;
        var exponent = arange(0, halfDim, dtype: ScalarType.Float32, device: timesteps.device) * -Math.Log(maxPeriod);
        exponent = exponent / (halfDim - downscaleFreqShift);
        var emb = timesteps.unsqueeze(1).to(ScalarType.Float32) * exponent.exp().unsqueeze(0);
        if (scale != 1) emb = emb * scale;
        emb = cat([emb.sin(), emb.cos()], dim: -1);
        if (flipSinToCos)
            emb = cat([emb[.., halfDim..], emb[.., ..halfDim]], dim: -1);
        if (embeddingDim % 2 == 1)
            emb = nn.functional.pad(emb, [0, 1, 0, 0]);
        return emb.MoveToOuterDisposeScope();
    }
}
