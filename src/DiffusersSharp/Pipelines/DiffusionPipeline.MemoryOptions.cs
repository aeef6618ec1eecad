using DiffusersSharp.Models;
using static TorchSharp.torch;

namespace DiffusersSharp.Pipelines;

/// <summary>diffusers' memory options of a pipeline, under diffusers' names.</summary>
public abstract partial class DiffusionPipeline
{
    private IEnumerable<ModelMixin> Models => _components.Values.OfType<ModelMixin>();

    /// <summary>
    /// Computes attention in slices of (batch × head) rows in every model that supports it (the UNet), to lower peak
    /// memory. <paramref name="sliceSize"/> null is diffusers' "auto" (half of each layer's heads), 1 is "max".
    /// </summary>
    /// <remarks>
    /// Attention runs through libtorch's scaled-dot-product kernels, which never hold a whole attention matrix, so
    /// on the CPU slicing saves little; bench/README.md has the measurement.
    /// </remarks>
    public void EnableAttentionSlicing(int? sliceSize = null)
    {
        foreach (var model in Models.Where(m => m.SupportsAttentionSlicing)) model.EnableAttentionSlicing(sliceSize);
    }

    public void DisableAttentionSlicing()
    {
        foreach (var model in Models.Where(m => m.SupportsAttentionSlicing)) model.DisableAttentionSlicing();
    }

    /// <summary>Decodes (and encodes) a batch one image at a time (the VAE's <see cref="AutoencoderKL.EnableSlicing"/>).</summary>
    public void EnableVaeSlicing() => RequireVae().EnableSlicing();

    public void DisableVaeSlicing() => RequireVae().DisableSlicing();

    /// <summary>Decodes (and encodes) large images in overlapping tiles blended at the seams (<see cref="AutoencoderKL.EnableTiling"/>).</summary>
    public void EnableVaeTiling() => RequireVae().EnableTiling();

    public void DisableVaeTiling() => RequireVae().DisableTiling();

    /// <summary>
    /// diffusers' <c>model_cpu_offload_seq</c>: the order in which a call runs the models, each of which sends the one
    /// before it back to the CPU under <see cref="EnableModelCpuOffload"/>. Names the pipeline lacks are skipped.
    /// </summary>
    protected virtual string ModelCpuOffloadSeq => "text_encoder->image_encoder->unet->vae";

    /// <summary>
    /// diffusers' <c>enable_model_cpu_offload</c>: keeps every model on the CPU and moves each to
    /// <paramref name="device"/> (default: CUDA when available) only while it runs (see <see cref="ModelCpuOffload"/>):
    /// a model of <see cref="ModelCpuOffloadSeq"/> that starts sends its predecessor back, models outside it (a
    /// ControlNet) stay on the device until the call ends, and every call ends with <see cref="MaybeFreeModelHooks"/>.
    /// On the CPU there is nothing to offload, and this does nothing.
    /// </summary>
    public void EnableModelCpuOffload(Device? device = null)
    {
        var executionDevice = device ?? (cuda.is_available() ? CUDA : CPU);
        if (executionDevice.type == TorchSharp.DeviceType.CPU) return;
        EnableModelCpuOffload(new ModelCpuOffload(executionDevice));
    }

    /// <summary>Attaches every model to <paramref name="offload"/>: the sequence's models chained in its order, then the others.</summary>
    internal void EnableModelCpuOffload(ModelCpuOffload offload)
    {
        if (Models.Any(m => m.CpuOffload is not null))
            throw new InvalidOperationException("CPU offload is already enabled for this pipeline.");
        ModelMixin? previous = null;
        var sequence = ModelCpuOffloadSeq.Split("->");
        foreach (var name in sequence)
        {
            if (!_components.TryGetValue(name, out var component) || component is not ModelMixin model) continue;
            offload.Attach(name, model, previous);
            previous = model;
        }
        foreach (var (name, component) in _components)
            if (component is ModelMixin model && !sequence.Contains(name))
                offload.Attach(name, model, null);
    }

    /// <summary>
    /// diffusers' <c>enable_sequential_cpu_offload</c> (weights stream to the accelerator layer by layer). On the CPU
    /// there is nothing to offload, and this does nothing. On an accelerator it is not supported: the models call
    /// TorchSharp's layers through <c>forward</c>, which runs no module hooks, so there is no point at which to move a
    /// single layer's weights in and out; use <see cref="EnableModelCpuOffload"/>.
    /// </summary>
    public void EnableSequentialCpuOffload(Device? device = null)
    {
        var executionDevice = device ?? (cuda.is_available() ? CUDA : CPU);
        if (executionDevice.type == TorchSharp.DeviceType.CPU) return;
        throw new NotSupportedException(
            "Sequential CPU offload is not supported on accelerators: TorchSharp layers run no hooks from which to stream weights layer by layer. Use EnableModelCpuOffload.");
    }

    /// <summary>diffusers' <c>maybe_free_model_hooks</c>: under model CPU offload, sends the model still on the accelerator back to the CPU.</summary>
    public void MaybeFreeModelHooks()
    {
        foreach (var offload in Models.Select(m => m.CpuOffload).OfType<ModelCpuOffload>().Distinct()) offload.OffloadAll();
    }

    private AutoencoderKL RequireVae() =>
        _components.TryGetValue("vae", out var vae) && vae is AutoencoderKL autoencoder
            ? autoencoder
            : throw new InvalidOperationException($"{ClassName} has no AutoencoderKL 'vae' component.");
}
