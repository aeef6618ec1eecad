using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>Constructor arguments of <see cref="ResnetBlock2D"/>, named as diffusers names them.</summary>
public sealed record ResnetBlock2DOptions
{
    public long? OutChannels { get; init; }
    /// <summary>Width of the time embedding; null for blocks without one (the VAE's).</summary>
    public long? TembChannels { get; init; } = 512;
    public int Groups { get; init; } = 32;
    public int? GroupsOut { get; init; }
    public double Eps { get; init; } = 1e-6;
    public string NonLinearity { get; init; } = "swish";
    public bool SkipTimeAct { get; init; }
    /// <summary>"default" adds the time embedding; "scale_shift" modulates after norm2.</summary>
    public string TimeEmbeddingNorm { get; init; } = "default";
    public double OutputScaleFactor { get; init; } = 1.0;
    public bool? UseInShortcut { get; init; }
    public bool ConvShortcutBias { get; init; } = true;
    public long? Conv2dOutChannels { get; init; }
    public double Dropout { get; init; }
}

/// <summary>diffusers' <c>ResnetBlock2D</c>: two norm-act-conv stages with an optional time embedding and a shortcut.</summary>
public sealed class ResnetBlock2D : DiffusersModule
{
    private readonly GroupNorm _norm1;
    private readonly Conv2d _conv1;
    private readonly Linear? _timeEmbProj;
    private readonly GroupNorm _norm2;
    private readonly Dropout _dropout;
    private readonly Conv2d _conv2;
    private readonly Conv2d? _convShortcut;
    private readonly nn.Module<Tensor, Tensor> _nonlinearity;
    private readonly bool _skipTimeAct;
    private readonly bool _scaleShift;
    private readonly double _outputScaleFactor;

    public ResnetBlock2D(long inChannels, ResnetBlock2DOptions? options = null) : base(nameof(ResnetBlock2D))
    {
        options ??= new ResnetBlock2DOptions();
        var outChannels = options.OutChannels ?? inChannels;
        var conv2dOut = options.Conv2dOutChannels ?? outChannels;
        _skipTimeAct = options.SkipTimeAct;
        _outputScaleFactor = options.OutputScaleFactor;
        _scaleShift = options.TimeEmbeddingNorm switch
        {
            "default" => false,
            "scale_shift" => true,
            _ => throw new NotSupportedException($"Unsupported resnet_time_scale_shift '{options.TimeEmbeddingNorm}': DiffusersSharp supports default and scale_shift."),
        };

        _norm1 = Layers.GroupNorm(options.Groups, inChannels, options.Eps, affine: true);
        _conv1 = Layers.Conv2d(inChannels, outChannels, 3, stride: 1, padding: 1);
        register_module("norm1", _norm1);
        register_module("conv1", _conv1);
        if (options.TembChannels is { } temb)
        {
            _timeEmbProj = Layers.Linear(temb, _scaleShift ? 2 * outChannels : outChannels);
            register_module("time_emb_proj", _timeEmbProj);
        }
        _norm2 = Layers.GroupNorm(options.GroupsOut ?? options.Groups, outChannels, options.Eps, affine: true);
        _dropout = nn.Dropout(options.Dropout);
        _conv2 = Layers.Conv2d(outChannels, conv2dOut, 3, stride: 1, padding: 1);
        register_module("norm2", _norm2);
        register_module("dropout", _dropout);
        register_module("conv2", _conv2);
        _nonlinearity = Activations.Get(options.NonLinearity);
        register_module("nonlinearity", _nonlinearity);

        if (options.UseInShortcut ?? inChannels != conv2dOut)
        {
            // diffusers 0.38 accepts a conv_shortcut flag but always builds a 1×1 shortcut.
            _convShortcut = Layers.Conv2d(inChannels, conv2dOut, 1, stride: 1, padding: 0, bias: options.ConvShortcutBias);
            register_module("conv_shortcut", _convShortcut);
        }
    }

    public Tensor Forward(Tensor input, Tensor? temb)
    {
        using var scope = NewDisposeScope();
        var h = _conv1.forward(_nonlinearity.forward(_norm1.forward(input)));
        Tensor? t = null;
        if (_timeEmbProj is not null && temb is not null)
        {
            t = _timeEmbProj.forward(_skipTimeAct ? temb : _nonlinearity.forward(temb));
            t = t.unsqueeze(-1).unsqueeze(-1);
        }
        if (!_scaleShift)
        {
            if (t is not null) h = h + t;
            h = _norm2.forward(h);
        }
        else
        {
            if (t is null) throw new ArgumentException("A scale_shift ResnetBlock2D needs a time embedding.", nameof(temb));
            var chunks = t.chunk(2, dim: 1);
            h = _norm2.forward(h) * (1 + chunks[0]) + chunks[1];
        }
        h = _conv2.forward(_dropout.forward(_nonlinearity.forward(h)));
        var shortcut = _convShortcut is null ? input : _convShortcut.forward(input.contiguous());
        var output = shortcut + h;
        if (_outputScaleFactor != 1.0) output = output / _outputScaleFactor;
        return output.MoveToOuterDisposeScope();
    }
}
