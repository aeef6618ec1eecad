using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// DEIS (https://huggingface.co/papers/2204.13902), multistep in log-ρ (ρ = σ/α): the noise prediction integrated
/// exactly against polynomial extrapolations of up to three previous outputs.
/// </summary>
public sealed class DEISMultistepScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("solver_order", 2), ("prediction_type", "epsilon"), ("thresholding", false),
        ("dynamic_thresholding_ratio", 0.995), ("sample_max_value", 1.0), ("algorithm_type", "deis"),
        ("solver_type", "logrho"), ("lower_order_final", true), ("use_karras_sigmas", false),
        ("use_exponential_sigmas", false), ("use_beta_sigmas", false), ("use_flow_sigmas", false), ("flow_shift", 1.0),
        ("timestep_spacing", "linspace"), ("steps_offset", 0), ("use_dynamic_shifting", false),
        ("time_shift_type", "exponential"),
    ];

    private readonly int _numTrainTimesteps;
    private readonly int _solverOrder;
    private readonly string _predictionType;
    private readonly string _timestepSpacing;
    private readonly bool _useFlowSigmas;
    private readonly bool _thresholding;
    private readonly float[] _alphasCumprod;
    private readonly Tensor?[] _modelOutputs;
    private int _lowerOrderNums;

    public DEISMultistepScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        RequireOneSigmaSchedule(Config);
        // diffusers maps DPM-Solver / UniPC names onto DEIS's own.
        if (Config.GetString("algorithm_type", "deis") is "dpmsolver" or "dpmsolver++") Config["algorithm_type"] = "deis";
        if (Config.GetString("solver_type", "logrho") is "midpoint" or "heun" or "bh1" or "bh2") Config["solver_type"] = "logrho";
        RequireOneOf("algorithm_type", "deis");
        RequireOneOf("solver_type", "logrho");
        _predictionType = RequireOneOf("prediction_type", "epsilon", "sample", "v_prediction", "flow_prediction");
        _timestepSpacing = RequireOneOf("timestep_spacing", "linspace", "leading", "trailing");
        _solverOrder = Config.GetInt("solver_order", 2);
        if (_solverOrder < 1) throw new NotSupportedException($"Unsupported config option solver_order={_solverOrder}: must be at least 1.");
        _useFlowSigmas = Config.GetBool("use_flow_sigmas", false);
        _thresholding = Config.GetBool("thresholding", false);
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _alphasCumprod = AlphasCumprod(Config);
        StoreSigmas(SigmasFromAlphasCumprod(_alphasCumprod));
        SetTimestepsTensor(tensor(NumPyCompat.ToFloat32(NumPyCompat.Reverse(NumPyCompat.Linspace(0, _numTrainTimesteps - 1, _numTrainTimesteps)))));
        _modelOutputs = new Tensor?[_solverOrder];
    }

    public override string ClassName => "DEISMultistepScheduler";

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        var N = _numTrainTimesteps;
        var timesteps = MultistepTimesteps(_timestepSpacing, N, N, n, Config.GetInt("steps_offset", 0));

        var trainSigmas32 = SigmasFromAlphasCumprod(_alphasCumprod);
        var trainSigmas = NumPyCompat.ToFloat64(trainSigmas32);
        var logSigmas = LogSigmas(trainSigmas32);
        float[] sigmas32;
        if (ConvertedSigmas(Config, NumPyCompat.Reverse(trainSigmas), n) is { } converted)
        {
            timesteps = converted.Select(s => SigmaToT(s, logSigmas)).ToArray();
            if (Config.GetBool("use_karras_sigmas", false)) timesteps = NumPyCompat.Round(timesteps);
            // These schedules end on their last sigma repeated, not on 0.
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
        var lowerOrderFinal = index == count - 1 && Config.GetBool("lower_order_final", true) && count < 15;
        var lowerOrderSecond = index == count - 2 && Config.GetBool("lower_order_final", true) && count < 15;

        var converted = ConvertModelOutput(modelOutput, sample, index);
        Release(_modelOutputs[0]);
        for (var i = 0; i < _solverOrder - 1; i++) _modelOutputs[i] = _modelOutputs[i + 1];
        _modelOutputs[^1] = Keep(converted);

        Tensor prevSample;
        if (_solverOrder == 1 || _lowerOrderNums < 1 || lowerOrderFinal)
        {
            var (alphaT, sigmaT) = AlphaSigma(SigmaValues[index + 1]);
            var (alphaS, sigmaS) = AlphaSigma(SigmaValues[index]);
            var h = TorchCpuMath.Log(alphaT) - TorchCpuMath.Log(sigmaT) - (TorchCpuMath.Log(alphaS) - TorchCpuMath.Log(sigmaS));
            prevSample = sample * (alphaT / alphaS) - converted * (sigmaT * (TorchCpuMath.Exp(h) - 1));
        }
        else if (_solverOrder == 2 || _lowerOrderNums < 2 || lowerOrderSecond)
        {
            prevSample = SecondOrder(index, sample);
        }
        else
        {
            prevSample = ThirdOrder(index, sample);
        }

        if (_lowerOrderNums < _solverOrder) _lowerOrderNums++;
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), null);
    }

    /// <summary>DEIS works on the noise prediction, obtained through x0 (thresholded if asked).</summary>
    private Tensor ConvertModelOutput(Tensor modelOutput, Tensor sample, int index)
    {
        var sigma = SigmaValues[index];
        var (alphaT, sigmaT) = AlphaSigma(sigma);
        var x0 = DPMSolverUpdates.ConvertModelOutput(true, _predictionType, modelOutput, sample, sigma, alphaT, sigmaT,
            _thresholding ? x => ThresholdSample(x, Config.GetDouble("dynamic_thresholding_ratio", 0.995), Config.GetDouble("sample_max_value", 1.0)) : null);
        return (sample - x0 * alphaT) / sigmaT;
    }

    private (float Alpha, float Sigma) AlphaSigma(float sigma) => SchedulerUtils.AlphaSigma(sigma, _useFlowSigmas);

    private float Rho(int index)
    {
        var (alpha, sigma) = AlphaSigma(SigmaValues[index]);
        return sigma / alpha;
    }

    // The logs are NumPy's float32 log of 0-d float32 tensors, the arithmetic float32.
    private static float Log(float x) => NumPyCompat.Log(x);

    private Tensor SecondOrder(int index, Tensor sample)
    {
        var (alphaT, _) = AlphaSigma(SigmaValues[index + 1]);
        var (alphaS0, _) = AlphaSigma(SigmaValues[index]);
        float rhoT = Rho(index + 1), rhoS0 = Rho(index), rhoS1 = Rho(index - 1);
        static float Ind(float t, float b, float c) => t * (-Log(c) + Log(t) - 1) / (Log(b) - Log(c));
        var coef1 = Ind(rhoT, rhoS0, rhoS1) - Ind(rhoS0, rhoS0, rhoS1);
        var coef2 = Ind(rhoT, rhoS1, rhoS0) - Ind(rhoS0, rhoS1, rhoS0);
        return (sample / alphaS0 + _modelOutputs[^1]! * coef1 + _modelOutputs[^2]! * coef2) * alphaT;
    }

    private Tensor ThirdOrder(int index, Tensor sample)
    {
        var (alphaT, _) = AlphaSigma(SigmaValues[index + 1]);
        var (alphaS0, _) = AlphaSigma(SigmaValues[index]);
        float rhoT = Rho(index + 1), rhoS0 = Rho(index), rhoS1 = Rho(index - 1), rhoS2 = Rho(index - 2);
        static float Ind(float t, float b, float c, float d)
        {
            var numerator = t * (Log(c) * (Log(d) - Log(t) + 1) - Log(d) * Log(t) + Log(d) + Log(t) * Log(t) - 2 * Log(t) + 2);
            var denominator = (Log(b) - Log(c)) * (Log(b) - Log(d));
            return numerator / denominator;
        }
        var coef1 = Ind(rhoT, rhoS0, rhoS1, rhoS2) - Ind(rhoS0, rhoS0, rhoS1, rhoS2);
        var coef2 = Ind(rhoT, rhoS1, rhoS2, rhoS0) - Ind(rhoS0, rhoS1, rhoS2, rhoS0);
        var coef3 = Ind(rhoT, rhoS2, rhoS0, rhoS1) - Ind(rhoS0, rhoS2, rhoS0, rhoS1);
        return (sample / alphaS0 + _modelOutputs[^1]! * coef1 + _modelOutputs[^2]! * coef2 + _modelOutputs[^3]! * coef3) * alphaT;
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithAlphaSigma(originalSamples, noise, timesteps, _useFlowSigmas);
}
