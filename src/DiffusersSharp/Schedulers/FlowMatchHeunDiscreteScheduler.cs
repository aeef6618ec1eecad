using DiffusersSharp.Loading;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Heun's method (second order, two model evaluations per step) for flow matching with a shifted sigma schedule.
/// Every timestep after the first appears twice: the Euler predictor and the trapezoidal corrector.
/// </summary>
public sealed class FlowMatchHeunDiscreteScheduler : SchedulerMixin, IFlowMatchScheduler
{
    private static readonly (string, object?)[] Defaults = [("num_train_timesteps", 1000), ("shift", 1.0)];

    private readonly int _numTrainTimesteps;
    private readonly double _shift;
    private readonly float _sigmaMin;
    private readonly float _sigmaMax;

    // State between the predictor and the corrector; null in first-order state.
    private Tensor? _prevDerivative;
    private Tensor? _sample;
    private float? _dt;

    public FlowMatchHeunDiscreteScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _shift = Config.GetDouble("shift", 1.0);
        var n = _numTrainTimesteps;
        var sigmas = NumPyCompat.ToFloat32(NumPyCompat.Reverse(NumPyCompat.Linspace(1, n, n)))
            .Select(t => FlowMatchEulerDiscreteScheduler.ShiftSigma32(t / n, _shift)).ToArray();
        SetTimestepsTensor(tensor(sigmas.Select(s => s * n).ToArray()));
        StoreSigmas(sigmas);
        _sigmaMin = sigmas[^1];
        _sigmaMax = sigmas[0];
    }

    public override string ClassName => "FlowMatchHeunDiscreteScheduler";

    public override int Order => 2;

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
        var N = _numTrainTimesteps;
        var sigmas = NumPyCompat.ToFloat32(NumPyCompat.Linspace((double)_sigmaMax * N, (double)_sigmaMin * N, numInferenceSteps)
            .Select(t => t / N).Select(s => _shift * s / (1 + (_shift - 1) * s)).ToArray());
        var timesteps = sigmas.Select(s => s * N).ToArray();
        // Each timestep but the first twice; each sigma but the first and the terminal 0 twice.
        SetTimestepsTensor(tensor(timesteps[..1].Concat(timesteps[1..].SelectMany(t => new[] { t, t })).ToArray(), ScalarType.Float32), device);
        StoreSigmas(sigmas[..1].Concat(sigmas[1..].SelectMany(s => new[] { s, s })).Append(0f).ToArray());
        ResetCorrector();
        StepIndex = null;
        BeginIndex = null;
    }

    /// <summary>diffusers' <c>scale_noise</c> here takes one (scalar) timestep and sets the step index from it.</summary>
    public Tensor ScaleNoise(Tensor sample, Tensor timestep, Tensor noise)
    {
        var sigma = SigmaValues[CurrentStepIndex(timestep)];
        using var scope = NewDisposeScope();
        return (noise * sigma + sample * (1 - sigma)).MoveToOuterDisposeScope();
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (!timestep.Tensor.is_floating_point())
            throw new ArgumentException("FlowMatchHeunDiscreteScheduler.Step takes one of Timesteps as the timestep, not an integer index.", nameof(timestep));
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        sample = sample.to(ScalarType.Float32);

        Tensor prevSample;
        if (_dt is null)
        {
            // Predictor: an Euler step, remembered for the corrector (s_churn = 0: σ̂ = σ).
            var sigma = SigmaValues[index];
            var sigmaNext = SigmaValues[index + 1];
            var denoised = sample - modelOutput * sigma;
            var derivative = (sample - denoised) / sigma;
            var dt = sigmaNext - sigma;
            Replace(ref _prevDerivative, derivative.clone());
            Replace(ref _sample, sample.clone());
            _dt = dt;
            prevSample = sample + derivative * dt;
        }
        else
        {
            // Corrector: the average of the two slopes, from the predictor's starting sample.
            var sigmaNext = SigmaValues[index];
            var denoised = sample - modelOutput * sigmaNext;
            var derivative = ((sample - denoised) / sigmaNext + _prevDerivative!) * 0.5;
            prevSample = _sample! + derivative * _dt.Value;
            ResetCorrector();
        }

        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.to(modelOutput.dtype).MoveToOuterDisposeScope(), null);
    }

    private void ResetCorrector()
    {
        Replace(ref _prevDerivative, null);
        Replace(ref _sample, null);
        _dt = null;
    }
}
