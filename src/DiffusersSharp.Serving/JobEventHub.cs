using System.Threading.Channels;

namespace DiffusersSharp.Serving;

/// <summary>Hands each job's events to whoever watches it; a watcher's stream ends with the job's final event.</summary>
internal sealed class JobEventHub
{
    private readonly object _lock = new();
    private readonly Dictionary<string, List<Channel<JobEvent>>> _watchers = new(StringComparer.Ordinal);

    public Channel<JobEvent> Subscribe(string id)
    {
        var channel = Channel.CreateUnbounded<JobEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_lock)
        {
            if (!_watchers.TryGetValue(id, out var list)) _watchers[id] = list = [];
            list.Add(channel);
        }
        return channel;
    }

    public void Unsubscribe(string id, Channel<JobEvent> channel)
    {
        lock (_lock)
            if (_watchers.TryGetValue(id, out var list) && list.Remove(channel) && list.Count == 0)
                _watchers.Remove(id);
    }

    public void Publish(JobEvent e)
    {
        Channel<JobEvent>[] channels;
        var final = e.Job.State.IsFinal();
        lock (_lock)
        {
            if (!_watchers.TryGetValue(e.Job.Id, out var list)) return;
            channels = [.. list];
            if (final) _watchers.Remove(e.Job.Id);
        }
        foreach (var channel in channels)
        {
            channel.Writer.TryWrite(e);
            if (final) channel.Writer.TryComplete();
        }
    }

    /// <summary>Ends every watcher's stream (the service stops; unfinished jobs stay queued for the next start).</summary>
    public void CompleteAll()
    {
        Channel<JobEvent>[] channels;
        lock (_lock)
        {
            channels = _watchers.Values.SelectMany(l => l).ToArray();
            _watchers.Clear();
        }
        foreach (var channel in channels) channel.Writer.TryComplete();
    }
}
