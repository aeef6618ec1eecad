using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Tests.Support;

namespace DiffusersSharp.Tests;

public class StableDiffusionPipelineTests
{
    public static TheoryData<string> Txt2ImgCases() => new(FixtureCase.List("pipelines", "sd_txt2img_"));

    /// <summary>Builds the pipeline call a fixture manifest describes, scheduler swap included.</summary>
    internal static (StableDiffusionPipeline Pipeline, StableDiffusionInput Input) FromManifest(FixtureCase fixture)
    {
        var m = fixture.Manifest;
        var pipeline = StableDiffusionPipeline.FromPretrained(fixture.ModelPath(m["model"]!.GetValue<string>()));
        PipelineFixture.SwapScheduler(fixture, pipeline);
        var call = m["call"]!.AsObject();
        var input = PipelineFixture.WithCommonArguments(fixture, new StableDiffusionInput
        {
            Height = call["height"]?.GetValue<int>(),
            Width = call["width"]?.GetValue<int>(),
            Latents = PipelineFixture.TensorArgument(fixture, "latents"),
        });
        return (pipeline, input);
    }

    [Theory]
    [MemberData(nameof(Txt2ImgCases))]
    public void MatchesDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var (pipeline, input) = FromManifest(fixture);
        using var _ = pipeline;

        PipelineFixture.AssertMatches(fixture, (callback, outputType) =>
            pipeline.Generate(input with { CallbackOnStepEnd = callback, OutputType = outputType }));
    }
}
