using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusionXL;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

public class SdxlPipelineTests
{
    public static TheoryData<string> Txt2ImgCases() => new(FixtureCase.List("pipelines", "sdxl_txt2img_"));

    internal static string TinySdxl => FixtureCase.PathOf("models/tiny-sdxl");

    /// <summary>Builds the pipeline call a fixture manifest describes, scheduler swap included.</summary>
    internal static (StableDiffusionXLPipeline Pipeline, StableDiffusionXLInput Input) FromManifest(FixtureCase fixture)
    {
        var m = fixture.Manifest;
        var pipeline = StableDiffusionXLPipeline.FromPretrained(fixture.ModelPath(m["model"]!.GetValue<string>()));
        var scheduler = m["scheduler"]!;
        if (scheduler["how"]!.GetValue<string>() != "model's own scheduler")
            pipeline.SetScheduler(SchedulerFactory.FromConfig(scheduler["class"]!.GetValue<string>(), ModelConfig.Parse(scheduler["config"]!.ToJsonString())));

        var call = m["call"]!.AsObject();
        var input = new StableDiffusionXLInput
        {
            Prompt = Strings(call["prompt"]),
            Prompt2 = Strings(call["prompt_2"]),
            NegativePrompt = Strings(call["negative_prompt"]),
            NegativePrompt2 = Strings(call["negative_prompt_2"]),
            Height = call["height"]?.GetValue<int>(),
            Width = call["width"]?.GetValue<int>(),
            NumInferenceSteps = call["num_inference_steps"]!.GetValue<int>(),
            GuidanceScale = call["guidance_scale"]!.GetValue<double>(),
            NumImagesPerPrompt = call["num_images_per_prompt"]?.GetValue<int>() ?? 1,
            Seed = m["generator"]!["seed"]!.GetValue<long>(),
            Latents = m["tensor_call_args"]?["latents"] is { } latents ? fixture.Tensor(latents.GetValue<string>()["tensor:".Length..]) : null,
        };
        return (pipeline, input);
    }

    private static IReadOnlyList<string>? Strings(JsonNode? node) => node switch
    {
        null => null,
        JsonArray a => a.Select(x => x!.GetValue<string>()).ToArray(),
        _ => [node.GetValue<string>()],
    };

    [Theory]
    [MemberData(nameof(Txt2ImgCases))]
    public void MatchesDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var (pipeline, input) = FromManifest(fixture);
        using var _ = pipeline;

        var expectedSteps = fixture.Tensor("step_prev_sample");
        var expectedTimesteps = fixture.Tensor("step_timesteps");
        var seen = 0;
        using var output = pipeline.Generate(input with
        {
            CallbackOnStepEnd = args =>
            {
                Assert.Equal(expectedTimesteps[args.Step].item<double>(), args.Timestep.to(ScalarType.Float64).item<double>());
                TensorAssert.Close(expectedSteps[args.Step], args.Latents, 1e-4, $"latents after step {args.Step}");
                seen++;
            },
        });
        Assert.Equal(expectedSteps.shape[0], seen);
        TensorAssert.ImagesClose(fixture.Tensor("images"), output.Images!);

        using var latents = pipeline.Generate(input with { OutputType = OutputType.Latent });
        TensorAssert.Close(fixture.Tensor("latents_out"), latents.Latents!, 1e-4, "latents_out");
    }

    /// <summary>The UNet's first-call conditioning diffusers recorded: CFG batch [uncond; cond] of embeddings, pooled embeddings and time ids.</summary>
    [Theory]
    [MemberData(nameof(Txt2ImgCases))]
    public void EncodesPromptAndTimeIdsAsDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var (pipeline, input) = FromManifest(fixture);
        using var _ = pipeline;
        using var scope = NewDisposeScope();
        var doCfg = input.GuidanceScale > 1;

        using var embeds = pipeline.EncodePrompt(input, doCfg);
        var hidden = doCfg ? cat([embeds.NegativePromptEmbeds!, embeds.PromptEmbeds]) : embeds.PromptEmbeds;
        var pooled = doCfg ? cat([embeds.NegativePooledPromptEmbeds!, embeds.PooledPromptEmbeds]) : embeds.PooledPromptEmbeds;
        TensorAssert.Close(fixture.Tensor("unet_encoder_hidden_states"), hidden, 1e-5, "encoder_hidden_states");
        TensorAssert.Close(fixture.Tensor("unet_added_cond_kwargs_text_embeds"), pooled, 1e-5, "text_embeds");

        var size = (input.Height!.Value, input.Width!.Value);
        var timeIds = pipeline.GetAddTimeIds(size, (0, 0), size, ScalarType.Float32);
        TensorAssert.Equal(fixture.Tensor("unet_added_cond_kwargs_time_ids"), timeIds.repeat(doCfg ? 2 : 1, 1), "time_ids");
    }
}
