using DiffusersSharp.Loading;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Code diffusers copies between its schedulers ("# Copied from ..."): beta schedules, timestep spacings, the
/// Karras / exponential / beta sigma schedules, sigma-to-timestep interpolation, dynamic thresholding and the
/// DDPM-style forward process. Each builds its numbers in the dtype and with the library (torch or NumPy) diffusers uses.
/// </summary>
internal static class SchedulerUtils
{
    // ---- Beta schedules and the tables built from them (float32, as torch builds them). ----
    //
    // The tables are computed on the host with IEEE float arithmetic: torch's CPU kernels compute these with exactly
    // rounded +, −, ×, ÷ and sqrt, but a libtorch built with MKL evaluates sqrt with MKL's vector math (up to 1 ulp
    // off), which would shift sigmas by a bit from diffusers'.

    /// <summary>
    /// The betas of a config: <c>trained_betas</c>, or <c>beta_schedule</c> from <c>beta_start</c> to
    /// <c>beta_end</c> over <c>num_train_timesteps</c>.
    /// </summary>
    public static float[] Betas(ModelConfig config)
    {
        var n = config.GetInt("num_train_timesteps", 1000);
        var trained = config.GetDoubleArray("trained_betas");
        if (trained is not null) return NumPyCompat.ToFloat32(trained);
        var start = config.GetDouble("beta_start", 0.0001);
        var end = config.GetDouble("beta_end", 0.02);
        var schedule = config.GetString("beta_schedule", "linear");
        switch (schedule)
        {
            case "linear":
                return TorchLinspace(start, end, n);
            case "scaled_linear":
                // Latent diffusion's schedule: linear in sqrt(beta) (Python's `** 0.5` is C's pow), then squared.
                return TorchLinspace(Math.Pow(start, 0.5), Math.Pow(end, 0.5), n).Select(b => b * b).ToArray();
            case "squaredcos_cap_v2":
                return BetasForAlphaBar(n, "cosine");
            case "exp":
                return BetasForAlphaBar(n, "exp");
            case "laplace":
                return BetasForAlphaBar(n, "laplace");
            case "sigmoid":
            {
                using var scope = NewDisposeScope();
                return (tensor(TorchLinspace(-6, 6, n)).sigmoid() * (end - start) + start).data<float>().ToArray();
            }
            default:
                throw new NotSupportedException($"Unsupported config option beta_schedule=\"{schedule}\".");
        }
    }

    /// <summary>
    /// <c>torch.linspace(start, end, n, dtype=torch.float32)</c> as the reference torch computes it on the CPU: a float32
    /// step, values counted from <c>start</c> for the first half and from <c>end</c> for the second, in blocks of 8
    /// lanes (AVX2) whose base <c>start + step * idx</c> is one fused multiply-add and whose lanes are
    /// <c>base + j * step</c> (two roundings), and the last <c>n mod 16</c> values one by one (fused). libtorch's own
    /// linspace differs from this in the last bit for some values, which would drift ᾱ's cumulative product by a few
    /// ulps over 1000 steps and move Karras sigmas.
    /// </summary>
    public static float[] TorchLinspace(double start, double end, int n)
    {
        const int lanes = 8;
        var result = new float[n];
        var s = (float)start;
        var e = (float)end;
        if (n == 1)
        {
            result[0] = s;
            return result;
        }
        var step = (e - s) / (n - 1);
        var halfway = n / 2;
        float Value(long idx) => idx < halfway ? MathF.FusedMultiplyAdd(step, idx, s) : MathF.FusedMultiplyAdd(-step, n - idx - 1, e);
        var vectorized = n / (2 * lanes) * (2 * lanes);
        var i = 0;
        for (; i < vectorized; i += lanes)
        {
            var b = Value(i);
            for (var j = 0; j < lanes; j++) result[i + j] = b + j * step;
        }
        for (; i < n; i++) result[i] = Value(i);
        return result;
    }

