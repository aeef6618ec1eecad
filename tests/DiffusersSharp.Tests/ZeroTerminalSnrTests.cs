using DiffusersSharp.Loading;
using DiffusersSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>
/// <c>rescale_betas_zero_snr</c> (Lin et al. 2024, diffusers' <c>rescale_zero_terminal_snr</c>), which the demo model
/// trains and samples with and no fixture covers: checked against the paper's definition (√ᾱ shifted to end at 0 and
/// scaled to keep its first value) and by sampling.
/// </summary>
public class ZeroTerminalSnrTests
{
    private static ModelConfig Config(bool zeroSnr, string extra = "") => ModelConfig.Parse($$"""
        {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "clip_sample": false,
         "prediction_type": "v_prediction", "rescale_betas_zero_snr": {{(zeroSnr ? "true" : "false")}}{{extra}}}
        """);

    private static double[] SqrtAlphasCumprod(bool zeroSnr)
    {
        using var scheduler = new DDPMScheduler(Config(zeroSnr));
        return SqrtAlphasCumprod(scheduler);
    }

    /// <summary>√ᾱ_t of a DDPM schedule for t = 0–999, read back through <see cref="DDPMScheduler.AddNoise"/> (x0 = 1, no noise).</summary>
    internal static double[] SqrtAlphasCumprod(DDPMScheduler scheduler)
    {
        using var scope = NewDisposeScope();
        var timesteps = arange(1000, dtype: ScalarType.Int64);
        var noisy = scheduler.AddNoise(ones(1000, dtype: ScalarType.Float64), zeros(1000, dtype: ScalarType.Float64), timesteps);
        return noisy.data<double>().ToArray();
    }

    [Fact]
    public void RescaledScheduleEndsAtZeroSnrAndKeepsItsFirstStep()
    {
        var plain = SqrtAlphasCumprod(zeroSnr: false);
        var rescaled = SqrtAlphasCumprod(zeroSnr: true);
        Assert.True(plain[999] > 0.05, $"the plain schedule's last √ᾱ is {plain[999]}");
        Assert.Equal(0.0, rescaled[999]);
        for (var t = 0; t < 1000; t += 37)
        {
            var expected = (plain[t] - plain[999]) * plain[0] / (plain[0] - plain[999]);
            Assert.True(Math.Abs(rescaled[t] - expected) < 1e-5, $"t={t}: √ᾱ {rescaled[t]}, the paper's rescaling gives {expected}");
        }

        // At zero SNR the noisiest training input is pure noise and its v target is −x0.
        using var scheduler = new DDPMScheduler(Config(zeroSnr: true));
        using var scope = NewDisposeScope();
        var x0 = randn(2, 4, 8, 8, generator: new Generator(1, CPU));
        var noise = randn(2, 4, 8, 8, generator: new Generator(2, CPU));
        var last = tensor(new long[] { 999, 999 });
        Assert.True(scheduler.AddNoise(x0, noise, last).allclose(noise, rtol: 0, atol: 1e-6));
        Assert.True(scheduler.GetVelocity(x0, noise, last).allclose(x0.neg(), rtol: 0, atol: 1e-6));
    }

    /// <summary>
    /// DPM-Solver++ from the last timestep ("trailing" spacing) of a zero-SNR schedule: ᾱ there is floored at 2^-24,
    /// so the first sigma is 4096, not infinite; a model that knows the clean sample is walked to it without NaNs.
    /// </summary>
    [Fact]
    public void DpmSolverStartsFromPureNoiseAndReachesTheCleanSample()
    {
        using var scheduler = new DPMSolverMultistepScheduler(Config(zeroSnr: true,
            """, "algorithm_type": "dpmsolver++", "solver_order": 2, "timestep_spacing": "trailing", "steps_offset": 1"""));
        scheduler.SetTimesteps(20);
        using var scope = NewDisposeScope();
        Assert.Equal(999, scheduler.Timesteps[0].item<long>());
        Assert.Equal(49, scheduler.Timesteps[scheduler.Timesteps.shape[0] - 1].item<long>());
        Assert.Equal(4096.0, scheduler.Sigmas![0].item<float>(), 1);

        var clean = randn(1, 4, 8, 8, generator: new Generator(1, CPU));
        var sample = randn(1, 4, 8, 8, generator: new Generator(0, CPU));
        for (var i = 0; i < scheduler.Timesteps.shape[0]; i++)
        {
            var sigma = scheduler.Sigmas[i].item<float>();
            var alpha = 1 / Math.Sqrt(sigma * (double)sigma + 1.0);
            var sigmaT = sigma * alpha;
            var epsilon = (sample - alpha * clean) / sigmaT;
            sample = scheduler.Step(alpha * epsilon - sigmaT * clean, scheduler.Timesteps[i], sample).PrevSample;
            Assert.False(sample.isnan().any().item<bool>(), $"step {i} gave NaN");
        }
        var gap = (sample - clean).abs().max().item<float>();
        Assert.True(gap < 1e-4, $"ended {gap} from the clean sample");
    }
}
