using DiffusersSharp.Models;
using DiffusersSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>What the image-to-image pipelines (SD image-to-image and inpainting, SDXL image-to-image) share: the strength schedule and image latents.</summary>
public static class ImageToImage
{
    /// <summary>
    /// diffusers' <c>get_timesteps</c>: skips the first <c>1 − strength</c> of the schedule (after
    /// <see cref="SchedulerMixin.SetTimesteps"/>) and tells the scheduler where stepping starts.
    /// </summary>
    /// <returns>The timesteps to run (a view of the scheduler's) and the denoising steps they make.</returns>
    public static (Tensor Timesteps, int Steps) StrengthTimesteps(SchedulerMixin scheduler, int numInferenceSteps, double strength)
    {
        // Python's int(n * strength) truncates the double product, as the cast does.
        var initTimestep = Math.Min((int)(numInferenceSteps * strength), numInferenceSteps);
        var tStart = Math.Max(numInferenceSteps - initTimestep, 0);
        var begin = tStart * scheduler.Order;
        var all = scheduler.Timesteps;
        var timesteps = all.narrow(0, begin, all.shape[0] - begin);
        scheduler.SetBeginIndex(begin);
        return (timesteps, numInferenceSteps - tStart);
    }

    /// <summary>
    /// diffusers' <c>_encode_vae_image</c>: a sample of the VAE posterior (noise drawn from <paramref name="generator"/>,
    /// as <c>retrieve_latents</c>) times the scaling factor, in <paramref name="dtype"/>.
    /// </summary>
    public static Tensor EncodeImage(AutoencoderKL vae, Tensor image, Generator? generator, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var posterior = vae.Encode(image.to(vae.DType, vae.Device));
        return (posterior.Sample(generator) * vae.ScalingFactor).to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Repeats a batch of <paramref name="what"/> ([N, ...]) to <paramref name="batchSize"/> rows, whole batch after whole
    /// batch as diffusers' <c>torch.cat([x] * k)</c> / <c>x.repeat(k, 1, 1, 1)</c> do; refuses sizes that do not divide.
    /// </summary>
    public static Tensor ExpandToBatch(Tensor tensor, int batchSize, string what)
    {
        var n = tensor.shape[0];
        if (n == batchSize) return tensor.alias();
        if (n > batchSize || batchSize % n != 0)
            throw new ArgumentException(
                $"Cannot use {n} {what} for a batch of {batchSize} (prompts × images per prompt): give 1 or a divisor of {batchSize}.");
        return tensor.repeat([batchSize / n, .. Enumerable.Repeat(1L, (int)tensor.ndim - 1)]);
    }
}
