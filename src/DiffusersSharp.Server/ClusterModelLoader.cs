using DiffusersSharp.Serving;

namespace DiffusersSharp.Server;

/// <summary>
/// Model warm-up on a Redis cluster node: on a node with workers it loads into their pipeline manager; an API-only
/// node loads nothing (its workers elsewhere load models when jobs need them) and says so.
/// </summary>
public sealed class ClusterModelLoader(PipelineManager? manager) : IModelLoader
{
    public Task LoadAsync(string name, CancellationToken cancellationToken) => manager is null
        ? throw new ServiceUnavailableException("This is an API-only node of a Redis cluster (--workers 0): models load on the workers that run the jobs.")
        : manager.PreloadAsync(name, cancellationToken);

    public IReadOnlyList<string> Loaded() => manager is null ? [] : manager.LoadedModels.Select(m => m.Model).Distinct().ToList();
}
