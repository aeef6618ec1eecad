using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

public class StableDiffusionPipelineTests
{
    public static TheoryData<string> Txt2ImgCases() => new(FixtureCase.List("pipelines", "sd_txt2img_"));

    /// <summary>Builds the pipeline call a fixture manifest describes, scheduler swap included.</summary>
    internal static (StableDiffusionPipeline Pipeline, StableDiffusionInput Input) FromManifest(FixtureCase fixture)
    {
        var m = fixture.Manifest;
        var pipeline = StableDiffusionPipeline.FromPretrained(fixture.ModelPath(m["model"]!.GetValue<string>()));
        var scheduler = m["scheduler"]!;
        if (scheduler["how"]!.GetValue<string>() != "model's own scheduler")
            pipeline.SetScheduler(SchedulerFactory.FromConfig(scheduler["class"]!.GetValue<string>(), ModelConfig.Parse(scheduler["config"]!.ToJsonString())));

        var call = m["call"]!.AsObject();
        var input = new StableDiffusionInput
        {
            Prompt = Strings(call["prompt"]),
            NegativePrompt = Strings(call["negative_prompt"]),
            Height = call["height"]?.GetValue<int>(),
            Width = call["width"]?.GetValue<int>(),
            NumInferenceSteps = call["num_inference_steps"]!.GetValue<int>(),
            GuidanceScale = call["guidance_scale"]!.GetValue<double>(),
            NumImagesPerPrompt = call["num_images_per_prompt"]?.GetValue<int>() ?? 1,
            Eta = call["eta"]?.GetValue<double>() ?? 0.0,
            Seed = m["generator"]!["seed"]!.GetValue<long>(),
            Latents = m["tensor_call_args"]?["latents"] is { } latents ? fixture.Tensor(latents.GetValue<string>()["tensor:".Length..]) : null,
        };
        return (pipeline, input);
    }

    internal static IReadOnlyList<string>? Strings(JsonNode? node) => node switch
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
        var seen = 0;
        using var output = pipeline.Generate(input with
        {
            CallbackOnStepEnd = args =>
            {
                TensorAssert.Close(expectedSteps[args.Step], args.Latents, 1e-4, $"latents after step {args.Step}");
                seen++;
            },
        });
        Assert.Equal(expectedSteps.shape[0], seen);
        TensorAssert.ImagesClose(fixture.Tensor("images"), output.Images!);

        using var latents = pipeline.Generate(input with { OutputType = OutputType.Latent });
        TensorAssert.Close(fixture.Tensor("latents_out"), latents.Latents!, 1e-4, "latents_out");
    }
}
