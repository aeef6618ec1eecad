using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.StableDiffusion;
using DiffusersSharp.Schedulers;
using DiffusersSharp.Tests.Support;
using DiffusersSharp.TrainDemo;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>
/// The demo model in <c>models/demo-shapes</c> draws the shape colour, place and background its captions ask for
/// (checked with pixel statistics, not by eye), its folder is a diffusers folder, its data set is what its captions
/// say, and the tool that trained it still runs.
/// </summary>
[Collection(nameof(ConvolutionBackendTests))]
public class DemoModelTests
{
    /// <summary>The shipped model, copied next to the tests from the repository's <c>models/</c>.</summary>
    private static string DemoModel => Path.Combine(AppContext.BaseDirectory, "models", "demo-shapes");

    private static string TinySd => FixtureCase.PathOf("models/tiny-sd");

    /// <summary>
    /// What the model learned, measured as the model card reports it (<see cref="DemoEvaluation"/>: 24 held-out
    /// captions, pixel statistics): a shape of the asked colour on the asked background and in the asked cell of the
    /// 3 × 3 grid in at least 21 of the 24 pictures (the card: 24; chance for the cell alone is 1 in 9), the background
    /// alone in at least 22 (24), and the asked one of the four shapes, with everything else right, in at least 17
    /// (the card: 21; chance 6, and 17 or more by chance has a probability below 1 in 100,000); and the shapes' colours
    /// on average less than <see cref="DemoPictureCheck.TintDistance"/> off the asked ones (the card: 27 RGB).
    /// </summary>
    [Fact]
    public void DrawsTheAskedShapeAndColourInTheAskedPlaceOnTheAskedBackground()
    {
        var log = new List<string>();
        var score = DemoEvaluation.Run(DemoModel, 24, log.Add);
        var detail = $"{score}{Environment.NewLine}{string.Join(Environment.NewLine, log)}";
        Assert.True(score.InAskedCell >= 21, detail);
        Assert.True(score.Backgrounds >= 22, detail);
        Assert.True(score.AllRight >= 17, detail);
        Assert.True(score.MeanColourError < DemoPictureCheck.TintDistance, detail);
    }

    /// <summary>
    /// The shipped sampler starts where the model learned the place: at the training schedule's last timestep, whose
    /// input is pure noise (zero terminal SNR), with the training betas.
    /// </summary>
    [Fact]
    public void ShippedSchedulerStartsAtTheTrainedPureNoiseTimestep()
    {
        using var training = new DDPMScheduler(DemoModelConfigs.TrainingScheduler("v_prediction"));
        Assert.Equal(0.0, ZeroTerminalSnrTests.SqrtAlphasCumprod(training)[999]);

        using var shipped = SchedulerFactory.FromPretrained(Path.Combine(DemoModel, "scheduler"));
        Assert.IsType<DPMSolverMultistepScheduler>(shipped);
        foreach (var key in new[] { "beta_schedule", "beta_start", "beta_end", "num_train_timesteps", "prediction_type", "rescale_betas_zero_snr" })
            Assert.Equal(training.Config[key]?.ToJsonString(), shipped.Config[key]?.ToJsonString());
        shipped.SetTimesteps(DemoEvaluation.Steps);
        Assert.Equal(999.0, shipped.TimestepValues[0]);
    }

    [Fact]
    public void FolderHasDiffusersFilesConfigKeysAndFloat16Weights()
    {
        Assert.Equal(RelativeFiles(TinySd), RelativeFiles(DemoModel));
        foreach (var config in new[] { "model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json", "tokenizer/tokenizer_config.json" })
            Assert.Equal(Keys(Path.Combine(TinySd, config)), Keys(Path.Combine(DemoModel, config)));

        // DPMSolverMultistepScheduler's own keys, as diffusers wrote them for the scheduler fixtures.
        using var fixture = FixtureCase.Load("schedulers/dpmpp-2m_sd_shared");
        var expected = ((JsonObject)fixture.Manifest["scheduler"]!["config"]!).Select(kv => kv.Key)
            .Except(["clip_sample", "set_alpha_to_one", "skip_prk_steps"]).Append("_class_name").Append("_diffusers_version").Order(StringComparer.Ordinal);
        Assert.Equal(expected, Keys(Path.Combine(DemoModel, "scheduler/scheduler_config.json")));

        foreach (var weights in new[] { "unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors" })
        {
            using var file = SafetensorsFile.Open(Path.Combine(DemoModel, weights));
            Assert.All(file.Entries.Values, entry => Assert.Equal(ScalarType.Float16, entry.DType));
        }
    }

