using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Linear multistep method (k-diffusion's <c>sample_lms</c>): the ODE derivative of up to four previous steps, weighted
/// by the integrals of their Lagrange basis polynomials over the σ step.
/// </summary>
public sealed class LMSDiscreteScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("num_train_timesteps", 1000), ("beta_start", 0.0001), ("beta_end", 0.02), ("beta_schedule", "linear"),
        ("trained_betas", null), ("use_karras_sigmas", false), ("use_exponential_sigmas", false),
        ("use_beta_sigmas", false), ("prediction_type", "epsilon"), ("timestep_spacing", "linspace"), ("steps_offset", 0),
    ];

    // diffusers' step() default.
    private const int LmsOrder = 4;

    private readonly int _numTrainTimesteps;
    private readonly string _predictionType;
    private readonly string _timestepSpacing;
    private readonly int _stepsOffset;
    private readonly float[] _alphasCumprod;
    private readonly List<Tensor> _derivatives = new();

    public LMSDiscreteScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        RequireBetaSchedule();
        RequireOneSigmaSchedule(Config);
        _predictionType = RequireOneOf("prediction_type", "epsilon", "v_prediction", "sample");
        _timestepSpacing = RequireOneOf("timestep_spacing", "linspace", "leading", "trailing");
        _numTrainTimesteps = Config.GetInt("num_train_timesteps", 1000);
        _stepsOffset = Config.GetInt("steps_offset", 0);
        _alphasCumprod = AlphasCumprod(Config);
        SetTimesteps(_numTrainTimesteps);
    }

    public override string ClassName => "LMSDiscreteScheduler";

    public override double InitNoiseSigma => SigmaInitNoiseSigma(_timestepSpacing);

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        var n = numInferenceSteps;
        NumInferenceSteps = n;
        var timesteps32 = FloatTimesteps(_timestepSpacing, _numTrainTimesteps, n, _stepsOffset);
        var timesteps = NumPyCompat.ToFloat64(timesteps32);
        var trainSigmas = SigmasFromAlphasCumprod(_alphasCumprod);
        var logSigmas = LogSigmas(trainSigmas);
        var sigmas = InterpolateSigmas(timesteps32, trainSigmas);

        if (Config.GetBool("use_karras_sigmas", false))
        {
            // LMS's Karras range is always the interpolated sigmas' (it ignores sigma_min/sigma_max).
            sigmas = KarrasSigmas(sigmas[^1], sigmas[0], n);
            timesteps = sigmas.Select(s => SigmaToT(s, logSigmas)).ToArray();
        }
        else if (Config.GetBool("use_exponential_sigmas", false) || Config.GetBool("use_beta_sigmas", false))
        {
            // diffusers 0.38 only re-derives the timesteps here and keeps the interpolated sigmas.
            timesteps = sigmas.Select(s => SigmaToT(s, logSigmas)).ToArray();
        }

        StoreSigmas(NumPyCompat.ToFloat32(sigmas.Append(0.0).ToArray()));
        SetTimestepsTensor(tensor(NumPyCompat.ToFloat32(timesteps), ScalarType.Float32), device);
        StepIndex = null;
        BeginIndex = null;
        ClearDerivatives();
    }

    public override Tensor ScaleModelInput(Tensor sample, SchedulerTimestep timestep) => ScaleBySigma(sample, timestep);

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        var sigma = SigmaValues[index];
        var predOriginalSample = _predictionType switch
        {
            "epsilon" => sample - modelOutput * sigma,
            "v_prediction" => modelOutput * (-sigma / MathF.Sqrt(sigma * sigma + 1)) + sample / (sigma * sigma + 1),
            _ => modelOutput.alias(),
        };

        _derivatives.Add(Keep((sample - predOriginalSample) / sigma));
        if (_derivatives.Count > LmsOrder)
        {
            Release(_derivatives[0]);
            _derivatives.RemoveAt(0);
        }

        // Newest derivative first, each weighted by its float32-rounded coefficient, summed left to right. diffusers
        // zips the coefficients with the derivatives, so an img2img loop starting mid-schedule uses the ones it has.
        var order = Math.Min(index + 1, LmsOrder);
        Tensor? sum = null;
        for (var k = 0; k < Math.Min(order, _derivatives.Count); k++)
        {
            var term = _derivatives[^(k + 1)] * (float)LmsCoefficient(order, index, k);
            sum = sum is null ? term : sum + term;
        }
        var prevSample = sample + sum!;
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// ∫ of the Lagrange basis polynomial of <paramref name="currentOrder"/> from σ_t to σ_(t+1), as
    /// <c>scipy.integrate.quad</c> computes it: the basis is evaluated in float32 (diffusers multiplies 0-d tensors),
    /// and, being a polynomial of degree ≤ 3, is integrated by QUADPACK's first 21-point Gauss-Kronrod pass.
    /// </summary>
    private double LmsCoefficient(int order, int t, int currentOrder)
    {
        double Basis(double tau)
        {
            if (order == 1) return 1.0;
            var prod = 1f;
            var tau32 = (float)tau;
            for (var k = 0; k < order; k++)
            {
                if (k == currentOrder) continue;
                prod *= (tau32 - SigmaValues[t - k]) / (SigmaValues[t - currentOrder] - SigmaValues[t - k]);
            }
            return prod;
        }
        return GaussKronrod21(Basis, SigmaValues[t], SigmaValues[t + 1]);
    }

    private static readonly double[] Xgk =
    [
        0.995657163025808080735527280689003, 0.973906528517171720077964012084452, 0.930157491355708226001207180059508,
        0.865063366688984510732096688423493, 0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
        0.562757134668604683339000099272694, 0.433395394129247190799265943165784, 0.294392862701460198131126603103866,
        0.148874338981631210884826001129720, 0.0,
    ];

    private static readonly double[] Wgk =
    [
        0.011694638867371874278064396062192, 0.032558162307964727478818972459390, 0.054755896574351996031381300244580,
        0.075039674810919952767043140916190, 0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
        0.123491976262065851077958109831074, 0.134709217311473325928054001771707, 0.142775938577060080797094273138717,
        0.147739104901338491374841515972068, 0.149445554002916905664936468389821,
    ];

    /// <summary>QUADPACK's <c>dqk21</c> result, with its summation order (Gauss nodes first, then the Kronrod ones).</summary>
    private static double GaussKronrod21(Func<double, double> f, double a, double b)
    {
        var centr = 0.5 * (a + b);
        var hlgth = 0.5 * (b - a);
        var resk = Wgk[10] * f(centr);
        for (var j = 1; j <= 5; j++)
        {
            var jtw = 2 * j - 1;
            var absc = hlgth * Xgk[jtw];
            resk += Wgk[jtw] * (f(centr - absc) + f(centr + absc));
        }
        for (var j = 1; j <= 5; j++)
        {
            var jtwm1 = 2 * j - 2;
            var absc = hlgth * Xgk[jtwm1];
            resk += Wgk[jtwm1] * (f(centr - absc) + f(centr + absc));
        }
        return resk * hlgth;
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithSigmas(originalSamples, noise, timesteps);

    private void ClearDerivatives()
    {
        foreach (var d in _derivatives) Release(d);
        _derivatives.Clear();
    }
}
