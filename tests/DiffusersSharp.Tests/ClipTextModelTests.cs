using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

public class ClipTextModelTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases => new()
    {
        "components/tiny-sd_text_encoder_shared",
        "components/tiny-sd_text_encoder_unpadded",
        "components/tiny-sdxl_text_encoder_shared",
        "components/tiny-sdxl_text_encoder_2_shared",
    };

    /// <summary>Runs either CLIP class on ids; the pooled entry is pooler_output or text_embeds as the class returns.</summary>
    private static (Tensor Last, Tensor Pooled, IReadOnlyList<Tensor> Hidden, IDisposable Output) Run(ModelMixin model, Tensor ids, Tensor? mask = null)
    {
        switch (model)
        {
            case CLIPTextModelWithProjection projected:
                var p = projected.Forward(ids, mask, outputHiddenStates: true);
                return (p.LastHiddenState, p.TextEmbeds, p.HiddenStates!, p);
            case CLIPTextModel plain:
                var o = plain.Forward(ids, mask, outputHiddenStates: true);
                return (o.LastHiddenState, o.PooledOutput, o.HiddenStates!, o);
            default:
                throw new ArgumentException(model.GetType().Name);
        }
    }

    private static ModelMixin Load(string className, string directory) => className switch
    {
        "CLIPTextModel" => CLIPTextModel.FromPretrained(directory),
        "CLIPTextModelWithProjection" => CLIPTextModelWithProjection.FromPretrained(directory),
        _ => throw new ArgumentException(className),
    };

    private void Check(FixtureCase fixture, string name, Tensor actual)
    {
        var expected = fixture.Tensor(name);
        using (var diff = (actual - expected).abs().max())
            output.WriteLine($"{fixture.Name} {name}: max |diff| {diff.item<float>():G3}");
        TensorAssert.Close(expected, actual, what: $"{fixture.Name} {name}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardMatchesTransformers(string name)
    {
        using var fixture = FixtureCase.Load(name);
        using var _ = no_grad();
        var className = fixture.Manifest["class"]!.GetValue<string>();
        using var model = Load(className, fixture.ModelPath(fixture.Manifest["model"]!.GetValue<string>()));
        Assert.Equal(className, model.ClassName);
        var (last, pooled, hidden, result) = Run(model, fixture.Tensor("input_ids"));
        using (result)
        {
            Check(fixture, "last_hidden_state", last);
            Check(fixture, className == "CLIPTextModel" ? "pooler_output" : "text_embeds", pooled);
            var expectedHidden = fixture.Tensor("hidden_states");
            Assert.Equal(expectedHidden.shape[0], hidden.Count);
            for (var i = 0; i < hidden.Count; i++)
                TensorAssert.Close(expectedHidden[i], hidden[i], what: $"{fixture.Name} hidden_states[{i}]");
            using (var diff = (stack(hidden) - expectedHidden).abs().max())
                output.WriteLine($"{fixture.Name} hidden_states: max |diff| {diff.item<float>():G3}");
            if (fixture.Has("hidden_states_penultimate"))
                Check(fixture, "hidden_states_penultimate", hidden[^2]);
        }
    }

    [Fact]
    public void PaddingMaskLeavesTheRealTokensAsTheCausalMaskHasThem()
    {
        using var fixture = FixtureCase.Load("components/tiny-sd_text_encoder_shared");
        using var _ = no_grad();
        using var model = CLIPTextModel.FromPretrained(fixture.ModelPath("models/tiny-sd/text_encoder"));
        var ids = fixture.Tensor("input_ids");
        // The mask transformers' tokenizer returns: 1 up to and including the first <|endoftext|>.
        using var eos = ids.eq(49407).to(ScalarType.Int32).argmax(-1);
        using var mask = arange(ids.shape[1]).unsqueeze(0).le(eos.unsqueeze(1)).to(ScalarType.Int64);
        using var masked = model.Forward(ids, mask);
        // Padding follows the real tokens, so under the causal mask no real token attended to it anyway.
        TensorAssert.Close(fixture.Tensor("pooler_output"), masked.PooledOutput, what: "pooled with padding mask");
        var realLength = eos[0].item<long>() + 1;
        TensorAssert.Close(fixture.Tensor("last_hidden_state")[0, ..(int)realLength], masked.LastHiddenState[0, ..(int)realLength], what: "real tokens with padding mask");
        using var ones = ones_like(ids);
        using var unmasked = model.Forward(ids, ones);
        TensorAssert.Close(fixture.Tensor("last_hidden_state"), unmasked.LastHiddenState, what: "all-ones mask");
    }

    [Theory]
    [InlineData("CLIPTextModel", "models/tiny-sd/text_encoder")]
    [InlineData("CLIPTextModelWithProjection", "models/tiny-sdxl/text_encoder_2")]
    public void SavePretrainedRoundTripsInTransformersLayout(string className, string modelPath)
    {
        using var fixture = FixtureCase.Load("components/tiny-sdxl_text_encoder_2_shared");
        using var _ = no_grad();
        var dir = Directory.CreateTempSubdirectory("ds-clip-save-").FullName;
        try
        {
            using var model = Load(className, FixtureCase.PathOf(modelPath));
            model.SavePretrained(dir);
            Assert.True(File.Exists(Path.Combine(dir, "model.safetensors")));
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
            Assert.Equal(className, config["architectures"]![0]!.GetValue<string>());
            Assert.False(config.ContainsKey("_class_name"));
            Assert.Equal("clip_text_model", config["model_type"]!.GetValue<string>());
            Assert.Equal("float32", config["torch_dtype"]!.GetValue<string>());

            using var reloaded = Load(className, dir);
            var ids = fixture.Tensor("input_ids");
            var (last, pooled, hidden, result) = Run(model, ids);
            var (last2, pooled2, hidden2, result2) = Run(reloaded, ids);
            using (result)
            using (result2)
            {
                TensorAssert.Equal(last, last2, "last_hidden_state after reload");
                TensorAssert.Equal(pooled, pooled2, "pooled after reload");
                TensorAssert.Equal(hidden[^2], hidden2[^2], "penultimate hidden state after reload");
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void LegacyPositionIdsInTheCheckpointAreIgnored()
    {
        using var fixture = FixtureCase.Load("components/tiny-sd_text_encoder_unpadded");
        using var _ = no_grad();
        var source = FixtureCase.PathOf("models/tiny-sd/text_encoder");
        var dir = Directory.CreateTempSubdirectory("ds-clip-posids-").FullName;
        try
        {
            File.Copy(Path.Combine(source, "config.json"), Path.Combine(dir, "config.json"));
            using (var file = SafetensorsFile.Open(Path.Combine(source, "model.safetensors")))
            {
                var tensors = file.ReadAll();
                tensors["text_model.embeddings.position_ids"] = arange(77L).unsqueeze(0);
                SafetensorsFile.Write(Path.Combine(dir, "model.safetensors"), tensors);
                foreach (var t in tensors.Values) t.Dispose();
            }
            using var model = CLIPTextModel.FromPretrained(dir);
            using var result = model.Forward(fixture.Tensor("input_ids"));
            TensorAssert.Close(fixture.Tensor("last_hidden_state"), result.LastHiddenState, what: "last_hidden_state");
            Assert.Null(result.HiddenStates);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void NewerConfigsPoolAtTheFirstEosTokenId()
    {
        using var fixture = FixtureCase.Load("components/tiny-sd_text_encoder_shared");
        using var _ = no_grad();
        var source = FixtureCase.PathOf("models/tiny-sd/text_encoder");
        var dir = Directory.CreateTempSubdirectory("ds-clip-eos-").FullName;
        try
        {
            // Any eos_token_id but the legacy 2 pools at its first occurrence; 320 ("a") is early in both prompts,
            // far from argmax(ids), so the two rules give different rows.
            const long eos = 320;
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
            config["eos_token_id"] = eos;
            File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
            File.Copy(Path.Combine(source, "model.safetensors"), Path.Combine(dir, "model.safetensors"));
            using var model = CLIPTextModel.FromPretrained(dir);
            var ids = fixture.Tensor("input_ids");
            using var result = model.Forward(ids);
            for (var b = 0; b < ids.shape[0]; b++)
            {
                var row = ids[b].data<long>().ToArray();
                var position = Array.IndexOf(row, eos);
                Assert.NotEqual(Array.IndexOf(row, row.Max()), position);
                TensorAssert.Equal(result.LastHiddenState[b, position], result.PooledOutput[b], $"pooled row {b}");
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void UnknownActivationIsNamed()
    {
        var dir = Directory.CreateTempSubdirectory("ds-clip-act-").FullName;
        try
        {
            var config = JsonNode.Parse(File.ReadAllText(FixtureCase.PathOf("models/tiny-sd/text_encoder/config.json")))!.AsObject();
            config["hidden_act"] = "swiglu";
            File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
            var e = Assert.Throws<NotSupportedException>(() => CLIPTextModel.FromPretrained(dir));
            Assert.Contains("'swiglu'", e.Message);
            Assert.Contains("hidden_act", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void TooLongInputIsRefused()
    {
        using var _ = no_grad();
        using var model = CLIPTextModel.FromPretrained(FixtureCase.PathOf("models/tiny-sd/text_encoder"));
        using var ids = zeros(1, 78, ScalarType.Int64);
        var e = Assert.Throws<ArgumentException>(() => model.Forward(ids));
        Assert.Contains("max_position_embeddings", e.Message);
    }
}
