using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// UniPC (https://huggingface.co/papers/2302.04867): a multistep predictor (UniP) with a corrector (UniC) that reuses
/// the next model evaluation, in the B(h) = h ("bh1") or e^h − 1 ("bh2") variant.
/// </summary>
public sealed class UniPCMultistepScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("solver_order", 2), ("prediction_type", "epsilon"), ("thresholding", false),
        ("dynamic_thresholding_ratio", 0.995), ("sample_max_value", 1.0), ("predict_x0", true), ("solver_type", "bh2"),
        ("lower_order_final", true), ("disable_corrector", Array.Empty<int>()), ("solver_p", null),
        ("use_karras_sigmas", false), ("use_exponential_sigmas", false), ("use_beta_sigmas", false),
        ("use_flow_sigmas", false), ("flow_shift", 1.0), ("timestep_spacing", "linspace"), ("steps_offset", 0),
        ("final_sigmas_type", "zero"), ("rescale_betas_zero_snr", false), ("use_dynamic_shifting", false),
        ("time_shift_type", "exponential"), ("sigma_min", null), ("sigma_max", null), ("shift_terminal", null),
    ];

    private readonly int _numTrainTimesteps;
    private readonly int _solverOrder;
    private readonly string _predictionType;
    private readonly bool _predictX0;
    private readonly bool _bh1;
    private readonly string _timestepSpacing;
    private readonly string _finalSigmasType;
    private readonly bool _useFlowSigmas;
    private readonly bool _thresholding;
    private readonly int[] _disableCorrector;
    private readonly float[] _alphasCumprod;
    private readonly Tensor?[] _modelOutputs;
    private Tensor? _lastSample;
    private int _lowerOrderNums;
    private int _thisOrder;

    public UniPCMultistepScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        RequireOneSigmaSchedule(Config);
        _useFlowSigmas = Config.GetBool("use_flow_sigmas", false);
        if (Config.Contains("shift_terminal") && !_useFlowSigmas)
            throw new ArgumentException("shift_terminal is only supported with use_flow_sigmas.");
        // diffusers maps DPM-Solver / DEIS solver names onto its own.
        if (Config.GetString("solver_type", "bh2") is "midpoint" or "heun" or "logrho") Config["solver_type"] = "bh2";
        _bh1 = RequireOneOf("solver_type", "bh2", "bh1") == "bh1";
        _predictionType = RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction", "flow_prediction");
        _timestepSpacing = RequireOneOf("timestep_spacing", "linspace", "leading", "trailing");
        _finalSigmasType = RequireOneOf("final_sigmas_type", "zero", "sigma_min");
        RequireOneOf("time_shift_type", "exponential");
        Config.RequireSupported("solver_p", v => v is null, "no solver_p (an external predictor scheduler cannot be configured from JSON)");
        _predictX0 = Config.GetBool("predict_x0", true);
        _solverOrder = Config.GetInt("solver_order", 2);
        if (_solverOrder < 1) throw new NotSupportedException($"Unsupported config option solver_order={_solverOrder}: must be at least 1.");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _thresholding = Config.GetBool("thresholding", false);
        _disableCorrector = Config.GetIntArray("disable_corrector") ?? [];
        _alphasCumprod = AlphasCumprod(Config, zeroSnrFloor: true);
        StoreSigmas(SigmasFromAlphasCumprod(_alphasCumprod));
        SetTimestepsTensor(tensor(NumPyCompat.ToFloat32(NumPyCompat.Reverse(NumPyCompat.Linspace(0, _numTrainTimesteps - 1, _numTrainTimesteps)))));
        _modelOutputs = new Tensor?[_solverOrder];
    }

    public override string ClassName => "UniPCMultistepScheduler";

    public override void SetTimesteps(int numInferenceSteps, Device? device = null) => SetTimesteps(numInferenceSteps, device, null);

    /// <param name="mu">The shift exponent for flow sigmas with <c>use_dynamic_shifting</c>.</param>
    public void SetTimesteps(int numInferenceSteps, Device? device, double? mu)
    {
        ValidateInferenceSteps(numInferenceSteps);
        if (Config.GetBool("use_dynamic_shifting", false) && mu is null)
            throw new ArgumentException("mu must be passed when use_dynamic_shifting is set.", nameof(mu));
        var n = numInferenceSteps;
        var N = _numTrainTimesteps;
        var timesteps = MultistepTimesteps(_timestepSpacing, N, N, n, Config.GetInt("steps_offset", 0));

        var trainSigmas32 = SigmasFromAlphasCumprod(_alphasCumprod);
        var trainSigmas = NumPyCompat.ToFloat64(trainSigmas32);
        var logSigmas = LogSigmas(trainSigmas32);
        double[] sigmas;
        float sigmaLast;
        if (ConvertedSigmas(Config, NumPyCompat.Reverse(trainSigmas), n) is { } converted)
        {
            sigmas = converted;
            if (Config.GetBool("use_karras_sigmas", false) && _useFlowSigmas)
            {
                sigmas = sigmas.Select(s => s / (s + 1)).ToArray();
                timesteps = sigmas.Select(s => s * N).ToArray();
            }
            else
            {
                timesteps = sigmas.Select(s => SigmaToT(s, logSigmas)).ToArray();
                if (Config.GetBool("use_karras_sigmas", false)) timesteps = NumPyCompat.Round(timesteps);
            }
            sigmaLast = _finalSigmasType == "sigma_min" ? (float)sigmas[^1] : 0f;
        }
        else if (_useFlowSigmas)
        {
            sigmas = NumPyCompat.Linspace(1, 1.0 / N, n + 1)[..^1];
            var shift = Config.GetDouble("flow_shift", 1.0);
            sigmas = mu is { } m
                ? sigmas.Select(t => Math.Exp(m) / (Math.Exp(m) + (1 / t - 1))).ToArray()
                : sigmas.Select(s => shift * s / (1 + (shift - 1) * s)).ToArray();
            if (Config.GetNullableDouble("shift_terminal") is { } shiftTerminal && shiftTerminal != 0)
            {
                var scaleFactor = (1 - sigmas[^1]) / (1 - shiftTerminal);
                sigmas = sigmas.Select(s => 1 - (1 - s) / scaleFactor).ToArray();
            }
            // σ = 1 exactly would make α = 0 and λ = −inf.
            if (Math.Abs(sigmas[0] - 1) < 1e-6) sigmas[0] -= 1e-6;
            timesteps = sigmas.Select(s => s * N).ToArray();
            sigmaLast = _finalSigmasType == "sigma_min" ? (float)sigmas[^1] : 0f;
        }
        else
        {
            sigmas = NumPyCompat.Interp(timesteps, NumPyCompat.Indices(trainSigmas.Length), trainSigmas);
            sigmaLast = _finalSigmasType == "sigma_min" ? SigmaFromAlphaCumprod(_alphasCumprod[0]) : 0f;
        }

        StoreSigmas(NumPyCompat.ToFloat32(sigmas).Append(sigmaLast).ToArray());
        SetTimestepsTensor(tensor(NumPyCompat.ToInt64(timesteps), ScalarType.Int64), device);
        NumInferenceSteps = timesteps.Length;
        for (var i = 0; i < _modelOutputs.Length; i++) Replace(ref _modelOutputs[i], null);
        Replace(ref _lastSample, null);
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
        var useCorrector = index > 0 && !_disableCorrector.Contains(index - 1) && _lastSample is not null;

        var converted = ConvertModelOutput(modelOutput, sample, index);
        if (useCorrector)
            sample = CorrectorUpdate(converted, _lastSample!, sample, _thisOrder, index);

        Release(_modelOutputs[0]);
        for (var i = 0; i < _solverOrder - 1; i++) _modelOutputs[i] = _modelOutputs[i + 1];
        _modelOutputs[^1] = Keep(converted.clone());

        var count = (int)Timesteps.shape[0];
        var thisOrder = Config.GetBool("lower_order_final", true) ? Math.Min(_solverOrder, count - index) : _solverOrder;
        // Warm-up: the order grows with the number of outputs available.
        _thisOrder = Math.Min(thisOrder, _lowerOrderNums + 1);
        Replace(ref _lastSample, sample.clone());
        var prevSample = PredictorUpdate(sample, _thisOrder, index);

        if (_lowerOrderNums < _solverOrder) _lowerOrderNums++;
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), null);
    }

    /// <summary>The model output as the solver uses it: x0 (predict_x0) or ε.</summary>
    private Tensor ConvertModelOutput(Tensor modelOutput, Tensor sample, int index)
    {
        var sigma = SigmaValues[index];
        var (alphaT, sigmaT) = AlphaSigma(sigma);
        if (_predictX0)
        {
            var x0 = _predictionType switch
            {
                "epsilon" => (sample - modelOutput * sigmaT) / alphaT,
                "sample" => modelOutput.alias(),
                "v_prediction" => sample * alphaT - modelOutput * sigmaT,
                _ => sample - modelOutput * sigma,
            };
            return _thresholding
                ? ThresholdSample(x0, Config.GetDouble("dynamic_thresholding_ratio", 0.995), Config.GetDouble("sample_max_value", 1.0))
                : x0;
        }
        return _predictionType switch
        {
            "epsilon" => modelOutput.alias(),
            "sample" => (sample - modelOutput * alphaT) / sigmaT,
            "v_prediction" => modelOutput * alphaT + sample * sigmaT,
            _ => throw new NotSupportedException("UniPCMultistepScheduler supports flow_prediction only with predict_x0."),
        };
    }

    private (float Alpha, float Sigma) AlphaSigma(float sigma) => SchedulerUtils.AlphaSigma(sigma, _useFlowSigmas);

    private float Lambda(int index)
    {
        var (alpha, sigma) = AlphaSigma(SigmaValues[index]);
        return TorchCpuMath.Log(alpha) - TorchCpuMath.Log(sigma);
    }

    /// <summary>h φ_1 and B(h), and the coefficients R (powers of r_k) and b of the UniPC linear system.</summary>
    private (float HPhi1, float BH, float[,] R, float[] B) Coefficients(float h, float[] rks, int order)
    {
        var hh = _predictX0 ? -h : h;
        var hPhi1 = TorchCpuMath.Expm1(hh);
        var hPhiK = hPhi1 / hh - 1;
        var factorial = 1;
        var bh = _bh1 ? hh : TorchCpuMath.Expm1(hh);
        var r = new float[order, rks.Length];
        var b = new float[order];
        for (var i = 1; i <= order; i++)
        {
            for (var k = 0; k < rks.Length; k++) r[i - 1, k] = i == 1 ? 1 : i == 2 ? rks[k] : IntPow(rks[k], i - 1);
            b[i - 1] = hPhiK * factorial / bh;
            factorial *= i + 1;
            hPhiK = hPhiK / hh - (float)(1.0 / factorial);
        }
        return (hPhi1, bh, r, b);
    }

    /// <summary>One step of UniP, the predictor.</summary>
    private Tensor PredictorUpdate(Tensor x, int order, int index)
    {
        var m0 = _modelOutputs[^1]!;
        var (alphaT, sigmaT) = AlphaSigma(SigmaValues[index + 1]);
        var (alphaS0, sigmaS0) = AlphaSigma(SigmaValues[index]);
        var lambdaS0 = Lambda(index);
        var h = Lambda(index + 1) - lambdaS0;

        var rks = new List<float>();
        var d1s = new List<Tensor>();
        for (var i = 1; i < order; i++)
        {
            var rk = (Lambda(index - i) - lambdaS0) / h;
            rks.Add(rk);
            d1s.Add((_modelOutputs[^(i + 1)]! - m0) / rk);
        }
        rks.Add(1);
        var (hPhi1, bh, r, b) = Coefficients(h, rks.ToArray(), order);

        Tensor? predRes = null;
        if (d1s.Count > 0)
        {
            var rhosP = order == 2 ? [0.5f] : Solve(r, b, order - 1);
            predRes = WeightedSum(rhosP, d1s);
        }
        var xt = _predictX0
            ? x * (sigmaT / sigmaS0) - m0 * (alphaT * hPhi1)
            : x * (alphaT / alphaS0) - m0 * (sigmaT * hPhi1);
        if (predRes is not null) xt = xt - predRes * ((_predictX0 ? alphaT : sigmaT) * bh);
        return xt.to(x.dtype);
    }

    /// <summary>One step of UniC, the corrector, refining the sample the last predictor step produced.</summary>
    private Tensor CorrectorUpdate(Tensor modelT, Tensor x, Tensor thisSample, int order, int index)
    {
        var m0 = _modelOutputs[^1]!;
        var (alphaT, sigmaT) = AlphaSigma(SigmaValues[index]);
        var (alphaS0, sigmaS0) = AlphaSigma(SigmaValues[index - 1]);
        var lambdaS0 = Lambda(index - 1);
        var h = Lambda(index) - lambdaS0;

        var rks = new List<float>();
        var d1s = new List<Tensor>();
        for (var i = 1; i < order; i++)
        {
            var rk = (Lambda(index - (i + 1)) - lambdaS0) / h;
            rks.Add(rk);
            d1s.Add((_modelOutputs[^(i + 1)]! - m0) / rk);
        }
        rks.Add(1);
        var (hPhi1, bh, r, b) = Coefficients(h, rks.ToArray(), order);
        var rhosC = order == 1 ? [0.5f] : Solve(r, b, order);

        var xt = _predictX0
            ? x * (sigmaT / sigmaS0) - m0 * (alphaT * hPhi1)
            : x * (alphaT / alphaS0) - m0 * (sigmaT * hPhi1);
        var correction = (modelT - m0) * rhosC[^1];
        if (d1s.Count > 0) correction = WeightedSum(rhosC[..^1], d1s) + correction;
        return (xt - correction * ((_predictX0 ? alphaT : sigmaT) * bh)).to(x.dtype);
    }

    /// <summary>einsum("k,bkc...->bc...", rhos, D1s): Σ_k ρ_k D1_k.</summary>
    private static Tensor WeightedSum(float[] rhos, List<Tensor> d1s)
    {
        var sum = d1s[0] * rhos[0];
        for (var k = 1; k < d1s.Count; k++) sum = sum + d1s[k] * rhos[k];
        return sum;
    }

    private static float IntPow(float x, int n)
    {
        var r = x;
        for (var i = 1; i < n; i++) r *= x;
        return r;
    }

    /// <summary>
    /// torch.linalg.solve of the leading <paramref name="n"/>×<paramref name="n"/> system in float32, by Gaussian
    /// elimination in row order and back substitution. R's first row is all ones, so no pivoting is needed, and
    /// without it the coefficients match the reference run's bit for bit.
    /// </summary>
    private static float[] Solve(float[,] r, float[] b, int n)
    {
        var a = new float[n, n];
        var x = new float[n];
        for (var i = 0; i < n; i++)
        {
            x[i] = b[i];
            for (var j = 0; j < n; j++) a[i, j] = r[i, j];
        }
        for (var k = 0; k < n; k++)
        {
            if (a[k, k] == 0) throw new InvalidOperationException("UniPC coefficient matrix is singular.");
            for (var i = k + 1; i < n; i++)
            {
                var l = a[i, k] / a[k, k];
                for (var j = k + 1; j < n; j++) a[i, j] -= l * a[k, j];
                x[i] -= l * x[k];
            }
        }
        for (var k = n - 1; k >= 0; k--)
        {
            x[k] /= a[k, k];
            for (var i = 0; i < k; i++) x[i] -= x[k] * a[i, k];
        }
        return x;
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithAlphaSigma(originalSamples, noise, timesteps, _useFlowSigmas);
}
