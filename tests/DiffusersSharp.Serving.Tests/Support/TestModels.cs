namespace DiffusersSharp.Serving.Tests.Support;

/// <summary>The tiny fixture models, copied next to the tests as a models folder.</summary>
internal static class TestModels
{
    public static string Directory { get; } = Path.Combine(AppContext.BaseDirectory, "models");

    public static ServingOptions Options(IServingMetrics? metrics = null) => new()
    {
        ModelsDirectory = Directory,
        DefaultModel = "tiny-sd",
        Metrics = metrics ?? new RecordingMetrics(),
    };

    /// <summary>A small, fast text-to-image request.</summary>
    public static GenerationRequest TextToImage(string prompt = "a red circle", long? seed = 1, int steps = 2) => new()
    {
        Prompt = prompt,
        NumInferenceSteps = steps,
        Width = 32,
        Height = 32,
        Seed = seed,
        Scheduler = "euler",
    };
}
