using System.Text.Json.Nodes;
using DiffusersSharp.Images;
using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Schedulers;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests.Support;

/// <summary>Turns a Stable Diffusion (1.x/2.x or XL) pipeline fixture's manifest into a call and checks the call against it.</summary>
public static class PipelineFixture
{
    /// <summary>Builds the Stable Diffusion text-to-image call a fixture manifest describes, scheduler swap included.</summary>
    public static (StableDiffusionPipeline Pipeline, StableDiffusionInput Input) StableDiffusionFromManifest(FixtureCase fixture, LoadOptions? options = null)
    {
        var m = fixture.Manifest;
        var pipeline = StableDiffusionPipeline.FromPretrained(fixture.ModelPath(m["model"]!.GetValue<string>()), options);
        SwapScheduler(fixture, pipeline);
        var call = m["call"]!.AsObject();
        var input = WithCommonArguments(fixture, new StableDiffusionInput
        {
            Height = call["height"]?.GetValue<int>(),
            Width = call["width"]?.GetValue<int>(),
            Latents = TensorArgument(fixture, "latents"),
        });
        return (pipeline, input);
    }

    /// <summary>Swaps the scheduler as the manifest's <c>scheduler.how</c> says (diffusers' <c>X.from_config</c>).</summary>
    public static void SwapScheduler(FixtureCase fixture, DiffusionPipeline pipeline)
    {
        var scheduler = fixture.Manifest["scheduler"]!;
        if (scheduler["how"]!.GetValue<string>() != "model's own scheduler")
            pipeline.SetScheduler(SchedulerFactory.FromConfig(scheduler["class"]!.GetValue<string>(), ModelConfig.Parse(scheduler["config"]!.ToJsonString())));
    }

    /// <summary>Fills the call arguments every Stable Diffusion pipeline shares from the manifest.</summary>
    public static T WithCommonArguments<T>(FixtureCase fixture, T input) where T : StableDiffusionInputBase
    {
        var m = fixture.Manifest;
        var call = m["call"]!.AsObject();
        StableDiffusionInputBase filled = input with
        {
            Prompt = Strings(call["prompt"]),
            NegativePrompt = Strings(call["negative_prompt"]),
            NumInferenceSteps = call["num_inference_steps"]!.GetValue<int>(),
            GuidanceScale = call["guidance_scale"]!.GetValue<double>(),
            NumImagesPerPrompt = call["num_images_per_prompt"]?.GetValue<int>() ?? 1,
            Eta = call["eta"]?.GetValue<double>() ?? 0.0,
            Seed = m["generator"]!["seed"]!.GetValue<long>(),
        };
        return (T)filled;
    }

    /// <summary>A <c>"tensor:NAME"</c> call argument, or null when the manifest has none.</summary>
    public static Tensor? TensorArgument(FixtureCase fixture, string name) =>
        fixture.Manifest["tensor_call_args"]?[name] is { } value ? fixture.Tensor(value.GetValue<string>()["tensor:".Length..]) : null;

    /// <summary>A <c>"png:inputs/X.png"</c> call argument loaded as diffusers' <c>load_image</c> would (RGB, or L for masks).</summary>
    public static Tensor PngArgument(FixtureCase fixture, string name, bool gray = false)
    {
        var path = fixture.ModelPath(fixture.Manifest["call"]![name]!.GetValue<string>()["png:".Length..]);
        return gray ? ImageIO.LoadGray(path) : ImageIO.LoadRgb(path);
    }

    public static IReadOnlyList<string>? Strings(JsonNode? node) => node switch
    {
        null => null,
        JsonArray a => a.Select(x => x!.GetValue<string>()).ToArray(),
        _ => [node.GetValue<string>()],
    };

    /// <summary>
    /// Runs the call twice as the fixture generator did (images, then latents) and checks the latents after every
    /// scheduler step, the images (within 1/255) and the final latents (atol 1e-4 × max(1, |x|)).
    /// </summary>
    /// <param name="generate">Runs the pipeline with a step-end callback (or null) and an output type.</param>
    public static void AssertMatches(FixtureCase fixture, Func<StepEndCallback?, OutputType, PipelineOutput> generate)
    {
        var expectedSteps = fixture.Tensor("step_prev_sample");
        var seen = 0;
        using (var output = generate(args =>
               {
                   TensorAssert.Close(expectedSteps[args.Step], args.Latents, 1e-4, $"latents after step {args.Step}");
                   seen++;
               }, OutputType.Image))
        {
            Assert.Equal(expectedSteps.shape[0], seen);
            TensorAssert.ImagesClose(fixture.Tensor("images"), output.Images!);
        }

        using var latents = generate(null, OutputType.Latent);
        TensorAssert.Close(fixture.Tensor("latents_out"), latents.Latents!, 1e-4, "latents_out");
    }
}
