using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Schedulers;

namespace DiffusersSharp.Serving;

/// <summary>
/// The scheduler a request runs: a diffusers class and the config keys it overrides on top of the model's own
/// scheduler config (diffusers' <c>Class.from_config(pipe.scheduler.config, **overrides)</c>). Schedulers keep state
/// while they step, so every generation gets a fresh one from <see cref="Create"/>.
/// </summary>
public sealed class SchedulerSpec
{
    public SchedulerSpec(string className, IReadOnlyDictionary<string, JsonNode?> overrides)
    {
        ClassName = className;
        Overrides = new SortedDictionary<string, JsonNode?>(overrides.ToDictionary(), StringComparer.Ordinal);
        var options = new JsonObject();
        foreach (var (key, value) in Overrides) options[key] = value?.DeepClone();
        Canonical = new JsonObject { ["class"] = className, ["options"] = options }.ToJsonString();
    }

    public string ClassName { get; }

    /// <summary>Config keys and values, sorted by key.</summary>
    public IReadOnlyDictionary<string, JsonNode?> Overrides { get; }

    /// <summary>One string for the class and its overrides, equal for equal schedulers (a batch and cache key part).</summary>
    public string Canonical { get; }

    /// <summary>A new scheduler from the model's scheduler config and the overrides.</summary>
    public SchedulerMixin Create(ModelConfig modelSchedulerConfig)
    {
        var config = modelSchedulerConfig.Clone();
        foreach (var (key, value) in Overrides) config[key] = value?.DeepClone();
        return SchedulerFactory.FromConfig(ClassName, config);
    }
}
