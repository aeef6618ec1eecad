using DiffusersSharp.Loading;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>transformers' <c>CLIPTextModel</c>: the CLIP text encoder of SD 1.x/2.x and SDXL's first text encoder.</summary>
public sealed class CLIPTextModel : PreTrainedModel
{
    public CLIPTextModel(ModelConfig config) : base(nameof(CLIPTextModel), config)
    {
        TextConfig = CLIPTextConfig.From(config);
        TextModel = new CLIPTextTransformer(TextConfig);
        register_module("text_model", TextModel);
    }

    public override string ClassName => "CLIPTextModel";

    public CLIPTextConfig TextConfig { get; }

    public CLIPTextTransformer TextModel { get; }

    /// <summary>Loads config.json and model.safetensors from a component folder such as <c>text_encoder</c>.</summary>
    public static CLIPTextModel FromPretrained(string directory, LoadOptions? options = null) =>
        Load(directory, options, config => new CLIPTextModel(config));

    /// <inheritdoc cref="CLIPTextTransformer.Forward"/>
    public CLIPTextOutput Forward(Tensor inputIds, Tensor? attentionMask = null, bool outputHiddenStates = false)
    {
        OnForward();
        return TextModel.Forward(inputIds, attentionMask, outputHiddenStates);
    }

    // Checkpoints saved by older transformers carry the position_ids buffer, which is recomputed here.
    protected override bool IsIgnorableWeight(string name) => name == "text_model.embeddings.position_ids";
}
