using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>UNetMidBlock2D</c>: a resnet, then (optional spatial self-attention, resnet) pairs.</summary>
public sealed class UNetMidBlock2D : DiffusersModule, IMidBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Attention[] _attentions;

    /// <remarks>Keeps <see cref="UNetBlockOptions.InChannels"/> throughout.</remarks>
    public UNetMidBlock2D(UNetBlockOptions options) : base(nameof(UNetMidBlock2D))
    {
        var channels = options.InChannels;
        _resnets = Enumerable.Range(0, options.NumLayers + 1)
            .Select(_ => new ResnetBlock2D(channels, options.Resnet(channels)))
            .ToArray();
        // diffusers gives the attention a group norm only for "default" time conditioning unless told otherwise.
        var attnGroups = options.AttnGroups ?? (options.ResnetTimeScaleShift == "default" ? options.ResnetGroups : null);
        _attentions = options.AddAttention
            ? Enumerable.Range(0, options.NumLayers).Select(_ => new Attention(channels, options.SpatialAttention(channels, attnGroups))).ToArray()
            : [];
        register_module("attentions", nn.ModuleList(_attentions));
        register_module("resnets", nn.ModuleList(_resnets));
    }

    /// <summary>The VAE encoder's and decoder's mid block: no time embedding, one single-head attention.</summary>
    public static UNetMidBlock2D ForVae(long channels, string actFn, int groups, bool addAttention) => new(new UNetBlockOptions
    {
        InChannels = channels,
        OutChannels = channels,
        ResnetEps = 1e-6,
        ResnetActFn = actFn,
        ResnetGroups = groups,
        AttentionHeadDim = checked((int)channels),
        AddAttention = addAttention,
    });

    public bool HasCrossAttention => false;

    public Tensor Forward(Tensor hiddenStates, Tensor? temb, CrossAttentionInputs? crossAttention = null)
    {
        using var scope = NewDisposeScope();
        hiddenStates = _resnets[0].Forward(hiddenStates, temb);
        for (var i = 1; i < _resnets.Length; i++)
        {
            if (_attentions.Length > 0) hiddenStates = _attentions[i - 1].Forward(hiddenStates);
            hiddenStates = _resnets[i].Forward(hiddenStates, temb);
        }
        return hiddenStates.MoveToOuterDisposeScope();
    }
}
