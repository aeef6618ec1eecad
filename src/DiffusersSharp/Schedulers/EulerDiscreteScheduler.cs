using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Euler's method on the probability-flow ODE, Algorithm 2 of Karras et al. (2022,
/// https://huggingface.co/papers/2206.00364), on the discrete training noise levels (k-diffusion's <c>sample_euler</c>).
/// </summary>
public sealed class EulerDiscreteScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("prediction_type", "epsilon"), ("interpolation_type", "linear"),
        ("use_karras_sigmas", false), ("use_exponential_sigmas", false), ("use_beta_sigmas", false),
        ("sigma_min", null), ("sigma_max", null), ("timestep_spacing", "linspace"), ("timestep_type", "discrete"),
        ("steps_offset", 0), ("rescale_betas_zero_snr", false), ("final_sigmas_type", "zero"),
    ];

    private readonly int _numTrainTimesteps;
    private readonly string _predictionType;
    private readonly string _interpolationType;
    private readonly string _timestepSpacing;
    private readonly int _stepsOffset;
    private readonly string _finalSigmasType;
    // timestep_type "continuous" with v-prediction: the model takes 0.25 log σ as its timestep (as in SD x4 upscaler / SVD).
    private readonly bool _continuousTimesteps;
    private readonly float[] _alphasCumprod;

    public EulerDiscreteScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        _predictionType = RequireOneOf("prediction_type", "epsilon", "v_prediction", "sample", "original_sample");
        _interpolationType = RequireOneOf("interpolation_type", "linear", "log_linear");
        _timestepSpacing = RequireOneOf("timestep_spacing", "linspace", "leading", "trailing");
        var timestepType = RequireOneOf("timestep_type", "discrete", "continuous");
        _finalSigmasType = RequireOneOf("final_sigmas_type", "zero", "sigma_min");
        RequireOneSigmaSchedule(Config);
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _stepsOffset = Config.GetInt("steps_offset", 0);
        _continuousTimesteps = timestepType == "continuous" && _predictionType == "v_prediction";

        _alphasCumprod = AlphasCumprod(Config, zeroSnrFloor: true);
        var sigmas = SigmasFromAlphasCumprod(_alphasCumprod).Reverse().ToArray();
        SetTimestepsTensor(_continuousTimesteps
            ? ContinuousTimesteps(sigmas)
            : tensor(NumPyCompat.ToFloat32(NumPyCompat.Reverse(NumPyCompat.Linspace(0, _numTrainTimesteps - 1, _numTrainTimesteps)))));
        StoreSigmas(sigmas.Append(0f).ToArray());
    }

    public override string ClassName => "EulerDiscreteScheduler";

    public override double InitNoiseSigma => SigmaInitNoiseSigma(_timestepSpacing);

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        NumInferenceSteps = n;
        var timesteps32 = FloatTimesteps(_timestepSpacing, _numTrainTimesteps, n, _stepsOffset);
        var timesteps = NumPyCompat.ToFloat64(timesteps32);
        var trainSigmas = SigmasFromAlphasCumprod(_alphasCumprod);
        var logSigmas = LogSigmas(trainSigmas);

        // diffusers' log_linear builds n + 1 sigmas (torch, float32) and still appends the final sigma below.
        var sigmas = _interpolationType == "linear"
            ? InterpolateSigmas(timesteps32, trainSigmas)
            : NumPyCompat.ToFloat64(TorchCpuMath.ExpVector(TorchLinspace(NumPyCompat.Log(trainSigmas[^1]), NumPyCompat.Log(trainSigmas[0]), n + 1)));

        if (ConvertedSigmas(Config, sigmas, n) is { } converted)
        {
            sigmas = converted;
            timesteps = sigmas.Select(s => SigmaToT(s, logSigmas)).ToArray();
        }

        var sigmaLast = _finalSigmasType == "sigma_min" ? SigmaFromAlphaCumprod(_alphasCumprod[0]) : 0f;
        var sigmas32 = NumPyCompat.ToFloat32(sigmas).Append(sigmaLast).ToArray();
        SetTimestepsTensor(_continuousTimesteps
            ? ContinuousTimesteps(sigmas32[..^1])
            : tensor(NumPyCompat.ToFloat32(timesteps), ScalarType.Float32), device);
        StoreSigmas(sigmas32);
        StepIndex = null;
        BeginIndex = null;
    }

    /// <summary>0.25 log σ per sigma (torch's float32 log, as diffusers computes it).</summary>
    private static Tensor ContinuousTimesteps(float[] sigmas) =>
        tensor(TorchCpuMath.LogVector(sigmas).Select(l => l * 0.25f).ToArray(), ScalarType.Float32);

    public override Tensor ScaleModelInput(Tensor sample, SchedulerTimestep timestep) => ScaleBySigma(sample, timestep);

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (!timestep.Tensor.is_floating_point())
            throw new ArgumentException("EulerDiscreteScheduler.Step takes one of Timesteps as the timestep, not an integer index.", nameof(timestep));
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        sample = sample.to(ScalarType.Float32);
        var sigma = SigmaValues[index];
        // s_churn = 0 (diffusers' default, and what pipelines use): γ = 0 and σ̂ = σ, no noise is added.
        var sigmaHat = sigma;

        var predOriginalSample = _predictionType switch
        {
            "epsilon" => sample - modelOutput * sigmaHat,
            "v_prediction" => modelOutput * (-sigma / MathF.Sqrt(sigma * sigma + 1)) + sample / (sigma * sigma + 1),
            _ => modelOutput.alias(),
        };

        // The ODE derivative dx/dσ, integrated over one σ step.
        var derivative = (sample - predOriginalSample) / sigmaHat;
        var dt = SigmaValues[index + 1] - sigmaHat;
        var prevSample = (sample + derivative * dt).to(modelOutput.dtype);
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithSigmas(originalSamples, noise, timesteps);
}
