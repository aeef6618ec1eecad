using DiffusersSharp.Loading;
using DiffusersSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>
/// DDPMScheduler.GetVelocity (diffusers' <c>get_velocity</c>) has no fixture: these check it against its definition
/// and against what a v-prediction scheduler does with it.
/// </summary>
public class DDPMVelocityTests
{
    private static DDPMScheduler StableDiffusionTraining(string predictionType) => new(ModelConfig.Parse($$"""
        {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "clip_sample": false, "prediction_type": "{{predictionType}}"}
        """));

    [Fact]
    public void VelocityIsTheNoiseAndSampleBlendOfItsTimestep()
    {
        using var scheduler = StableDiffusionTraining("v_prediction");
        using var scope = NewDisposeScope();
        var sample = randn(3, 4, 8, 8, generator: new Generator(1, CPU));
        var noise = randn(3, 4, 8, 8, generator: new Generator(2, CPU));
        var timesteps = tensor(new long[] { 0, 500, 999 });

        var velocity = scheduler.GetVelocity(sample, noise, timesteps);

        // ᾱ_t of the scaled-linear schedule, accumulated in double.
        var alphaBar = 1.0;
        var expected = new Dictionary<long, double>();
        for (var t = 0; t < 1000; t++)
        {
            var sqrtBeta = Math.Sqrt(0.00085) + (Math.Sqrt(0.012) - Math.Sqrt(0.00085)) * t / 999;
            alphaBar *= 1 - sqrtBeta * sqrtBeta;
            expected[t] = alphaBar;
        }
        for (var i = 0; i < 3; i++)
        {
            var a = expected[timesteps[i].item<long>()];
            var want = Math.Sqrt(a) * noise[i] - Math.Sqrt(1 - a) * sample[i];
            Assert.True(velocity[i].allclose(want, rtol: 1e-5, atol: 1e-5), $"velocity at t={timesteps[i].item<long>()}");
        }
    }

    /// <summary>A v-prediction step reads the velocity's clean sample back (x0 = √ᾱ·x_t − √(1 − ᾱ)·v); an epsilon step does not.</summary>
    [Theory]
    [InlineData("v_prediction", true)]
    [InlineData("epsilon", false)]
    public void AStepGivenTheVelocityRecoversTheCleanSampleUnderVPredictionOnly(string predictionType, bool recovers)
    {
        using var scheduler = StableDiffusionTraining(predictionType);
        scheduler.SetTimesteps(10);
        using var scope = NewDisposeScope();
        var sample = randn(1, 4, 8, 8, generator: new Generator(3, CPU));
        var noise = randn(1, 4, 8, 8, generator: new Generator(4, CPU));
        foreach (var t in new long[] { 900, 500 })
        {
            var timestep = tensor(new[] { t });
            var noisy = scheduler.AddNoise(sample, noise, timestep);
            var velocity = scheduler.GetVelocity(sample, noise, timestep);
            var output = scheduler.Step(velocity, tensor(t), noisy, new Generator(5, CPU));
            Assert.True(recovers == output.PredOriginalSample!.allclose(sample, rtol: 1e-4, atol: 1e-4), $"x0 at t={t}");
        }
    }
}