    [Fact]
    public void FolderRoundTripsThroughSavePretrained()
    {
        var dir = Directory.CreateTempSubdirectory("ds-demo-").FullName;
        using (var pipe = DiffusionPipeline.FromPretrained(DemoModel, new LoadOptions { DType = ScalarType.Float16 }))
            pipe.SavePretrained(dir);

        Assert.Equal(RelativeFiles(DemoModel), RelativeFiles(dir));
        foreach (var json in RelativeFiles(DemoModel).Where(f => f.EndsWith(".json", StringComparison.Ordinal)))
            Assert.Equal(Keys(Path.Combine(DemoModel, json)), Keys(Path.Combine(dir, json)));
        using var original = SafetensorsFile.Open(Path.Combine(DemoModel, "unet/diffusion_pytorch_model.safetensors"));
        using var saved = SafetensorsFile.Open(Path.Combine(dir, "unet/diffusion_pytorch_model.safetensors"));
        Assert.Equal(original.Entries.Keys.Order(StringComparer.Ordinal), saved.Entries.Keys.Order(StringComparer.Ordinal));
        foreach (var name in original.Entries.Keys)
        {
            using var a = original.Read(name);
            using var b = saved.Read(name);
            Assert.True(a.eq(b).all().item<bool>(), $"unet weight {name} changed in the round trip");
        }
    }

    [Fact]
    public void DataSetIsDeterministicAndDrawsWhatItsCaptionsSay()
    {
        var first = new ShapesDataset(seed: 7);
        var again = new ShapesDataset(seed: 7);
        var other = new ShapesDataset(seed: 8);
        Assert.Equal(first.Render(first.Scene(12)), again.Render(again.Scene(12)));
        Assert.Equal(first.Caption(12, first.Scene(12)), again.Caption(12, again.Scene(12)));
        Assert.NotEqual(Enumerable.Range(0, 20).Select(i => first.Scene(i)), Enumerable.Range(0, 20).Select(i => other.Scene(i)));

        for (var i = 0; i < 50; i++)
        {
            var scene = first.Scene(i);
            var caption = first.Caption(i, scene);
            Assert.Contains($"{scene.Colour.Name} {scene.Shape.ToString().ToLowerInvariant()}", caption);
            Assert.EndsWith($" on a {scene.Background.Name} background", caption);
            Assert.True(caption.Contains($" at the {scene.Position.Name} ") || scene.Position == Placement.Center, caption);
            Assert.NotEqual(scene.Colour, scene.Background);

            // The caption's colour at the shape's centre, the background's in the far corner of the picture.
            var pixels = first.Render(scene);
            Assert.Equal(scene.Colour, NearestAt(pixels, scene.CenterX, scene.CenterY));
            var (cx, cy) = scene.Position.CenterIn(64);
            Assert.Equal(scene.Background, NearestAt(pixels, cx < 32 ? 62 : 1, cy < 32 ? 62 : 1));
            Assert.Equal(scene.Position, Placement.Nearest(scene.CenterX, scene.CenterY, 64));
        }
    }

