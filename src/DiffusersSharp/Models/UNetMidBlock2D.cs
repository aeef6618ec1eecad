using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>Constructor arguments of <see cref="UNetMidBlock2D"/>, named and defaulted as diffusers' class does.</summary>
public sealed record UNetMidBlock2DOptions
{
    /// <summary>Width of the time embedding; null for the VAE's mid blocks.</summary>
    public long? TembChannels { get; init; }
    public double Dropout { get; init; }
    /// <summary>Number of attention + resnet pairs after the first resnet.</summary>
    public int NumLayers { get; init; } = 1;
    public double ResnetEps { get; init; } = 1e-6;
    /// <summary>"default" or "scale_shift"; diffusers' "spatial" (MoVQ) is not implemented.</summary>
    public string ResnetTimeScaleShift { get; init; } = "default";
    public string ResnetActFn { get; init; } = "swish";
    /// <summary>Null means diffusers' fallback min(in_channels / 4, 32).</summary>
    public int? ResnetGroups { get; init; } = 32;
    /// <summary>Group count of the attention's group norm; null takes resnet_groups under "default" and none otherwise.</summary>
    public int? AttnGroups { get; init; }
    public bool AddAttention { get; init; } = true;
    /// <summary>Channels per attention head; heads = in_channels / attention_head_dim. Null means in_channels (one head).</summary>
    public int? AttentionHeadDim { get; init; } = 1;
    public double OutputScaleFactor { get; init; } = 1.0;
}

/// <summary>
/// diffusers' <c>UNetMidBlock2D</c>: a resnet, then <c>num_layers</c> times (self-attention over pixels, resnet).
/// Used by the VAE's encoder and decoder (no time embedding) and by <c>UNet2DModel</c>.
/// </summary>
public sealed class UNetMidBlock2D : nn.Module
{
    private readonly ModuleList<ResnetBlock2D> _resnets;
    private readonly ModuleList<Attention>? _attentions;

    public UNetMidBlock2D(long inChannels, UNetMidBlock2DOptions? options = null) : base(nameof(UNetMidBlock2D))
    {
        options ??= new UNetMidBlock2DOptions();
        if (options.ResnetTimeScaleShift is not ("default" or "scale_shift"))
            throw new NotSupportedException($"Unsupported resnet_time_scale_shift '{options.ResnetTimeScaleShift}' for UNetMidBlock2D: DiffusersSharp supports default and scale_shift.");
        var resnetGroups = options.ResnetGroups ?? (int)Math.Min(inChannels / 4, 32);
        // As diffusers: the attention norm follows the resnets only for the "default" time scale shift.
        var attnGroups = options.AttnGroups ?? (options.ResnetTimeScaleShift == "default" ? resnetGroups : null);
        var headDim = options.AttentionHeadDim ?? (int)inChannels;

        var resnetOptions = new ResnetBlock2DOptions
        {
            OutChannels = inChannels,
            TembChannels = options.TembChannels,
            Eps = options.ResnetEps,
            Groups = resnetGroups,
            Dropout = options.Dropout,
            TimeEmbeddingNorm = options.ResnetTimeScaleShift,
            NonLinearity = options.ResnetActFn,
            OutputScaleFactor = options.OutputScaleFactor,
        };
        var resnets = new List<ResnetBlock2D> { new(inChannels, resnetOptions) };
        var attentions = new List<Attention>();
        for (var i = 0; i < options.NumLayers; i++)
        {
            if (options.AddAttention)
            {
                attentions.Add(new Attention(inChannels, new AttentionOptions
                {
                    Heads = (int)(inChannels / headDim),
                    DimHead = headDim,
                    RescaleOutputFactor = options.OutputScaleFactor,
                    Eps = options.ResnetEps,
                    NormNumGroups = attnGroups,
                    ResidualConnection = true,
                    Bias = true,
                }));
            }
            resnets.Add(new ResnetBlock2D(inChannels, resnetOptions));
        }

        // diffusers keeps a list of None when attention is off; it holds no weights, so nothing is registered.
        if (attentions.Count > 0)
        {
            _attentions = nn.ModuleList(attentions.ToArray());
            register_module("attentions", _attentions);
        }
        _resnets = nn.ModuleList(resnets.ToArray());
        register_module("resnets", _resnets);
    }

    public Tensor Forward(Tensor hiddenStates, Tensor? temb = null)
    {
        using var scope = NewDisposeScope();
        var h = _resnets[0].Forward(hiddenStates, temb);
        for (var i = 1; i < _resnets.Count; i++)
        {
            if (_attentions is not null) h = _attentions[i - 1].Forward(h);
            h = _resnets[i].Forward(h, temb);
        }
        return h.MoveToOuterDisposeScope();
    }

    // Every submodule is registered above under its diffusers name; TorchSharp's field discovery, which runs when this
    // module is registered into a parent, would register each again under its C# field name.
    protected override void RegisterComponents() { }
}
