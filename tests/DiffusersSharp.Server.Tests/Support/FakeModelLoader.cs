using System.Collections.Concurrent;

namespace DiffusersSharp.Server.Tests.Support;

/// <summary>Records which models were asked to load, for tests with <see cref="FakeJobService"/>.</summary>
internal sealed class FakeModelLoader : IModelLoader
{
    private readonly ConcurrentDictionary<string, bool> _loaded = new();

    public Task LoadAsync(string name, CancellationToken cancellationToken)
    {
        _loaded[name] = true;
        return Task.CompletedTask;
    }

    public IReadOnlyList<string> Loaded() => _loaded.Keys.Order().ToList();
}
