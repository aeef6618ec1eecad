using DiffusersSharp.Loading;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// transformers' <c>CLIPTextModelWithProjection</c>: the CLIP text encoder plus a bias-free projection of its pooled
/// state (SDXL's text_encoder_2, SD3's CLIP encoders).
/// </summary>
public sealed class CLIPTextModelWithProjection : PreTrainedModel
{
    private readonly Linear _textProjection;

    public CLIPTextModelWithProjection(ModelConfig config) : base(nameof(CLIPTextModelWithProjection), config)
    {
        TextConfig = CLIPTextConfig.From(config);
        TextModel = new CLIPTextTransformer(TextConfig);
        _textProjection = Layers.Linear(TextConfig.HiddenSize, TextConfig.ProjectionDim, hasBias: false);
        register_module("text_model", TextModel);
        register_module("text_projection", _textProjection);
    }

    public override string ClassName => "CLIPTextModelWithProjection";

    public CLIPTextConfig TextConfig { get; }

    public CLIPTextTransformer TextModel { get; }

    /// <summary>Loads config.json and model.safetensors from a component folder such as <c>text_encoder_2</c>.</summary>
    public static CLIPTextModelWithProjection FromPretrained(string directory, LoadOptions? options = null) =>
        Load(directory, options, config => new CLIPTextModelWithProjection(config));

    /// <inheritdoc cref="CLIPTextTransformer.Forward"/>
    public CLIPTextModelOutput Forward(Tensor inputIds, Tensor? attentionMask = null, bool outputHiddenStates = false)
    {
        OnForward();
        using var scope = NewDisposeScope();
        var text = TextModel.Forward(inputIds, attentionMask, outputHiddenStates);
        var textEmbeds = _textProjection.forward(text.PooledOutput);
        var hiddenStates = text.HiddenStates?.Select(s => s.MoveToOuterDisposeScope()).ToList();
        return new CLIPTextModelOutput(textEmbeds.MoveToOuterDisposeScope(), text.LastHiddenState.MoveToOuterDisposeScope(), hiddenStates);
    }

    protected override bool IsIgnorableWeight(string name) => name == "text_model.embeddings.position_ids";
}
