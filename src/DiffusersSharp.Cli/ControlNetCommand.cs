using System.CommandLine;
using System.Globalization;
using DiffusersSharp.Images;
using DiffusersSharp.Loading;
using DiffusersSharp.Pipelines;
using DiffusersSharp.Pipelines.ControlNet;
using DiffusersSharp.Runtime;
using static TorchSharp.torch;

namespace DiffusersSharp.Cli;

/// <summary><c>diffuse controlnet</c>: text-to-image steered by one or more ControlNets and their control images.</summary>
internal static class ControlNetCommand
{
    public static Command Create()
    {
        var generation = new GenerationOptions("the first control image's, rounded down to a multiple of 8");
        var controlNets = new Option<string[]>("--controlnet")
        {
            Description = "ControlNet folder (config.json + weights). Repeat for several ControlNets; their residuals are summed. " +
                "Optional when --model is a saved ControlNet pipeline.",
            DefaultValueFactory = _ => [],
            AllowMultipleArgumentsPerToken = false,
        };
        var controlImages = new Option<string[]>("--control-image")
        {
            Description = "Control image for the ControlNet in the same position (edges, depth, pose...). One per ControlNet.",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var scales = new Option<double[]>("--control-scale")
        {
            Description = "ControlNet conditioning scale: once for every ControlNet, or once per ControlNet in order.",
            DefaultValueFactory = _ => [1.0],
            AllowMultipleArgumentsPerToken = false,
        };
        var start = new Option<double>("--control-start") { Description = "Fraction of the steps after which the ControlNets start acting, in [0, 1).", DefaultValueFactory = _ => 0.0 };
        var end = new Option<double>("--control-end") { Description = "Fraction of the steps after which the ControlNets stop acting, in (start, 1].", DefaultValueFactory = _ => 1.0 };
        var canny = new Option<string?>("--canny")
        {
            Description = "Turn every control image into a Canny edge map first, with thresholds LOW,HIGH on cv2.Canny's scale (e.g. 100,200).",
        };
        var guessMode = new Option<bool>("--guess-mode") { Description = "ControlNets read the control image's content without relying on the prompt (diffusers' guess_mode); try --guidance 3 to 5." };

        var command = new Command("controlnet", "Generate images from text prompts, steered by ControlNets and control images.");
        generation.AddTo(command);
        foreach (var o in new Option[] { controlNets, controlImages, scales, start, end, canny, guessMode })
            command.Options.Add(o);

        command.SetAction(result => CliErrors.Run(() =>
        {
            NativeRuntime.EnsureLoaded();
            var netDirs = result.GetValue(controlNets)!;
            var imagePaths = result.GetValue(controlImages)!;
            var scaleValues = result.GetValue(scales)!;
            if (netDirs.Length > 0 && imagePaths.Length != netDirs.Length)
                throw new ArgumentException($"Got {netDirs.Length} --controlnet but {imagePaths.Length} --control-image: give one control image per ControlNet, in the same order.");
            if (netDirs.Length > 0 && scaleValues.Length != 1 && scaleValues.Length != netDirs.Length)
                throw new ArgumentException($"Got {scaleValues.Length} --control-scale for {netDirs.Length} --controlnet: give one scale, or one per ControlNet.");
            foreach (var dir in netDirs)
                if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"ControlNet folder not found: {dir}");
            var detector = result.GetValue(canny) is { } thresholds ? new CannyEdgeDetector(ParseCanny(thresholds)) : null;

            // Images load (and fail on a missing file) before the models do.
            var images = new List<Tensor>();
            try
            {
                foreach (var path in imagePaths) images.Add(LoadControlImage(path, detector));
                var input = new StableDiffusionControlNetInput
                {
                    ControlImages = images.Select(image => (IReadOnlyList<Tensor>)[image]).ToArray(),
                    ControlNetConditioningScale = scaleValues,
                    ControlGuidanceStart = [result.GetValue(start)],
                    ControlGuidanceEnd = [result.GetValue(end)],
                    GuessMode = result.GetValue(guessMode),
                };
                return generation.Run(result,
                    (modelDir, options) => netDirs.Length > 0
                        ? StableDiffusionControlNetPipeline.FromPretrained(modelDir, netDirs, options)
                        : OpenControlNetPipeline(modelDir, imagePaths.Length, options),
                    (pipeline, arguments) => pipeline.Generate(arguments.ApplyTo(input with { Width = arguments.Width, Height = arguments.Height })));
            }
            finally
            {
                foreach (var image in images) image.Dispose();
            }
        }));
        return command;
    }

    /// <summary>A saved ControlNet pipeline folder, with as many ControlNets as control images were given.</summary>
    private static StableDiffusionControlNetPipeline OpenControlNetPipeline(string modelDir, int controlImageCount, LoadOptions options)
    {
        var pipeline = DiffusionPipeline.FromPretrained(modelDir, options);
        if (pipeline is StableDiffusionControlNetPipeline controlNet && controlNet.ControlNets.Count == controlImageCount) return controlNet;
        pipeline.Dispose();
        throw new ArgumentException(pipeline is StableDiffusionControlNetPipeline other
            ? $"{modelDir} has {other.ControlNets.Count} ControlNets but got {controlImageCount} --control-image: give one per ControlNet."
            : $"{modelDir} holds a {pipeline.ClassName} without ControlNets: give --controlnet DIR.");
    }

    private static Tensor LoadControlImage(string path, CannyEdgeDetector? detector)
    {
        var image = ImageIO.LoadRgb(path);
        if (detector is null) return image;
        using (image) return detector.Detect(image);
    }

    /// <summary>"LOW,HIGH" with two numbers, 0 ≤ LOW ≤ HIGH.</summary>
    private static CannyEdgeDetectorOptions ParseCanny(string text)
    {
        var parts = text.Split(',');
        if (parts.Length == 2
            && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var low)
            && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var high)
            && double.IsFinite(low) && double.IsFinite(high) && low >= 0 && low <= high)
            return new CannyEdgeDetectorOptions { LowThreshold = low, HighThreshold = high };
        throw new ArgumentException($"--canny expects LOW,HIGH: two numbers with 0 <= LOW <= HIGH (e.g. 100,200), got '{text}'.");
    }
}
