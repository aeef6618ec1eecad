using System.Globalization;
using DiffusersSharp.Pipelines.StableDiffusion;
using static TorchSharp.torch;

namespace DiffusersSharp.TrainDemo;

/// <summary>
/// How many held-out captions a model got right (<see cref="DemoPictureCheck"/>): a shape of the asked colour drawn,
/// the rest the asked background, both; of those, the shape in the asked cell, the asked shape, and all of it.
/// </summary>
/// <param name="MeanColourError">The mean of the pictures' <see cref="DemoPictureSeen.ColourError"/>, over those with one.</param>
/// <param name="Tinted">Pictures whose shape colour is <see cref="DemoPictureSeen.Tinted"/>.</param>
public sealed record DemoScore(int Count, int Colours, int Backgrounds, int ColourOnBackground, int InAskedCell, int AskedShape, int AllRight,
    double MeanColourError, int Tinted)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Count} held-out captions: shape colour drawn {Colours} ({Percent(Colours)}), background {Backgrounds} ({Percent(Backgrounds)}), " +
        $"both {ColourOnBackground} ({Percent(ColourOnBackground)}); of those in the asked cell {InAskedCell} ({Percent(InAskedCell)}), " +
        $"the asked shape {AskedShape} ({Percent(AskedShape)}), colour, background, cell and shape all right {AllRight} ({Percent(AllRight)}); " +
        $"shape colour {MeanColourError:F1} RGB off on average, tinted (over {DemoPictureCheck.TintDistance:F0} off) in {Tinted}");

    private string Percent(int n) => $"{n * 100 / Count} %";
}

/// <summary>
/// Scores a trained demo pipeline the way the model card reports it: full captions of scenes drawn with a data-set
/// seed the training did not use, picture <c>i</c> generated with seed <c>i</c> at the model card's settings.
/// </summary>
public static class DemoEvaluation
{
    public const int HeldOutSeed = 12345;
    public const int Steps = 20;

    /// <summary>The classifier-free guidance scale of the model card's pictures and numbers.</summary>
    public const double GuidanceScale = 2.0;

    public static DemoScore Run(string modelDirectory, int count, Action<string> log, double guidanceScale = GuidanceScale)
    {
        var data = new ShapesDataset(HeldOutSeed, DemoModelConfigs.ImageSize);
        using var pipe = StableDiffusionPipeline.FromPretrained(modelDirectory);
        int colours = 0, backgrounds = 0, both = 0, inCell = 0, askedShape = 0, allRight = 0, tinted = 0;
        var colourErrors = new List<double>();
        for (var i = 0; i < count; i++)
        {
            var scene = data.Scene(i);
            var prompt = scene.Caption();
            using var scope = NewDisposeScope();
            using var result = pipe.Generate(new StableDiffusionInput(prompt) { NumInferenceSteps = Steps, Seed = i, GuidanceScale = guidanceScale });
            var rgb = result.Images![0].mul(255).to(ScalarType.Float32).contiguous().data<float>().ToArray();
            var seen = DemoPictureCheck.Inspect(rgb, DemoModelConfigs.ImageSize, scene.Colour, scene.Background);
            if (seen.DrawsColour) colours++;
            if (seen.ShowsBackground) backgrounds++;
            if (seen.Tinted) tinted++;
            if (!double.IsNaN(seen.ColourError)) colourErrors.Add(seen.ColourError);
            if (seen.ShowsColourOnBackground)
            {
                both++;
                if (seen.Cell == scene.Position) inCell++;
                if (seen.Shape == scene.Shape) askedShape++;
                if (seen.Cell == scene.Position && seen.Shape == scene.Shape) allRight++;
            }
            log(string.Create(CultureInfo.InvariantCulture,
                $"seed {i}: '{prompt}': {seen.ShapePixels} px of {scene.Colour.Name} centred in the {seen.Cell?.Name ?? "-"} cell, " +
                $"shaped like a {seen.Shape?.ToString().ToLowerInvariant() ?? "-"} (IoU {seen.ShapeFit:F2}), {seen.Background:P0} of the rest {scene.Background.Name}, colour {seen.ColourError:F0} off"));
        }
        return new DemoScore(count, colours, backgrounds, both, inCell, askedShape, allRight,
            colourErrors.Count == 0 ? double.NaN : colourErrors.Average(), tinted);
    }
}
