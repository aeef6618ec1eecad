using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using static TorchSharp.torch;

namespace DiffusersSharp.Schedulers;

/// <summary>
/// Base of every scheduler (diffusers' <c>SchedulerMixin</c> + <c>ConfigMixin</c>). A scheduler is built from a
/// config with diffusers' keys; <see cref="Config"/> then holds every key it was given (known or not, as diffusers keeps
/// "hidden" keys for compatible classes) plus the defaults of the keys it did not get, the latter also listed under
/// <c>_use_default_values</c> exactly as diffusers does in memory, so that <see cref="SchedulerFactory.FromConfig"/>
/// swaps schedulers the diffusers way.
/// </summary>
/// <remarks>
/// Tensors the scheduler keeps (tables, timesteps, sigmas, multistep history) are detached from any dispose scope and
/// owned by the scheduler; they are freed when replaced and in <see cref="Dispose()"/>. Tensors returned to the caller
/// belong to the caller.
/// </remarks>
public abstract class SchedulerMixin : IDisposable
{
    /// <summary>The diffusers version whose behaviour this port reproduces; written into saved configs.</summary>
    public const string DiffusersVersion = "0.38.0";

    public const string ConfigFileName = "scheduler_config.json";

    private const string UseDefaultValuesKey = "_use_default_values";

    private readonly HashSet<Tensor> _owned = new(ReferenceEqualityComparer.Instance);
    private Tensor? _timesteps;
    private double[] _timestepValues = [];
    private Tensor? _sigmas;
    private bool _disposed;

    /// <param name="config">The given config; it is copied, never changed.</param>
    /// <param name="defaults">Every <c>__init__</c> argument of the diffusers class with its default.</param>
    protected SchedulerMixin(ModelConfig config, IReadOnlyList<(string Key, object? Default)> defaults)
    {
        Config = ResolveConfig(config, defaults);
        if (Config.Keys.Contains("_class_name")) Config["_class_name"] = ClassName;
    }

    /// <summary>The resolved config, with diffusers' keys.</summary>
    public ModelConfig Config { get; }

    /// <summary>The diffusers class this scheduler reproduces, e.g. <c>PNDMScheduler</c>.</summary>
    public abstract string ClassName { get; }

    /// <summary>diffusers' <c>scheduler.order</c>: model evaluations per step (2 for Heun-type solvers).</summary>
    public virtual int Order => 1;

    /// <summary>The timesteps of the current schedule in diffusers' dtype (int64 or float32).</summary>
    public Tensor Timesteps => _timesteps ?? throw new InvalidOperationException($"{ClassName} has no timesteps yet: call SetTimesteps first.");

    /// <summary>
    /// Host copy of <see cref="Timesteps"/> (as float64, which holds every int64 and float32 timestep exactly): the
    /// scheduler computed them on the host, so stepping never reads them back from the device.
    /// </summary>
    public IReadOnlyList<double> TimestepValues => _timestepValues;

    /// <summary>The <paramref name="index"/>-th timestep of the schedule with its host value, as the denoising loop passes it to <see cref="Step"/>.</summary>
    public SchedulerTimestep TimestepAt(int index) => new(Timesteps[index], _timestepValues[index]);

    /// <summary>The noise levels of the current schedule, for schedulers that have them.</summary>
    public Tensor? Sigmas => _sigmas;

    /// <summary>Standard deviation of the initial noise: the pipeline multiplies its random latents by this.</summary>
    public virtual double InitNoiseSigma => 1.0;

    /// <summary>The count given to the last <see cref="SetTimesteps"/> (or the schedule's length, where diffusers says so); 0 before.</summary>
    public int NumInferenceSteps { get; protected set; }

    /// <summary>diffusers' <c>step_index</c>: position in <see cref="Timesteps"/> of the next step, once stepping started.</summary>
    public int? StepIndex { get; protected set; }

    /// <summary>diffusers' <c>begin_index</c>: where stepping starts (img2img skips the first steps).</summary>
    public int? BeginIndex { get; protected set; }

    /// <summary>Sets the discrete timesteps for inference; run before the denoising loop.</summary>
    public abstract void SetTimesteps(int numInferenceSteps, Device? device = null);

    /// <summary>Scales the denoising model's input as the scheduler requires; the default returns the sample (as a new handle).</summary>
    public virtual Tensor ScaleModelInput(Tensor sample, SchedulerTimestep timestep) => sample.alias();

