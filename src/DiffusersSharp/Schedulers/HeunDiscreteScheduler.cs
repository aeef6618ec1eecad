using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Heun's method, Algorithm 1 of Karras et al. (2022, https://huggingface.co/papers/2206.00364): an Euler predictor
/// and a trapezoidal corrector per σ step, so every timestep after the first is evaluated twice.
/// </summary>
public sealed class HeunDiscreteScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.00085), ("beta_end", 0.012), ("beta_schedule", "linear"),
        ("trained_betas", null), ("prediction_type", "epsilon"), ("use_karras_sigmas", false),
        ("use_exponential_sigmas", false), ("use_beta_sigmas", false), ("clip_sample", false), ("clip_sample_range", 1.0),
        ("timestep_spacing", "linspace"), ("steps_offset", 0),
    ];

    private readonly int _numTrainTimesteps;
    private readonly string _predictionType;
    private readonly string _timestepSpacing;
    private readonly int _stepsOffset;
    private readonly float[] _alphasCumprod;

    // Predictor state kept for the corrector; null in first-order state.
    private Tensor? _prevDerivative;
    private Tensor? _sample;
    private float? _dt;

    public HeunDiscreteScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule("exp");
        RequireOneSigmaSchedule(Config);
        _predictionType = RequireOneOf("prediction_type", "epsilon", "v_prediction", "sample");
        _timestepSpacing = RequireOneOf("timestep_spacing", "linspace", "leading", "trailing");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _stepsOffset = Config.GetInt("steps_offset", 0);
        _alphasCumprod = AlphasCumprod(Config);
        SetTimesteps(_numTrainTimesteps);
    }

    public override string ClassName => "HeunDiscreteScheduler";

    public override int Order => 2;

    public override double InitNoiseSigma => SigmaInitNoiseSigma(_timestepSpacing);

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        NumInferenceSteps = n;
        var timesteps32 = FloatTimesteps(_timestepSpacing, _numTrainTimesteps, n, _stepsOffset);
        var timesteps = NumPyCompat.ToFloat64(timesteps32);
        var trainSigmas = SigmasFromAlphasCumprod(_alphasCumprod);
        var sigmas = InterpolateSigmas(timesteps32, trainSigmas);
        if (ConvertedSigmas(Config, sigmas, n) is { } converted)
        {
            var logSigmas = LogSigmas(trainSigmas);
            sigmas = converted;
            timesteps = sigmas.Select(s => SigmaToT(s, logSigmas)).ToArray();
        }

        var sigmas32 = NumPyCompat.ToFloat32(sigmas.Append(0.0).ToArray());
        // Every sigma but the first and the final 0 twice; every timestep but the first twice.
        StoreSigmas(sigmas32[..1].Concat(sigmas32[1..^1].SelectMany(s => new[] { s, s })).Concat(sigmas32[^1..]).ToArray());
        var t32 = NumPyCompat.ToFloat32(timesteps);
        SetTimestepsTensor(tensor(t32[..1].Concat(t32[1..].SelectMany(t => new[] { t, t })).ToArray(), ScalarType.Float32), device);
        ResetCorrector();
        StepIndex = null;
        BeginIndex = null;
    }

    public override Tensor ScaleModelInput(Tensor sample, SchedulerTimestep timestep) => ScaleBySigma(sample, timestep);

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        var firstOrder = _dt is null;
        var sigma = SigmaValues[firstOrder ? index : index - 1];
        var sigmaNext = SigmaValues[firstOrder ? index + 1 : index];
        // γ = 0: σ̂ = σ. The corrector evaluates the model at σ_next.
        var sigmaInput = firstOrder ? sigma : sigmaNext;
        var predOriginalSample = _predictionType switch
        {
            "epsilon" => sample - modelOutput * sigmaInput,
            "v_prediction" => modelOutput * (-sigmaInput / MathF.Sqrt(sigmaInput * sigmaInput + 1)) + sample / (sigmaInput * sigmaInput + 1),
            _ => modelOutput.alias(),
        };
        if (Config.GetBool("clip_sample", false))
        {
            var range = Config.GetDouble("clip_sample_range", 1.0);
            predOriginalSample = predOriginalSample.clamp(-range, range);
        }

        Tensor prevSample;
        if (firstOrder)
        {
            var derivative = (sample - predOriginalSample) / sigma;
            var dt = sigmaNext - sigma;
            Replace(ref _prevDerivative, derivative.clone());
            Replace(ref _sample, sample.clone());
            _dt = dt;
            prevSample = sample + derivative * dt;
        }
        else
        {
            var derivative = (_prevDerivative! + (sample - predOriginalSample) / sigmaNext) / 2;
            prevSample = _sample! + derivative * _dt!.Value;
            ResetCorrector();
        }

        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithSigmas(originalSamples, noise, timesteps);

    private void ResetCorrector()
    {
        Replace(ref _prevDerivative, null);
        Replace(ref _sample, null);
        _dt = null;
    }
}
