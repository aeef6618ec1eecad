using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// DPM-Solver++ multistep in the EDM formulation: EDM's sigmas and preconditioning, with α_t = 1 (the model input is
/// pre-scaled) and σ_t = σ.
/// </summary>
public sealed class EDMDPMSolverMultistepScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("sigma_min", 0.002), ("sigma_max", 80.0), ("sigma_data", 0.5), ("sigma_schedule", "karras"),
        ("num_train_timesteps", 1000), ("prediction_type", "epsilon"), ("rho", 7.0), ("solver_order", 2),
        ("thresholding", false), ("dynamic_thresholding_ratio", 0.995), ("sample_max_value", 1.0),
        ("algorithm_type", "dpmsolver++"), ("solver_type", "midpoint"), ("lower_order_final", true),
        ("euler_at_final", false), ("final_sigmas_type", "zero"),
    ];

    private readonly EdmPreconditioning _edm;
    private readonly int _solverOrder;
    private readonly string _algorithmType;
    private readonly bool _midpoint;
    private readonly string _finalSigmasType;
    private readonly bool _lowerOrderFinal;
    private readonly bool _eulerAtFinal;
    private readonly bool _thresholding;
    private readonly Tensor?[] _modelOutputs;
    private int _lowerOrderNums;

    public EDMDPMSolverMultistepScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        // diffusers maps DEIS / UniPC names onto its own so that configs from those schedulers load.
        if (Config.GetString("algorithm_type", "dpmsolver++") == "deis") Config["algorithm_type"] = "dpmsolver++";
        if (Config.GetString("solver_type", "midpoint") is "logrho" or "bh1" or "bh2") Config["solver_type"] = "midpoint";
        _algorithmType = RequireOneOf("algorithm_type", "dpmsolver++", "sde-dpmsolver++");
        _midpoint = RequireOneOf("solver_type", "midpoint", "heun") == "midpoint";
        _edm = new EdmPreconditioning(Config, RequireOneOf("prediction_type", "epsilon", "v_prediction") == "v_prediction",
            RequireOneOf("sigma_schedule", "karras", "exponential"), float32Ramp: true);
        _finalSigmasType = RequireOneOf("final_sigmas_type", "zero", "sigma_min");
        _solverOrder = Config.GetInt("solver_order", 2);
        if (_solverOrder < 1) throw new NotSupportedException($"Unsupported config option solver_order={_solverOrder}: must be at least 1.");
        _lowerOrderFinal = Config.GetBool("lower_order_final", true);
        _eulerAtFinal = Config.GetBool("euler_at_final", false);
        _thresholding = Config.GetBool("thresholding", false);
        _modelOutputs = new Tensor?[_solverOrder];

        var sigmas = _edm.Sigmas(NumPyCompat.ToFloat64(TorchLinspace(0, 1, Config.GetInt("num_train_timesteps", 1000))));
        SetTimestepsTensor(tensor(EdmPreconditioning.NoiseConditioning(sigmas), ScalarType.Float32));
        StoreSigmas(sigmas.Append(0f).ToArray());
    }

    public override string ClassName => "EDMDPMSolverMultistepScheduler";

    /// <summary>sqrt(σ_max² + 1), in Python floats.</summary>
    public override double InitNoiseSigma => Math.Pow(Math.Pow(_edm.SigmaMax, 2) + 1, 0.5);

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
        var sigmas = _edm.Sigmas(NumPyCompat.ToFloat64(TorchLinspace(0, 1, numInferenceSteps)));
        SetTimestepsTensor(tensor(EdmPreconditioning.NoiseConditioning(sigmas), ScalarType.Float32), device);
        var sigmaLast = _finalSigmasType == "sigma_min" ? (float)_edm.SigmaMin : 0f;
        StoreSigmas(sigmas.Append(sigmaLast).ToArray());
        ClearModelOutputs();
        _lowerOrderNums = 0;
        StepIndex = null;
        BeginIndex = null;
    }

    public override Tensor ScaleModelInput(Tensor sample, SchedulerTimestep timestep) =>
        sample * _edm.CIn(SigmaValues[CurrentStepIndex(timestep, lastIfMissing: true)]);

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (NumInferenceSteps == 0)
            throw new InvalidOperationException("Number of inference steps is not set: call SetTimesteps after creating the scheduler.");
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep, lastIfMissing: true);
        var count = (int)Timesteps.shape[0];
        var lowerOrderFinal = index == count - 1 && (_eulerAtFinal || (_lowerOrderFinal && count < 15) || _finalSigmasType == "zero");
        var lowerOrderSecond = index == count - 2 && _lowerOrderFinal && count < 15;

        var x0 = _edm.Denoise(sample, modelOutput, SigmaValues[index]);
        if (_thresholding)
            x0 = ThresholdSample(x0, Config.GetDouble("dynamic_thresholding_ratio", 0.995), Config.GetDouble("sample_max_value", 1.0));
        Release(_modelOutputs[0]);
        for (var i = 0; i < _solverOrder - 1; i++) _modelOutputs[i] = _modelOutputs[i + 1];
        _modelOutputs[^1] = Keep(x0);

        var noise = _algorithmType == "sde-dpmsolver++" ? RandnLike(x0, generator) : null;
        Tensor prevSample;
        if (_solverOrder == 1 || _lowerOrderNums < 1 || lowerOrderFinal)
            prevSample = DPMSolverUpdates.FirstOrder(_algorithmType, Point(index + 1), Point(index), x0, sample, noise);
        else if (_solverOrder == 2 || _lowerOrderNums < 2 || lowerOrderSecond)
            prevSample = DPMSolverUpdates.SecondOrder(_algorithmType, _midpoint, Point(index + 1), Point(index), Point(index - 1),
                _modelOutputs[^1]!, _modelOutputs[^2]!, sample, noise);
        else if (_algorithmType == "dpmsolver++")
            prevSample = DPMSolverUpdates.ThirdOrder(_algorithmType, Point(index + 1), Point(index), Point(index - 1), Point(index - 2),
                _modelOutputs[^1]!, _modelOutputs[^2]!, _modelOutputs[^3]!, sample, null);
        else
            throw new NotSupportedException("EDMDPMSolverMultistepScheduler has no third-order update for sde-dpmsolver++ (diffusers fails here too); use solver_order 2.");

        if (_lowerOrderNums < _solverOrder) _lowerOrderNums++;
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), null);
    }

    /// <summary>EDM inputs are pre-scaled, so α_t = 1 and σ_t = σ.</summary>
    private DpmPoint Point(int index) => DpmPoint.Of(1, SigmaValues[index]);

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithSigmas(originalSamples, noise, timesteps, lastIfMissing: true);

    private void ClearModelOutputs()
    {
        for (var i = 0; i < _modelOutputs.Length; i++)
        {
            Release(_modelOutputs[i]);
            _modelOutputs[i] = null;
        }
    }
}
