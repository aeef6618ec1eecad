using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// diffusers' <c>enable_model_cpu_offload</c> for the models of one pipeline: each model lives on the CPU and moves
/// to <see cref="ExecutionDevice"/> when it starts running, sending the model that ran before it back to the CPU, so
/// that one model at a time occupies the accelerator (text encoder, then UNet, then VAE in a generation).
/// </summary>
/// <remarks>
/// diffusers also offloads the last model when a call ends (<c>maybe_free_model_hooks</c>); here the last model (the
/// VAE) stays on the device until the next call's first model replaces it, or until <see cref="OffloadAll"/>.
/// </remarks>
public sealed class ModelCpuOffload
{
    private readonly List<ModelMixin> _models = [];
    private ModelMixin? _resident;

    public ModelCpuOffload(Device executionDevice)
    {
        if (executionDevice.type == TorchSharp.DeviceType.CPU)
            throw new ArgumentException("CPU offload needs an accelerator as its execution device; on the CPU there is nothing to offload.", nameof(executionDevice));
        ExecutionDevice = executionDevice;
    }

    /// <summary>Where the models run (diffusers' <c>_execution_device</c>).</summary>
    public Device ExecutionDevice { get; }

    /// <summary>Puts <paramref name="model"/> under this offload, on the CPU until it runs.</summary>
    public void Attach(ModelMixin model)
    {
        model.MoveTo(CPU, null);
        model.CpuOffload = this;
        _models.Add(model);
    }

    /// <summary>Moves <paramref name="model"/> to the execution device and the model that ran before it to the CPU.</summary>
    internal void Activate(ModelMixin model)
    {
        if (ReferenceEquals(_resident, model)) return;
        _resident?.MoveTo(CPU, null);
        model.MoveTo(ExecutionDevice, null);
        _resident = model;
    }

    /// <summary>diffusers' <c>maybe_free_model_hooks</c>: sends the model still on the device back to the CPU.</summary>
    public void OffloadAll()
    {
        _resident?.MoveTo(CPU, null);
        _resident = null;
    }
}
