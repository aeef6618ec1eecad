using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>Scheduler configs: save/load, swapping classes the diffusers way, and refusing what we do not implement.</summary>
public class SchedulerConfigTests
{
    private static string TinySdScheduler => FixtureCase.PathOf("models/tiny-sd/scheduler");

    [Fact]
    public void SaveConfigRoundTripsThroughFromPretrained()
    {
        var dir = Directory.CreateTempSubdirectory("ds-sched-").FullName;
        try
        {
            using var original = SchedulerFactory.FromConfig("DPMSolverMultistepScheduler", ModelConfig.Parse("""{"use_karras_sigmas": true}"""));
            original.SaveConfig(dir);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "scheduler_config.json"))!
                .Replace("-Infinity", "\"-Infinity\""))!.AsObject();
            Assert.Equal("DPMSolverMultistepScheduler", json["_class_name"]!.GetValue<string>());
            Assert.Equal(SchedulerMixin.DiffusersVersion, json["_diffusers_version"]!.GetValue<string>());
            Assert.False(json.ContainsKey("_use_default_values"));

            using var loaded = SchedulerFactory.FromPretrained(dir);
            Assert.IsType<DPMSolverMultistepScheduler>(loaded);
            Assert.True(loaded.Config.GetBool("use_karras_sigmas", false));
            Assert.Equal(double.NegativeInfinity, loaded.Config.GetDouble("lambda_min_clipped", 0));
            foreach (var key in original.Config.Keys.Where(k => !k.StartsWith('_')))
                Assert.True(JsonNode.DeepEquals(original.Config[key], loaded.Config[key]), key);

            original.SetTimesteps(10);
            loaded.SetTimesteps(10);
            TensorAssert.Equal(original.Timesteps, loaded.Timesteps);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void FromPretrainedReadsTheClassFromTheConfig()
    {
        using var scheduler = SchedulerFactory.FromPretrained(TinySdScheduler);
        Assert.IsType<PNDMScheduler>(scheduler);
        Assert.Equal("PNDMScheduler", scheduler.ClassName);
        Assert.Equal(1, scheduler.Config.GetInt("steps_offset", 0));
    }

    [Fact]
    public void SwappingKeepsTheModelsKeysAsDiffusersDoes()
    {
        // README pitfall: SD 1.5's PNDM config carries timestep_spacing "leading" and steps_offset 1 into DPM-Solver.
        using var pndm = SchedulerFactory.FromPretrained(TinySdScheduler);
        using var dpm = SchedulerFactory.FromConfig("DPMSolverMultistepScheduler", pndm.Config);
        Assert.Equal("leading", dpm.Config.GetString("timestep_spacing", ""));
        Assert.Equal(1, dpm.Config.GetInt("steps_offset", 0));
        Assert.Equal(2, dpm.Config.GetInt("solver_order", 0));
        Assert.Equal("DPMSolverMultistepScheduler", dpm.Config.ClassName);
        // A key only PNDM uses stays in the config, unused.
        Assert.True(dpm.Config.GetBool("skip_prk_steps", false));

        // The whole resolved config and the schedule equal what diffusers made for the pipeline fixture.
        var manifest = JsonNode.Parse(File.ReadAllText(FixtureCase.PathOf("pipelines/sd_txt2img_dpmpp2m_neg_seed1.json")))!;
        foreach (var (key, value) in manifest["scheduler"]!["config"]!.AsObject())
            Assert.True(JsonNode.DeepEquals(value, dpm.Config[key]), $"{key}: expected {value?.ToJsonString()}, got {dpm.Config[key]?.ToJsonString()}");
        dpm.SetTimesteps(10);
        Assert.Equal(manifest["scheduler_timesteps_after_call"]!.AsArray().Select(v => v!.GetValue<long>()), dpm.Timesteps.data<long>().ToArray());
    }

    [Fact]
    public void DdpmSwappedInFromADpmSolverConfigSamplesWithThePosteriorVariance()
    {
        // A DPM-Solver config as diffusers saves it (the demo model's) has "variance_type": null, which from_config hands
        // to DDPMScheduler; diffusers then samples with fixed_small's variance.
        using var dpm = SchedulerFactory.FromPretrained(Path.Combine(AppContext.BaseDirectory, "models", "demo-shapes", "scheduler"));
        Assert.True(dpm.Config.Keys.Contains("variance_type"));
        Assert.Null(dpm.Config.GetNullableString("variance_type"));
        using var scope = NewDisposeScope();
        var viaNull = FirstDdpmStep(dpm.Config);
        var viaFixedSmall = FirstDdpmStep(dpm.Config, "fixed_small");
        var viaFixedLarge = FirstDdpmStep(dpm.Config, "fixed_large");
        TensorAssert.Equal(viaFixedSmall, viaNull);
        Assert.False(viaNull.allclose(viaFixedLarge), "the variance type should change the step");
    }

    /// <summary>The first step of a DDPMScheduler made from <paramref name="config"/> (with <paramref name="varianceType"/> if given), from seed 7.</summary>
    private static Tensor FirstDdpmStep(ModelConfig config, string? varianceType = null)
    {
        var swapped = config.Clone();
        if (varianceType is not null) swapped["variance_type"] = varianceType;
        using var ddpm = SchedulerFactory.FromConfig("DDPMScheduler", swapped);
        Assert.Equal(varianceType, ddpm.Config.GetNullableString("variance_type"));
        ddpm.SetTimesteps(4);
        using var generator = new Generator(7, CPU);
        return ddpm.Step(full(1, 4, 2, 2, 0.5f), ddpm.TimestepAt(0), ones(1, 4, 2, 2), generator).PrevSample;
    }

    [Fact]
    public void SwappingDropsKeysTheOtherSchedulerOnlyHadAsDefaults()
    {
        // DPM-Solver's default spacing is "linspace"; DDIM's own default ("leading") applies when it was not chosen.
        using var dpm = new DPMSolverMultistepScheduler();
        using var ddim = SchedulerFactory.FromConfig("DDIMScheduler", dpm.Config);
        Assert.Equal("leading", ddim.Config.GetString("timestep_spacing", ""));

        using var chosen = new DPMSolverMultistepScheduler(ModelConfig.Parse("""{"timestep_spacing": "trailing"}"""));
        using var ddim2 = SchedulerFactory.FromConfig("DDIMScheduler", chosen.Config);
        Assert.Equal("trailing", ddim2.Config.GetString("timestep_spacing", ""));
    }

    [Fact]
    public void UnknownClassNameListsTheKnownOnes()
    {
        var e = Assert.Throws<NotSupportedException>(() => SchedulerFactory.FromConfig("NoSuchScheduler", new ModelConfig()));
        Assert.Contains("NoSuchScheduler", e.Message);
        foreach (var name in SchedulerFactory.KnownClassNames) Assert.Contains(name, e.Message);
    }

    [Theory]
    [InlineData("EulerDiscreteScheduler", "prediction_type", "\"x0\"")]
    [InlineData("DDIMScheduler", "timestep_spacing", "\"quadratic\"")]
    [InlineData("PNDMScheduler", "beta_schedule", "\"cubic\"")]
    [InlineData("DPMSolverMultistepScheduler", "algorithm_type", "\"dpmsolver+++\"")]
    public void UnsupportedOptionIsRefusedByName(string className, string key, string value)
    {
        var config = ModelConfig.Parse($$"""{"{{key}}": {{value}}}""");
        var e = Assert.Throws<NotSupportedException>(() => SchedulerFactory.FromConfig(className, config));
        Assert.Contains(key, e.Message);
        Assert.Contains(value.Trim('"'), e.Message);
    }

    public static TheoryData<string> ClassNames() => new(SchedulerFactory.KnownClassNames);

    [Theory]
    [MemberData(nameof(ClassNames))]
    public void NonPositiveStepCountIsRefused(string className)
    {
        using var scheduler = SchedulerFactory.FromConfig(className, new ModelConfig());
        foreach (var n in new[] { 0, -3 })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.SetTimesteps(n));
            Assert.Contains("num_inference_steps", e.Message);
        }
    }

    [Fact]
    public void BeginIndexPicksTheSigmaForAddNoise()
    {
        // img2img: after set_begin_index, add_noise uses the begin index's sigma whatever the timestep value.
        using var euler = new EulerDiscreteScheduler();
        euler.SetTimesteps(10);
        euler.SetBeginIndex(3);
        using var x0 = zeros(1, 1, 2, 2);
        using var noise = ones(1, 1, 2, 2);
        using var t = euler.Timesteps[3..4];
        using var noisy = euler.AddNoise(x0, noise, t);
        using var sigma = euler.Sigmas![3];
        Assert.Equal(sigma.item<float>(), noisy[0, 0, 0, 0].item<float>());
    }
}

