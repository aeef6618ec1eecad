using DiffusersSharp.Loading;

namespace DiffusersSharp.Schedulers;

/// <summary>Builds schedulers by diffusers class name, from a config or a saved <c>scheduler_config.json</c>.</summary>
public static class SchedulerFactory
{
    private static readonly IReadOnlyDictionary<string, Func<ModelConfig, SchedulerMixin>> Constructors =
        new Dictionary<string, Func<ModelConfig, SchedulerMixin>>(StringComparer.Ordinal)
        {
            ["DDIMScheduler"] = c => new DDIMScheduler(c),
            ["DDPMScheduler"] = c => new DDPMScheduler(c),
            ["EDMDPMSolverMultistepScheduler"] = c => new EDMDPMSolverMultistepScheduler(c),
            ["EDMEulerScheduler"] = c => new EDMEulerScheduler(c),
            ["FlowMatchEulerDiscreteScheduler"] = c => new FlowMatchEulerDiscreteScheduler(c),
            ["FlowMatchHeunDiscreteScheduler"] = c => new FlowMatchHeunDiscreteScheduler(c),
            ["HeunDiscreteScheduler"] = c => new HeunDiscreteScheduler(c),
            ["KDPM2AncestralDiscreteScheduler"] = c => new KDPM2AncestralDiscreteScheduler(c),
            ["KDPM2DiscreteScheduler"] = c => new KDPM2DiscreteScheduler(c),
            ["LCMScheduler"] = c => new LCMScheduler(c),
            ["LMSDiscreteScheduler"] = c => new LMSDiscreteScheduler(c),
            ["DEISMultistepScheduler"] = c => new DEISMultistepScheduler(c),
            ["DPMSolverMultistepScheduler"] = c => new DPMSolverMultistepScheduler(c),
            ["DPMSolverSinglestepScheduler"] = c => new DPMSolverSinglestepScheduler(c),
            ["EulerAncestralDiscreteScheduler"] = c => new EulerAncestralDiscreteScheduler(c),
            ["EulerDiscreteScheduler"] = c => new EulerDiscreteScheduler(c),
            ["PNDMScheduler"] = c => new PNDMScheduler(c),
            ["SASolverScheduler"] = c => new SASolverScheduler(c),
            ["ScoreSdeVeScheduler"] = c => new ScoreSdeVeScheduler(c),
            ["TCDScheduler"] = c => new TCDScheduler(c),
            ["UniPCMultistepScheduler"] = c => new UniPCMultistepScheduler(c),
        };

    /// <summary>The diffusers class names this port implements.</summary>
    public static IReadOnlyList<string> KnownClassNames { get; } = Constructors.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// diffusers' <c>X.from_config(other.config)</c>: the keys of <paramref name="config"/> are kept (also those
    /// <paramref name="className"/> does not use, which stay in its config unused), except those the other scheduler
    /// only had as defaults; the new class fills its own defaults for whatever is missing.
    /// </summary>
    public static SchedulerMixin FromConfig(string className, ModelConfig config) => Create(className, SchedulerMixin.ForSwap(config));

    /// <summary>Loads <c>scheduler_config.json</c> from a folder (e.g. a pipeline's <c>scheduler/</c>); the class comes from <c>_class_name</c>.</summary>
    public static SchedulerMixin FromPretrained(string schedulerDirectory)
    {
        var path = Path.Combine(schedulerDirectory, SchedulerMixin.ConfigFileName);
        var config = ModelConfig.Load(path);
        var className = config.ClassName ?? throw new InvalidDataException($"{path} has no _class_name: cannot tell which scheduler it configures.");
        return Create(className, config);
    }

    private static SchedulerMixin Create(string className, ModelConfig config)
    {
        if (!Constructors.TryGetValue(className, out var create))
            throw new NotSupportedException($"Unknown scheduler class \"{className}\". Known schedulers: {string.Join(", ", KnownClassNames)}.");
        return create(config);
    }
}
