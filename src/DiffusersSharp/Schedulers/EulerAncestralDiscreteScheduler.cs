using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Ancestral sampling with Euler steps (k-diffusion's <c>sample_euler_ancestral</c>): each step goes down to σ_down
/// deterministically and adds fresh noise of size σ_up.
/// </summary>
public sealed class EulerAncestralDiscreteScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("prediction_type", "epsilon"), ("timestep_spacing", "linspace"), ("steps_offset", 0),
        ("rescale_betas_zero_snr", false),
    ];

    private readonly int _numTrainTimesteps;
    private readonly bool _vPrediction;
    private readonly string _timestepSpacing;
    private readonly int _stepsOffset;
    private readonly float[] _alphasCumprod;

    public EulerAncestralDiscreteScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        // diffusers raises NotImplementedError for "sample" here.
        _vPrediction = RequireOneOf("prediction_type", "epsilon", "v_prediction") == "v_prediction";
        _timestepSpacing = RequireOneOf("timestep_spacing", "linspace", "leading", "trailing");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _stepsOffset = Config.GetInt("steps_offset", 0);

        _alphasCumprod = AlphasCumprod(Config, zeroSnrFloor: true);
        StoreSigmas(SigmasFromAlphasCumprod(_alphasCumprod).Reverse().Append(0f).ToArray());
        SetTimestepsTensor(tensor(NumPyCompat.Reverse(NumPyCompat.Linspace(0, _numTrainTimesteps - 1, _numTrainTimesteps)), ScalarType.Float64));
    }

    public override string ClassName => "EulerAncestralDiscreteScheduler";

    public override double InitNoiseSigma => SigmaInitNoiseSigma(_timestepSpacing);

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        NumInferenceSteps = n;
        var timesteps = FloatTimesteps(_timestepSpacing, _numTrainTimesteps, n, _stepsOffset);
        StoreSigmas(NumPyCompat.ToFloat32(InterpolateSigmas(timesteps, SigmasFromAlphasCumprod(_alphasCumprod)).Append(0.0).ToArray()));
        SetTimestepsTensor(tensor(timesteps, ScalarType.Float32), device);
        StepIndex = null;
        BeginIndex = null;
    }

    public override Tensor ScaleModelInput(Tensor sample, SchedulerTimestep timestep) => ScaleBySigma(sample, timestep);

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (!timestep.Tensor.is_floating_point())
            throw new ArgumentException("EulerAncestralDiscreteScheduler.Step takes one of Timesteps as the timestep, not an integer index.", nameof(timestep));
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        var sigma = SigmaValues[index];
        sample = sample.to(ScalarType.Float32);

        var predOriginalSample = _vPrediction
            ? modelOutput * (-sigma / MathF.Sqrt(sigma * sigma + 1)) + sample / (sigma * sigma + 1)
            : sample - modelOutput * sigma;

        var sigmaFrom = SigmaValues[index];
        var sigmaTo = SigmaValues[index + 1];
        var sigmaUp = MathF.Sqrt(sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom));
        var sigmaDown = MathF.Sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);

        var derivative = (sample - predOriginalSample) / sigma;
        var dt = sigmaDown - sigma;
        var prevSample = sample + derivative * dt;
        // diffusers draws the noise on every step, the last (σ_up = 0) included.
        var noise = RandnLike(modelOutput, generator);
        prevSample = (prevSample + noise * sigmaUp).to(modelOutput.dtype);

        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithSigmas(originalSamples, noise, timesteps);
}
