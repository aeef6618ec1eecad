namespace DiffusersSharp.Serving;

/// <summary>An in-memory <see cref="IResultCache"/> holding at most a number of PNG bytes, least recently used dropped first.</summary>
public sealed class MemoryResultCache(long capacityBytes) : IResultCache
{
    private readonly object _lock = new();
    private readonly Dictionary<string, LinkedListNode<(string Key, IReadOnlyList<byte[]> Images, long Bytes)>> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, IReadOnlyList<byte[]> Images, long Bytes)> _order = new();
    private long _bytes;

    public long CapacityBytes { get; } = capacityBytes;

    public long Bytes
    {
        get { lock (_lock) return _bytes; }
    }

    public int Count
    {
        get { lock (_lock) return _entries.Count; }
    }

    public bool TryGet(string key, out IReadOnlyList<byte[]> images)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var node))
            {
                _order.Remove(node);
                _order.AddFirst(node);
                images = node.Value.Images;
                return true;
            }
        }
        images = [];
        return false;
    }

    public void Add(string key, IReadOnlyList<byte[]> images)
    {
        var bytes = images.Sum(i => (long)i.Length);
        if (bytes > CapacityBytes) return;
        lock (_lock)
        {
            if (_entries.Remove(key, out var old))
            {
                _order.Remove(old);
                _bytes -= old.Value.Bytes;
            }
            _entries[key] = _order.AddFirst((key, images, bytes));
            _bytes += bytes;
            while (_bytes > CapacityBytes && _order.Last is { } last)
            {
                _order.RemoveLast();
                _entries.Remove(last.Value.Key);
                _bytes -= last.Value.Bytes;
            }
        }
    }
}