    /// <summary>One step of the reverse diffusion: from the model output at <paramref name="timestep"/> to the previous sample.</summary>
    /// <param name="generator">Source of randomness for stochastic schedulers (ignored by deterministic ones).</param>
    /// <param name="eta">DDIM's η (weight of the added noise); ignored by other schedulers.</param>
    /// <param name="timestep">The step's timestep; given with its host value (<see cref="TimestepAt"/>) the step reads nothing back from the device.</param>
    public abstract SchedulerOutput Step(Tensor modelOutput, SchedulerTimestep timestep, Tensor sample, Generator? generator = null, double eta = 0.0);

    /// <summary>The forward process: noises <paramref name="originalSamples"/> to the noise level of each timestep.</summary>
    public virtual Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) =>
        throw new NotSupportedException($"{ClassName} has no add_noise in diffusers.");

    /// <summary>Where stepping starts; pipelines call this (with <c>t_start * Order</c>) before an img2img loop.</summary>
    public virtual void SetBeginIndex(int beginIndex = 0) => BeginIndex = beginIndex;

    /// <summary>Writes <c>scheduler_config.json</c> as diffusers' <c>save_pretrained</c> does.</summary>
    public void SaveConfig(string directory)
    {
        Directory.CreateDirectory(directory);
        var saved = Without(Config, UseDefaultValuesKey);
        saved["_class_name"] = ClassName;
        saved["_diffusers_version"] = DiffusersVersion;
        saved.Save(Path.Combine(directory, ConfigFileName));
    }

    /// <summary>
    /// diffusers' <c>from_config</c> input: keys that were filled from the other class's defaults are dropped, so that
    /// this class's own defaults apply to them; everything else (also keys this class does not know) is kept.
    /// </summary>
    internal static ModelConfig ForSwap(ModelConfig other)
    {
        var defaulted = other[UseDefaultValuesKey] is JsonArray arr ? arr.Select(n => n?.GetValue<string>()).ToHashSet() : new HashSet<string?>();
        defaulted.Add(UseDefaultValuesKey);
        return Without(other, defaulted.OfType<string>().ToArray());
    }

    private static ModelConfig ResolveConfig(ModelConfig given, IReadOnlyList<(string Key, object? Default)> defaults)
    {
        var resolved = Without(given, UseDefaultValuesKey);
        var present = resolved.Keys.ToHashSet();
        var defaulted = new JsonArray();
        foreach (var (key, value) in defaults)
        {
            if (present.Contains(key)) continue;
            resolved[key] = ToNode(value);
            defaulted.Add(key);
        }
        if (defaulted.Count > 0) resolved[UseDefaultValuesKey] = defaulted;
        return resolved;
    }

    // Defaults are stored as parsed JSON, like values read from a file, so the typed getters treat both alike.
    private static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        // Non-finite floats are kept as the strings ModelConfig reads and writes back as Python's bare tokens.
        double d when double.IsNegativeInfinity(d) => JsonValue.Create("-Infinity"),
        double d when double.IsPositiveInfinity(d) => JsonValue.Create("Infinity"),
        double or int or bool or string or int[] => JsonNode.Parse(JsonSerializer.Serialize(value)),
        _ => throw new ArgumentException($"Unsupported default value type {value.GetType()}."),
    };

    private static ModelConfig Without(ModelConfig config, params string[] keys)
    {
        var copy = new ModelConfig();
        foreach (var key in config.Keys)
            if (!keys.Contains(key)) copy[key] = config[key];
        return copy;
    }

    // ---- Config validation: an option value we do not implement is refused by name at construction. ----

    /// <summary>The value of a string option, refused by name unless it is one of <paramref name="supported"/> (the first is the default).</summary>
    protected string RequireOneOf(string key, params string[] supported)
    {
        var v = Config[key];
        if (v is JsonValue jv && jv.TryGetValue<string>(out var s) && supported.Contains(s)) return s;
        var shown = v is JsonValue sv && sv.TryGetValue<string>(out var raw) ? $"\"{raw}\"" : v?.ToJsonString() ?? "null";
        throw new NotSupportedException(
            $"Unsupported config option {key}={shown} for {ClassName}: DiffusersSharp supports one of {string.Join(", ", supported.Select(x => $"\"{x}\""))}.");
    }

    /// <summary>The common beta options: <c>trained_betas</c> or one of the named schedules.</summary>
    protected void RequireBetaSchedule(params string[] extraSchedules)
    {
        if (Config.Contains("trained_betas")) return;
        RequireOneOf("beta_schedule", new[] { "linear", "scaled_linear", "squaredcos_cap_v2" }.Concat(extraSchedules).ToArray());
    }

    protected static void ValidateInferenceSteps(int numInferenceSteps)
    {
        if (numInferenceSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(numInferenceSteps), numInferenceSteps, "num_inference_steps must be a positive number of denoising steps.");
    }

    // ---- Tensor ownership. ----

    /// <summary>Takes ownership of a tensor: detaches it from any dispose scope and frees it with the scheduler.</summary>
    protected Tensor Keep(Tensor tensor)
    {
        tensor.DetachFromDisposeScope();
        _owned.Add(tensor);
        return tensor;
    }

    /// <summary>Frees an owned tensor (no-op for null).</summary>
    protected void Release(Tensor? tensor)
    {
        if (tensor is null) return;
        _owned.Remove(tensor);
        tensor.Dispose();
    }

    /// <summary>Replaces an owned tensor field, freeing the old one.</summary>
    protected void Replace(ref Tensor? field, Tensor? value)
    {
        if (ReferenceEquals(field, value)) return;
        Release(field);
        field = value is null ? null : Keep(value);
    }

    /// <summary>Sets the schedule from a CPU tensor the scheduler built: keeps its host copy, then moves it to <paramref name="device"/>.</summary>
    protected void SetTimestepsTensor(Tensor timesteps, Device? device = null)
    {
        if (timesteps.device_type != TorchSharp.DeviceType.CPU)
            throw new InvalidOperationException("SetTimestepsTensor takes the CPU tensor the scheduler computed and the target device.");
        // A copy, so that disposing it never touches the schedule itself when that is float64 already.
        using (var values = timesteps.to(ScalarType.Float64, copy: true)) _timestepValues = values.data<double>().ToArray();
        Replace(ref _timesteps, device is null || device.type == TorchSharp.DeviceType.CPU ? timesteps : timesteps.to(device));
    }

    /// <summary>Sets the sigmas (float32, kept on the CPU as diffusers keeps them) and their host copy.</summary>
    protected void StoreSigmas(float[] sigmas)
    {
        SigmaValues = sigmas;
        Replace(ref _sigmas, tensor(sigmas, ScalarType.Float32));
    }

    /// <summary>
    /// Host copy of <see cref="Sigmas"/>. Step coefficients are computed from it in float32 scalar arithmetic, which is
    /// what diffusers' 0-d tensor arithmetic computes, without a tensor op (and a host round trip) per coefficient.
    /// </summary>
    protected float[] SigmaValues { get; private set; } = [];

    // ---- diffusers' step-index bookkeeping (index_for_timestep, _init_step_index). ----

    /// <summary>
    /// Position of <paramref name="timestep"/> in the schedule. When it occurs twice (Heun-type schedules, or img2img
    /// starting mid-way) the second one is taken, as diffusers does, so no sigma is skipped.
    /// </summary>
    /// <param name="lastIfMissing">DPM-Solver-style schedulers fall back to the last index when the timestep is not in the schedule.</param>
    protected int IndexForTimestep(SchedulerTimestep timestep, Tensor? scheduleTimesteps = null, bool lastIfMissing = false)
    {
        if (scheduleTimesteps is null && timestep.Value is { } value)
        {
            var first = Array.IndexOf(_timestepValues, value);
            if (first < 0)
            {
                if (lastIfMissing) return _timestepValues.Length - 1;
                throw new ArgumentException($"Timestep {value} is not in the schedule of {ClassName}.", nameof(timestep));
            }
            var second = Array.IndexOf(_timestepValues, value, first + 1);
            return second >= 0 ? second : first;
        }

        using var scope = NewDisposeScope();
        var schedule = scheduleTimesteps ?? Timesteps;
        var indices = schedule.eq(timestep.Tensor.to(schedule.device)).nonzero().flatten();
        var count = indices.shape[0];
        if (count == 0)
        {
            if (lastIfMissing) return (int)Timesteps.shape[0] - 1;
            throw new ArgumentException($"Timestep {timestep.Tensor.to(ScalarType.Float64).item<double>()} is not in the schedule of {ClassName}.", nameof(timestep));
        }
        return (int)indices[count > 1 ? 1 : 0].item<long>();
    }

    protected void InitStepIndex(SchedulerTimestep timestep, bool lastIfMissing = false) =>
        StepIndex = BeginIndex ?? IndexForTimestep(timestep, lastIfMissing: lastIfMissing);

    /// <summary>Step index, initialised from <paramref name="timestep"/> on the first call as diffusers does.</summary>
    protected int CurrentStepIndex(SchedulerTimestep timestep, bool lastIfMissing = false)
    {
        if (StepIndex is null) InitStepIndex(timestep, lastIfMissing);
        return StepIndex!.Value;
    }

    /// <summary>Step indices of a batch of timesteps for add_noise, as diffusers chooses them.</summary>
    protected int[] AddNoiseStepIndices(Tensor timesteps, Tensor schedule, bool lastIfMissing = false)
    {
        using var scope = NewDisposeScope();
        var flat = timesteps.reshape(-1).to(schedule.device);
        var n = (int)flat.shape[0];
        if (BeginIndex is null)
            return Enumerable.Range(0, n).Select(i => IndexForTimestep(flat[i], schedule, lastIfMissing)).ToArray();
        return Enumerable.Repeat(StepIndex ?? BeginIndex.Value, n).ToArray();
    }

    /// <summary>
    /// The sigma-based forward process <c>x0 + σ ε</c> of the k-diffusion schedulers, with each timestep's σ found as
    /// diffusers finds it (by timestep, or at the begin/step index once an img2img loop has set one).
    /// </summary>
    protected Tensor AddNoiseWithSigmas(Tensor originalSamples, Tensor noise, Tensor timesteps, bool lastIfMissing = false)
    {
        using var scope = NewDisposeScope();
        var sigma = PerSample(AddNoiseStepIndices(timesteps, Timesteps, lastIfMissing).Select(i => SigmaValues[i]).ToArray(), originalSamples);
        return (originalSamples + noise * sigma).MoveToOuterDisposeScope();
    }

    /// <summary>The variance-preserving forward process α_t x0 + σ_t ε of the DPM-Solver family, at each timestep's sigma.</summary>
    protected Tensor AddNoiseWithAlphaSigma(Tensor originalSamples, Tensor noise, Tensor timesteps, bool flowSigmas)
    {
        using var scope = NewDisposeScope();
        var points = AddNoiseStepIndices(timesteps, Timesteps, lastIfMissing: true).Select(i => SchedulerUtils.AlphaSigma(SigmaValues[i], flowSigmas)).ToArray();
        var alphaT = PerSample(points.Select(p => p.Alpha).ToArray(), originalSamples);
        var sigmaT = PerSample(points.Select(p => p.Sigma).ToArray(), originalSamples);
        return (alphaT * originalSamples + sigmaT * noise).MoveToOuterDisposeScope();
    }

    /// <summary>Per-sample coefficients shaped to broadcast against <paramref name="like"/>: [B, 1, 1, ...].</summary>
    protected static Tensor PerSample(float[] values, Tensor like) =>
        SchedulerUtils.BroadcastTo(tensor(values, device: like.device).to(like.dtype), like.dim());

    /// <summary>The k-diffusion input scaling <c>x / sqrt(σ² + 1)</c> at the current step's σ.</summary>
    protected Tensor ScaleBySigma(Tensor sample, SchedulerTimestep timestep)
    {
        var sigma = SigmaValues[CurrentStepIndex(timestep)];
        return sample / MathF.Sqrt(sigma * sigma + 1);
    }

    /// <summary>
    /// The k-diffusion schedulers' <c>init_noise_sigma</c>: the largest σ, or sqrt(σ_max² + 1) for "leading" spacing
    /// (in float32, as diffusers computes it with tensors).
    /// </summary>
    protected double SigmaInitNoiseSigma(string timestepSpacing)
    {
        var maxSigma = SigmaValues.Max();
        return timestepSpacing is "linspace" or "trailing" ? maxSigma : MathF.Sqrt(maxSigma * maxSigma + 1);
    }

    /// <summary>An integer timestep's value (diffusers indexes its tables with it): the host value if given, else read from the tensor.</summary>
    protected static long TimestepValue(SchedulerTimestep timestep)
    {
        if (timestep.Value is { } value) return (long)value;
        var t = timestep.Tensor;
        return t.is_floating_point() ? (long)t.to(ScalarType.Float64).item<double>() : t.to(ScalarType.Int64).item<long>();
    }

    /// <summary>
    /// Noise shaped like <paramref name="like"/>, drawn as diffusers' <c>randn_tensor</c> draws it: on the generator's
    /// device and then moved (a CPU generator gives the same numbers for a seed on every device).
    /// </summary>
    protected static Tensor RandnLike(Tensor like, Generator? generator, ScalarType? dtype = null)
    {
        if (generator is null) return randn(like.shape, dtype ?? like.dtype, like.device);
        var drawDevice = generator.device;
        var noise = randn(like.shape, dtype ?? like.dtype, drawDevice, generator: generator);
        return drawDevice.type == like.device.type && drawDevice.index == like.device.index ? noise : noise.to(like.device);
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (_disposed) return;
        _disposed = true;
        if (!disposing) return;
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
        _timesteps = null;
        _timestepValues = [];
        _sigmas = null;
    }
}
