using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Tests.Support;

namespace DiffusersSharp.Tests;

public class StableDiffusionPipelineTests
{
    public static TheoryData<string> Txt2ImgCases() => new(FixtureCase.List("pipelines", "sd_txt2img_"));

    [Theory]
    [MemberData(nameof(Txt2ImgCases))]
    public void MatchesDiffusers(string caseName)
    {
        using var fixture = FixtureCase.Load(caseName);
        var (pipeline, input) = PipelineFixture.StableDiffusionFromManifest(fixture);
        using var _ = pipeline;

        PipelineFixture.AssertMatches(fixture, (callback, outputType) =>
            pipeline.Generate(input with { CallbackOnStepEnd = callback, OutputType = outputType }));
    }
}
