using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Latent consistency models (https://huggingface.co/papers/2310.04378): each step maps the sample straight to a
/// denoised estimate (with the consistency boundary condition c_skip, c_out) and re-noises it to the next timestep.
/// </summary>
public sealed class LCMScheduler : SchedulerMixin
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
    private readonly float _finalAlphaCumprod;
    private long[] _schedule = [];

    public LCMScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        _predictionType = RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _alphasCumprod = AlphasCumprod(Config);
        _finalAlphaCumprod = Config.GetBool("set_alpha_to_one", true) ? 1f : _alphasCumprod[0];
        SetTimestepsTensor(arange(_numTrainTimesteps - 1, -1, -1, ScalarType.Int64));
    }

    public override string ClassName => "LCMScheduler";

    public override void SetTimesteps(int numInferenceSteps, Device? device = null) => SetTimesteps(numInferenceSteps, device, 1.0);

    /// <param name="strength">img2img strength: the schedule is taken from the first <c>strength</c> fraction of the training steps.</param>
    public void SetTimesteps(int numInferenceSteps, Device? device, double strength)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var originalSteps = Config.GetInt("original_inference_steps", 50);
        _schedule = ConsistencySchedule(_numTrainTimesteps, originalSteps, numInferenceSteps, strength);
        NumInferenceSteps = numInferenceSteps;
        SetTimestepsTensor(tensor(_schedule, ScalarType.Int64), device);
        StepIndex = null;
        BeginIndex = null;
    }

    /// <summary>
    /// The LCM/TCD schedule: every k-th training timestep of the original <paramref name="originalSteps"/>-step
    /// schedule (k = N / originalSteps), descending, sub-sampled at floor(linspace(0, len, n, endpoint=False)).
    /// </summary>
    internal static long[] ConsistencySchedule(int trainSteps, int originalSteps, int n, double strength)
    {
        if (originalSteps > trainSteps)
            throw new ArgumentException($"original_inference_steps ({originalSteps}) cannot be larger than num_train_timesteps ({trainSteps}).");
        var k = trainSteps / originalSteps;
        var origin = Enumerable.Range(1, (int)(originalSteps * strength)).Select(i => (long)i * k - 1).Reverse().ToArray();
        if (n > trainSteps)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"num_inference_steps cannot be larger than num_train_timesteps ({trainSteps}).");
        if (origin.Length / n < 1)
            throw new ArgumentOutOfRangeException(nameof(n), n,
                $"original_inference_steps x strength ({originalSteps} x {strength}) is smaller than num_inference_steps ({n}).");
        if (n > originalSteps)
            throw new ArgumentOutOfRangeException(nameof(n), n, $"num_inference_steps cannot be larger than original_inference_steps ({originalSteps}).");
        return NumPyCompat.Linspace(0, origin.Length, n, endpoint: false).Select(x => origin[(long)Math.Floor(x)]).ToArray();
    }

    /// <summary>The next timestep in the schedule (the current one on the last step).</summary>
    internal static long PreviousTimestep(long[] schedule, int index, long timestep) => index + 1 < schedule.Length ? schedule[index + 1] : timestep;

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (NumInferenceSteps == 0)
            throw new InvalidOperationException("Number of inference steps is not set: call SetTimesteps after creating the scheduler.");
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        var t = TimestepValue(timestep);
        var prevT = PreviousTimestep(_schedule, index, t);
        var alphaProdT = _alphasCumprod[t];
        var alphaProdTPrev = prevT >= 0 ? _alphasCumprod[prevT] : _finalAlphaCumprod;
        var betaProdT = 1 - alphaProdT;
        var betaProdTPrev = 1 - alphaProdTPrev;

        // Consistency boundary condition at σ_data = 0.5 (the int64 timestep scaled to float32).
        var scaled = (float)t * (float)Config.GetDouble("timestep_scaling", 10.0);
        var denominator = scaled * scaled + 0.25f;
        var cSkip = 1 / denominator * 0.25f;
        var cOut = scaled / MathF.Sqrt(denominator);

        var predOriginalSample = _predictionType switch
        {
            "epsilon" => (sample - modelOutput * MathF.Sqrt(betaProdT)) / MathF.Sqrt(alphaProdT),
            "sample" => modelOutput.alias(),
            _ => sample * MathF.Sqrt(alphaProdT) - modelOutput * MathF.Sqrt(betaProdT),
        };
        if (Config.GetBool("thresholding", false))
            predOriginalSample = ThresholdSample(predOriginalSample, Config.GetDouble("dynamic_thresholding_ratio", 0.995), Config.GetDouble("sample_max_value", 1.0));
        else if (Config.GetBool("clip_sample", false))
        {
            var range = Config.GetDouble("clip_sample_range", 1.0);
            predOriginalSample = predOriginalSample.clamp(-range, range);
        }

        var denoised = predOriginalSample * cOut + sample * cSkip;
        var prevSample = denoised;
        if (index != NumInferenceSteps - 1)
        {
            // Re-noise the consistency estimate to the next timestep (no noise after the last step).
            var noise = RandnLike(denoised, generator);
            prevSample = denoised * MathF.Sqrt(alphaProdTPrev) + noise * MathF.Sqrt(betaProdTPrev);
        }
        StepIndex = index + 1;
        // The caller owns both outputs, so the last step returns the denoised sample twice as two tensors.
        var prevOut = ReferenceEquals(prevSample, denoised) ? denoised.clone() : prevSample;
        return new SchedulerOutput(prevOut.MoveToOuterDisposeScope(), denoised.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithAlphasCumprod(_alphasCumprod, originalSamples, noise, timesteps);
}
