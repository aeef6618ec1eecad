using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>enable_model_cpu_offload</c> for the models of one pipeline: each model lives on the CPU and moves to
/// <see cref="ExecutionDevice"/> when it starts running. Models in the pipeline's offload sequence
/// (<c>model_cpu_offload_seq</c>: text_encoder → text_encoder_2 → unet → vae) are chained as accelerate's hooks chain
/// them: a model that starts running first sends its predecessor in the sequence back to the CPU. Models outside the
/// sequence (a ControlNet, which runs at every step beside the UNet) stay on the device once they ran.
/// <see cref="OffloadAll"/> (diffusers' <c>maybe_free_model_hooks</c>, which the pipelines call at the end of each
/// call) sends everything back.
/// </summary>
public sealed class ModelCpuOffload
{
    private readonly List<(string Name, ModelMixin Model, ModelMixin? Previous)> _models = [];
    private readonly HashSet<ModelMixin> _onDevice = new(ReferenceEqualityComparer.Instance);
    private readonly Action<string, bool>? _onMove;

    public ModelCpuOffload(Device executionDevice) : this(executionDevice, null)
    {
        if (executionDevice.type == TorchSharp.DeviceType.CPU)
            throw new ArgumentException("CPU offload needs an accelerator as its execution device; on the CPU there is nothing to offload.", nameof(executionDevice));
    }

    /// <param name="onMove">Told of every move (model name, true when it goes to the execution device): lets tests check the order on the CPU.</param>
    internal ModelCpuOffload(Device executionDevice, Action<string, bool>? onMove)
    {
        ExecutionDevice = executionDevice;
        _onMove = onMove;
    }

    /// <summary>Where the models run (diffusers' <c>_execution_device</c>).</summary>
    public Device ExecutionDevice { get; }

    /// <summary>
    /// Puts <paramref name="model"/> under this offload, on the CPU until it runs. <paramref name="previous"/> is its
    /// predecessor in the offload sequence, which goes back to the CPU when this model starts; null for the first model
    /// of the sequence and for models outside it.
    /// </summary>
    public void Attach(string name, ModelMixin model, ModelMixin? previous)
    {
        if (model.CpuOffload is not null) throw new InvalidOperationException($"{name} is already under CPU offload.");
        _models.Add((name, model, previous));
        model.CpuOffload = this;
        Move(model, toDevice: false);
    }

    /// <summary>
    /// accelerate's pre-forward hook, at every run: offloads the model's predecessor in the sequence (also when this
    /// model is on the device already, e.g. the VAE that encoded an img2img image and now decodes), then brings the
    /// model to the device.
    /// </summary>
    internal void Activate(ModelMixin model)
    {
        var previous = _models.Find(m => ReferenceEquals(m.Model, model)).Previous;
        if (previous is not null && _onDevice.Contains(previous)) Move(previous, toDevice: false);
        if (!_onDevice.Contains(model)) Move(model, toDevice: true);
    }

    /// <summary>diffusers' <c>maybe_free_model_hooks</c>: sends every model still on the device back to the CPU, in the order they were attached.</summary>
    public void OffloadAll()
    {
        foreach (var (_, model, _) in _models)
            if (_onDevice.Contains(model)) Move(model, toDevice: false);
    }

    private void Move(ModelMixin model, bool toDevice)
    {
        model.MoveTo(toDevice ? ExecutionDevice : CPU, null);
        if (toDevice) _onDevice.Add(model);
        else _onDevice.Remove(model);
        _onMove?.Invoke(_models.Find(m => ReferenceEquals(m.Model, model)).Name, toDevice);
    }
}
