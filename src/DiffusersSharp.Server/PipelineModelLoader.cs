using DiffusersSharp.Serving;

namespace DiffusersSharp.Server;

/// <summary>Warm-up through the serving library's pipeline manager (the same cache the workers use).</summary>
internal sealed class PipelineModelLoader(PipelineManager manager) : IModelLoader
{
    public Task LoadAsync(string name, CancellationToken cancellationToken) => manager.PreloadAsync(name, cancellationToken);

    public IReadOnlyList<string> Loaded() => manager.LoadedModels.Select(m => m.Model).Distinct().Order(StringComparer.Ordinal).ToList();
}
