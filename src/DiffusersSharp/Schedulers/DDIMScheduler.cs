using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Denoising diffusion implicit models (https://huggingface.co/papers/2010.02502): deterministic for η = 0, adds
/// η-weighted DDPM noise otherwise.
/// </summary>
public sealed class DDIMScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("clip_sample", true), ("set_alpha_to_one", true), ("steps_offset", 0),
        ("prediction_type", "epsilon"), ("thresholding", false), ("dynamic_thresholding_ratio", 0.995),
        ("clip_sample_range", 1.0), ("sample_max_value", 1.0), ("timestep_spacing", "leading"),
        ("rescale_betas_zero_snr", false),
    ];

    private readonly int _numTrainTimesteps;
    private readonly string _predictionType;
    private readonly string _timestepSpacing;
    private readonly int _stepsOffset;
    private readonly bool _thresholding;
    private readonly bool _clipSample;
    private readonly double _clipSampleRange;
    private readonly float[] _alphasCumprod;
    private readonly float _finalAlphaCumprod;

    public DDIMScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        _predictionType = RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction");
        _timestepSpacing = RequireOneOf("timestep_spacing", "leading", "linspace", "trailing");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _stepsOffset = Config.GetInt("steps_offset", 0);
        _thresholding = Config.GetBool("thresholding", false);
        _clipSample = Config.GetBool("clip_sample", true);
        _clipSampleRange = Config.GetDouble("clip_sample_range", 1.0);

        _alphasCumprod = AlphasCumprod(Config);
        // The last step has no previous alpha: either 1 or the first one.
        _finalAlphaCumprod = Config.GetBool("set_alpha_to_one", true) ? 1f : _alphasCumprod[0];
        SetTimestepsTensor(arange(_numTrainTimesteps - 1, -1, -1, ScalarType.Int64));
    }

    public override string ClassName => "DDIMScheduler";

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        if (numInferenceSteps > _numTrainTimesteps)
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps,
                $"num_inference_steps cannot be larger than num_train_timesteps ({_numTrainTimesteps}): the model was trained on that many timesteps only.");
        var n = numInferenceSteps;
        var timesteps = _timestepSpacing switch
        {
            "linspace" => NumPyCompat.Reverse(NumPyCompat.ToInt64(NumPyCompat.Round(LinspaceSpacing(_numTrainTimesteps - 1, n)))),
            "leading" => NumPyCompat.Reverse(NumPyCompat.ToInt64(LeadingSpacing(_numTrainTimesteps, n, _stepsOffset))),
            _ => NumPyCompat.ToInt64(TrailingSpacing(_numTrainTimesteps, _numTrainTimesteps, n)),
        };
        NumInferenceSteps = n;
        SetTimestepsTensor(tensor(timesteps, ScalarType.Int64), device);
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (NumInferenceSteps == 0)
            throw new InvalidOperationException("Number of inference steps is not set: call SetTimesteps after creating the scheduler.");
        using var scope = NewDisposeScope();
        // Notation follows formula (12) of the DDIM paper.
        var t = TimestepValue(timestep);
        var prevTimestep = t - _numTrainTimesteps / NumInferenceSteps;
        var alphaProdT = _alphasCumprod[t];
        var alphaProdTPrev = prevTimestep >= 0 ? _alphasCumprod[prevTimestep] : _finalAlphaCumprod;
        var betaProdT = 1 - alphaProdT;

        Tensor predOriginalSample, predEpsilon;
        switch (_predictionType)
        {
            case "epsilon":
                predOriginalSample = (sample - modelOutput * MathF.Sqrt(betaProdT)) / MathF.Sqrt(alphaProdT);
                predEpsilon = modelOutput;
                break;
            case "sample":
                predOriginalSample = modelOutput;
                predEpsilon = (sample - predOriginalSample * MathF.Sqrt(alphaProdT)) / MathF.Sqrt(betaProdT);
                break;
            default:
                predOriginalSample = sample * MathF.Sqrt(alphaProdT) - modelOutput * MathF.Sqrt(betaProdT);
                predEpsilon = modelOutput * MathF.Sqrt(alphaProdT) + sample * MathF.Sqrt(betaProdT);
                break;
        }

        if (_thresholding)
            predOriginalSample = ThresholdSample(predOriginalSample, Config.GetDouble("dynamic_thresholding_ratio", 0.995), Config.GetDouble("sample_max_value", 1.0));
        else if (_clipSample)
            predOriginalSample = predOriginalSample.clamp(-_clipSampleRange, _clipSampleRange);

        // σ_t(η) of formula (16); eta is a Python float multiplying a float32 0-d tensor.
        var betaProdTPrev = 1 - alphaProdTPrev;
        var variance = betaProdTPrev / betaProdT * (1 - alphaProdT / alphaProdTPrev);
        var stdDevT = (float)eta * MathF.Sqrt(variance);

        var predSampleDirection = predEpsilon * MathF.Sqrt(1 - alphaProdTPrev - stdDevT * stdDevT);
        var prevSample = predOriginalSample * MathF.Sqrt(alphaProdTPrev) + predSampleDirection;

        if (eta > 0)
        {
            var varianceNoise = RandnLike(modelOutput, generator);
            prevSample = prevSample + varianceNoise * stdDevT;
        }

        if (ReferenceEquals(predOriginalSample, modelOutput)) predOriginalSample = modelOutput.alias();
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithAlphasCumprod(_alphasCumprod, originalSamples, noise, timesteps);
}
