using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Ancestral DPM-Solver-2 (k-diffusion's <c>sample_dpm_2_ancestral</c>): the DPM-2 step goes down to σ_down through
/// the midpoint of σ and σ_down, then fresh noise of size σ_up is added.
/// </summary>
public sealed class KDPM2AncestralDiscreteScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.00085), ("beta_end", 0.012), ("beta_schedule", "linear"),
        ("trained_betas", null), ("use_karras_sigmas", false), ("use_exponential_sigmas", false),
        ("use_beta_sigmas", false), ("prediction_type", "epsilon"), ("timestep_spacing", "linspace"), ("steps_offset", 0),
    ];

    private readonly int _numTrainTimesteps;
    private readonly bool _vPrediction;
    private readonly string _timestepSpacing;
    private readonly int _stepsOffset;
    private readonly float[] _alphasCumprod;
    private float[] _sigmasInterpol = [];
    private float[] _sigmasUp = [];
    private float[] _sigmasDown = [];
    // The sample at the start of the step, kept between the two halves; null in first-order state.
    private Tensor? _sample;

    public KDPM2AncestralDiscreteScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        RequireOneSigmaSchedule(Config);
        // diffusers raises NotImplementedError for "sample" here.
        _vPrediction = RequireOneOf("prediction_type", "epsilon", "v_prediction") == "v_prediction";
        _timestepSpacing = RequireOneOf("timestep_spacing", "linspace", "leading", "trailing");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _stepsOffset = Config.GetInt("steps_offset", 0);
        _alphasCumprod = AlphasCumprod(Config);
        SetTimesteps(_numTrainTimesteps);
    }

    public override string ClassName => "KDPM2AncestralDiscreteScheduler";

    public override int Order => 2;

    public override double InitNoiseSigma => SigmaInitNoiseSigma(_timestepSpacing);

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        NumInferenceSteps = n;
        var (sigmas, timesteps, logSigmas) = KDPM2DiscreteScheduler.KDiffusionSchedule(Config, _alphasCumprod, _timestepSpacing, _numTrainTimesteps, n, _stepsOffset);

        // σ_up / σ_down of each ancestral step (float32 tensor arithmetic; the last σ_up is 0/0 = NaN, as in diffusers).
        var next = sigmas.Select((_, i) => i + 1 < sigmas.Length ? sigmas[i + 1] : 0f).ToArray();
        var up = sigmas.Select((s, i) => MathF.Sqrt(next[i] * next[i] * (s * s - next[i] * next[i]) / (s * s))).ToArray();
        var down = up.Select((u, i) => MathF.Sqrt(next[i] * next[i] - u * u)).ToArray();
        down[^1] = 0;
        var logs = TorchCpuMath.LogVector(sigmas);
        var logDown = TorchCpuMath.LogVector(down);
        var interpol = TorchCpuMath.ExpVector(logs.Select((l, i) => KDPM2DiscreteScheduler.Lerp(l, logDown[i])).ToArray());
        interpol[^1] = 0;
        interpol[^2] = 0;

        StoreSigmas(Interleave2(sigmas));
        _sigmasInterpol = Interleave2(interpol);
        _sigmasUp = Interleave2(up);
        _sigmasDown = Interleave2(down);

        var interpolTimesteps = interpol.Select(s => (double)SigmaToTFloat32(s, logSigmas)).ToArray();
        var all = timesteps[..1].Concat(Enumerable.Range(1, n - 1).SelectMany(i => new[] { interpolTimesteps[i - 1], timesteps[i] })).ToArray();
        SetTimestepsTensor(KDPM2DiscreteScheduler.KDiffusionTimestepTensor(all, Config), device);
        Replace(ref _sample, null);
        StepIndex = null;
        BeginIndex = null;
    }

    public override Tensor ScaleModelInput(Tensor sample, SchedulerTimestep timestep)
    {
        var index = CurrentStepIndex(timestep);
        var sigma = _sample is null ? SigmaValues[index] : _sigmasInterpol[index - 1];
        return sample / MathF.Sqrt(sigma * sigma + 1);
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        var firstOrder = _sample is null;
        var at = firstOrder ? index : index - 1;
        var sigma = SigmaValues[at];
        var sigmaInterpol = _sigmasInterpol[at];
        var sigmaUp = _sigmasUp[at];
        // γ = 0: σ̂ = σ. The second half evaluates the model at the midpoint.
        var sigmaInput = firstOrder ? sigma : sigmaInterpol;
        var predOriginalSample = _vPrediction
            ? modelOutput * (-sigmaInput / MathF.Sqrt(sigmaInput * sigmaInput + 1)) + sample / (sigmaInput * sigmaInput + 1)
            : sample - modelOutput * sigmaInput;

        Tensor prevSample;
        if (firstOrder)
        {
            var derivative = (sample - predOriginalSample) / sigma;
            Replace(ref _sample, sample.clone());
            prevSample = sample + derivative * (sigmaInterpol - sigma);
        }
        else
        {
            var derivative = (sample - predOriginalSample) / sigmaInterpol;
            prevSample = _sample! + derivative * (_sigmasDown[at] - sigma);
            Replace(ref _sample, null);
            // diffusers draws the ancestral noise on the second half of each step only.
            var noise = RandnLike(modelOutput, generator);
            prevSample = prevSample + noise * sigmaUp;
        }

        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithSigmas(originalSamples, noise, timesteps);
}
