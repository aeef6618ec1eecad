using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Denoising diffusion probabilistic models (https://huggingface.co/papers/2006.11239): ancestral sampling from the
/// posterior q(x_(t−1) | x_t, x0), with noise added on every step but the last.
/// </summary>
public sealed class DDPMScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("variance_type", "fixed_small"), ("clip_sample", true), ("prediction_type", "epsilon"),
        ("thresholding", false), ("dynamic_thresholding_ratio", 0.995), ("clip_sample_range", 1.0),
        ("sample_max_value", 1.0), ("timestep_spacing", "leading"), ("steps_offset", 0), ("rescale_betas_zero_snr", false),
    ];

    private readonly int _numTrainTimesteps;
    private readonly string _predictionType;
    private readonly string _varianceType;
    private readonly string _timestepSpacing;
    private readonly int _stepsOffset;
    private readonly bool _thresholding;
    private readonly bool _clipSample;
    private readonly double _clipSampleRange;
    private readonly float[] _alphasCumprod;
    private long[] _schedule = [];

    public DDPMScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule("sigmoid", "laplace");
        _predictionType = RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction");
        // fixed_large_log is left out: diffusers takes the square root of a log-variance there and samples NaN. A null
        // (what a DPM-Solver config swapped in with from_config carries) falls through diffusers' _get_variance to the
        // posterior variance, i.e. fixed_small.
        _varianceType = Config.GetNullableString("variance_type") is null
            ? "fixed_small"
            : RequireOneOf("variance_type", "fixed_small", "fixed_small_log", "fixed_large", "learned", "learned_range");
        _timestepSpacing = RequireOneOf("timestep_spacing", "leading", "linspace", "trailing");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _stepsOffset = Config.GetInt("steps_offset", 0);
        _thresholding = Config.GetBool("thresholding", false);
        _clipSample = Config.GetBool("clip_sample", true);
        _clipSampleRange = Config.GetDouble("clip_sample_range", 1.0);
        _alphasCumprod = AlphasCumprod(Config);
        SetTimestepsTensor(arange(_numTrainTimesteps - 1, -1, -1, ScalarType.Int64));
    }

    public override string ClassName => "DDPMScheduler";

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        if (numInferenceSteps > _numTrainTimesteps)
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps,
                $"num_inference_steps cannot be larger than num_train_timesteps ({_numTrainTimesteps}): the model was trained on that many timesteps only.");
        var n = numInferenceSteps;
        _schedule = _timestepSpacing switch
        {
            "linspace" => NumPyCompat.Reverse(NumPyCompat.ToInt64(NumPyCompat.Round(LinspaceSpacing(_numTrainTimesteps - 1, n)))),
            "leading" => NumPyCompat.Reverse(NumPyCompat.ToInt64(LeadingSpacing(_numTrainTimesteps, n, _stepsOffset))),
            _ => NumPyCompat.ToInt64(TrailingSpacing(_numTrainTimesteps, _numTrainTimesteps, n)),
        };
        NumInferenceSteps = n;
        SetTimestepsTensor(tensor(_schedule, ScalarType.Int64), device);
    }

    /// <summary>The timestep after <paramref name="t"/> in the schedule (−1 after the last), or t − 1 before SetTimesteps.</summary>
    private long PreviousTimestep(long t)
    {
        if (NumInferenceSteps == 0) return t - 1;
        var index = Array.IndexOf(_schedule, t);
        if (index < 0) throw new ArgumentException($"Timestep {t} is not in the schedule of DDPMScheduler.", nameof(t));
        return index == _schedule.Length - 1 ? -1 : _schedule[index + 1];
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        using var scope = NewDisposeScope();
        var t = TimestepValue(timestep);
        var prevT = PreviousTimestep(t);

        Tensor? predictedVariance = null;
        if (modelOutput.shape[1] == sample.shape[1] * 2 && _varianceType is "learned" or "learned_range")
        {
            var parts = modelOutput.split(sample.shape[1], 1);
            modelOutput = parts[0];
            predictedVariance = parts[1];
        }

        // Formulas (6) and (7) of the DDPM paper, float32 scalars as diffusers' 0-d tensors.
        var alphaProdT = _alphasCumprod[t];
        var alphaProdTPrev = prevT >= 0 ? _alphasCumprod[prevT] : 1f;
        var betaProdT = 1 - alphaProdT;
        var betaProdTPrev = 1 - alphaProdTPrev;
        var currentAlphaT = alphaProdT / alphaProdTPrev;
        var currentBetaT = 1 - currentAlphaT;

        var predOriginalSample = _predictionType switch
        {
            "epsilon" => (sample - modelOutput * MathF.Sqrt(betaProdT)) / MathF.Sqrt(alphaProdT),
            "sample" => modelOutput.alias(),
            _ => sample * MathF.Sqrt(alphaProdT) - modelOutput * MathF.Sqrt(betaProdT),
        };
        if (_thresholding)
            predOriginalSample = ThresholdSample(predOriginalSample, Config.GetDouble("dynamic_thresholding_ratio", 0.995), Config.GetDouble("sample_max_value", 1.0));
        else if (_clipSample)
            predOriginalSample = predOriginalSample.clamp(-_clipSampleRange, _clipSampleRange);

        var predOriginalSampleCoeff = MathF.Sqrt(alphaProdTPrev) * currentBetaT / betaProdT;
        var currentSampleCoeff = MathF.Sqrt(currentAlphaT) * betaProdTPrev / betaProdT;
        var predPrevSample = predOriginalSample * predOriginalSampleCoeff + sample * currentSampleCoeff;

        if (t > 0)
        {
            var varianceNoise = RandnLike(modelOutput, generator);
            // The posterior variance β̃_t, floored at 1e-20.
            var variance = MathF.Max((1 - alphaProdTPrev) / (1 - alphaProdT) * currentBetaT, 1e-20f);
            Tensor noiseTerm = _varianceType switch
            {
                "fixed_small" => varianceNoise * MathF.Sqrt(variance),
                "fixed_small_log" => varianceNoise * TorchCpuMath.Exp(0.5f * TorchCpuMath.Log(variance)),
                "fixed_large" => varianceNoise * MathF.Sqrt(currentBetaT),
                "learned" => predictedVariance!.pow(0.5) * varianceNoise,
                _ => ((predictedVariance! + 1) / 2 * TorchCpuMath.Log(currentBetaT)
                      + OneMinus((predictedVariance! + 1) / 2) * TorchCpuMath.Log(variance)).mul(0.5).exp() * varianceNoise,
            };
            predPrevSample = predPrevSample + noiseTerm;
        }

        return new SchedulerOutput(predPrevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithAlphasCumprod(_alphasCumprod, originalSamples, noise, timesteps);

    /// <summary>
    /// diffusers' <c>get_velocity</c>: the v-prediction training target √ᾱ_t·noise − √(1 − ᾱ_t)·sample for the noisy
    /// sample <see cref="AddNoise"/> makes from the same arguments.
    /// </summary>
    public Tensor GetVelocity(Tensor sample, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        // add_noise's blend with the roles swapped: √ᾱ·noise + √(1 − ᾱ)·(−sample).
        return AddNoiseWithAlphasCumprod(_alphasCumprod, noise, sample.neg(), timesteps).MoveToOuterDisposeScope();
    }
}
