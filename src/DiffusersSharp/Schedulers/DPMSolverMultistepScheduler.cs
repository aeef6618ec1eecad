using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// DPM-Solver (https://huggingface.co/papers/2206.00927) and DPM-Solver++ (https://huggingface.co/papers/2211.01095),
/// multistep: first to third order, ODE or SDE variants, in data prediction (++) or noise prediction.
/// </summary>
public sealed class DPMSolverMultistepScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("solver_order", 2), ("prediction_type", "epsilon"), ("thresholding", false),
        ("dynamic_thresholding_ratio", 0.995), ("sample_max_value", 1.0), ("algorithm_type", "dpmsolver++"),
        ("solver_type", "midpoint"), ("lower_order_final", true), ("euler_at_final", false),
        ("use_karras_sigmas", false), ("use_exponential_sigmas", false), ("use_beta_sigmas", false),
        ("use_lu_lambdas", false), ("use_flow_sigmas", false), ("flow_shift", 1.0), ("final_sigmas_type", "zero"),
        ("lambda_min_clipped", double.NegativeInfinity), ("variance_type", null), ("timestep_spacing", "linspace"),
        ("steps_offset", 0), ("rescale_betas_zero_snr", false), ("use_dynamic_shifting", false),
        ("time_shift_type", "exponential"),
    ];

    private readonly int _numTrainTimesteps;
    private readonly int _solverOrder;
    private readonly string _predictionType;
    private readonly string _algorithmType;
    private readonly string _solverType;
    private readonly string _timestepSpacing;
    private readonly string _finalSigmasType;
    private readonly bool _lowerOrderFinal;
    private readonly bool _eulerAtFinal;
    private readonly bool _useLuLambdas;
    private readonly bool _useFlowSigmas;
    private readonly bool _learnedVariance;
    private readonly bool _thresholding;
    private readonly float[] _alphasCumprod;
    private readonly float[] _lambdaT;

    private readonly Tensor?[] _modelOutputs;
    private int _lowerOrderNums;

    public DPMSolverMultistepScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        RequireOneSigmaSchedule(Config);
        _useLuLambdas = Config.GetBool("use_lu_lambdas", false);
        _useFlowSigmas = Config.GetBool("use_flow_sigmas", false);

        // diffusers maps DEIS / UniPC names onto its own so that configs from those schedulers load.
        if (Config.GetString("algorithm_type", "dpmsolver++") == "deis") Config["algorithm_type"] = "dpmsolver++";
        if (Config.GetString("solver_type", "midpoint") is "logrho" or "bh1" or "bh2") Config["solver_type"] = "midpoint";
        _algorithmType = RequireOneOf("algorithm_type", "dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver");
        _solverType = RequireOneOf("solver_type", "midpoint", "heun");
        _predictionType = _algorithmType.EndsWith("++", StringComparison.Ordinal)
            ? RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction", "flow_prediction")
            : RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction");
        _finalSigmasType = RequireOneOf("final_sigmas_type", "zero", "sigma_min");
        if (!_algorithmType.EndsWith("++", StringComparison.Ordinal) && _finalSigmasType == "zero")
            throw new ArgumentException($"final_sigmas_type \"zero\" is not supported for algorithm_type \"{_algorithmType}\": choose \"sigma_min\".");
        // Only learned variances change anything (the model then outputs 2x the channels); DDPM configs bring "fixed_small".
        _learnedVariance = Config.GetNullableString("variance_type") is "learned" or "learned_range";
        _timestepSpacing = RequireOneOf("timestep_spacing", "linspace", "leading", "trailing");
        RequireOneOf("time_shift_type", "exponential");
        _solverOrder = Config.GetInt("solver_order", 2);
        if (_solverOrder < 1) throw new NotSupportedException($"Unsupported config option solver_order={_solverOrder}: must be at least 1.");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _lowerOrderFinal = Config.GetBool("lower_order_final", true);
        _eulerAtFinal = Config.GetBool("euler_at_final", false);
        _thresholding = Config.GetBool("thresholding", false);

        _alphasCumprod = AlphasCumprod(Config, zeroSnrFloor: true);
        // λ(t) = log α_t − log σ_t, only used to clip the schedule at lambda_min_clipped.
        _lambdaT = LambdaT(_alphasCumprod);
        StoreSigmas(SigmasFromAlphasCumprod(_alphasCumprod));
        SetTimestepsTensor(tensor(NumPyCompat.ToFloat32(NumPyCompat.Reverse(NumPyCompat.Linspace(0, _numTrainTimesteps - 1, _numTrainTimesteps)))));
        _modelOutputs = new Tensor?[_solverOrder];
    }

    public override string ClassName => "DPMSolverMultistepScheduler";

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        var N = _numTrainTimesteps;

        // Clip the schedule where λ(t) drops below lambda_min_clipped (for numerical stability of cosine schedules).
        var timesteps = MultistepTimesteps(_timestepSpacing, N, LastTimestep(Config, _lambdaT), n, Config.GetInt("steps_offset", 0));

        var trainSigmas32 = SigmasFromAlphasCumprod(_alphasCumprod);
        var trainSigmas = NumPyCompat.ToFloat64(trainSigmas32);
        var logSigmas = LogSigmas(trainSigmas32);
        // Karras-type timesteps come from interpolated (fractional) timesteps; diffusers rounds them except for the cosine schedule.
        var roundTimesteps = Config.GetString("beta_schedule", "linear") != "squaredcos_cap_v2";

        double[] sigmas;
        if (ConvertedSigmas(Config, NumPyCompat.Reverse(trainSigmas), n) is { } converted)
        {
            sigmas = converted;
            timesteps = sigmas.Select(s => SigmaToT(s, logSigmas)).ToArray();
            if (Config.GetBool("use_karras_sigmas", false) && roundTimesteps) timesteps = NumPyCompat.Round(timesteps);
        }
        else if (_useLuLambdas)
        {
            // Lu et al.'s uniform-λ schedule, built (as diffusers does) on the log-sigmas.
            var lambdaMax = (double)logSigmas[^1];
            var lambdaMinLu = (double)logSigmas[0];
            sigmas = NumPyCompat.Linspace(0, 1, n).Select(r => Math.Exp(lambdaMax + r * (lambdaMinLu - lambdaMax))).ToArray();
            timesteps = sigmas.Select(s => SigmaToT(s, logSigmas)).ToArray();
            if (roundTimesteps) timesteps = NumPyCompat.Round(timesteps);
        }
        else if (_useFlowSigmas)
        {
            var shift = Config.GetDouble("flow_shift", 1.0);
            sigmas = FlowSigmas(N, n, shift);
            timesteps = sigmas.Select(s => s * N).ToArray();
        }
        else
        {
            sigmas = NumPyCompat.Interp(timesteps, NumPyCompat.Indices(trainSigmas.Length), trainSigmas);
        }

        var sigmaLast = _finalSigmasType == "sigma_min" ? SigmaFromAlphaCumprod(_alphasCumprod[0]) : 0f;
        StoreSigmas(NumPyCompat.ToFloat32(sigmas).Append(sigmaLast).ToArray());
        SetTimestepsTensor(tensor(NumPyCompat.ToInt64(timesteps), ScalarType.Int64), device);
        NumInferenceSteps = timesteps.Length;
        ClearModelOutputs();
        _lowerOrderNums = 0;
        StepIndex = null;
        BeginIndex = null;
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (NumInferenceSteps == 0)
            throw new InvalidOperationException("Number of inference steps is not set: call SetTimesteps after creating the scheduler.");
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep, lastIfMissing: true);
        var count = (int)Timesteps.shape[0];
        // Lower orders at the end stabilise few-step sampling (and avoid the zero final sigma in higher-order terms).
        var lowerOrderFinal = index == count - 1 && (_eulerAtFinal || (_lowerOrderFinal && count < 15) || _finalSigmasType == "zero");
        var lowerOrderSecond = index == count - 2 && _lowerOrderFinal && count < 15;

        var converted = ConvertModelOutput(modelOutput, sample, index);
        Release(_modelOutputs[0]);
        for (var i = 0; i < _solverOrder - 1; i++) _modelOutputs[i] = _modelOutputs[i + 1];
        _modelOutputs[^1] = Keep(converted);

        var sample32 = sample.to(ScalarType.Float32);
        var noise = _algorithmType.StartsWith("sde", StringComparison.Ordinal) ? RandnLike(converted, generator, ScalarType.Float32) : null;

        Tensor prevSample;
        if (_solverOrder == 1 || _lowerOrderNums < 1 || lowerOrderFinal)
            prevSample = DPMSolverUpdates.FirstOrder(_algorithmType, Point(index + 1), Point(index), converted, sample32, noise);
        else if (_solverOrder == 2 || _lowerOrderNums < 2 || lowerOrderSecond)
            prevSample = DPMSolverUpdates.SecondOrder(_algorithmType, _solverType == "midpoint", Point(index + 1), Point(index), Point(index - 1),
                _modelOutputs[^1]!, _modelOutputs[^2]!, sample32, noise);
        else
            prevSample = DPMSolverUpdates.ThirdOrder(_algorithmType, Point(index + 1), Point(index), Point(index - 1), Point(index - 2),
                _modelOutputs[^1]!, _modelOutputs[^2]!, _modelOutputs[^3]!, sample32, noise);

        if (_lowerOrderNums < _solverOrder) _lowerOrderNums++;
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.to(modelOutput.dtype).MoveToOuterDisposeScope(), null);
    }

    /// <summary>The model output in the solver's parameterisation: x0 for DPM-Solver++, ε for DPM-Solver.</summary>
    private Tensor ConvertModelOutput(Tensor modelOutput, Tensor sample, int index)
    {
        var sigma = SigmaValues[index];
        var (alphaT, sigmaT) = AlphaSigma(sigma);
        return DPMSolverUpdates.ConvertModelOutput(_algorithmType.EndsWith("++", StringComparison.Ordinal), _predictionType,
            _learnedVariance ? modelOutput[.., ..3] : modelOutput, sample, sigma, alphaT, sigmaT, _thresholding ? Threshold : null);
    }

    private Tensor Threshold(Tensor x0) =>
        ThresholdSample(x0, Config.GetDouble("dynamic_thresholding_ratio", 0.995), Config.GetDouble("sample_max_value", 1.0));

    private (float Alpha, float Sigma) AlphaSigma(float sigma) => SchedulerUtils.AlphaSigma(sigma, _useFlowSigmas);

    private DpmPoint Point(int index)
    {
        var (alpha, sigma) = AlphaSigma(SigmaValues[index]);
        return DpmPoint.Of(alpha, sigma);
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithAlphaSigma(originalSamples, noise, timesteps, _useFlowSigmas);

    private void ClearModelOutputs()
    {
        for (var i = 0; i < _modelOutputs.Length; i++)
        {
            Release(_modelOutputs[i]);
            _modelOutputs[i] = null;
        }
    }
}
