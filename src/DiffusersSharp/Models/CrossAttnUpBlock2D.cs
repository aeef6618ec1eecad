using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>CrossAttnUpBlock2D</c>: (resnet over [hidden, skip], spatial transformer) pairs, then an optional 2× upsampler.</summary>
public sealed class CrossAttnUpBlock2D : DiffusersModule, IUpBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Transformer2DModel[] _attentions;
    private readonly Upsample2D? _upsampler;

    public CrossAttnUpBlock2D(UNetBlockOptions options) : base(nameof(CrossAttnUpBlock2D))
    {
        _resnets = Enumerable.Range(0, options.NumLayers)
            .Select(i => new ResnetBlock2D(UpBlock2D.UpBlockResnetInChannels(options, i), options.Resnet(options.OutChannels)))
            .ToArray();
        _attentions = Enumerable.Range(0, options.NumLayers)
            .Select(i => new Transformer2DModel(options.OutChannels, options.Transformer(i)))
            .ToArray();
        register_module("attentions", nn.ModuleList(_attentions));
        register_module("resnets", nn.ModuleList(_resnets));
        if (options.AddUpsample)
        {
            _upsampler = new Upsample2D(options.OutChannels, useConv: true, options.OutChannels);
            register_module("upsamplers", nn.ModuleList(new[] { _upsampler }));
        }
    }

    public bool HasCrossAttention => true;

    public int NumResnets => _resnets.Length;

    public Tensor Forward(Tensor hiddenStates, IReadOnlyList<Tensor> resHiddenStates, Tensor? temb, CrossAttentionInputs? crossAttention = null, long[]? upsampleSize = null)
    {
        UpBlock2D.CheckSkipCount(resHiddenStates, _resnets.Length);
        using var scope = NewDisposeScope();
        for (var i = 0; i < _resnets.Length; i++)
        {
            var res = resHiddenStates[resHiddenStates.Count - 1 - i];
            hiddenStates = _resnets[i].Forward(cat([hiddenStates, res], dim: 1), temb);
            hiddenStates = _attentions[i].Forward(hiddenStates, crossAttention?.EncoderHiddenStates, crossAttention?.AttentionMask, crossAttention?.EncoderAttentionMask);
        }
        if (_upsampler is not null) hiddenStates = _upsampler.Forward(hiddenStates, upsampleSize);
        scope.MoveToOuter(hiddenStates);
        return hiddenStates;
    }
}
