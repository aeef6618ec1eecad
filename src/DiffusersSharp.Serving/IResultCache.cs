namespace DiffusersSharp.Serving;

/// <summary>Pictures of deterministic (seeded) requests by <see cref="ResolvedRequest.CacheKey"/>.</summary>
public interface IResultCache
{
    bool TryGet(string key, out IReadOnlyList<byte[]> images);

    void Add(string key, IReadOnlyList<byte[]> images);
}
