using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using DiffusersSharp.Serving;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace DiffusersSharp.Server.Tests.Support;

/// <summary>
/// An in-memory <see cref="IJobService"/> for tests of the HTTP layer alone: jobs "denoise" in timed steps on one
/// worker and produce small gray PNGs; a bounded queue throws <see cref="QueueFullException"/>.
/// </summary>
internal sealed class FakeJobService : IJobService, IDisposable
{
    private readonly ConcurrentDictionary<string, Entry> _jobs = new();
    private readonly ConcurrentDictionary<string, string> _idempotency = new();
    private readonly Channel<Entry> _queue = Channel.CreateUnbounded<Entry>();
    private readonly CancellationTokenSource _stop = new();
    private readonly int _capacity;
    private int _waiting;

    public FakeJobService(int capacity = 16, TimeSpan? stepDelay = null)
    {
        _capacity = capacity;
        StepDelay = stepDelay ?? TimeSpan.FromMilliseconds(5);
        _ = Task.Run(WorkAsync);
    }

    /// <summary>A job with this prompt fails after its steps, as a generation that ran out of memory would.</summary>
    public const string FailingPrompt = "fail, please";

    public TimeSpan StepDelay { get; set; }
    /// <summary>Jobs start only once this completes; a test holds them back to watch a job from its start.</summary>
    public TaskCompletionSource Gate { get; set; } = Completed();
    public bool IsReady { get; set; } = true;
    public int QueueDepth => Volatile.Read(ref _waiting);
    public List<GenerationRequest> Received { get; } = [];
    /// <summary>The serving library's validator, so that bad requests fail as they would in the real service.</summary>
    public GenerationRequestValidator? Validator { get; set; }

    public Task<JobInfo> SubmitAsync(GenerationRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        Validator?.Validate(request);
        if (idempotencyKey is not null && _idempotency.TryGetValue(idempotencyKey, out var first))
            return Task.FromResult(_jobs[first].Info);
        if (Interlocked.Increment(ref _waiting) > _capacity)
        {
            Interlocked.Decrement(ref _waiting);
            throw new QueueFullException(_capacity, TimeSpan.FromSeconds(2));
        }
        lock (Received) Received.Add(request);
        var entry = new Entry(request, new JobInfo
        {
            Id = Guid.NewGuid().ToString("n"),
            State = JobState.Queued,
            TotalSteps = request.NumInferenceSteps ?? 4,
            CreatedAt = DateTimeOffset.UtcNow,
        });
        _jobs[entry.Info.Id] = entry;
        if (idempotencyKey is not null) _idempotency[idempotencyKey] = entry.Info.Id;
        entry.Publish("queued");
        _queue.Writer.TryWrite(entry);
        return Task.FromResult(entry.Info);
    }

    public async Task<JobResult> GenerateAsync(GenerationRequest request, IProgress<JobEvent>? progress = null, CancellationToken cancellationToken = default)
    {
        var job = await SubmitAsync(request, cancellationToken: cancellationToken);
        var entry = _jobs[job.Id];
        using var registration = cancellationToken.Register(() => _ = CancelAsync(job.Id));
        await entry.Done.Task;
        // As LocalJobService: pictures, or an exception saying why there are none.
        return entry.Info.State switch
        {
            JobState.Succeeded => new JobResult(entry.Info, entry.Images),
            JobState.Cancelled when cancellationToken.IsCancellationRequested => throw new OperationCanceledException(cancellationToken),
            _ => throw new GenerationFailedException(entry.Info.Error ?? $"Job {entry.Info.Id} was {entry.Info.State}.", entry.Info),
        };
    }

    public Task<JobInfo?> GetAsync(string id, CancellationToken cancellationToken = default) =>
        Task.FromResult(_jobs.TryGetValue(id, out var e) ? e.Info : null);

    public async IAsyncEnumerable<JobEvent> WatchAsync(string id, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (!_jobs.TryGetValue(id, out var entry)) yield break;
        var reader = entry.Subscribe();
        await foreach (var e in reader.ReadAllAsync(cancellationToken))
            yield return e;
    }

