using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// SA-Solver (https://huggingface.co/papers/2309.05019): stochastic Adams-Bashforth predictor and Adams-Moulton
/// corrector on the diffusion SDE, with noise scale τ = 1 for timesteps 200..800 and 0 elsewhere (diffusers' default
/// <c>tau_func</c>). Fresh noise is drawn on every step.
/// </summary>
public sealed class SASolverScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("predictor_order", 2), ("corrector_order", 2), ("prediction_type", "epsilon"),
        ("tau_func", null), ("thresholding", false), ("dynamic_thresholding_ratio", 0.995), ("sample_max_value", 1.0),
        ("algorithm_type", "data_prediction"), ("lower_order_final", true), ("use_karras_sigmas", false),
        ("use_exponential_sigmas", false), ("use_beta_sigmas", false), ("use_flow_sigmas", false), ("flow_shift", 1.0),
        ("lambda_min_clipped", double.NegativeInfinity), ("variance_type", null), ("timestep_spacing", "linspace"),
        ("steps_offset", 0),
    ];

    private readonly int _numTrainTimesteps;
    private readonly int _predictorOrder;
    private readonly int _correctorOrder;
    private readonly string _predictionType;
    private readonly bool _predictX0;
    private readonly string _timestepSpacing;
    private readonly bool _useFlowSigmas;
    private readonly bool _learnedVariance;
    private readonly bool _thresholding;
    private readonly float[] _alphasCumprod;
    private readonly float[] _lambdaT;
    private readonly Tensor?[] _modelOutputs;
    private readonly long?[] _timestepList;
    private Tensor? _lastSample;
    private Tensor? _lastNoise;
    private int _lowerOrderNums;
    private int _thisCorrectorOrder;

    public SASolverScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        RequireOneSigmaSchedule(Config);
        Config.RequireSupported("tau_func", v => v is null, "only the default tau_func (a Python callable cannot be configured from JSON)");
        _predictX0 = RequireOneOf("algorithm_type", "data_prediction", "noise_prediction") == "data_prediction";
        _predictionType = _predictX0
            ? RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction", "flow_prediction")
            : RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction");
        _timestepSpacing = RequireOneOf("timestep_spacing", "linspace", "leading", "trailing");
        _predictorOrder = Config.GetInt("predictor_order", 2);
        _correctorOrder = Config.GetInt("corrector_order", 2);
        if (_predictorOrder is < 1 or > 4 || _correctorOrder is < 1 or > 4)
            throw new NotSupportedException($"Unsupported config option predictor_order={_predictorOrder} / corrector_order={_correctorOrder}: SA-Solver supports orders 1 to 4.");
        _useFlowSigmas = Config.GetBool("use_flow_sigmas", false);
        _learnedVariance = Config.GetNullableString("variance_type") is "learned" or "learned_range";
        _thresholding = Config.GetBool("thresholding", false);
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _alphasCumprod = AlphasCumprod(Config);
        _lambdaT = LambdaT(_alphasCumprod);
        StoreSigmas(SigmasFromAlphasCumprod(_alphasCumprod));
        SetTimestepsTensor(tensor(NumPyCompat.ToFloat32(NumPyCompat.Reverse(NumPyCompat.Linspace(0, _numTrainTimesteps - 1, _numTrainTimesteps)))));
        var history = Math.Max(_predictorOrder, _correctorOrder - 1);
        _modelOutputs = new Tensor?[history];
        _timestepList = new long?[history];
    }

    public override string ClassName => "SASolverScheduler";

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        var N = _numTrainTimesteps;
        var timesteps = MultistepTimesteps(_timestepSpacing, N, LastTimestep(Config, _lambdaT), n, Config.GetInt("steps_offset", 0));

        var trainSigmas32 = SigmasFromAlphasCumprod(_alphasCumprod);
        var trainSigmas = NumPyCompat.ToFloat64(trainSigmas32);
        var logSigmas = LogSigmas(trainSigmas32);
        float[] sigmas32;
        if (ConvertedSigmas(Config, NumPyCompat.Reverse(trainSigmas), n) is { } converted)
        {
            timesteps = converted.Select(s => SigmaToT(s, logSigmas)).ToArray();
            if (Config.GetBool("use_karras_sigmas", false)) timesteps = NumPyCompat.Round(timesteps);
            sigmas32 = NumPyCompat.ToFloat32(converted.Append(converted[^1]).ToArray());
        }
        else if (_useFlowSigmas)
        {
            var shift = Config.GetDouble("flow_shift", 1.0);
            var sigmas = FlowSigmas(N, n, shift);
            timesteps = sigmas.Select(s => s * N).ToArray();
            sigmas32 = NumPyCompat.ToFloat32(sigmas.Append(sigmas[^1]).ToArray());
        }
        else
        {
            var sigmas = NumPyCompat.Interp(timesteps, NumPyCompat.Indices(trainSigmas.Length), trainSigmas);
            sigmas32 = NumPyCompat.ToFloat32(sigmas).Append(SigmaFromAlphaCumprod(_alphasCumprod[0])).ToArray();
        }

        StoreSigmas(sigmas32);
        SetTimestepsTensor(tensor(NumPyCompat.ToInt64(timesteps), ScalarType.Int64), device);
        NumInferenceSteps = timesteps.Length;
        for (var i = 0; i < _modelOutputs.Length; i++) Replace(ref _modelOutputs[i], null);
        Array.Clear(_timestepList);
        Replace(ref _lastSample, null);
        Replace(ref _lastNoise, null);
        _lowerOrderNums = 0;
        StepIndex = null;
        BeginIndex = null;
    }

    /// <summary>diffusers' default tau_func: stochasticity only in the middle of the schedule.</summary>
    private static int Tau(long t) => t is >= 200 and <= 800 ? 1 : 0;

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (NumInferenceSteps == 0)
            throw new InvalidOperationException("Number of inference steps is not set: call SetTimesteps after creating the scheduler.");
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep, lastIfMissing: true);
        var useCorrector = index > 0 && _lastSample is not null;
        var sigma = SigmaValues[index];
        var (alpha, sigmaT) = AlphaSigma(sigma);
        var converted = DPMSolverUpdates.ConvertModelOutput(_predictX0, _predictionType,
            _learnedVariance ? modelOutput[.., ..3] : modelOutput, sample, sigma, alpha, sigmaT,
            _thresholding ? x => ThresholdSample(x, Config.GetDouble("dynamic_thresholding_ratio", 0.995), Config.GetDouble("sample_max_value", 1.0)) : null);

        if (useCorrector)
            sample = Update(converted, _lastSample!, _lastNoise!, _thisCorrectorOrder, Tau(_timestepList[^1]!.Value), index, corrector: true);

        Release(_modelOutputs[0]);
        for (var i = 0; i < _modelOutputs.Length - 1; i++)
        {
            _modelOutputs[i] = _modelOutputs[i + 1];
            _timestepList[i] = _timestepList[i + 1];
        }
        _modelOutputs[^1] = Keep(converted);
        _timestepList[^1] = TimestepValue(timestep);

        var noise = RandnLike(modelOutput, generator);
        var count = (int)Timesteps.shape[0];
        var lowerOrderFinal = Config.GetBool("lower_order_final", true);
        var predictorOrder = lowerOrderFinal ? Math.Min(_predictorOrder, count - index) : _predictorOrder;
        var correctorOrder = lowerOrderFinal ? Math.Min(_correctorOrder, count - index + 1) : _correctorOrder;
        // Warm-up: orders grow with the number of outputs available.
        var thisPredictorOrder = Math.Min(predictorOrder, _lowerOrderNums + 1);
        _thisCorrectorOrder = Math.Min(correctorOrder, _lowerOrderNums + 2);

        Replace(ref _lastSample, sample.clone());
        Replace(ref _lastNoise, noise.clone());
        var prevSample = Update(null, sample, noise, thisPredictorOrder, Tau(_timestepList[^1]!.Value), index, corrector: false);

        if (_lowerOrderNums < _modelOutputs.Length) _lowerOrderNums++;
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), null);
    }

    private (float Alpha, float Sigma) AlphaSigma(float sigma) => SchedulerUtils.AlphaSigma(sigma, _useFlowSigmas);

    private float Lambda(int index)
    {
        var (alpha, sigma) = AlphaSigma(SigmaValues[index]);
        return TorchCpuMath.Log(alpha) - TorchCpuMath.Log(sigma);
    }

    /// <summary>
    /// The stochastic Adams-Bashforth predictor (from step s0 = index to index + 1, on the stored outputs) or, with
    /// <paramref name="corrector"/>, the Adams-Moulton corrector (from index − 1 to index, also using <paramref name="thisModelOutput"/>).
    /// </summary>
    private Tensor Update(Tensor? thisModelOutput, Tensor x, Tensor noise, int order, int tau, int index, bool corrector)
    {
        var t = corrector ? index : index + 1;
        var s0 = t - 1;
        var (alphaT, sigmaT) = AlphaSigma(SigmaValues[t]);
        var (alphaS0, sigmaS0) = AlphaSigma(SigmaValues[s0]);
        var lambdaT = Lambda(t);
        var lambdaS0 = Lambda(s0);
        var h = lambdaT - lambdaS0;
        var lambdas = Enumerable.Range(0, order).Select(i => Lambda(index - i)).ToArray();
        var coefficients = Coefficients(order, lambdaS0, lambdaT, lambdas, tau);
        var tau2 = tau * tau;
        var onePlusTau2 = 1 + tau2;

        if (_predictX0 && order == 2)
        {
            // diffusers' few-step modification of the order-2 coefficients (as in UniPC).
            var inner = h * onePlusTau2 - 1 + TorchCpuMath.Exp(onePlusTau2 * -h);
            var correction = corrector
                ? 1.0f * TorchCpuMath.Exp(onePlusTau2 * lambdaT) * (h / 2 - inner / (onePlusTau2 * onePlusTau2 * h))
                : 1.0f * TorchCpuMath.Exp(onePlusTau2 * lambdaT) * (h * h / 2 - inner / (onePlusTau2 * onePlusTau2)) / (lambdaS0 - Lambda(index - 1));
            coefficients[0] += correction;
            coefficients[1] -= correction;
        }

        Tensor? gradient = null;
        for (var i = 0; i < order; i++)
        {
            var output = corrector ? (i == 0 ? thisModelOutput! : _modelOutputs[^i]!) : _modelOutputs[^(i + 1)]!;
            var c = _predictX0
                ? onePlusTau2 * sigmaT * TorchCpuMath.Exp(-tau2 * lambdaT) * coefficients[i]
                : -onePlusTau2 * alphaT * coefficients[i];
            var term = output * c;
            gradient = gradient is null ? term : gradient + term;
        }

        Tensor xt, noisePart;
        if (_predictX0)
        {
            noisePart = noise * (sigmaT * MathF.Sqrt(1 - TorchCpuMath.Exp(-2 * tau2 * h)));
            xt = x * (TorchCpuMath.Exp(-tau2 * h) * (sigmaT / sigmaS0)) + gradient! + noisePart;
        }
        else
        {
            noisePart = noise * (tau * sigmaT * MathF.Sqrt(TorchCpuMath.Exp(2 * h) - 1));
            xt = x * (alphaT / alphaS0) + gradient! + noisePart;
        }
        return xt.to(x.dtype);
    }

    /// <summary>∫ over [λ_s0, λ_t] of the Lagrange basis of each λ in <paramref name="lambdas"/> against the exponential kernel.</summary>
    private float[] Coefficients(int order, float start, float end, float[] lambdas, int tau)
    {
        var lagrange = Lagrange(order - 1, lambdas);
        var result = new float[order];
        for (var i = 0; i < order; i++)
        {
            float? coefficient = null;
            for (var j = 0; j < order; j++)
            {
                var term = lagrange[i][j] * (_predictX0 ? ExponentialPositive(order - 1 - j, start, end, tau) : ExponentialNegative(order - 1 - j, start, end));
                coefficient = coefficient is null ? term : coefficient + term;
            }
            result[i] = coefficient!.Value;
        }
        return result;
    }

    private static float ExponentialNegative(int order, float s, float e)
    {
        var decay = TorchCpuMath.Exp(e - s);
        return order switch
        {
            0 => TorchCpuMath.Exp(-e) * (decay - 1),
            1 => TorchCpuMath.Exp(-e) * ((s + 1) * decay - (e + 1)),
            2 => TorchCpuMath.Exp(-e) * ((s * s + 2 * s + 2) * decay - (e * e + 2 * e + 2)),
            _ => TorchCpuMath.Exp(-e) * ((s * s * s + 3 * (s * s) + 6 * s + 6) * decay - (e * e * e + 3 * (e * e) + 6 * e + 6)),
        };
    }

    private static float ExponentialPositive(int order, float s, float e, int tau)
    {
        var k = 1 + tau * tau;
        var endCov = k * e;
        var startCov = k * s;
        var decay = TorchCpuMath.Exp(-(endCov - startCov));
        return order switch
        {
            0 => TorchCpuMath.Exp(endCov) * (1 - decay) / k,
            1 => TorchCpuMath.Exp(endCov) * (endCov - 1 - (startCov - 1) * decay) / (k * k),
            2 => TorchCpuMath.Exp(endCov) * (endCov * endCov - 2 * endCov + 2 - (startCov * startCov - 2 * startCov + 2) * decay) / (k * k * k),
            _ => TorchCpuMath.Exp(endCov)
                 * (endCov * endCov * endCov - 3 * (endCov * endCov) + 6 * endCov - 6
                    - (startCov * startCov * startCov - 3 * (startCov * startCov) + 6 * startCov - 6) * decay)
                 / (k * k * k * k),
        };
    }

    /// <summary>Coefficients (highest power first) of the Lagrange basis polynomials through <paramref name="l"/>.</summary>
    private static float[][] Lagrange(int order, float[] l)
    {
        switch (order)
        {
            case 0:
                return [[1f]];
            case 1:
                return [[1 / (l[0] - l[1]), -l[1] / (l[0] - l[1])], [1 / (l[1] - l[0]), -l[0] / (l[1] - l[0])]];
            case 2:
            {
                var d1 = (l[0] - l[1]) * (l[0] - l[2]);
                var d2 = (l[1] - l[0]) * (l[1] - l[2]);
                var d3 = (l[2] - l[0]) * (l[2] - l[1]);
                return
                [
                    [1 / d1, (-l[1] - l[2]) / d1, l[1] * l[2] / d1],
                    [1 / d2, (-l[0] - l[2]) / d2, l[0] * l[2] / d2],
                    [1 / d3, (-l[0] - l[1]) / d3, l[0] * l[1] / d3],
                ];
            }
            default:
            {
                var d1 = (l[0] - l[1]) * (l[0] - l[2]) * (l[0] - l[3]);
                var d2 = (l[1] - l[0]) * (l[1] - l[2]) * (l[1] - l[3]);
                var d3 = (l[2] - l[0]) * (l[2] - l[1]) * (l[2] - l[3]);
                var d4 = (l[3] - l[0]) * (l[3] - l[1]) * (l[3] - l[2]);
                return
                [
                    [1 / d1, (-l[1] - l[2] - l[3]) / d1, (l[1] * l[2] + l[1] * l[3] + l[2] * l[3]) / d1, -l[1] * l[2] * l[3] / d1],
                    [1 / d2, (-l[0] - l[2] - l[3]) / d2, (l[0] * l[2] + l[0] * l[3] + l[2] * l[3]) / d2, -l[0] * l[2] * l[3] / d2],
                    [1 / d3, (-l[0] - l[1] - l[3]) / d3, (l[0] * l[1] + l[0] * l[3] + l[1] * l[3]) / d3, -l[0] * l[1] * l[3] / d3],
                    [1 / d4, (-l[0] - l[1] - l[2]) / d4, (l[0] * l[1] + l[0] * l[2] + l[1] * l[2]) / d4, -l[0] * l[1] * l[2] / d4],
                ];
            }
        }
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithAlphaSigma(originalSamples, noise, timesteps, _useFlowSigmas);
}
