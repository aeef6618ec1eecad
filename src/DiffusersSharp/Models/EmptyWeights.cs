using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// Builds models without allocating or initialising their weights (what diffusers' <c>low_cpu_mem_usage</c> does
/// with accelerate's <c>init_empty_weights</c>): while <see cref="Build{T}"/> runs, <see cref="Layers"/> creates every
/// parameter as a shape-only tensor on the meta device in the final dtype; <see cref="Materialize"/> then allocates
/// each once, uninitialised, on the final device for the weights loader to fill.
/// </summary>
/// <remarks>
/// The scope is per thread, so a build never changes the device or dtype of tensors that other threads create.
/// TorchSharp's own <c>set_default_device</c>/<c>set_default_dtype</c> would do the same job for every layer but are
/// process-wide: tensors that other threads (or tests running in parallel) create during a load would land on the
/// meta device. A layer created with TorchSharp's <c>nn.*</c> factories directly instead of <see cref="Layers"/> is
/// still built in full (float32, randomly initialised) and converted afterwards: slower, but the same result.
/// </remarks>
public static class EmptyWeights
{
    [ThreadStatic] private static ScalarType? _buildDtype;

    /// <summary>Where <see cref="Layers"/> puts new parameters: the meta device inside a build, TorchSharp's default outside.</summary>
    internal static Device? ParameterDevice => _buildDtype is null ? null : META;

    /// <summary>The dtype <see cref="Layers"/> gives new parameters: the build's inside one, TorchSharp's default outside.</summary>
    internal static ScalarType? ParameterDtype => _buildDtype;

    /// <summary>Runs <paramref name="build"/> with its layers' parameters created on the meta device in <paramref name="dtype"/>.</summary>
    public static T Build<T>(Func<T> build, ScalarType dtype)
    {
        var outer = _buildDtype;
        _buildDtype = dtype;
        try
        {
            using var noGrad = no_grad();
            return build();
        }
        finally
        {
            _buildDtype = outer;
        }
    }

    /// <summary>
    /// Replaces each meta parameter of <paramref name="module"/> and its submodules by an uninitialised tensor of the
    /// same shape and dtype on <paramref name="device"/>. Parameters are set through the owning layer's property
    /// (TorchSharp's layers keep them in fields behind <c>weight</c>/<c>bias</c>); a parameter with no such property, or a
    /// meta buffer, is reported rather than left unallocated.
    /// </summary>
    public static void Materialize(nn.Module module, Device device)
    {
        foreach (var owner in module.modules().Prepend(module))
        {
            foreach (var (name, parameter) in owner.named_parameters(recurse: false).ToList())
            {
                if (parameter.device_type != DeviceType.META) continue;
                var property = owner.GetType().GetProperty(name, BindingFlags.Public | BindingFlags.Instance);
                if (property is null || !property.CanWrite || !property.PropertyType.IsAssignableFrom(typeof(Parameter)))
                    throw new NotSupportedException(
                        $"{owner.GetType().Name} registers parameter '{name}' without a settable property, so it cannot be built without weights; load it with LowCpuMemUsage = false.");
                property.SetValue(owner, new Parameter(empty(parameter.shape, parameter.dtype, device), requires_grad: false));
            }
            foreach (var (name, buffer) in owner.named_buffers(recurse: false))
                if (buffer.device_type == DeviceType.META)
                    throw new NotSupportedException(
                        $"{owner.GetType().Name} holds buffer '{name}', which cannot be built without weights; load it with LowCpuMemUsage = false.");
        }
    }
}
