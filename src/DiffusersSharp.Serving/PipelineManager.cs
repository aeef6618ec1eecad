using System.Diagnostics;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DiffusersSharp.Serving;

/// <summary>
/// Loads and keeps pipelines for the service. A model folder is loaded once per dtype and device, off the caller's
/// thread, and concurrent requests for it share that one load; every task's pipeline (text-to-image, image-to-image,
/// inpainting, ControlNet) is made from the loaded components (diffusers' <c>from_pipe</c>). Loaded models stay
/// cached, least recently used evicted first while their parameters exceed the memory budget; a leased model is never
/// evicted. <see cref="GenerateAsync"/> runs one request directly, without a queue.
/// </summary>
public sealed class PipelineManager : IDisposable
{
    private readonly ServingOptions _options;
    private readonly ILogger _logger;
    private readonly IServingMetrics _metrics;
    private readonly object _lock = new();
    private readonly Dictionary<ModelSlot, LoadedModel> _models = [];
    private readonly Dictionary<ModelSlot, Loading> _loading = [];
    private long _clock;
    private long _budget;
    private int _loadCount;
    private bool _disposed;

    public PipelineManager(ServingOptions options, ILoggerFactory? loggerFactory = null)
    {
        NativeRuntime.EnsureLoaded();
        try
        {
            _ = TorchSharp.torch.device(options.Device);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            throw new ArgumentException($"ServingOptions.Device '{options.Device}' is not a device: give cpu, cuda or cuda:N.", nameof(options), e);
        }
        if (options.MemoryBudgetBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.MemoryBudgetBytes, "ServingOptions.MemoryBudgetBytes must be positive.");
        _options = options;
        _budget = options.MemoryBudgetBytes;
        _metrics = options.Metrics;
        loggerFactory ??= NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger<PipelineManager>();
        Catalog = new ModelCatalog(options.ModelsDirectory);
        Validator = new GenerationRequestValidator(Catalog, options);
        Executor = new GenerationExecutor(this, options, loggerFactory.CreateLogger<GenerationExecutor>());
    }

    public ModelCatalog Catalog { get; }

    public GenerationRequestValidator Validator { get; }

    /// <summary>Runs validated requests (alone or batched) on this manager's pipelines; what a worker calls.</summary>
    public GenerationExecutor Executor { get; }

