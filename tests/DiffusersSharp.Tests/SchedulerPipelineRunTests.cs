using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;

namespace DiffusersSharp.Tests;

/// <summary>Every scheduler and every short name runs end to end in the Stable Diffusion pipeline.</summary>
public class SchedulerPipelineRunTests
{
    public static TheoryData<string> ClassNames() => new(SchedulerFactory.KnownClassNames.Where(c => c != "ScoreSdeVeScheduler" && !c.StartsWith("FlowMatch") && !c.StartsWith("EDM")));

    public static TheoryData<string> AliasNames() => new(SchedulerAliases.All.Where(a => !a.ClassName.StartsWith("FlowMatch")).Select(a => a.Name));

    private static void RunThreeSteps(Action<StableDiffusionPipeline> swap)
    {
        using var pipeline = StableDiffusionPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd"));
        swap(pipeline);
        using var output = pipeline.Generate(new StableDiffusionInput("a red circle") { Height = 64, Width = 64, NumInferenceSteps = 3, Seed = 5 });
        Assert.Equal(new long[] { 1, 64, 64, 3 }, output.Images!.shape);
        Assert.False(output.Images.isnan().any().item<bool>(), "NaN in the image");
        Assert.True(output.Images.min().item<float>() >= 0 && output.Images.max().item<float>() <= 1);
    }

    [Theory]
    [MemberData(nameof(ClassNames))]
    public void EpsilonSchedulerRunsInThePipeline(string className) =>
        RunThreeSteps(p => p.SetScheduler(SchedulerFactory.FromConfig(className, p.Scheduler.Config)));

    [Theory]
    [MemberData(nameof(AliasNames))]
    public void ShortNameRunsInThePipeline(string alias)
    {
        var a = SchedulerAliases.Find(alias)!;
        RunThreeSteps(p =>
        {
            var config = p.Scheduler.Config.Clone();
            foreach (var (key, value) in a.Options) config[key] = value;
            p.SetScheduler(SchedulerFactory.FromConfig(a.ClassName, config));
        });
    }
}
