using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>Constructor arguments of <see cref="DownEncoderBlock2D"/>, named and defaulted as diffusers' class does.</summary>
public sealed record DownEncoderBlock2DOptions
{
    public double Dropout { get; init; }
    public int NumLayers { get; init; } = 1;
    public double ResnetEps { get; init; } = 1e-6;
    /// <summary>Only "default" is meaningful without a time embedding; diffusers' "spatial" is not implemented.</summary>
    public string ResnetTimeScaleShift { get; init; } = "default";
    public string ResnetActFn { get; init; } = "swish";
    public int ResnetGroups { get; init; } = 32;
    public double OutputScaleFactor { get; init; } = 1.0;
    public bool AddDownsample { get; init; } = true;
    /// <summary>0 pads right and bottom only before the stride-2 convolution, as the VAE encoder does.</summary>
    public int DownsamplePadding { get; init; } = 1;
}

/// <summary>diffusers' <c>DownEncoderBlock2D</c>: resnets without time embedding, then an optional stride-2 downsampler.</summary>
public sealed class DownEncoderBlock2D : DiffusersModule
{
    private readonly ModuleList<ResnetBlock2D> _resnets;
    private readonly ModuleList<Downsample2D>? _downsamplers;

    public DownEncoderBlock2D(long inChannels, long outChannels, DownEncoderBlock2DOptions? options = null) : base(nameof(DownEncoderBlock2D))
    {
        options ??= new DownEncoderBlock2DOptions();
        if (options.ResnetTimeScaleShift == "spatial")
            throw new NotSupportedException("Unsupported resnet_time_scale_shift 'spatial' for DownEncoderBlock2D: DiffusersSharp does not implement ResnetBlockCondNorm2D.");
        var resnets = new ResnetBlock2D[options.NumLayers];
        for (var i = 0; i < resnets.Length; i++)
        {
            resnets[i] = new ResnetBlock2D(i == 0 ? inChannels : outChannels, new ResnetBlock2DOptions
            {
                OutChannels = outChannels,
                TembChannels = null,
                Eps = options.ResnetEps,
                Groups = options.ResnetGroups,
                Dropout = options.Dropout,
                TimeEmbeddingNorm = options.ResnetTimeScaleShift,
                NonLinearity = options.ResnetActFn,
                OutputScaleFactor = options.OutputScaleFactor,
            });
        }
        _resnets = nn.ModuleList(resnets);
        register_module("resnets", _resnets);
        if (options.AddDownsample)
        {
            _downsamplers = nn.ModuleList(new Downsample2D(outChannels, useConv: true, outChannels, options.DownsamplePadding));
            register_module("downsamplers", _downsamplers);
        }
    }

    public Tensor Forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var h = hiddenStates;
        foreach (var resnet in _resnets) h = resnet.Forward(h, null);
        if (_downsamplers is not null)
            foreach (var downsampler in _downsamplers) h = downsampler.forward(h);
        return h.MoveToOuterDisposeScope();
    }
}
