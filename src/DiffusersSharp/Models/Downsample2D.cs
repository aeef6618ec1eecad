using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>Downsample2D</c>: a stride-2 convolution (or 2×2 average pooling) halving H and W.</summary>
public sealed class Downsample2D : DiffusersModule<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> _op;
    private readonly bool _padAsymmetric;

    public Downsample2D(long channels, bool useConv, long? outChannels = null, int padding = 1) : base(nameof(Downsample2D))
    {
        var outCh = outChannels ?? channels;
        if (useConv)
            _op = Layers.Conv2d(channels, outCh, 3, stride: 2, padding: padding);
        else if (outCh == channels)
            _op = nn.AvgPool2d(2, stride: 2);
        else
            throw new ArgumentException("Downsample2D without a convolution cannot change the channel count.");
        // The VAE encoder pads right and bottom only (padding 0 plus an explicit asymmetric pad).
        _padAsymmetric = useConv && padding == 0;
        register_module("conv", _op);
    }

    public override Tensor forward(Tensor input)
    {
        if (!_padAsymmetric) return _op.forward(input);
        using var padded = nn.functional.pad(input, [0, 1, 0, 1], PaddingModes.Constant, 0);
        return _op.forward(padded);
    }
}