    /// <summary>
    /// The memory budget in parameter bytes (initially <see cref="ServingOptions.MemoryBudgetBytes"/>); lowering it
    /// evicts unused models at once.
    /// </summary>
    public long MemoryBudgetBytes
    {
        get { lock (_lock) return _budget; }
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value);
            List<LoadedModel> evicted;
            lock (_lock)
            {
                _budget = value;
                evicted = TakeEvictions();
            }
            DisposeEvicted(evicted);
        }
    }

    /// <summary>How many model loads have run (a shared load counts once).</summary>
    public int LoadCount => Volatile.Read(ref _loadCount);

    /// <summary>Parameter bytes of the models now cached.</summary>
    public long LoadedBytes
    {
        get { lock (_lock) return _models.Values.Sum(m => m.Bytes); }
    }

    /// <summary>The models now cached, least recently used first.</summary>
    public IReadOnlyList<LoadedModelInfo> LoadedModels
    {
        get
        {
            lock (_lock)
                return _models.Values.OrderBy(m => m.LastUsed)
                    .Select(m => new LoadedModelInfo(m.Name, m.Slot.DType?.ToString() ?? "float32", m.Slot.Device, m.Bytes, m.Leases)).ToArray();
        }
    }

    /// <summary>Validates a request and runs it at once (no queue); cancelling stops it within one denoising step.</summary>
    public Task<GenerationOutput> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Executor.RunAsync(Validator.Validate(request), progress, cancellationToken);

    /// <summary>
    /// A lease on the pipeline for <paramref name="key"/>, loading the model (and the ControlNet) if it is not cached.
    /// Model names resolve inside the models folder only.
    /// </summary>
    public async Task<PipelineLease> AcquireAsync(PipelineKey key, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var info = Catalog.Resolve(key.Model, "model");
        var model = await LeaseModelAsync(new ModelSlot(info.Directory, key.DType, key.Device), info, cancellationToken).ConfigureAwait(false);
        LoadedModel? controlNet = null;
        try
        {
            if (key.Task == PipelineTask.ControlNet)
            {
                var netInfo = Catalog.Resolve(key.ControlNet ?? throw new RequestValidationException("controlnet", "is required for controlnet."), "controlnet");
                controlNet = await LeaseModelAsync(new ModelSlot(netInfo.Directory, key.DType, key.Device), netInfo, cancellationToken).ConfigureAwait(false);
            }
            return new PipelineLease(this, key, model, controlNet);
        }
        catch
        {
            Release(model);
            if (controlNet is not null) Release(controlNet);
            throw;
        }
    }

    /// <summary>Loads a model's pipelines now (e.g. the default model at start), keeping it cached.</summary>
    public async Task PreloadAsync(string model, CancellationToken cancellationToken = default)
    {
        var info = Catalog.Resolve(model, "model");
        using var lease = await AcquireAsync(new PipelineKey(model, info.Tasks[0], _options.DType, _options.Device), cancellationToken).ConfigureAwait(false);
    }

    private async Task<LoadedModel> LeaseModelAsync(ModelSlot slot, ModelInfo info, CancellationToken cancellationToken)
    {
        Loading? loading;
        lock (_lock)
        {
            if (_models.TryGetValue(slot, out var cached))
            {
                cached.Leases++;
                cached.LastUsed = ++_clock;
                _metrics.ModelCacheHit(info.Name);
                return cached;
            }
            if (!_loading.TryGetValue(slot, out loading))
            {
                var started = new Loading();
                started.Task = Task.Run(() => LoadAndRegister(slot, info, started), CancellationToken.None);
                _loading[slot] = loading = started;
            }
            loading.Waiters++;
        }
        try
        {
            return await loading.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The load goes on for whoever else waits (or for the cache); this caller's lease is given back.
            LoadedModel? registered = null;
            lock (_lock)
            {
                if (loading.Registered is { } model) registered = model;
                else loading.Waiters--;
            }
            if (registered is not null) Release(registered);
            throw;
        }
    }

    private LoadedModel LoadAndRegister(ModelSlot slot, ModelInfo info, Loading loading)
    {
        LoadedModel model;
        var watch = Stopwatch.StartNew();
        try
        {
            model = Load(slot, info);
        }
        catch (Exception e)
        {
            lock (_lock) _loading.Remove(slot);
            _logger.LogError(e, "Loading model {Model} failed", info.Name);
            throw;
        }
        Interlocked.Increment(ref _loadCount);
        _metrics.ModelLoaded(info.Name, model.Bytes, watch.Elapsed);
        _logger.LogInformation("Loaded model {Model} ({DType}, {Device}): {Bytes} bytes of parameters in {Seconds:0.0} s",
            info.Name, slot.DType?.ToString() ?? "float32", slot.Device, model.Bytes, watch.Elapsed.TotalSeconds);
        List<LoadedModel> evicted;
        lock (_lock)
        {
            _loading.Remove(slot);
            model.Leases = loading.Waiters;
            model.LastUsed = ++_clock;
            loading.Registered = model;
            _models[slot] = model;
            evicted = TakeEvictions();
        }
        DisposeEvicted(evicted);
        return model;
    }

    private LoadedModel Load(ModelSlot slot, ModelInfo info)
    {
        var options = new LoadOptions { DType = slot.DType, Device = TorchSharp.torch.device(slot.Device) };
        object owner = info.Kind switch
        {
            ModelKind.ControlNet => ControlNetModel.FromPretrained(info.Directory, options),
            _ => DiffusionPipeline.FromPretrained(info.Directory, options),
        };
        return new LoadedModel(slot, info.Name, owner);
    }

    internal void Release(LoadedModel model)
    {
        List<LoadedModel> evicted;
        lock (_lock)
        {
            model.Leases--;
            model.LastUsed = ++_clock;
            evicted = TakeEvictions();
        }
        DisposeEvicted(evicted);
    }

    /// <summary>Takes unleased models out of the cache, least recently used first, until the rest fit the budget. Call under the lock.</summary>
    private List<LoadedModel> TakeEvictions()
    {
        var evicted = new List<LoadedModel>();
        var total = _models.Values.Sum(m => m.Bytes);
        while (total > _budget)
        {
            var victim = _models.Values.Where(m => m.Leases == 0).MinBy(m => m.LastUsed);
            if (victim is null) break;
            _models.Remove(victim.Slot);
            total -= victim.Bytes;
            evicted.Add(victim);
        }
        if (total > _budget && _models.Count > 0)
            _logger.LogWarning("Models in use take {Bytes} bytes, over the memory budget of {Budget}", total, _budget);
        return evicted;
    }

    private void DisposeEvicted(List<LoadedModel> evicted)
    {
        foreach (var model in evicted)
        {
            _logger.LogInformation("Evicted model {Model} ({Bytes} bytes) to stay within the memory budget", model.Name, model.Bytes);
            _metrics.ModelEvicted(model.Name, model.Bytes);
            model.Dispose();
        }
    }

    public void Dispose()
    {
        List<LoadedModel> models;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            models = [.. _models.Values];
            _models.Clear();
        }
        foreach (var model in models) model.Dispose();
    }

    private sealed class Loading
    {
        public Task<LoadedModel> Task { get; set; } = null!;
        public int Waiters { get; set; }
        public LoadedModel? Registered { get; set; }
    }
}
