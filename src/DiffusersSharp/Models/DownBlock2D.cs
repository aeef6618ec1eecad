using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>DownBlock2D</c>: resnets, then an optional stride-2 convolution.</summary>
public sealed class DownBlock2D : DiffusersModule, IDownBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Downsample2D? _downsampler;

    public DownBlock2D(UNetBlockOptions options) : base(nameof(DownBlock2D))
    {
        _resnets = Enumerable.Range(0, options.NumLayers)
            .Select(i => new ResnetBlock2D(i == 0 ? options.InChannels : options.OutChannels, options.Resnet(options.OutChannels)))
            .ToArray();
        register_module("resnets", nn.ModuleList(_resnets));
        if (options.AddDownsample)
        {
            _downsampler = new Downsample2D(options.OutChannels, useConv: true, options.OutChannels, options.DownsamplePadding);
            register_module("downsamplers", nn.ModuleList(new[] { _downsampler }));
        }
    }

    public bool HasCrossAttention => false;

    public (Tensor HiddenStates, Tensor[] OutputStates) Forward(Tensor hiddenStates, Tensor? temb, CrossAttentionInputs? crossAttention = null, Tensor? additionalResiduals = null)
    {
        if (additionalResiduals is not null)
            throw new ArgumentException("DownBlock2D takes no additional residuals; the UNet adds them after the block.", nameof(additionalResiduals));
        using var scope = NewDisposeScope();
        var outputStates = new List<Tensor>();
        foreach (var resnet in _resnets)
        {
            hiddenStates = resnet.Forward(hiddenStates, temb);
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