/// <summary>The scheduler of every pipeline fixture: built the way the pipeline case built it, same config and schedule.</summary>
public class PipelineSchedulerTests
{
    public static TheoryData<string> Cases() => new(FixtureCase.List("pipelines"));

    [Theory]
    [MemberData(nameof(Cases))]
    public void SchedulerConfigAndTimestepsMatchThePipelineCase(string caseName)
    {
        var manifest = JsonNode.Parse(File.ReadAllText(FixtureCase.PathOf(caseName + ".json")))!;
        var spec = manifest["scheduler"]!;
        var className = spec["class"]!.GetValue<string>();
        var modelScheduler = FixtureCase.PathOf(manifest["model"]!.GetValue<string>() + "/scheduler");
        SchedulerMixin scheduler;
        if (File.Exists(Path.Combine(modelScheduler, "scheduler_config.json")))
        {
            // As the pipeline did: the model's own scheduler, or X.from_config(model scheduler config).
            using var own = SchedulerFactory.FromPretrained(modelScheduler);
            scheduler = own.ClassName == className ? SchedulerFactory.FromPretrained(modelScheduler) : SchedulerFactory.FromConfig(className, own.Config);
            foreach (var (key, value) in spec["config"]!.AsObject())
                Assert.True(JsonNode.DeepEquals(value, scheduler.Config[key]), $"{key}: expected {value?.ToJsonString()}, got {scheduler.Config[key]?.ToJsonString()}");
        }
        else
        {
            // Model folder not in this checkout: the resolved config recorded in the case.
            scheduler = SchedulerFactory.FromConfig(className, ModelConfig.Parse(spec["config"]!.ToJsonString()));
        }
        using (scheduler)
        {
            scheduler.SetTimesteps(manifest["call"]!["num_inference_steps"]!.GetValue<int>());
            var expected = manifest["scheduler_timesteps_after_call"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            Assert.Equal(expected, scheduler.Timesteps.to(ScalarType.Float64).data<double>().ToArray());
        }
    }
}
