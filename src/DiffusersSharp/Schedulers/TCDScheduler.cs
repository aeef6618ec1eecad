using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Trajectory consistency distillation (https://huggingface.co/papers/2402.19159): a strategic stochastic step that
/// goes from x0 to an intermediate timestep s = floor((1 − γ) t_prev), then re-noises to t_prev. γ is the
/// <c>eta</c> argument of <see cref="Step"/> (diffusers' default is 0.3; pass it explicitly).
/// </summary>
public sealed class TCDScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.00085), ("beta_end", 0.012), ("beta_schedule", "scaled_linear"),
        ("trained_betas", null), ("original_inference_steps", 50), ("clip_sample", false), ("clip_sample_range", 1.0),
        ("set_alpha_to_one", true), ("steps_offset", 0), ("prediction_type", "epsilon"), ("thresholding", false),
        ("dynamic_thresholding_ratio", 0.995), ("sample_max_value", 1.0), ("timestep_spacing", "leading"),
        ("timestep_scaling", 10.0), ("rescale_betas_zero_snr", false),
    ];

    private readonly int _numTrainTimesteps;
    private readonly string _predictionType;
    private readonly float[] _alphasCumprod;
    private long[] _schedule = [];

    public TCDScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        _predictionType = RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _alphasCumprod = AlphasCumprod(Config);
        SetTimestepsTensor(arange(_numTrainTimesteps - 1, -1, -1, ScalarType.Int64));
    }

    public override string ClassName => "TCDScheduler";

    public override void SetTimesteps(int numInferenceSteps, Device? device = null) => SetTimesteps(numInferenceSteps, device, 1.0);

    /// <param name="strength">img2img strength: the schedule is taken from the first <c>strength</c> fraction of the training steps.</param>
    public void SetTimesteps(int numInferenceSteps, Device? device, double strength)
    {
        ValidateInferenceSteps(numInferenceSteps);
        _schedule = LCMScheduler.ConsistencySchedule(_numTrainTimesteps, Config.GetInt("original_inference_steps", 50), numInferenceSteps, strength);
        NumInferenceSteps = numInferenceSteps;
        SetTimestepsTensor(tensor(_schedule, ScalarType.Int64), device);
        StepIndex = null;
        BeginIndex = null;
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (NumInferenceSteps == 0)
            throw new InvalidOperationException("Number of inference steps is not set: call SetTimesteps after creating the scheduler.");
        if (eta is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(eta), eta, "TCD's gamma (eta) must be in [0, 1].");
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        var t = TimestepValue(timestep);
        var prevT = index + 1 < _schedule.Length ? _schedule[index + 1] : 0;
        // s = floor((1 − γ) t_prev), computed on the float32 tensor as diffusers does.
        var timestepS = (long)MathF.Floor((float)(1 - eta) * prevT);

        var alphaProdT = _alphasCumprod[t];
        var betaProdT = 1 - alphaProdT;
        var alphaProdTPrev = _alphasCumprod[prevT];
        var alphaProdS = _alphasCumprod[timestepS];
        var betaProdS = 1 - alphaProdS;

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
        var predNoisedSample = predOriginalSample * MathF.Sqrt(alphaProdS) + predEpsilon * MathF.Sqrt(betaProdS);

        var prevSample = predNoisedSample;
        if (eta > 0 && index != NumInferenceSteps - 1)
        {
            var noise = RandnLike(predNoisedSample, generator);
            prevSample = predNoisedSample * MathF.Sqrt(alphaProdTPrev / alphaProdS) + noise * MathF.Sqrt(1 - alphaProdTPrev / alphaProdS);
        }
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), null);
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithAlphasCumprod(_alphasCumprod, originalSamples, noise, timesteps);
}
