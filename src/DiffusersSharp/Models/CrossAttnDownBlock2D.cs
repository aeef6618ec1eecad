using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>CrossAttnDownBlock2D</c>: (resnet, spatial transformer) pairs, then an optional stride-2 convolution.</summary>
public sealed class CrossAttnDownBlock2D : DiffusersModule, IDownBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Transformer2DModel[] _attentions;
    private readonly Downsample2D? _downsampler;

    public CrossAttnDownBlock2D(UNetBlockOptions options) : base(nameof(CrossAttnDownBlock2D))
    {
        _resnets = Enumerable.Range(0, options.NumLayers)
            .Select(i => new ResnetBlock2D(i == 0 ? options.InChannels : options.OutChannels, options.Resnet(options.OutChannels)))
            .ToArray();
        _attentions = Enumerable.Range(0, options.NumLayers)
            .Select(i => new Transformer2DModel(options.OutChannels, options.Transformer(i)))
            .ToArray();
        register_module("attentions", nn.ModuleList(_attentions));
        register_module("resnets", nn.ModuleList(_resnets));
        if (options.AddDownsample)
        {
            _downsampler = new Downsample2D(options.OutChannels, useConv: true, options.OutChannels, options.DownsamplePadding);
            register_module("downsamplers", nn.ModuleList(new[] { _downsampler }));
        }
    }

    public bool HasCrossAttention => true;

    public (Tensor HiddenStates, Tensor[] OutputStates) Forward(Tensor hiddenStates, Tensor? temb, CrossAttentionInputs? crossAttention = null, Tensor? additionalResiduals = null)
    {
        using var scope = NewDisposeScope();
        var outputStates = new List<Tensor>();
        for (var i = 0; i < _resnets.Length; i++)
        {
            hiddenStates = _resnets[i].Forward(hiddenStates, temb);
            hiddenStates = _attentions[i].Forward(hiddenStates, crossAttention?.EncoderHiddenStates, crossAttention?.AttentionMask, crossAttention?.EncoderAttentionMask);
            // T2I-Adapter features join the output of the last resnet/transformer pair.
            if (i == _resnets.Length - 1 && additionalResiduals is not null)
                hiddenStates = hiddenStates + additionalResiduals;
            outputStates.Add(hiddenStates);
        }
        if (_downsampler is not null)
        {
            hiddenStates = _downsampler.forward(hiddenStates);
            outputStates.Add(hiddenStates);
        }
        scope.MoveToOuter(outputStates.Append(hiddenStates));
        return (hiddenStates, outputStates.ToArray());
    }
}
