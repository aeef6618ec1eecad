using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>diffusers' <c>prepare_latents</c> / <c>randn_tensor</c>.</summary>
public static class LatentNoise
{
    /// <summary>
    /// Draws N(0,1) latents with <paramref name="generator"/> on the generator's device (a CPU generator draws on the CPU
    /// and the result moves to <paramref name="device"/>, as diffusers does), or takes the caller's, then scales by the
    /// scheduler's initial sigma.
    /// </summary>
    public static Tensor Prepare(long[] shape, ScalarType dtype, Device device, Generator? generator, Tensor? latents, double initNoiseSigma)
    {
        Tensor noise;
        if (latents is null)
            noise = RandnTensor(shape, dtype, device, generator);
        else
        {
            if (!latents.shape.SequenceEqual(shape))
                throw new ArgumentException($"Unexpected latents shape [{string.Join(", ", latents.shape)}]; expected [{string.Join(", ", shape)}].");
            noise = latents.to(dtype, device);
        }
        using (noise)
            return noise * initNoiseSigma;
    }

    public static Tensor RandnTensor(long[] shape, ScalarType dtype, Device device, Generator? generator)
    {
        var drawDevice = generator?.device ?? device;
        var draw = randn(shape, dtype: dtype, device: drawDevice, generator: generator);
        if (drawDevice == device) return draw;
        using (draw) return draw.to(device);
    }
}
