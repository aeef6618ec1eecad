using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// The variance-exploding SDE sampler of score-based generative modelling (https://huggingface.co/papers/2011.13456):
/// a reverse-diffusion predictor (<see cref="StepPred"/>, what <see cref="Step"/> runs) and a Langevin corrector
/// (<see cref="StepCorrect"/>). As in diffusers, call <see cref="SetTimesteps"/> and then <see cref="SetSigmas"/>.
/// </summary>
public sealed class ScoreSdeVeScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 2000), ("snr", 0.15), ("sigma_min", 0.01), ("sigma_max", 1348.0), ("sampling_eps", 1e-5),
        ("correct_steps", 1),
    ];

    private Tensor? _discreteSigmas;
    private bool _hasTimesteps;

    public ScoreSdeVeScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        SetSigmas(Config.GetInt("num_train_timesteps", 2000));
    }

    public override string ClassName => "ScoreSdeVeScheduler";

    /// <summary>σ_max: the prior is N(0, σ_max²).</summary>
    public override double InitNoiseSigma => Config.GetDouble("sigma_max", 1348.0);

    /// <summary>The discrete noise levels, geometric from σ_min to σ_max, that the predictor steps between.</summary>
    public Tensor DiscreteSigmas => _discreteSigmas ?? throw new InvalidOperationException("ScoreSdeVeScheduler has no sigmas yet: call SetSigmas.");

    /// <summary>Continuous timesteps from 1 down to <c>sampling_eps</c> (float32).</summary>
    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
        SetTimestepsTensor(tensor(TorchLinspace(1, Config.GetDouble("sampling_eps", 1e-5), numInferenceSteps), ScalarType.Float32), device);
        _hasTimesteps = true;
    }

    /// <summary>
    /// diffusers' <c>set_sigmas</c>: the noise level σ_min (σ_max/σ_min)^t of each current timestep (setting the
    /// timesteps first if there are none) and <paramref name="numInferenceSteps"/> discrete levels.
    /// </summary>
    public void SetSigmas(int numInferenceSteps)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var sigmaMin = Config.GetDouble("sigma_min", 0.01);
        var sigmaMax = Config.GetDouble("sigma_max", 1348.0);
        if (!_hasTimesteps) SetTimesteps(numInferenceSteps);
        using var scope = NewDisposeScope();
        var timesteps = TimestepValues.Select(t => (float)t).ToArray();
        // Python float ** 0-d tensor is a float32 pow in torch.
        var ratio = (float)(sigmaMax / sigmaMin);
        StoreSigmas(timesteps.Select(t => (float)sigmaMin * MathF.Pow(ratio, t)).ToArray());
        Replace(ref _discreteSigmas, tensor(TorchCpuMath.ExpVector(TorchLinspace(Math.Log(sigmaMin), Math.Log(sigmaMax), numInferenceSteps))));
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        var (prevSample, prevSampleMean) = StepPred(modelOutput, timestep.Tensor, sample, generator);
        prevSampleMean.Dispose();
        return new SchedulerOutput(prevSample, null);
    }

    /// <summary>
    /// The reverse-diffusion predictor from continuous <paramref name="timestep"/>: x − g² s(x) plus g z, with
    /// g² = σ_i² − σ_(i−1)². Returns the sample and its noise-free mean.
    /// </summary>
    public (Tensor PrevSample, Tensor PrevSampleMean) StepPred(Tensor modelOutput, Tensor timestep, Tensor sample, Generator? generator = null)
    {
        if (!_hasTimesteps)
            throw new InvalidOperationException("Timesteps are not set: call SetTimesteps after creating the scheduler.");
        using var scope = NewDisposeScope();
        var batch = sample.shape[0];
        var t = timestep.to(ScalarType.Float32).cpu() * ones(batch);
        var indices = (t * (Timesteps.shape[0] - 1)).to(ScalarType.Int64);
        var sigmas = DiscreteSigmas;
        var sigma = sigmas[indices];
        var adjacent = where(indices.eq(0), zeros_like(t), sigmas[indices - 1]);
        var diffusion = BroadcastTo((sigma.pow(2) - adjacent.pow(2)).sqrt().flatten().to(sample.device), sample.dim());
        var drift = zeros_like(sample) - diffusion.pow(2) * modelOutput;
        var noise = RandnLike(sample, generator);
        // Subtract because dt is a small negative step.
        var prevSampleMean = sample - drift;
        var prevSample = prevSampleMean + diffusion * noise;
        return (prevSample.MoveToOuterDisposeScope(), prevSampleMean.MoveToOuterDisposeScope());
    }

    /// <summary>The Langevin corrector: a score step of size 2 (snr ‖z‖ / ‖s‖)², plus noise.</summary>
    public Tensor StepCorrect(Tensor modelOutput, Tensor sample, Generator? generator = null)
    {
        if (!_hasTimesteps)
            throw new InvalidOperationException("Timesteps are not set: call SetTimesteps after creating the scheduler.");
        using var scope = NewDisposeScope();
        var noise = RandnLike(sample, generator);
        var batch = sample.shape[0];
        var gradNorm = modelOutput.reshape(batch, -1).norm(-1).mean();
        var noiseNorm = noise.reshape(batch, -1).norm(-1).mean();
        var stepSize = (noiseNorm * Config.GetDouble("snr", 0.15) / gradNorm).pow(2) * 2;
        stepSize = BroadcastTo((stepSize * ones(batch, device: sample.device)).flatten(), sample.dim());
        var prevSampleMean = sample + stepSize * modelOutput;
        return (prevSampleMean + (stepSize * 2).pow(0.5) * noise).MoveToOuterDisposeScope();
    }

    /// <summary>x0 + σ_t ε at the discrete noise level of each (integer) timestep.</summary>
    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var sigmas = DiscreteSigmas.to(originalSamples.device)[timesteps.to(originalSamples.device).to(ScalarType.Int64)];
        return (noise * BroadcastTo(sigmas, originalSamples.dim()) + originalSamples).MoveToOuterDisposeScope();
    }
}
