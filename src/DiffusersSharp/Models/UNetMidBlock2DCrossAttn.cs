using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>UNetMidBlock2DCrossAttn</c>: a resnet, then (spatial transformer, resnet) pairs.</summary>
public sealed class UNetMidBlock2DCrossAttn : DiffusersModule, IMidBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Transformer2DModel[] _attentions;

    /// <remarks>Uses <see cref="UNetBlockOptions.InChannels"/> in and <see cref="UNetBlockOptions.OutChannels"/> out.</remarks>
    public UNetMidBlock2DCrossAttn(UNetBlockOptions options) : base(nameof(UNetMidBlock2DCrossAttn))
    {
        _resnets = Enumerable.Range(0, options.NumLayers + 1)
            .Select(i => new ResnetBlock2D(i == 0 ? options.InChannels : options.OutChannels, options.Resnet(options.OutChannels)))
            .ToArray();
        _attentions = Enumerable.Range(0, options.NumLayers)
            .Select(i => new Transformer2DModel(options.OutChannels, options.Transformer(i)))
            .ToArray();
        register_module("attentions", nn.ModuleList(_attentions));
        register_module("resnets", nn.ModuleList(_resnets));
    }

    public bool HasCrossAttention => true;

    public Tensor Forward(Tensor hiddenStates, Tensor? temb, CrossAttentionInputs? crossAttention = null)
    {
        using var scope = NewDisposeScope();
        hiddenStates = _resnets[0].Forward(hiddenStates, temb);
        for (var i = 0; i < _attentions.Length; i++)
        {
            hiddenStates = _attentions[i].Forward(hiddenStates, crossAttention?.EncoderHiddenStates, crossAttention?.AttentionMask, crossAttention?.EncoderAttentionMask);
            hiddenStates = _resnets[i + 1].Forward(hiddenStates, temb);
        }
        return hiddenStates.MoveToOuterDisposeScope();
    }
}
