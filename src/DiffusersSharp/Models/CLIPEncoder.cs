using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>transformers' <c>CLIPEncoder</c>: the stack of <see cref="CLIPEncoderLayer"/>s.</summary>
internal sealed class CLIPEncoder : DiffusersModule
{
    private readonly ModuleList<CLIPEncoderLayer> _layers;

    public CLIPEncoder(CLIPTextConfig config) : base(nameof(CLIPEncoder))
    {
        _layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new CLIPEncoderLayer(config)).ToArray());
        register_module("layers", _layers);
    }

    /// <summary>
    /// Runs every layer on <paramref name="inputsEmbeds"/> and returns the states transformers reports with
    /// output_hidden_states=True: the input, then each layer's output (so the last is the encoder's output).
    /// </summary>
    public List<Tensor> Forward(Tensor inputsEmbeds, Tensor? attentionBias)
    {
        var states = new List<Tensor>(_layers.Count + 1) { inputsEmbeds };
        foreach (var layer in _layers)
            states.Add(layer.Forward(states[^1], attentionBias));
        return states;
    }
}