    public Task<byte[]?> GetImageAsync(string id, int index, CancellationToken cancellationToken = default) =>
        Task.FromResult(_jobs.TryGetValue(id, out var e) && e.Info.State == JobState.Succeeded && index >= 0 && index < e.Images.Count ? e.Images[index] : null);

    public Task<bool> CancelAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!_jobs.TryGetValue(id, out var e)) return Task.FromResult(false);
        lock (e)
        {
            if (e.Info.State is not (JobState.Queued or JobState.Running)) return Task.FromResult(false);
            e.Cancel.Cancel();
        }
        if (e.Info.State == JobState.Queued) Finish(e, JobState.Cancelled, null);
        return Task.FromResult(true);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _queue.Writer.TryComplete();
    }

    private async Task WorkAsync()
    {
        await foreach (var entry in _queue.Reader.ReadAllAsync(_stop.Token))
        {
            await Gate.Task.WaitAsync(_stop.Token);
            Interlocked.Decrement(ref _waiting);
            lock (entry)
            {
                if (entry.Info.State != JobState.Queued) continue;
                entry.Info = entry.Info with { State = JobState.Running, StartedAt = DateTimeOffset.UtcNow };
            }
            entry.Publish("started");
            try
            {
                for (var step = 1; step <= entry.Info.TotalSteps; step++)
                {
                    await Task.Delay(StepDelay, entry.Cancel.Token);
                    entry.Info = entry.Info with { Step = step };
                    entry.Publish("step");
                }
                if (entry.Request.Prompt == FailingPrompt)
                {
                    Finish(entry, JobState.Failed, "out of memory, also with attention slicing and VAE tiling");
                    continue;
                }
                var count = entry.Request.NumImagesPerPrompt ?? 1;
                for (var i = 0; i < count; i++) entry.Images.Add(Png(entry.Request.Width ?? 64, entry.Request.Height ?? 64, (byte)(40 * i)));
                Finish(entry, JobState.Succeeded, null);
            }
            catch (OperationCanceledException)
            {
                Finish(entry, JobState.Cancelled, null);
            }
        }
    }

    private static void Finish(Entry entry, JobState state, string? error)
    {
        lock (entry)
        {
            if (entry.Info.State.IsFinal()) return;
            entry.Info = entry.Info with { State = state, Error = error, FinishedAt = DateTimeOffset.UtcNow, ImageCount = state == JobState.Succeeded ? entry.Images.Count : 0 };
        }
        entry.Publish(state switch { JobState.Succeeded => "succeeded", JobState.Failed => "failed", _ => "cancelled" });
        entry.Done.TrySetResult();
    }

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource();
        done.SetResult();
        return done;
    }

    private static byte[] Png(int width, int height, byte gray)
    {
        using var image = new Image<Rgb24>(width, height, new Rgb24(gray, gray, gray));
        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    private sealed class Entry(GenerationRequest request, JobInfo info)
    {
        private readonly List<Channel<JobEvent>> _watchers = [];

        public GenerationRequest Request { get; } = request;
        public JobInfo Info { get; set; } = info;
        public List<byte[]> Images { get; } = [];
        public CancellationTokenSource Cancel { get; } = new();
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ChannelReader<JobEvent> Subscribe()
        {
            var channel = Channel.CreateUnbounded<JobEvent>();
            lock (_watchers)
            {
                channel.Writer.TryWrite(new JobEvent(Info.State.ToString().ToLowerInvariant(), Info));
                if (Info.State.IsFinal()) channel.Writer.TryComplete();
                else _watchers.Add(channel);
            }
            return channel.Reader;
        }

        public void Publish(string type)
        {
            lock (_watchers)
            {
                foreach (var w in _watchers)
                {
                    w.Writer.TryWrite(new JobEvent(type, Info));
                    if (type is "succeeded" or "failed" or "cancelled") w.Writer.TryComplete();
                }
            }
        }
    }
}
