using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>Constructor arguments of <see cref="UpDecoderBlock2D"/>, named and defaulted as diffusers' class does.</summary>
public sealed record UpDecoderBlock2DOptions
{
    public double Dropout { get; init; }
    public int NumLayers { get; init; } = 1;
    public double ResnetEps { get; init; } = 1e-6;
    /// <summary>
    /// "default", "scale_shift", or "group" (what the VAE decoder passes; without a time embedding it behaves as
    /// "default"). diffusers' "spatial" (MoVQ) is not implemented.
    /// </summary>
    public string ResnetTimeScaleShift { get; init; } = "default";
    public string ResnetActFn { get; init; } = "swish";
    public int ResnetGroups { get; init; } = 32;
    public double OutputScaleFactor { get; init; } = 1.0;
    public bool AddUpsample { get; init; } = true;
    public long? TembChannels { get; init; }
}

/// <summary>diffusers' <c>UpDecoderBlock2D</c>: resnets, then an optional nearest 2× upsampler with a convolution.</summary>
public sealed class UpDecoderBlock2D : DiffusersModule
{
    private readonly ModuleList<ResnetBlock2D> _resnets;
    private readonly ModuleList<Upsample2D>? _upsamplers;

    public UpDecoderBlock2D(long inChannels, long outChannels, UpDecoderBlock2DOptions? options = null) : base(nameof(UpDecoderBlock2D))
    {
        options ??= new UpDecoderBlock2DOptions();
        var timeEmbeddingNorm = options.ResnetTimeScaleShift switch
        {
            "spatial" => throw new NotSupportedException("Unsupported resnet_time_scale_shift 'spatial' for UpDecoderBlock2D: DiffusersSharp does not implement ResnetBlockCondNorm2D."),
            // diffusers' ResnetBlock2D treats any other name as "no time embedding, plain norm2", which it only
            // accepts when temb_channels is None; that is exactly "default" without a time embedding.
            "group" when options.TembChannels is null => "default",
            var other => other,
        };
        var resnets = new ResnetBlock2D[options.NumLayers];
        for (var i = 0; i < resnets.Length; i++)
        {
            resnets[i] = new ResnetBlock2D(i == 0 ? inChannels : outChannels, new ResnetBlock2DOptions
            {
                OutChannels = outChannels,
                TembChannels = options.TembChannels,
                Eps = options.ResnetEps,
                Groups = options.ResnetGroups,
                Dropout = options.Dropout,
                TimeEmbeddingNorm = timeEmbeddingNorm,
                NonLinearity = options.ResnetActFn,
                OutputScaleFactor = options.OutputScaleFactor,
            });
        }
        _resnets = nn.ModuleList(resnets);
        register_module("resnets", _resnets);
        if (options.AddUpsample)
        {
            _upsamplers = nn.ModuleList(new Upsample2D(outChannels, useConv: true, outChannels));
            register_module("upsamplers", _upsamplers);
        }
    }

    public Tensor Forward(Tensor hiddenStates, Tensor? temb = null)
    {
        using var scope = NewDisposeScope();
        var h = hiddenStates;
        foreach (var resnet in _resnets) h = resnet.Forward(h, temb);
        if (_upsamplers is not null)
            foreach (var upsampler in _upsamplers) h = upsampler.Forward(h);
        return h.MoveToOuterDisposeScope();
    }
}
