using DiffusersSharp.Models;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.ControlNet;
using DiffusersSharp.Pipelines.StableDiffusion;

namespace DiffusersSharp.Serving;

/// <summary>
/// The use of a cached pipeline: while a lease is held its models are never evicted. <see cref="Pipeline"/> is the
/// task's pipeline on the model's shared components (diffusers' <c>from_pipe</c>), with a scheduler of its own; run
/// it under <see cref="LockAsync"/>. Dispose the lease when done.
/// </summary>
public sealed class PipelineLease : IDisposable
{
    private readonly PipelineManager _manager;
    private readonly LoadedModel _model;
    private readonly LoadedModel? _controlNet;
    private readonly DiffusionPipeline? _derived;
    private bool _disposed;

    internal PipelineLease(PipelineManager manager, PipelineKey key, LoadedModel model, LoadedModel? controlNet)
    {
        _manager = manager;
        _model = model;
        _controlNet = controlNet;
        Key = key;
        var owner = (DiffusionPipeline)model.Owner;
        _derived = owner switch
        {
            StableDiffusionPipelineBase sd => key.Task switch
            {
                PipelineTask.TextToImage => StableDiffusionPipeline.FromPipe(sd),
                PipelineTask.ImageToImage => StableDiffusionImg2ImgPipeline.FromPipe(sd),
                PipelineTask.Inpainting => StableDiffusionInpaintPipeline.FromPipe(sd),
                _ => StableDiffusionControlNetPipeline.FromPipe(sd, (ModelMixin)(controlNet ?? throw new ArgumentException("A controlnet pipeline needs a ControlNet.")).Owner),
            },
            // SDXL runs text-to-image only, on the loaded pipeline itself (its scheduler is set for every generation under the lock).
            _ when key.Task == PipelineTask.TextToImage => null,
            _ => throw new NotSupportedException($"{owner.ClassName} runs text-to-image only in this service."),
        };
        Pipeline = _derived ?? owner;
    }

    public PipelineKey Key { get; }

    /// <summary>The task's pipeline; its models are the cached model's, shared with every other lease of it.</summary>
    public DiffusionPipeline Pipeline { get; }

    /// <summary>The pipeline that owns the model's components (the folder's own class), shared by every task's pipeline.</summary>
    public DiffusionPipeline SharedPipeline => (DiffusionPipeline)_model.Owner;

    /// <summary>Waits until no other generation uses this model, and holds it until the result is disposed.</summary>
    public async Task<IDisposable> LockAsync(CancellationToken cancellationToken = default)
    {
        await _model.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new GateRelease(_model.Gate);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _derived?.Dispose();
        _manager.Release(_model);
        if (_controlNet is not null) _manager.Release(_controlNet);
    }

    private sealed class GateRelease(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) gate.Release();
        }
    }
}
