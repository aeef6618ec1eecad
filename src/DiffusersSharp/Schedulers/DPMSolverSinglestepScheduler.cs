using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Singlestep DPM-Solver(++) (https://huggingface.co/papers/2206.00927): steps of order 1, 2, 3 in turn, each
/// higher-order step going from the sample of its first sub-step using the model outputs taken since.
/// </summary>
public sealed class DPMSolverSinglestepScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("solver_order", 2), ("prediction_type", "epsilon"), ("thresholding", false),
        ("dynamic_thresholding_ratio", 0.995), ("sample_max_value", 1.0), ("algorithm_type", "dpmsolver++"),
        ("solver_type", "midpoint"), ("lower_order_final", false), ("use_karras_sigmas", false),
        ("use_exponential_sigmas", false), ("use_beta_sigmas", false), ("use_flow_sigmas", false), ("flow_shift", 1.0),
        ("final_sigmas_type", "zero"), ("lambda_min_clipped", double.NegativeInfinity), ("variance_type", null),
        ("use_dynamic_shifting", false), ("time_shift_type", "exponential"),
    ];

    private readonly int _numTrainTimesteps;
    private readonly int _solverOrder;
    private readonly string _predictionType;
    private readonly string _algorithmType;
    private readonly bool _midpoint;
    private readonly string _finalSigmasType;
    private readonly bool _useFlowSigmas;
    private readonly bool _learnedVariance;
    private readonly bool _thresholding;
    private readonly float[] _alphasCumprod;
    private readonly float[] _lambdaT;
    private readonly Tensor?[] _modelOutputs;
    // The sample at the start of the current multi-sub-step update.
    private Tensor? _sample;
    private int[] _orderList = [];

    public DPMSolverSinglestepScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        RequireOneSigmaSchedule(Config);
        if (Config.GetString("algorithm_type", "dpmsolver++") == "deis") Config["algorithm_type"] = "dpmsolver++";
        if (Config.GetString("solver_type", "midpoint") is "logrho" or "bh1" or "bh2") Config["solver_type"] = "midpoint";
        _algorithmType = RequireOneOf("algorithm_type", "dpmsolver++", "dpmsolver", "sde-dpmsolver++");
        _midpoint = RequireOneOf("solver_type", "midpoint", "heun") == "midpoint";
        _predictionType = RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction", "flow_prediction");
        _finalSigmasType = RequireOneOf("final_sigmas_type", "zero", "sigma_min");
        if (_algorithmType == "dpmsolver" && _finalSigmasType == "zero")
            throw new ArgumentException("final_sigmas_type \"zero\" is not supported for algorithm_type \"dpmsolver\": choose \"sigma_min\".");
        _solverOrder = Config.GetInt("solver_order", 2);
        if (_solverOrder is < 1 or > 3) throw new NotSupportedException($"Unsupported config option solver_order={_solverOrder}: the singlestep solver supports orders 1 to 3.");
        _useFlowSigmas = Config.GetBool("use_flow_sigmas", false);
        _learnedVariance = Config.GetNullableString("variance_type") is "learned" or "learned_range";
        _thresholding = Config.GetBool("thresholding", false);
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _alphasCumprod = AlphasCumprod(Config);
        _lambdaT = LambdaT(_alphasCumprod);
        StoreSigmas(SigmasFromAlphasCumprod(_alphasCumprod));
        SetTimestepsTensor(tensor(NumPyCompat.ToFloat32(NumPyCompat.Reverse(NumPyCompat.Linspace(0, _numTrainTimesteps - 1, _numTrainTimesteps)))));
        _modelOutputs = new Tensor?[_solverOrder];
        _orderList = OrderList(_numTrainTimesteps);
    }

    public override string ClassName => "DPMSolverSinglestepScheduler";

    /// <summary>The order of each step: 1, 2, (3), 1, 2, (3), ... with lower orders at the end.</summary>
    private int[] OrderList(int steps)
    {
        var order = _solverOrder;
        List<int> orders;
        if (Config.GetBool("lower_order_final", false))
        {
            orders = order switch
            {
                3 when steps % 3 == 0 => Repeat([1, 2, 3], steps / 3 - 1).Concat([1, 2, 1]).ToList(),
                3 when steps % 3 == 1 => Repeat([1, 2, 3], steps / 3).Append(1).ToList(),
                3 => Repeat([1, 2, 3], steps / 3).Concat([1, 2]).ToList(),
                2 when steps % 2 == 0 => Repeat([1, 2], steps / 2 - 1).Concat([1, 1]).ToList(),
                2 => Repeat([1, 2], steps / 2).Append(1).ToList(),
                _ => Enumerable.Repeat(1, steps).ToList(),
            };
        }
        else
        {
            orders = order switch
            {
                3 => Repeat([1, 2, 3], steps / 3).ToList(),
                2 => Repeat([1, 2], steps / 2).ToList(),
                _ => Enumerable.Repeat(1, steps).ToList(),
            };
        }
        if (_finalSigmasType == "zero" && orders.Count > 0) orders[^1] = 1;
        return orders.ToArray();

        static IEnumerable<int> Repeat(int[] pattern, int times) => Enumerable.Range(0, Math.Max(times, 0)).SelectMany(_ => pattern);
    }

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        var N = _numTrainTimesteps;
        NumInferenceSteps = n;

        // Always linspace spacing here, clipped where λ(t) drops below lambda_min_clipped.
        var timesteps = MultistepTimesteps("linspace", N, LastTimestep(Config, _lambdaT), n, 0);

        var trainSigmas32 = SigmasFromAlphasCumprod(_alphasCumprod);
        var trainSigmas = NumPyCompat.ToFloat64(trainSigmas32);
        var logSigmas = LogSigmas(trainSigmas32);
        double[] sigmas;
        if (ConvertedSigmas(Config, NumPyCompat.Reverse(trainSigmas), n) is { } converted)
        {
            sigmas = converted;
            timesteps = sigmas.Select(s => SigmaToT(s, logSigmas)).ToArray();
            if (Config.GetBool("use_karras_sigmas", false)) timesteps = NumPyCompat.Round(timesteps);
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
        for (var i = 0; i < _modelOutputs.Length; i++) Replace(ref _modelOutputs[i], null);
        Replace(ref _sample, null);

        // diffusers forces lower_order_final (in its config) where the schedule would otherwise end on a high order.
        if (!Config.GetBool("lower_order_final", false) && (n % _solverOrder != 0 || _finalSigmasType == "zero"))
            Config["lower_order_final"] = true;
        _orderList = OrderList(n);
        StepIndex = null;
        BeginIndex = null;
    }

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (NumInferenceSteps == 0)
            throw new InvalidOperationException("Number of inference steps is not set: call SetTimesteps after creating the scheduler.");
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep, lastIfMissing: true);
        var sigma = SigmaValues[index];
        var (alpha, sigmaT) = AlphaSigma(sigma);
        var converted = DPMSolverUpdates.ConvertModelOutput(_algorithmType.EndsWith("++", StringComparison.Ordinal), _predictionType,
            _learnedVariance ? modelOutput[.., ..3] : modelOutput, sample, sigma, alpha, sigmaT,
            _thresholding ? x => ThresholdSample(x, Config.GetDouble("dynamic_thresholding_ratio", 0.995), Config.GetDouble("sample_max_value", 1.0)) : null);
        Release(_modelOutputs[0]);
        for (var i = 0; i < _solverOrder - 1; i++) _modelOutputs[i] = _modelOutputs[i + 1];
        _modelOutputs[^1] = Keep(converted);

        var noise = _algorithmType == "sde-dpmsolver++" ? RandnLike(converted, generator) : null;
        var order = _orderList[index];
        while (_modelOutputs[^order] is null) order--;
        if (order == 1) Replace(ref _sample, sample.clone());

        var prevSample = order switch
        {
            1 => DPMSolverUpdates.FirstOrder(_algorithmType, Point(index + 1), Point(index), _modelOutputs[^1]!, _sample!, noise),
            2 => SecondOrder(index, _sample!, noise),
            _ => ThirdOrder(index, _sample!, noise),
        };
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), null);
    }

    private (float Alpha, float Sigma) AlphaSigma(float sigma) => SchedulerUtils.AlphaSigma(sigma, _useFlowSigmas);

    private DpmPoint Point(int index)
    {
        var (alpha, sigma) = AlphaSigma(SigmaValues[index]);
        return DpmPoint.Of(alpha, sigma);
    }

    /// <summary>Second order from the sample at s1, with the outputs at s1 (m1) and s0 (m0).</summary>
    private Tensor SecondOrder(int index, Tensor sample, Tensor? noise)
    {
        var (alphaT, sigmaT, lambdaT) = Point(index + 1);
        var lambdaS0 = Point(index).Lambda;
        var (alphaS1, sigmaS1, lambdaS1) = Point(index - 1);
        var m0 = _modelOutputs[^1]!;
        var m1 = _modelOutputs[^2]!;
        var h = lambdaT - lambdaS1;
        var r0 = (lambdaS0 - lambdaS1) / h;
        var d0 = m1;
        var d1 = (m0 - m1) * (1 / r0);
        switch (_algorithmType)
        {
            case "dpmsolver++":
            {
                var c = alphaT * (TorchCpuMath.Exp(-h) - 1);
                return _midpoint
                    ? sample * (sigmaT / sigmaS1) - d0 * c - d1 * (0.5f * c)
                    : sample * (sigmaT / sigmaS1) - d0 * c + d1 * (alphaT * ((TorchCpuMath.Exp(-h) - 1) / h + 1));
            }
            case "dpmsolver":
            {
                var c = sigmaT * (TorchCpuMath.Exp(h) - 1);
                return _midpoint
                    ? sample * (alphaT / alphaS1) - d0 * c - d1 * (0.5f * c)
                    : sample * (alphaT / alphaS1) - d0 * c - d1 * (sigmaT * ((TorchCpuMath.Exp(h) - 1) / h - 1));
            }
            default:
            {
                var c = alphaT * (1 - TorchCpuMath.Exp(-2 * h));
                var x = sample * (sigmaT / sigmaS1 * TorchCpuMath.Exp(-h)) + d0 * c;
                x = _midpoint ? x + d1 * (0.5f * c) : x + d1 * (alphaT * ((1 - TorchCpuMath.Exp(-2 * h)) / (-2 * h) + 1));
                return x + noise! * (sigmaT * MathF.Sqrt(1 - TorchCpuMath.Exp(-2 * h)));
            }
        }
    }

    /// <summary>Third order from the sample at s2, with the outputs at s2 (m2), s1 (m1) and s0 (m0).</summary>
    private Tensor ThirdOrder(int index, Tensor sample, Tensor? noise)
    {
        var (alphaT, sigmaT, lambdaT) = Point(index + 1);
        var lambdaS0 = Point(index).Lambda;
        var lambdaS1 = Point(index - 1).Lambda;
        var (alphaS2, sigmaS2, lambdaS2) = Point(index - 2);
        var m0 = _modelOutputs[^1]!;
        var m1 = _modelOutputs[^2]!;
        var m2 = _modelOutputs[^3]!;
        var h = lambdaT - lambdaS2;
        var r0 = (lambdaS0 - lambdaS2) / h;
        var r1 = (lambdaS1 - lambdaS2) / h;
        var d0 = m2;
        var d10 = (m1 - m2) * (1 / r1);
        var d11 = (m0 - m2) * (1 / r0);
        var d1 = (d10 * r0 - d11 * r1) / (r0 - r1);
        var d2 = (d11 - d10) * 2 / (r0 - r1);
        switch (_algorithmType)
        {
            case "dpmsolver++":
            {
                var x = sample * (sigmaT / sigmaS2) - d0 * (alphaT * (TorchCpuMath.Exp(-h) - 1));
                return _midpoint
                    ? x + d11 * (alphaT * ((TorchCpuMath.Exp(-h) - 1) / h + 1))
                    : x + d1 * (alphaT * ((TorchCpuMath.Exp(-h) - 1) / h + 1)) - d2 * (alphaT * ((TorchCpuMath.Exp(-h) - 1 + h) / (h * h) - 0.5f));
            }
            case "dpmsolver":
            {
                var x = sample * (alphaT / alphaS2) - d0 * (sigmaT * (TorchCpuMath.Exp(h) - 1));
                return _midpoint
                    ? x - d11 * (sigmaT * ((TorchCpuMath.Exp(h) - 1) / h - 1))
                    : x - d1 * (sigmaT * ((TorchCpuMath.Exp(h) - 1) / h - 1)) - d2 * (sigmaT * ((TorchCpuMath.Exp(h) - 1 - h) / (h * h) - 0.5f));
            }
            default:
            {
                var x = sample * (sigmaT / sigmaS2 * TorchCpuMath.Exp(-h)) + d0 * (alphaT * (1 - TorchCpuMath.Exp(-2 * h)));
                x = _midpoint
                    ? x + d11 * (alphaT * ((1 - TorchCpuMath.Exp(-2 * h)) / (-2 * h) + 1))
                    : x + d1 * (alphaT * ((1 - TorchCpuMath.Exp(-2 * h)) / (-2 * h) + 1))
                      + d2 * (alphaT * ((1 - TorchCpuMath.Exp(-2 * h) + -2 * h) / ((-2 * h) * (-2 * h)) - 0.5f));
                return x + noise! * (sigmaT * MathF.Sqrt(1 - TorchCpuMath.Exp(-2 * h)));
            }
        }
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithAlphaSigma(originalSamples, noise, timesteps, _useFlowSigmas);
}
