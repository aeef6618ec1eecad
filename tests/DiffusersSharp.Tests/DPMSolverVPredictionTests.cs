using DiffusersSharp.Loading;
using DiffusersSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>
/// The fixtures check DPMSolverMultistepScheduler with epsilon-prediction only. A v-prediction model that says the
/// same as an epsilon model (v = α·ε − σ·x0 for the x0 that ε implies) must walk the same trajectory, which ties the
/// v-prediction path to the checked one. The demo model ships with this scheduler in v-prediction.
/// </summary>
public class DPMSolverVPredictionTests
{
    private static DPMSolverMultistepScheduler Create(string predictionType, int steps)
    {
        var scheduler = new DPMSolverMultistepScheduler(ModelConfig.Parse($$"""
            {"algorithm_type": "dpmsolver++", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
             "solver_order": 2, "steps_offset": 1, "timestep_spacing": "linspace", "prediction_type": "{{predictionType}}"}
            """));
        scheduler.SetTimesteps(steps);
        return scheduler;
    }

    // A fixed stand-in for an epsilon model.
    private static Tensor Epsilon(Tensor sample, Tensor timestep) => sample * 0.3 + (timestep.to(ScalarType.Float32) / 400).sin();

    [Theory]
    [InlineData(20)]
    [InlineData(7)]
    public void AVPredictionModelThatAgreesWithAnEpsilonModelGivesItsTrajectory(int steps)
    {
        using var epsilonScheduler = Create("epsilon", steps);
        using var velocityScheduler = Create("v_prediction", steps);
        using var scope = NewDisposeScope();
        var byEpsilon = randn(1, 4, 8, 8, generator: new Generator(0, CPU));
        var byVelocity = byEpsilon.clone();
        var timesteps = epsilonScheduler.Timesteps;
        for (var i = 0; i < timesteps.shape[0]; i++)
        {
            var t = timesteps[i];
            byEpsilon = epsilonScheduler.Step(Epsilon(byEpsilon, t), t, byEpsilon).PrevSample;

            var sigma = velocityScheduler.Sigmas![i].item<float>();
            var alpha = 1 / Math.Sqrt(sigma * sigma + 1.0);
            var sigmaT = sigma * alpha;
            var epsilon = Epsilon(byVelocity, t);
            var x0 = (byVelocity - sigmaT * epsilon) / alpha;
            byVelocity = velocityScheduler.Step(alpha * epsilon - sigmaT * x0, t, byVelocity).PrevSample;

            var gap = (byVelocity - byEpsilon).abs().max().item<float>();
            Assert.True(gap <= 1e-4 * Math.Max(1, byEpsilon.abs().max().item<float>()), $"step {i} (t={t.item<long>()}): the trajectories differ by {gap}");
        }
    }
}
