using DiffusersSharp.Loading;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>ScoreSdeVeScheduler has no fixture: these check its schedule and steps against their definitions.</summary>
public class ScoreSdeVeSchedulerTests
{
    private const double SigmaMin = 0.01, SigmaMax = 1348.0, Eps = 1e-5;

    private static ScoreSdeVeScheduler Create(int steps)
    {
        var scheduler = new ScoreSdeVeScheduler();
        scheduler.SetTimesteps(steps);
        scheduler.SetSigmas(steps);
        return scheduler;
    }

    [Fact]
    public void ScheduleRunsFromOneToEpsWithGeometricSigmas()
    {
        using var scheduler = Create(10);
        var t = scheduler.Timesteps.data<float>().ToArray();
        Assert.Equal(10, t.Length);
        Assert.Equal(1f, t[0]);
        Assert.Equal((float)Eps, t[^1]);
        Assert.True(t.Zip(t.Skip(1)).All(p => p.First > p.Second));

        // σ(t) = σ_min (σ_max/σ_min)^t for each timestep.
        var sigmas = scheduler.Sigmas!.data<float>().ToArray();
        for (var i = 0; i < 10; i++)
            Assert.Equal(SigmaMin * Math.Pow(SigmaMax / SigmaMin, t[i]), sigmas[i], SigmaMax * 1e-6);

        // Discrete sigmas: geometric from σ_min to σ_max.
        var discrete = scheduler.DiscreteSigmas.data<float>().ToArray();
        Assert.Equal(SigmaMin, discrete[0], 1e-7);
        Assert.Equal(SigmaMax, discrete[^1], 1e-3);
        var ratio = Math.Pow(SigmaMax / SigmaMin, 1.0 / 9);
        for (var i = 1; i < 10; i++) Assert.Equal(ratio, discrete[i] / (double)discrete[i - 1], 1e-5);
        Assert.Equal(SigmaMax, scheduler.InitNoiseSigma);
    }

    [Fact]
    public void PredictorAddsTheDriftAndSeededNoiseOfTheSdeStep()
    {
        using var scheduler = Create(10);
        using var scope = NewDisposeScope();
        var sample = randn(2, 3, 4, 4, generator: new Generator(7, CPU));
        var modelOutput = randn(2, 3, 4, 4, generator: new Generator(8, CPU));
        var t = scheduler.Timesteps[0];
        var (prev, mean) = scheduler.StepPred(modelOutput, t, sample, new Generator(3, CPU));

        // At t = 1 the step goes from the last discrete sigma to the one before: g² = σ_9² − σ_8².
        var discrete = scheduler.DiscreteSigmas;
        var g2 = discrete[9].pow(2) - discrete[8].pow(2);
        TensorAssert.Close(sample + g2 * modelOutput, mean, 1e-5, "prev_sample_mean");
        var noise = randn(2, 3, 4, 4, generator: new Generator(3, CPU));
        TensorAssert.Close(mean + g2.sqrt() * noise, prev, 1e-5, "prev_sample");

        // Step is the predictor, with the same draws for the same seed.
        var output = scheduler.Step(modelOutput, t, sample, new Generator(3, CPU));
        TensorAssert.Equal(prev, output.PrevSample);
    }

    [Fact]
    public void FinalStepHasNoLowerSigmaToGoTo()
    {
        using var scheduler = Create(10);
        using var scope = NewDisposeScope();
        var sample = ones(1, 1, 2, 2);
        // The last timestep (ε) maps to discrete index 0, whose adjacent sigma is 0: g = σ_0.
        var (_, mean) = scheduler.StepPred(ones(1, 1, 2, 2), scheduler.Timesteps[-1], sample, new Generator(1, CPU));
        var sigma0 = scheduler.DiscreteSigmas[0].item<float>();
        Assert.Equal(1 + sigma0 * sigma0, mean[0, 0, 0, 0].item<float>(), 1e-6);
    }

    [Fact]
    public void CorrectorStepSizeFollowsTheSignalToNoiseRatio()
    {
        using var scheduler = Create(10);
        using var scope = NewDisposeScope();
        var sample = randn(1, 3, 8, 8, generator: new Generator(11, CPU));
        var modelOutput = randn(1, 3, 8, 8, generator: new Generator(12, CPU)) * 3;
        var prev = scheduler.StepCorrect(modelOutput, sample, new Generator(5, CPU));
        var noise = randn(1, 3, 8, 8, generator: new Generator(5, CPU));
        // ε = 2 (snr ‖z‖ / ‖s‖)²; x' = x + ε s + sqrt(2ε) z.
        var stepSize = (noise.norm() * 0.15 / modelOutput.norm()).pow(2) * 2;
        TensorAssert.Close(sample + stepSize * modelOutput + (stepSize * 2).sqrt() * noise, prev, 1e-5, "corrected sample");
    }

    [Fact]
    public void AddNoiseUsesTheDiscreteSigmaOfEachTimestep()
    {
        using var scheduler = Create(10);
        using var scope = NewDisposeScope();
        var x0 = zeros(2, 1, 2, 2);
        var noise = ones(2, 1, 2, 2);
        var noisy = scheduler.AddNoise(x0, noise, tensor(new long[] { 0, 9 }));
        Assert.Equal(scheduler.DiscreteSigmas[0].item<float>(), noisy[0, 0, 0, 0].item<float>());
        Assert.Equal(scheduler.DiscreteSigmas[9].item<float>(), noisy[1, 0, 1, 1].item<float>());
    }

    [Fact]
    public void ConfigRoundTripsThroughTheFactory()
    {
        using var scheduler = SchedulerFactory.FromConfig("ScoreSdeVeScheduler", ModelConfig.Parse("""{"snr": 0.2, "sigma_max": 348.0}"""));
        Assert.Equal(348.0, scheduler.InitNoiseSigma);
        Assert.Equal(2000, scheduler.Config.GetInt("num_train_timesteps", 0));
    }
}
