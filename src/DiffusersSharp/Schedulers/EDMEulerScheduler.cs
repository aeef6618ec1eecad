using DiffusersSharp.Loading;
using static DiffusersSharp.Schedulers.SchedulerUtils;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Euler steps in the EDM formulation of Karras et al. (2022, https://huggingface.co/papers/2206.00364): continuous
/// sigmas from σ_max to σ_min and EDM's input/output preconditioning (c_in, c_skip, c_out, c_noise).
/// </summary>
public sealed class EDMEulerScheduler : SchedulerMixin
{
    private static readonly (string, object?)[] Defaults =
    [
        ("sigma_min", 0.002), ("sigma_max", 80.0), ("sigma_data", 0.5), ("sigma_schedule", "karras"),
        ("num_train_timesteps", 1000), ("prediction_type", "epsilon"), ("rho", 7.0), ("final_sigmas_type", "zero"),
    ];

    private readonly EdmPreconditioning _edm;
    private readonly string _finalSigmasType;

    public EDMEulerScheduler(ModelConfig? config = null) : base(config ?? new ModelConfig(), Defaults)
    {
        _edm = new EdmPreconditioning(Config, RequireOneOf("prediction_type", "epsilon", "v_prediction") == "v_prediction",
            RequireOneOf("sigma_schedule", "karras", "exponential"));
        _finalSigmasType = RequireOneOf("final_sigmas_type", "zero", "sigma_min");
        var n = Config.GetInt("num_train_timesteps", 1000);
        // The training sigmas come from the ramp arange(N + 1) / N in float64.
        SetSchedule(_edm.Sigmas(Enumerable.Range(0, n + 1).Select(i => (double)i / n).ToArray()), null);
    }

    public override string ClassName => "EDMEulerScheduler";

    /// <summary>sqrt(σ_max² + 1), in Python floats.</summary>
    public override double InitNoiseSigma => Math.Pow(Math.Pow(_edm.SigmaMax, 2) + 1, 0.5);

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        ValidateInferenceSteps(numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
        SetSchedule(_edm.Sigmas(TorchLinspace64(0, 1, numInferenceSteps)), device);
        StepIndex = null;
        BeginIndex = null;
    }

    private void SetSchedule(float[] sigmas, Device? device)
    {
        SetTimestepsTensor(tensor(EdmPreconditioning.NoiseConditioning(sigmas), ScalarType.Float32), device);
        var sigmaLast = _finalSigmasType == "sigma_min" ? sigmas[^1] : 0f;
        StoreSigmas(sigmas.Append(sigmaLast).ToArray());
    }

    public override Tensor ScaleModelInput(Tensor sample, SchedulerTimestep timestep) => sample * _edm.CIn(SigmaValues[CurrentStepIndex(timestep)]);

    public override SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0)
    {
        if (!timestep.Tensor.is_floating_point())
            throw new ArgumentException("EDMEulerScheduler.Step takes one of Timesteps as the timestep, not an integer index.", nameof(timestep));
        using var scope = NewDisposeScope();
        var index = CurrentStepIndex(timestep);
        sample = sample.to(ScalarType.Float32);
        // s_churn = 0: σ̂ = σ.
        var sigmaHat = SigmaValues[index];
        var predOriginalSample = _edm.Denoise(sample, modelOutput, sigmaHat);
        var derivative = (sample - predOriginalSample) / sigmaHat;
        var dt = SigmaValues[index + 1] - sigmaHat;
        var prevSample = (sample + derivative * dt).to(modelOutput.dtype);
        StepIndex = index + 1;
        return new SchedulerOutput(prevSample.MoveToOuterDisposeScope(), predOriginalSample.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        AddNoiseWithSigmas(originalSamples, noise, timesteps);
}
