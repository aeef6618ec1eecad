using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>diffusers' <c>UpBlock2D</c>: resnets over [hidden, skip] concatenations, then an optional 2× upsampler.</summary>
public sealed class UpBlock2D : DiffusersModule, IUpBlock2D
{
    private readonly ResnetBlock2D[] _resnets;
    private readonly Upsample2D? _upsampler;

    public UpBlock2D(UNetBlockOptions options) : base(nameof(UpBlock2D))
    {
        _resnets = Enumerable.Range(0, options.NumLayers)
            .Select(i => new ResnetBlock2D(UpBlockResnetInChannels(options, i), options.Resnet(options.OutChannels)))
            .ToArray();
        register_module("resnets", nn.ModuleList(_resnets));
        if (options.AddUpsample)
        {
            _upsampler = new Upsample2D(options.OutChannels, useConv: true, options.OutChannels);
            register_module("upsamplers", nn.ModuleList(new[] { _upsampler }));
        }
    }

    public bool HasCrossAttention => false;

    public int NumResnets => _resnets.Length;

    /// <summary>
    /// Input width of an up block's i-th resnet: the previous output (the block input for the first) plus the skip it
    /// consumes (the down path's block input for the last, whose skip comes from one level deeper).
    /// </summary>
    internal static long UpBlockResnetInChannels(UNetBlockOptions options, int i)
    {
        var resSkipChannels = i == options.NumLayers - 1 ? options.InChannels : options.OutChannels;
        var resnetInChannels = i == 0 ? options.PrevOutputChannel : options.OutChannels;
        return resnetInChannels + resSkipChannels;
    }

    public Tensor Forward(Tensor hiddenStates, IReadOnlyList<Tensor> resHiddenStates, Tensor? temb, CrossAttentionInputs? crossAttention = null, long[]? upsampleSize = null)
    {
        CheckSkipCount(resHiddenStates, _resnets.Length);
        using var scope = NewDisposeScope();
        for (var i = 0; i < _resnets.Length; i++)
        {
            var res = resHiddenStates[resHiddenStates.Count - 1 - i];
            hiddenStates = _resnets[i].Forward(cat([hiddenStates, res], dim: 1), temb);
        }
        if (_upsampler is not null) hiddenStates = _upsampler.Forward(hiddenStates, upsampleSize);
        scope.MoveToOuter(hiddenStates);
        return hiddenStates;
    }

    internal static void CheckSkipCount(IReadOnlyList<Tensor> resHiddenStates, int expected)
    {
        if (resHiddenStates.Count != expected)
            throw new ArgumentException($"Up block needs {expected} skip tensors; got {resHiddenStates.Count}.", nameof(resHiddenStates));
    }
}
