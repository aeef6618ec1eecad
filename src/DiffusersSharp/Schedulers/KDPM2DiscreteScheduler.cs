using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// DPM-Solver-2 as k-diffusion's <c>sample_dpm_2</c>: a half step to the geometric midpoint σ_interpol, then the full
/// step with the derivative taken there. Every timestep after the first is preceded by its midpoint timestep.
/// </summary>
public sealed class KDPM2DiscreteScheduler : SchedulerMixin
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
    // The sample at the start of the step, kept between the two halves; null in first-order state.
    private Tensor? _sample;

    public KDPM2DiscreteScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
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

    public override string ClassName => "KDPM2DiscreteScheduler";

    public override int Order => 2;

    public override double InitNoiseSigma => SigmaInitNoiseSigma(_timestepSpacing);

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        NumInferenceSteps = n;
        var (sigmas, timesteps, logSigmas) = KDiffusionSchedule(Config, _alphasCumprod, _timestepSpacing, _numTrainTimesteps, n, _stepsOffset);

        // The geometric midpoint between each sigma and the previous one (torch float32 log, lerp, exp).
        var logs = TorchCpuMath.LogVector(sigmas);
        var interpol = TorchCpuMath.ExpVector(logs.Select((l, i) => Lerp(l, logs[(i + logs.Length - 1) % logs.Length])).ToArray());

        StoreSigmas(Interleave2(sigmas));
        _sigmasInterpol = Interleave2(interpol);

        var interpolTimesteps = interpol.Select(s => (double)SigmaToTFloat32(s, logSigmas)).ToArray();
        var all = timesteps[..1].Concat(Enumerable.Range(1, n - 1).SelectMany(i => new[] { interpolTimesteps[i], timesteps[i] })).ToArray();
        SetTimestepsTensor(KDiffusionTimestepTensor(all, Config), device);
        Replace(ref _sample, null);
        StepIndex = null;
        BeginIndex = null;
    }

    /// <summary>torch.lerp(start, end, 0.5) as torch evaluates it for weights ≥ 0.5: end − (end − start)·0.5.</summary>
    internal static float Lerp(float start, float end) => end - (end - start) * 0.5f;

    /// <summary>
    /// The interpolated sigmas (float32, terminal 0 appended), their timesteps (float32, or float64 once a Karras-type
    /// schedule re-derived them, as diffusers keeps the dtype) and the float32 log training sigmas of the KDPM2 schedulers.
    /// </summary>
    internal static (float[] Sigmas, double[] Timesteps, float[] LogSigmas) KDiffusionSchedule(
        ModelConfig config, float[] alphasCumprod, string spacing, int trainSteps, int n, int stepsOffset)
    {
        var timesteps32 = FloatTimesteps(spacing, trainSteps, n, stepsOffset);
        var timesteps = NumPyCompat.ToFloat64(timesteps32);
        var trainSigmas = SigmasFromAlphasCumprod(alphasCumprod);
        var logSigmas = LogSigmas(trainSigmas);
        var sigmas = InterpolateSigmas(timesteps32, trainSigmas);
        if (ConvertedSigmas(config, sigmas, n) is { } converted)
        {
            sigmas = converted;
            timesteps = sigmas.Select(s => SigmaToT(s, logSigmas)).ToArray();
            if (config.GetBool("use_karras_sigmas", false)) timesteps = NumPyCompat.Round(timesteps);
        }
        return (NumPyCompat.ToFloat32(sigmas.Append(0.0).ToArray()), timesteps, logSigmas);
    }

    /// <summary>Timesteps in diffusers' dtype: float64 when a Karras-type schedule produced them, else float32.</summary>
    internal static Tensor KDiffusionTimestepTensor(double[] timesteps, ModelConfig config)
    {
        var converted = new[] { "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas" }.Any(k => config.GetBool(k, false));
        return converted
            ? tensor(timesteps, ScalarType.Float64)
            : tensor(NumPyCompat.ToFloat32(timesteps), ScalarType.Float32);
    }

    public override Tensor ScaleModelInput(Tensor sample, SchedulerTimestep timestep)
    {
        var index = CurrentStepIndex(timestep);
        var sigma = _sample is null ? SigmaValues[index] : _sigmasInterpol[index];
        return sample / MathF.Sqrt(sigma * sigma + 1);
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        var firstOrder = _sample is null;
        var sigma = SigmaValues[firstOrder ? index : index - 1];
        var sigmaInterpol = _sigmasInterpol[firstOrder ? index + 1 : index];
        var sigmaNext = SigmaValues[firstOrder ? index + 1 : index];
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
            prevSample = _sample! + derivative * (sigmaNext - sigma);
            Replace(ref _sample, null);
        }

        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithSigmas(originalSamples, noise, timesteps);
}
