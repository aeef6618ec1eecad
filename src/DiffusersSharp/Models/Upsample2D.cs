using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>Upsample2D</c>: nearest-neighbour 2× (or to a given size), then an optional 3×3 convolution.</summary>
public sealed class Upsample2D : DiffusersModule
{
    private readonly nn.Module<Tensor, Tensor>? _conv;

    public Upsample2D(long channels, bool useConv, long? outChannels = null) : base(nameof(Upsample2D))
    {
        if (useConv)
        {
            _conv = Layers.Conv2d(channels, outChannels ?? channels, 3, stride: 1, padding: 1);
            register_module("conv", _conv);
        }
    }

    /// <param name="outputSize">Target H and W when a skip connection's size is odd (the UNet passes it); else 2×.</param>
    public Tensor Forward(Tensor hiddenStates, long[]? outputSize = null)
    {
        using var scope = NewDisposeScope();
        var dtype = hiddenStates.dtype;
        // libtorch's nearest upsampling lacks bfloat16 kernels on some builds; diffusers upcasts the same way.
        var h = dtype == ScalarType.BFloat16 ? hiddenStates.to(ScalarType.Float32) : hiddenStates;
        h = outputSize is null
            ? nn.functional.interpolate(h, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest)
            : nn.functional.interpolate(h, size: outputSize, mode: InterpolationMode.Nearest);
        if (dtype == ScalarType.BFloat16) h = h.to(dtype);
        if (_conv is not null) h = _conv.forward(h);
        return h.MoveToOuterDisposeScope();
    }
}