    /// <summary>The float64 <c>torch.linspace</c>, as <see cref="TorchLinspace"/> computes it with 4-lane (AVX2) blocks.</summary>
    public static double[] TorchLinspace64(double start, double end, int n)
    {
        const int lanes = 4;
        var result = new double[n];
        if (n == 1)
        {
            result[0] = start;
            return result;
        }
        var step = (end - start) / (n - 1);
        var halfway = n / 2;
        double Value(long idx) => idx < halfway ? Math.FusedMultiplyAdd(step, idx, start) : Math.FusedMultiplyAdd(-step, n - idx - 1, end);
        var vectorized = n / (2 * lanes) * (2 * lanes);
        var i = 0;
        for (; i < vectorized; i += lanes)
        {
            var b = Value(i);
            for (var j = 0; j < lanes; j++) result[i + j] = b + j * step;
        }
        for (; i < n; i++) result[i] = Value(i);
        return result;
    }

    /// <summary>
    /// diffusers' <c>betas_for_alpha_bar</c>: betas that discretise a cumulative alpha function, computed in Python
    /// floats (float64, libm) and stored as float32.
    /// </summary>
    public static float[] BetasForAlphaBar(int numDiffusionTimesteps, string alphaTransformType = "cosine", double maxBeta = 0.999)
    {
        Func<double, double> alphaBar = alphaTransformType switch
        {
            "cosine" => t => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2),
            "laplace" => t =>
            {
                var lmb = -0.5 * Math.CopySign(1, 0.5 - t) * Math.Log(1 - 2 * Math.Abs(0.5 - t) + 1e-6);
                var snr = Math.Exp(lmb);
                return Math.Sqrt(snr / (1 + snr));
            },
            "exp" => t => Math.Exp(t * -12.0),
            _ => throw new NotSupportedException($"Unsupported alpha_transform_type: {alphaTransformType}"),
        };
        var betas = new float[numDiffusionTimesteps];
        for (var i = 0; i < numDiffusionTimesteps; i++)
        {
            var t1 = (double)i / numDiffusionTimesteps;
            var t2 = (double)(i + 1) / numDiffusionTimesteps;
            betas[i] = (float)Math.Min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
        }
        return betas;
    }

    /// <summary>
    /// Rescales betas to zero terminal SNR ("Common Diffusion Noise Schedules and Sample Steps are Flawed", Algorithm 1).
    /// </summary>
    public static float[] RescaleZeroTerminalSnr(float[] betas)
    {
        var alphasBarSqrt = AlphasCumprod(betas).Select(MathF.Sqrt).ToArray();
        var first = alphasBarSqrt[0];
        var last = alphasBarSqrt[^1];
        // Shift so the last timestep is zero, then scale so the first timestep is back to its old value.
        var scale = first / (first - last);
        var alphasBar = alphasBarSqrt.Select(a => (a - last) * scale).Select(a => a * a).ToArray();
        var alphas = new float[alphasBar.Length];
        alphas[0] = alphasBar[0];
        for (var i = 1; i < alphas.Length; i++) alphas[i] = alphasBar[i] / alphasBar[i - 1];
        return alphas.Select(a => 1f - a).ToArray();
    }

    /// <summary><c>torch.cumprod(1 - betas)</c>: torch accumulates a float32 cumprod in double.</summary>
    public static float[] AlphasCumprod(float[] betas)
    {
        var result = new float[betas.Length];
        var acc = 1.0;
        for (var i = 0; i < betas.Length; i++)
        {
            acc *= 1f - betas[i];
            result[i] = (float)acc;
        }
        return result;
    }

    /// <summary>The ᾱ table of a config, rescaled to zero terminal SNR where <c>rescale_betas_zero_snr</c> is set.</summary>
    /// <param name="zeroSnrFloor">
    /// Sigma-based schedulers then set ᾱ_T to 2^-24, as zero terminal SNR would make the last sigma infinite.
    /// </param>
    public static float[] AlphasCumprod(ModelConfig config, bool zeroSnrFloor = false)
    {
        var betas = Betas(config);
        if (!config.GetBool("rescale_betas_zero_snr", false)) return AlphasCumprod(betas);
        var alphasCumprod = AlphasCumprod(RescaleZeroTerminalSnr(betas));
        if (zeroSnrFloor) alphasCumprod[^1] = MathF.Pow(2, -24);
        return alphasCumprod;
    }

    /// <summary><c>1 - x</c> on a tensor as torch's <c>rsub</c> computes it (one rounding).</summary>
    public static Tensor OneMinus(Tensor x) => x.neg().add_(1);

    /// <summary><c>((1 - ᾱ) / ᾱ) ** 0.5</c> in float32: the Karras sigma of each training timestep (ascending).</summary>
    public static float[] SigmasFromAlphasCumprod(float[] alphasCumprod) =>
        alphasCumprod.Select(a => MathF.Sqrt((1f - a) / a)).ToArray();

    /// <summary>The same for one ᾱ.</summary>
    public static float SigmaFromAlphaCumprod(float alphaCumprod) => MathF.Sqrt((1f - alphaCumprod) / alphaCumprod);

    // ---- Timestep spacings (Table 2 of https://huggingface.co/papers/2305.08891), in NumPy float64. ----

    /// <summary><c>np.linspace(0, last, n)</c>, ascending.</summary>
    public static double[] LinspaceSpacing(double last, int n) => NumPyCompat.Linspace(0, last, n);

    /// <summary><c>(np.arange(0, n) * (trainSteps // n)).round() + offset</c>, ascending.</summary>
    public static double[] LeadingSpacing(int trainSteps, int n, int stepsOffset)
    {
        var ratio = trainSteps / n;
        return Enumerable.Range(0, n).Select(i => (double)((long)i * ratio + stepsOffset)).ToArray();
    }

    /// <summary><c>np.round(np.arange(start, 0, -trainSteps / n)) - 1</c>, descending.</summary>
    public static double[] TrailingSpacing(double start, int trainSteps, int n) =>
        NumPyCompat.Round(NumPyCompat.Arange(start, 0, -((double)trainSteps / n))).Select(t => t - 1).ToArray();

    /// <summary>
    /// The integer timesteps of the multistep solvers (DPM-Solver, UniPC, DEIS, SA-Solver): n of n + 1 points,
    /// descending, dropping the last, for "linspace", "leading" (+ steps_offset) or "trailing" spacing, up to
    /// <paramref name="lastTimestep"/> (the training length, or where λ_min_clipped cuts the schedule).
    /// </summary>
    public static double[] MultistepTimesteps(string spacing, int trainSteps, int lastTimestep, int n, int stepsOffset) => spacing switch
    {
        "linspace" => NumPyCompat.Reverse(NumPyCompat.Round(LinspaceSpacing(lastTimestep - 1, n + 1)))[..^1],
        "leading" => NumPyCompat.Reverse(Enumerable.Range(0, n + 1).Select(i => (double)((long)i * (lastTimestep / (n + 1)))).ToArray())[..^1]
            .Select(t => t + stepsOffset).ToArray(),
        _ => TrailingSpacing(lastTimestep, trainSteps, n),
    };

    /// <summary>λ(t) = log α_t − log σ_t of each training timestep (torch float32), used to clip schedules.</summary>
    public static float[] LambdaT(float[] alphasCumprod) =>
        alphasCumprod.Select(a => TorchCpuMath.Log(MathF.Sqrt(a)) - TorchCpuMath.Log(MathF.Sqrt(1 - a))).ToArray();

    /// <summary>
    /// The training length minus the timesteps whose λ(t) is below <c>lambda_min_clipped</c> (torch.searchsorted on the
    /// ascending λ).
    /// </summary>
    public static int LastTimestep(ModelConfig config, float[] lambdaT)
    {
        var lambdaMin = config.GetDouble("lambda_min_clipped", double.NegativeInfinity);
        return lambdaT.Length - lambdaT.Count(l => l < lambdaMin);
    }

    /// <summary>
    /// (α_t, σ_t) of a sigma: 1/sqrt(σ² + 1) and σ α_t for Karras sigmas (Python's <c>1 / x</c> on a tensor is one
    /// rounding, as here), or 1 − σ and σ for flow sigmas.
    /// </summary>
    public static (float Alpha, float Sigma) AlphaSigma(float sigma, bool flowSigmas)
    {
        if (flowSigmas) return (1 - sigma, sigma);
        var alpha = 1 / MathF.Sqrt(sigma * sigma + 1);
        return (alpha, sigma * alpha);
    }

    /// <summary>The descending, shifted flow-matching sigmas of the multistep solvers' <c>use_flow_sigmas</c> (n values).</summary>
    public static double[] FlowSigmas(int trainSteps, int n, double shift) =>
        NumPyCompat.Linspace(1, 1.0 / trainSteps, n + 1).Select(a => 1.0 - a).Select(s => shift * s / (1 + (shift - 1) * s)).Reverse().ToArray()[..^1];

    // ---- Sigma schedules (NumPy float64). ----

    /// <summary>
    /// The float32 timesteps of the k-diffusion-style schedulers (Euler, LMS, Heun, KDPM2): descending, for
    /// "linspace", "leading" (+ steps_offset) or "trailing" spacing.
    /// </summary>
    public static float[] FloatTimesteps(string spacing, int trainSteps, int n, int stepsOffset) => NumPyCompat.ToFloat32(spacing switch
    {
        "linspace" => NumPyCompat.Reverse(LinspaceSpacing(trainSteps - 1, n)),
        "leading" => NumPyCompat.Reverse(LeadingSpacing(trainSteps, n, stepsOffset)),
        _ => TrailingSpacing(trainSteps, trainSteps, n),
    });

    /// <summary><c>np.interp(timesteps, arange(N), train_sigmas)</c>: the sigma at each (fractional) timestep.</summary>
    public static double[] InterpolateSigmas(float[] timesteps, float[] trainSigmas) =>
        NumPyCompat.Interp(NumPyCompat.ToFloat64(timesteps), NumPyCompat.Indices(trainSigmas.Length), NumPyCompat.ToFloat64(trainSigmas));

    /// <summary>
    /// The schedule chosen by <c>use_karras_sigmas</c>, <c>use_exponential_sigmas</c> or <c>use_beta_sigmas</c> over the
    /// range of <paramref name="sigmas"/> (descending), or null when none is set.
    /// </summary>
    public static double[]? ConvertedSigmas(ModelConfig config, double[] sigmas, int n)
    {
        var (sigmaMin, sigmaMax) = SigmaRange(config, sigmas);
        if (config.GetBool("use_karras_sigmas", false)) return KarrasSigmas(sigmaMin, sigmaMax, n);
        if (config.GetBool("use_exponential_sigmas", false)) return ExponentialSigmas(sigmaMin, sigmaMax, n);
        if (config.GetBool("use_beta_sigmas", false)) return BetaSigmas(sigmaMin, sigmaMax, n);
        return null;
    }

    /// <summary>Refuses more than one of use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas, as diffusers does.</summary>
    public static void RequireOneSigmaSchedule(ModelConfig config)
    {
        if (new[] { "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas" }.Count(k => config.GetBool(k, false)) > 1)
            throw new ArgumentException("Only one of use_beta_sigmas, use_exponential_sigmas, use_karras_sigmas can be used.");
    }

    /// <summary>
    /// diffusers' <c>_sigma_to_t</c> where it runs on torch tensors (KDPM2's interpolated sigmas): the same interpolation,
    /// but every step in float32 torch arithmetic, including the final <c>(1 − w)·low + w·high</c>.
    /// </summary>
    public static float SigmaToTFloat32(float sigma, float[] logSigmas)
    {
        var logSigma = (float)Math.Log(Math.Max(sigma, 1e-10));
        var lowIdx = 0;
        for (var i = 0; i < logSigmas.Length; i++)
            if (logSigma - logSigmas[i] >= 0) lowIdx = i;
        lowIdx = Math.Min(lowIdx, logSigmas.Length - 2);
        var low = logSigmas[lowIdx];
        var high = logSigmas[lowIdx + 1];
        var w = (low - logSigma) / (low - high);
        if (!float.IsNaN(w)) w = Math.Clamp(w, 0f, 1f);
        return (1 - w) * lowIdx + w * (lowIdx + 1);
    }

    /// <summary>torch's <c>cat([x[:1], x[1:].repeat_interleave(2), x[-1:]])</c>: every entry but the first twice, the last once more.</summary>
    public static T[] Interleave2<T>(T[] x) => x[..1].Concat(x[1..].SelectMany(v => new[] { v, v })).Concat(x[^1..]).ToArray();

    /// <summary>Karras et al. (2022) noise schedule: <c>(max^(1/ρ) + ramp (min^(1/ρ) − max^(1/ρ)))^ρ</c>.</summary>
    public static double[] KarrasSigmas(double sigmaMin, double sigmaMax, int n, double rho = 7.0)
    {
        var ramp = NumPyCompat.Linspace(0, 1, n);
        var minInvRho = Math.Pow(sigmaMin, 1 / rho);
        var maxInvRho = Math.Pow(sigmaMax, 1 / rho);
        return ramp.Select(r => Math.Pow(maxInvRho + r * (minInvRho - maxInvRho), rho)).ToArray();
    }

    /// <summary>Exponential schedule: log-linear from sigma_max to sigma_min.</summary>
    public static double[] ExponentialSigmas(double sigmaMin, double sigmaMax, int n) =>
        NumPyCompat.Linspace(Math.Log(sigmaMax), Math.Log(sigmaMin), n).Select(Math.Exp).ToArray();

    /// <summary>"Beta Sampling is All You Need" schedule: sigma_min + ppf(1 − ramp; α, β) (sigma_max − sigma_min).</summary>
    public static double[] BetaSigmas(double sigmaMin, double sigmaMax, int n, double alpha = 0.6, double beta = 0.6) =>
        NumPyCompat.Linspace(0, 1, n).Select(r => sigmaMin + BetaDistribution.Ppf(1 - r, alpha, beta) * (sigmaMax - sigmaMin)).ToArray();

    /// <summary>
    /// The sigma range a Karras / exponential / beta schedule spans: the config's <c>sigma_min</c>/<c>sigma_max</c> where
    /// set (also when carried over from another scheduler's config, as diffusers reads them with hasattr), else the
    /// ends of <paramref name="inSigmas"/> (descending).
    /// </summary>
    public static (double Min, double Max) SigmaRange(ModelConfig config, double[] inSigmas) =>
        (config.GetNullableDouble("sigma_min") ?? inSigmas[^1], config.GetNullableDouble("sigma_max") ?? inSigmas[0]);

    /// <summary>
    /// diffusers' <c>_sigma_to_t</c>: the fractional training timestep of a sigma, interpolating linearly in log-sigma
    /// between the two neighbouring training sigmas. <paramref name="logSigmas"/> is float32, and under NumPy 1.x's
    /// value-based casting (what the reference ran) every operation with it stays float32: the float64 log-sigma is
    /// rounded to float32 before the subtractions, and the weight is a float32 division.
    /// </summary>
    public static double SigmaToT(double sigma, float[] logSigmas)
    {
        var logSigma = (float)Math.Log(Math.Max(sigma, 1e-10));
        // Last index whose log-sigma is <= log_sigma (0 if none), as cumsum(dists >= 0).argmax() finds it.
        var lowIdx = 0;
        for (var i = 0; i < logSigmas.Length; i++)
            if (logSigma - logSigmas[i] >= 0) lowIdx = i;
        lowIdx = Math.Min(lowIdx, logSigmas.Length - 2);
        var highIdx = lowIdx + 1;
        var low = logSigmas[lowIdx];
        var high = logSigmas[highIdx];
        var w = Math.Clamp((low - logSigma) / (low - high), 0f, 1f);
        // float32 weights times int64 indices promote to float64.
        return (double)(1 - w) * lowIdx + (double)w * highIdx;
    }

    /// <summary>NumPy's float32 <c>np.log</c> of the training sigmas.</summary>
    public static float[] LogSigmas(float[] sigmas) => sigmas.Select(NumPyCompat.Log).ToArray();

    // ---- Sampling helpers. ----

    /// <summary>
    /// Dynamic thresholding (Imagen, https://huggingface.co/papers/2205.11487): per sample, clamp to the
    /// <paramref name="ratio"/> quantile s of |x| (at least 1, at most <paramref name="maxValue"/>) and divide by s.
    /// </summary>
    public static Tensor ThresholdSample(Tensor sample, double ratio, double maxValue)
    {
        using var scope = NewDisposeScope();
        var dtype = sample.dtype;
        var shape = sample.shape;
        var x = dtype is ScalarType.Float32 or ScalarType.Float64 ? sample : sample.to(ScalarType.Float32);
        x = x.reshape(shape[0], -1);
        // torch.quantile takes q as a tensor of the input's dtype.
        var s = quantile(x.abs(), tensor(ratio, x.dtype), 1);
        s = s.clamp(1, maxValue).unsqueeze(1);
        var result = (x.clamp(-s, s) / s).reshape(shape).to(dtype);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// DDPM's forward process <c>sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε</c>, ᾱ indexed by the (integer) timesteps, one per
    /// sample (or one for all).
    /// </summary>
    public static Tensor AddNoiseWithAlphasCumprod(float[] alphasCumprod, Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var ts = timesteps.cpu().to(ScalarType.Int64).flatten().data<long>().ToArray();
        var sqrtAlphaProd = ts.Select(t => MathF.Sqrt(alphasCumprod[t])).ToArray();
        var sqrtOneMinusAlphaProd = ts.Select(t => MathF.Sqrt(1f - alphasCumprod[t])).ToArray();
        var a = BroadcastTo(tensor(sqrtAlphaProd, device: originalSamples.device).to(originalSamples.dtype), originalSamples.dim());
        var b = BroadcastTo(tensor(sqrtOneMinusAlphaProd, device: originalSamples.device).to(originalSamples.dtype), originalSamples.dim());
        return (a * originalSamples + b * noise).MoveToOuterDisposeScope();
    }

    /// <summary>Appends trailing singleton dims until <paramref name="x"/> has <paramref name="ndim"/> dims.</summary>
    public static Tensor BroadcastTo(Tensor x, long ndim)
    {
        while (x.dim() < ndim) x = x.unsqueeze(-1);
        return x;
    }
}