    /// <summary>The picture check reads the data set's own pictures right: colour (untinted), cell, background and shape.</summary>
    [Fact]
    public void PictureCheckSeesWhatTheDataSetDrew()
    {
        var data = new ShapesDataset(seed: 7);
        for (var i = 0; i < 40; i++)
        {
            var scene = data.Scene(i);
            var chw = data.Render(scene);
            var rgb = new float[64 * 64 * 3];
            for (var p = 0; p < 64 * 64; p++)
                for (var c = 0; c < 3; c++)
                    rgb[p * 3 + c] = (chw[c * 4096 + p] + 1) * 127.5f;
            var seen = DemoPictureCheck.Inspect(rgb, 64, scene.Colour, scene.Background);
            Assert.True(seen.ShowsColourOnBackground, $"{scene}: {seen}");
            Assert.Equal(scene.Position, seen.Cell);
            Assert.True(scene.Shape == seen.Shape, $"{scene}: {seen}");
            Assert.False(seen.Tinted, $"{scene}: {seen}");
        }
    }

    /// <summary>The trainer's options take the two prediction types it trains and refuse others by name.</summary>
    [Fact]
    public void TrainOptionsRefuseAnUnknownPredictionType()
    {
        var options = new TrainOptions { OutputDirectory = "out", CheckpointDirectory = "ck", TokenizerDirectory = "tok" };
        Assert.Equal("v_prediction", options.PredictionType);
        Assert.Equal("epsilon", (options with { PredictionType = "epsilon" }).PredictionType);
        var e = Assert.Throws<ArgumentException>(() => options with { PredictionType = "sample" });
        Assert.Contains("'sample'", e.Message);
    }

    private static DemoColour NearestAt(float[] chw, double x, double y)
    {
        var i = (int)y * 64 + (int)x;
        return DemoColour.Nearest((chw[i] + 1) * 127.5, (chw[4096 + i] + 1) * 127.5, (chw[8192 + i] + 1) * 127.5);
    }

    [Fact]
    public void TrainingToolRunsEndToEndAndResumes()
    {
        var dir = Directory.CreateTempSubdirectory("ds-train-demo-").FullName;
        var options = new TrainOptions
        {
            OutputDirectory = Path.Combine(dir, "model"),
            CheckpointDirectory = Path.Combine(dir, "checkpoints"),
            TokenizerDirectory = Path.Combine(TinySd, "tokenizer"),
            Threads = get_num_threads(),
        }.AsSmoke();
        var log = new List<string>();
        var (vaeLoss, unetLoss) = new DemoTrainer(options, log.Add).Run();
        Assert.True(double.IsFinite(vaeLoss) && vaeLoss > 0, $"vae loss {vaeLoss}");
        Assert.True(double.IsFinite(unetLoss) && unetLoss > 0, $"unet loss {unetLoss}");
        Assert.Equal(RelativeFiles(TinySd), RelativeFiles(options.OutputDirectory));

        using (var pipe = StableDiffusionPipeline.FromPretrained(options.OutputDirectory))
        {
            using var result = pipe.Generate(new StableDiffusionInput("a red circle on a blue background") { NumInferenceSteps = 2, Seed = 0 });
            Assert.Equal(new long[] { 1, 64, 64, 3 }, result.Images!.shape);
            Assert.True(result.Images.isfinite().all().item<bool>());
        }

        // A second run with the same options finds both stages done and only writes the folder again.
        log.Clear();
        var resumed = new DemoTrainer(options, log.Add).Run();
        Assert.Equal((vaeLoss, unetLoss), resumed);
        Assert.Contains(log, line => line.StartsWith("vae: done", StringComparison.Ordinal));
        Assert.Contains(log, line => line.StartsWith("unet: done", StringComparison.Ordinal));
        Assert.Throws<InvalidOperationException>(() => new DemoTrainer(options with { Seed = 1 }, log.Add).Run());
    }

    private static string[] RelativeFiles(string root) =>
        Directory.GetFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Where(f => !f.EndsWith("README.md", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToArray();

    // ModelConfig reads the bare -Infinity that Python's json writes (lambda_min_clipped).
    private static IEnumerable<string> Keys(string jsonPath) =>
        ModelConfig.Load(jsonPath).Keys.Order(StringComparer.Ordinal).ToArray();
}
