using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>EDM's sigma schedules and preconditioning, shared by the EDM schedulers.</summary>
internal sealed class EdmPreconditioning
{
    private readonly double _sigmaData;
    private readonly double _rho;
    private readonly bool _vPrediction;
    private readonly bool _karras;
    private readonly bool _float32Ramp;

    /// <param name="float32Ramp">EDMDPMSolverMultistep builds its Karras ramp in float32, EDMEuler in float64.</param>
    public EdmPreconditioning(ModelConfig config, bool vPrediction, string sigmaSchedule, bool float32Ramp = false)
    {
        SigmaMin = config.GetDouble("sigma_min", 0.002);
        SigmaMax = config.GetDouble("sigma_max", 80.0);
        _sigmaData = config.GetDouble("sigma_data", 0.5);
        _rho = config.GetDouble("rho", 7.0);
        _vPrediction = vPrediction;
        _karras = sigmaSchedule == "karras";
        _float32Ramp = float32Ramp;
    }

    public double SigmaMin { get; }

    public double SigmaMax { get; }

    /// <summary>Descending sigmas for a ramp from 0 to 1: Karras' ρ-schedule, or log-linear ("exponential").</summary>
    public float[] Sigmas(double[] ramp)
    {
        if (!_karras)
        {
            // torch.linspace(log σ_min, log σ_max, n) (float32), exp, flipped.
            var logs = TorchLinspace(Math.Log(SigmaMin), Math.Log(SigmaMax), ramp.Length);
            return TorchCpuMath.ExpVector(logs).Reverse().ToArray();
        }
        var minInvRho = Math.Pow(SigmaMin, 1 / _rho);
        var maxInvRho = Math.Pow(SigmaMax, 1 / _rho);
        if (!_float32Ramp)
            return ramp.Select(r => (float)Math.Pow(maxInvRho + r * (minInvRho - maxInvRho), _rho)).ToArray();
        var span = (float)(minInvRho - maxInvRho);
        return TorchCpuMath.PowVector(ramp.Select(r => (float)maxInvRho + (float)r * span).ToArray(), (float)_rho);
    }

    /// <summary>c_noise = ¼ log σ: the timestep the model is given.</summary>
    public static float[] NoiseConditioning(float[] sigmas) => sigmas.Select(s => 0.25f * TorchCpuMath.Log(s)).ToArray();

    /// <summary>c_in = 1 / sqrt(σ² + σ_data²).</summary>
    public float CIn(float sigma) => 1 / MathF.Sqrt(sigma * sigma + (float)(_sigmaData * _sigmaData));

    /// <summary>The denoised estimate c_skip x + c_out F(x) at σ.</summary>
    public Tensor Denoise(Tensor sample, Tensor modelOutput, float sigma)
    {
        var sigmaData2 = (float)(_sigmaData * _sigmaData);
        var denominator = sigma * sigma + sigmaData2;
        // `sigma_data**2 / tensor` is reciprocal(tensor) * sigma_data**2 in torch.
        var cSkip = 1 / denominator * sigmaData2;
        var cOut = (_vPrediction ? -sigma : sigma) * (float)_sigmaData / MathF.Sqrt(denominator);
        return sample * cSkip + modelOutput * cOut;
    }
}