/// <summary>The Beta(α, β) distribution's quantile function (SciPy's <c>scipy.stats.beta.ppf</c>), to double precision.</summary>
internal static class BetaDistribution
{
    public static double Ppf(double q, double a, double b)
    {
        if (q <= 0) return 0;
        if (q >= 1) return 1;
        // The CDF is monotone: bisect to the last representable bit.
        double lo = 0, hi = 1;
        for (var i = 0; i < 200 && hi - lo > 0; i++)
        {
            var mid = 0.5 * (lo + hi);
            if (mid <= lo || mid >= hi) break;
            if (RegularizedIncompleteBeta(mid, a, b) < q) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>I_x(a, b) by its continued fraction (Lentz), using the symmetry relation where it converges faster.</summary>
    public static double RegularizedIncompleteBeta(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        var front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x));
        return x < (a + 1) / (a + b + 2)
            ? front * ContinuedFraction(x, a, b) / a
            : 1 - front * ContinuedFraction(1 - x, b, a) / b;
    }

    private static double ContinuedFraction(double x, double a, double b)
    {
        const double tiny = 1e-300;
        double c = 1, d = 1 - (a + b) * x / (a + 1);
        if (Math.Abs(d) < tiny) d = tiny;
        d = 1 / d;
        var h = d;
        for (var m = 1; m < 10000; m++)
        {
            var m2 = 2 * m;
            var aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
            d = 1 + aa * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + aa / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            h *= d * c;
            aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
            d = 1 + aa * d; if (Math.Abs(d) < tiny) d = tiny;
            c = 1 + aa / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            var del = d * c;
            h *= del;
            if (Math.Abs(del - 1) < 1e-16) break;
        }
        return h;
    }

    /// <summary>ln Γ(x) for x &gt; 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15).</summary>
    public static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Sin(Math.PI * x)) - LogGamma(1 - x);
        ReadOnlySpan<double> g =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        x -= 1;
        var sum = g[0];
        for (var i = 1; i < g.Length; i++) sum += g[i] / (x + i);
        var t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }
}
