using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>A point of the DPM-Solver schedule: α_t, σ_t and λ_t = log α_t − log σ_t (float32, as diffusers' 0-d tensors).</summary>
internal readonly record struct DpmPoint(float Alpha, float Sigma, float Lambda)
{
    public static DpmPoint Of(float alpha, float sigma) => new(alpha, sigma, TorchCpuMath.Log(alpha) - TorchCpuMath.Log(sigma));
}

/// <summary>
/// The multistep DPM-Solver(++) updates shared by DPMSolverMultistepScheduler and EDMDPMSolverMultistepScheduler
/// (https://huggingface.co/papers/2206.00927, https://huggingface.co/papers/2211.01095). Coefficients are float32
/// scalars combined in diffusers' order; tensors are the data (x0) or noise predictions and the sample.
/// </summary>
internal static class DPMSolverUpdates
{
    /// <summary>
    /// diffusers' <c>convert_model_output</c> of the DPM-Solver family: the data prediction x0 (DPM-Solver++ style,
    /// thresholded if asked) or the noise prediction ε, from the model output in its own parameterisation. The result is
    /// a new tensor.
    /// </summary>
    public static Tensor ConvertModelOutput(bool dataPrediction, string predictionType, Tensor modelOutput, Tensor sample,
        float sigma, float alphaT, float sigmaT, Func<Tensor, Tensor>? threshold)
    {
        if (dataPrediction)
        {
            var x0 = predictionType switch
            {
                "epsilon" => (sample - modelOutput * sigmaT) / alphaT,
                "sample" => modelOutput.clone(),
                "v_prediction" => sample * alphaT - modelOutput * sigmaT,
                _ => sample - modelOutput * sigma,
            };
            return threshold is null ? x0 : threshold(x0);
        }

        var epsilon = predictionType switch
        {
            "epsilon" => modelOutput.clone(),
            "sample" => (sample - modelOutput * alphaT) / sigmaT,
            _ => modelOutput * alphaT + sample * sigmaT,
        };
        if (threshold is null) return epsilon;
        var x0Pred = threshold((sample - epsilon * sigmaT) / alphaT);
        return (sample - x0Pred * alphaT) / sigmaT;
    }

    /// <summary>One step of DPM-Solver(++) first order (equivalent to DDIM).</summary>
    public static Tensor FirstOrder(string algorithm, DpmPoint t, DpmPoint s, Tensor modelOutput, Tensor sample, Tensor? noise)
    {
        var (alphaT, sigmaT, lambdaT) = t;
        var (alphaS, sigmaS, lambdaS) = s;
        var h = lambdaT - lambdaS;
        return algorithm switch
        {
            "dpmsolver++" => sample * (sigmaT / sigmaS) - modelOutput * (alphaT * (TorchCpuMath.Exp(-h) - 1)),
            "dpmsolver" => sample * (alphaT / alphaS) - modelOutput * (sigmaT * (TorchCpuMath.Exp(h) - 1)),
            "sde-dpmsolver++" => sample * (sigmaT / sigmaS * TorchCpuMath.Exp(-h))
                                 + modelOutput * (alphaT * (1 - TorchCpuMath.Exp(-2 * h)))
                                 + noise! * (sigmaT * MathF.Sqrt(1 - TorchCpuMath.Exp(-2 * h))),
            _ => sample * (alphaT / alphaS)
                 - modelOutput * (2 * (sigmaT * (TorchCpuMath.Exp(h) - 1)))
                 + noise! * (sigmaT * MathF.Sqrt(TorchCpuMath.Exp(2 * h) - 1)),
        };
    }

    /// <summary>One step of the second-order multistep DPM-Solver(++); m0 is the newest model output.</summary>
    public static Tensor SecondOrder(string algorithm, bool midpoint, DpmPoint t, DpmPoint s0, DpmPoint s1, Tensor m0, Tensor m1, Tensor sample, Tensor? noise)
    {
        var (alphaT, sigmaT, lambdaT) = t;
        var (alphaS0, sigmaS0, lambdaS0) = s0;
        var h = lambdaT - lambdaS0;
        var h0 = lambdaS0 - s1.Lambda;
        var r0 = h0 / h;
        var d0 = m0;
        var d1 = (m0 - m1) * (1 / r0);

        switch (algorithm)
        {
            case "dpmsolver++":
            {
                var c = alphaT * (TorchCpuMath.Exp(-h) - 1);
                return midpoint
                    ? sample * (sigmaT / sigmaS0) - d0 * c - d1 * (0.5f * c)
                    : sample * (sigmaT / sigmaS0) - d0 * c + d1 * (alphaT * ((TorchCpuMath.Exp(-h) - 1) / h + 1));
            }
            case "dpmsolver":
            {
                var c = sigmaT * (TorchCpuMath.Exp(h) - 1);
                return midpoint
                    ? sample * (alphaT / alphaS0) - d0 * c - d1 * (0.5f * c)
                    : sample * (alphaT / alphaS0) - d0 * c - d1 * (sigmaT * ((TorchCpuMath.Exp(h) - 1) / h - 1));
            }
            case "sde-dpmsolver++":
            {
                var c = alphaT * (1 - TorchCpuMath.Exp(-2 * h));
                var x = sample * (sigmaT / sigmaS0 * TorchCpuMath.Exp(-h)) + d0 * c;
                x = midpoint
                    ? x + d1 * (0.5f * c)
                    : x + d1 * (alphaT * ((1 - TorchCpuMath.Exp(-2 * h)) / (-2 * h) + 1));
                return x + noise! * (sigmaT * MathF.Sqrt(1 - TorchCpuMath.Exp(-2 * h)));
            }
            default:
            {
                var c = sigmaT * (TorchCpuMath.Exp(h) - 1);
                var x = sample * (alphaT / alphaS0) - d0 * (2 * c);
                x = midpoint
                    ? x - d1 * c
                    : x - d1 * (2 * (sigmaT * ((TorchCpuMath.Exp(h) - 1) / h - 1)));
                return x + noise! * (sigmaT * MathF.Sqrt(TorchCpuMath.Exp(2 * h) - 1));
            }
        }
    }

    /// <summary>One step of the third-order multistep DPM-Solver(++); m0 is the newest model output.</summary>
    public static Tensor ThirdOrder(string algorithm, DpmPoint t, DpmPoint s0, DpmPoint s1, DpmPoint s2, Tensor m0, Tensor m1, Tensor m2, Tensor sample, Tensor? noise)
    {
        var (alphaT, sigmaT, lambdaT) = t;
        var (alphaS0, sigmaS0, lambdaS0) = s0;
        var h = lambdaT - lambdaS0;
        var h0 = lambdaS0 - s1.Lambda;
        var h1 = s1.Lambda - s2.Lambda;
        var r0 = h0 / h;
        var r1 = h1 / h;
        var d0 = m0;
        var d10 = (m0 - m1) * (1 / r0);
        var d11 = (m1 - m2) * (1 / r1);
        var d1 = d10 + (d10 - d11) * (r0 / (r0 + r1));
        var d2 = (d10 - d11) * (1 / (r0 + r1));

        return algorithm switch
        {
            "dpmsolver++" => sample * (sigmaT / sigmaS0)
                             - d0 * (alphaT * (TorchCpuMath.Exp(-h) - 1))
                             + d1 * (alphaT * ((TorchCpuMath.Exp(-h) - 1) / h + 1))
                             - d2 * (alphaT * ((TorchCpuMath.Exp(-h) - 1 + h) / (h * h) - 0.5f)),
            "dpmsolver" => sample * (alphaT / alphaS0)
                           - d0 * (sigmaT * (TorchCpuMath.Exp(h) - 1))
                           - d1 * (sigmaT * ((TorchCpuMath.Exp(h) - 1) / h - 1))
                           - d2 * (sigmaT * ((TorchCpuMath.Exp(h) - 1 - h) / (h * h) - 0.5f)),
            "sde-dpmsolver++" => sample * (sigmaT / sigmaS0 * TorchCpuMath.Exp(-h))
                                 + d0 * (alphaT * (1 - TorchCpuMath.Exp(-2 * h)))
                                 + d1 * (alphaT * ((1 - TorchCpuMath.Exp(-2 * h)) / (-2 * h) + 1))
                                 + d2 * (alphaT * ((1 - TorchCpuMath.Exp(-2 * h) - 2 * h) / ((2 * h) * (2 * h)) - 0.5f))
                                 + noise! * (sigmaT * MathF.Sqrt(1 - TorchCpuMath.Exp(-2 * h))),
            // diffusers has no third-order SDE-DPM-Solver: its step fails there.
            _ => throw new NotSupportedException($"DPM-Solver has no third-order update for algorithm_type \"{algorithm}\" (diffusers fails here too); use solver_order 2."),
        };
    }
}
