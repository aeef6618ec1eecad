using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>Folders we save are diffusers folders: same layout, and they load back to the same pictures.</summary>
public class PipelineSaveLoadTests
{
    private static string TinySd => FixtureCase.PathOf("models/tiny-sd");

    private static StableDiffusionInput Input => new("A painting of a squirrel eating a burger") { Height = 64, Width = 64, NumInferenceSteps = 3, Seed = 0 };

    [Fact]
    public void SavedPipelineHasDiffusersLayoutAndGivesTheSamePicture()
    {
        var dir = Directory.CreateTempSubdirectory("ds-save-").FullName;
        using var original = StableDiffusionPipeline.FromPretrained(TinySd);
        original.SavePretrained(dir);

        foreach (var file in new[]
                 {
                     "model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json", "text_encoder/model.safetensors",
                     "tokenizer/vocab.json", "tokenizer/merges.txt", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                     "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
                 })
            Assert.True(File.Exists(Path.Combine(dir, file)), $"{file} is missing from the saved folder");

        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "model_index.json")))!;
        Assert.Equal("StableDiffusionPipeline", index["_class_name"]!.GetValue<string>());
        Assert.Equal("transformers", index["text_encoder"]![0]!.GetValue<string>());
        Assert.Equal("UNet2DConditionModel", index["unet"]![1]!.GetValue<string>());
        Assert.Equal("PNDMScheduler", index["scheduler"]![1]!.GetValue<string>());

        using var reloaded = DiffusionPipeline.FromPretrained(dir);
        var sd = Assert.IsType<StableDiffusionPipeline>(reloaded);
        using var a = original.Generate(Input);
        using var b = sd.Generate(Input);
        TensorAssert.Equal(a.Images!, b.Images!, "images after save and reload");
    }

    [Fact]
    public void Float16VariantSavesNextToTheFullWeightsAndLoadsByName()
    {
        var dir = Directory.CreateTempSubdirectory("ds-variant-").FullName;
        using (var unet = UNet2DConditionModel.FromPretrained(Path.Combine(TinySd, "unet"), new LoadOptions { DType = ScalarType.Float16 }))
            unet.SavePretrained(dir, variant: "fp16");
        Assert.True(File.Exists(Path.Combine(dir, "diffusion_pytorch_model.fp16.safetensors")));
        using var file = SafetensorsFile.Open(Path.Combine(dir, "diffusion_pytorch_model.fp16.safetensors"));
        Assert.All(file.Entries.Values, e => Assert.Equal(ScalarType.Float16, e.DType));

        var e = Assert.Throws<FileNotFoundException>(() => UNet2DConditionModel.FromPretrained(dir));
        Assert.Contains("diffusion_pytorch_model.safetensors", e.Message);
        using var loaded = UNet2DConditionModel.FromPretrained(dir, new LoadOptions { Variant = "fp16" });
        Assert.Equal(ScalarType.Float32, loaded.DType);
        using var full = UNet2DConditionModel.FromPretrained(Path.Combine(TinySd, "unet"));
        var name = full.state_dict().Keys.First(k => k.EndsWith("conv_in.weight"));
        TensorAssert.CloseAbsolute(full.state_dict()[name], loaded.state_dict()[name], 1e-3, name);
    }

    [Fact]
    public void ShardedCheckpointLoadsThroughItsIndex()
    {
        var dir = Directory.CreateTempSubdirectory("ds-shards-").FullName;
        var source = Path.Combine(TinySd, "unet");
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(dir, "config.json"));
        using var whole = SafetensorsFile.Open(Path.Combine(source, "diffusion_pytorch_model.safetensors"));
        var names = whole.Entries.Keys.Order(StringComparer.Ordinal).ToList();
        var half = names.Count / 2;
        var map = new JsonObject();
        foreach (var (part, shardNames) in new[] { (1, names.Take(half)), (2, names.Skip(half)) })
        {
            var shard = $"diffusion_pytorch_model-0000{part}-of-00002.safetensors";
            var tensors = shardNames.Select(n => new KeyValuePair<string, Tensor>(n, whole.Read(n))).ToList();
            SafetensorsFile.Write(Path.Combine(dir, shard), tensors);
            foreach (var (n, t) in tensors)
            {
                map[n] = shard;
                t.Dispose();
            }
        }
        File.WriteAllText(Path.Combine(dir, "diffusion_pytorch_model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());

        using var sharded = UNet2DConditionModel.FromPretrained(dir);
        using var single = UNet2DConditionModel.FromPretrained(source);
        foreach (var (key, value) in single.state_dict())
            TensorAssert.Equal(value, sharded.state_dict()[key], key);
    }
}
