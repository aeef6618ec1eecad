using System.Text.Json.Nodes;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Schedulers;

namespace DiffusersSharp.Cli;

/// <summary>Swaps a pipeline's scheduler the way diffusers' <c>X.from_config(pipe.scheduler.config)</c> does, with key overrides.</summary>
internal static class SchedulerSwap
{
    /// <param name="className">A diffusers scheduler class or a short name from <see cref="SchedulerAliases"/>; null keeps the current class.</param>
    public static void Apply(DiffusionPipeline pipeline, string? className, IReadOnlyList<string> overrides)
    {
        if (className is null && overrides.Count == 0) return;
        var config = pipeline.Scheduler.Config.Clone();
        if (className is not null && SchedulerAliases.Find(className) is { } alias)
        {
            className = alias.ClassName;
            foreach (var (key, value) in alias.Options) config[key] = value;
        }
        foreach (var item in overrides)
        {
            var eq = item.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"--scheduler-option '{item}' must be KEY=VALUE.");
            var key = item[..eq];
            var text = item[(eq + 1)..];
            JsonNode? value;
            try
            {
                value = JsonNode.Parse(text);
            }
            catch (System.Text.Json.JsonException)
            {
                // Bare words such as karras or trailing are meant as strings.
                value = JsonValue.Create(text);
            }
            config[key] = value;
        }
        pipeline.SetScheduler(SchedulerFactory.FromConfig(className ?? pipeline.Scheduler.ClassName, config));
    }
}
