using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>AttnUpBlock2D</c> (unconditional UNets): (resnet over [hidden, skip], spatial self-attention) pairs, then an optional 2× upsampler.</summary>
public sealed class AttnUpBlock2D : DiffusersModule, IUpBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Attention[] _attentions;
    private readonly Upsample2D? _upsampler;

    public AttnUpBlock2D(UNetBlockOptions options) : base(nameof(AttnUpBlock2D))
    {
        _resnets = Enumerable.Range(0, options.NumLayers)
            .Select(i => new ResnetBlock2D(UpBlock2D.UpBlockResnetInChannels(options, i), options.Resnet(options.OutChannels)))
            .ToArray();
        _attentions = Enumerable.Range(0, options.NumLayers)
            .Select(_ => new Attention(options.OutChannels, options.SpatialAttention(options.OutChannels, options.ResnetGroups)))
            .ToArray();
        register_module("attentions", nn.ModuleList(_attentions));
        register_module("resnets", nn.ModuleList(_resnets));
        if (options.AddUpsample)
        {
            _upsampler = new Upsample2D(options.OutChannels, useConv: true, options.OutChannels);
            register_module("upsamplers", nn.ModuleList(new[] { _upsampler }));
        }
    }

    public bool HasCrossAttention => false;

    public int NumResnets => _resnets.Length;

    /// <remarks>diffusers' AttnUpBlock2D ignores <paramref name="upsampleSize"/> and always upsamples 2×; so does this port.</remarks>
    public Tensor Forward(Tensor hiddenStates, IReadOnlyList<Tensor> resHiddenStates, Tensor? temb, CrossAttentionInputs? crossAttention = null, long[]? upsampleSize = null)
    {
        UpBlock2D.CheckSkipCount(resHiddenStates, _resnets.Length);
        using var scope = NewDisposeScope();
        for (var i = 0; i < _resnets.Length; i++)
        {
            var res = resHiddenStates[resHiddenStates.Count - 1 - i];
            hiddenStates = _resnets[i].Forward(cat([hiddenStates, res], dim: 1), temb);
            hiddenStates = _attentions[i].Forward(hiddenStates);
        }
        if (_upsampler is not null) hiddenStates = _upsampler.Forward(hiddenStates);
        scope.MoveToOuter(hiddenStates);
        return hiddenStates;
    }
}
