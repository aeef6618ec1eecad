using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Runtime;
using static TorchSharp.torch;

namespace DiffusersSharp.Models;

/// <summary>
/// A transformers model (<c>PreTrainedModel</c>): weights in <c>model.safetensors</c>, and a config.json that names its
/// class under <c>architectures</c> and carries <c>transformers_version</c> and <c>torch_dtype</c> instead of diffusers'
/// <c>_class_name</c>, so that transformers' <c>from_pretrained</c> reads a folder we saved.
/// </summary>
public abstract class PreTrainedModel : ModelMixin
{
    protected PreTrainedModel(string name, ModelConfig config) : base(name, config) { }

    public override string WeightsName => "model";

    protected override ModelConfig ConfigToSave()
    {
        var config = Config.Clone();
        config["architectures"] = new JsonArray(ClassName);
        config["torch_dtype"] = DTypeNames.Name(DType);
        config.SetDefault("transformers_version", "4.42.0");
        return config;
    }
}
