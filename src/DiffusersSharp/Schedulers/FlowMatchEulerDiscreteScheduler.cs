using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Euler steps for flow matching (rectified flow, as in SD3 and Flux): x_t = (1 − σ) x0 + σ ε, the model predicting
/// the velocity, with a shifted (or resolution-dependent, "dynamic") sigma schedule.
/// </summary>
public sealed class FlowMatchEulerDiscreteScheduler : SchedulerMixin, IFlowMatchScheduler
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("shift", 1.0), ("use_dynamic_shifting", false), ("base_shift", 0.5),
        ("max_shift", 1.15), ("base_image_seq_len", 256), ("max_image_seq_len", 4096), ("invert_sigmas", false),
        ("shift_terminal", null), ("use_karras_sigmas", false), ("use_exponential_sigmas", false),
        ("use_beta_sigmas", false), ("time_shift_type", "exponential"), ("stochastic_sampling", false),
    ];

    private readonly int _numTrainTimesteps;
    private readonly bool _useDynamicShifting;
    private readonly string _timeShiftType;
    private readonly bool _stochasticSampling;
    private readonly float _sigmaMin;
    private readonly float _sigmaMax;

    public FlowMatchEulerDiscreteScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireOneSigmaSchedule(Config);
        _timeShiftType = RequireOneOf("time_shift_type", "exponential", "linear");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _useDynamicShifting = Config.GetBool("use_dynamic_shifting", false);
        _stochasticSampling = Config.GetBool("stochastic_sampling", false);
        Shift = Config.GetDouble("shift", 1.0);

        // The training schedule, in float32 torch arithmetic.
        var n = _numTrainTimesteps;
        var sigmas = NumPyCompat.ToFloat32(NumPyCompat.Reverse(NumPyCompat.Linspace(1, n, n))).Select(t => t / n).ToArray();
        if (!_useDynamicShifting) sigmas = sigmas.Select(s => ShiftSigma32(s, Shift)).ToArray();
        SetTimestepsTensor(tensor(sigmas.Select(s => s * n).ToArray()));
        StoreSigmas(sigmas);
        _sigmaMin = sigmas[^1];
        _sigmaMax = sigmas[0];
    }

    public override string ClassName => "FlowMatchEulerDiscreteScheduler";

    /// <summary>The shift used by the next <see cref="SetTimesteps(int, Device?)"/> (diffusers' <c>shift</c> / <c>set_shift</c>).</summary>
    public double Shift { get; set; }

    public override void SetTimesteps(int numInferenceSteps, Device? device = null) => SetTimesteps(numInferenceSteps, device, null);

    /// <param name="mu">The resolution-dependent shift exponent; required when <c>use_dynamic_shifting</c> is set.</param>
    public void SetTimesteps(int numInferenceSteps, Device? device, double? mu)
    {
        ValidateInferenceSteps(numInferenceSteps);
        if (_useDynamicShifting && mu is null)
            throw new ArgumentException("mu must be passed when use_dynamic_shifting is set.", nameof(mu));
        var n = numInferenceSteps;
        NumInferenceSteps = n;

        // NumPy float64 from here to the cast.
        var N = _numTrainTimesteps;
        var sigmas = NumPyCompat.Linspace((double)_sigmaMax * N, (double)_sigmaMin * N, n).Select(t => t / N).ToArray();
        sigmas = _useDynamicShifting
            ? sigmas.Select(t => TimeShift(mu!.Value, t)).ToArray()
            : sigmas.Select(s => Shift * s / (1 + (Shift - 1) * s)).ToArray();
        if (Config.GetNullableDouble("shift_terminal") is { } shiftTerminal && shiftTerminal != 0)
        {
            // Stretch so that the last sigma lands on shift_terminal.
            var scaleFactor = (1 - sigmas[^1]) / (1 - shiftTerminal);
            sigmas = sigmas.Select(s => 1 - (1 - s) / scaleFactor).ToArray();
        }
        sigmas = ConvertedSigmas(Config, sigmas, n) ?? sigmas;

        var sigmas32 = NumPyCompat.ToFloat32(sigmas);
        float terminal = 0;
        if (Config.GetBool("invert_sigmas", false))
        {
            sigmas32 = sigmas32.Select(s => 1 - s).ToArray();
            terminal = 1;
        }
        SetTimestepsTensor(tensor(sigmas32.Select(s => s * N).ToArray(), ScalarType.Float32), device);
        StoreSigmas(sigmas32.Append(terminal).ToArray());
        StepIndex = null;
        BeginIndex = null;
    }

    /// <summary>diffusers' <c>time_shift(mu, 1.0, t)</c> in float64.</summary>
    private double TimeShift(double mu, double t) => _timeShiftType == "exponential"
        ? Math.Exp(mu) / (Math.Exp(mu) + (1 / t - 1))
        : mu / (mu + (1 / t - 1));

    /// <summary>shift σ / (1 + (shift − 1) σ) on a float32 tensor (the Python float shift rounded to float32).</summary>
    internal static float ShiftSigma32(float sigma, double shift) => (float)shift * sigma / (1 + (float)(shift - 1) * sigma);

    public Tensor ScaleNoise(Tensor sample, Tensor timestep, Tensor noise)
    {
        using var scope = NewDisposeScope();
        var sigmas = AddNoiseStepIndices(timestep, Timesteps).Select(i => SigmaValues[i]).ToArray();
        var sigma = PerSample(sigmas, sample);
        var oneMinusSigma = PerSample(sigmas.Select(s => 1 - s).ToArray(), sample);
        return (sigma * noise + oneMinusSigma * sample).MoveToOuterDisposeScope();
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (!timestep.Tensor.is_floating_point())
            throw new ArgumentException("FlowMatchEulerDiscreteScheduler.Step takes one of Timesteps as the timestep, not an integer index.", nameof(timestep));
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        sample = sample.to(ScalarType.Float32);
        var sigma = SigmaValues[index];
        var sigmaNext = SigmaValues[index + 1];
        Tensor prevSample;
        if (_stochasticSampling)
        {
            var x0 = sample - modelOutput * sigma;
            // diffusers 0.38 draws this noise from the global RNG (randn_like), ignoring the generator.
            var noise = randn_like(sample);
            prevSample = x0 * (1 - sigmaNext) + noise * sigmaNext;
        }
        else
        {
            prevSample = sample + modelOutput * (sigmaNext - sigma);
        }
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.to(modelOutput.dtype).MoveToOuterDisposeScope(), null);
    }
}
