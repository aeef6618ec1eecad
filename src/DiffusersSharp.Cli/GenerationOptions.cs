using System.CommandLine;
using static TorchSharp.torch;

namespace DiffusersSharp.Cli;

/// <summary>The prompt, sampling and output options that every image-generating command shares.</summary>
internal sealed class GenerationOptions
{
    /// <param name="defaultSize">Where the image size comes from when --width/--height are omitted, for the help text.</param>
    public GenerationOptions(string defaultSize)
    {
        Width = new("--width", "-W") { Description = $"Image width in pixels, a multiple of 8 (default: {defaultSize})." };
        Height = new("--height", "-H") { Description = $"Image height in pixels, a multiple of 8 (default: {defaultSize})." };
    }

    public Option<string[]> Prompt { get; } = new("--prompt", "-p")
    {
        Description = "Text prompt. Repeat to run several prompts as one batch.",
        Required = true,
        AllowMultipleArgumentsPerToken = false,
    };
    public Option<string?> NegativePrompt { get; } = new("--negative-prompt", "-n") { Description = "What the image should not show; applies to every prompt." };
    public Option<int> Steps { get; } = new("--steps") { Description = "Number of denoising steps (num_inference_steps).", DefaultValueFactory = _ => 50 };
    public Option<double> Guidance { get; } = new("--guidance", "-g") { Description = "Classifier-free guidance scale; 1 or less turns guidance off.", DefaultValueFactory = _ => 7.5 };
    public Option<int?> ClipSkip { get; } = new("--clip-skip") { Description = "Use the text encoder's hidden state this many layers before the last." };
    public Option<int?> Width { get; }
    public Option<int?> Height { get; }
    public Option<long?> Seed { get; } = new("--seed", "-s") { Description = "Seed of the CPU generator; the same seed gives diffusers' picture. Random if omitted (printed)." };
    public Option<int> NumImages { get; } = new("--num-images", "-k") { Description = "Images per prompt.", DefaultValueFactory = _ => 1 };
    public Option<double> Eta { get; } = new("--eta") { Description = "DDIM's eta (noise added at each step); other schedulers ignore it.", DefaultValueFactory = _ => 0.0 };
    public Option<string?> Scheduler { get; } = new("--scheduler") { Description = "Scheduler to swap in: a diffusers class name (EulerDiscreteScheduler) or a short name (euler-a, dpm++2m-karras, unipc, lcm, ...; see 'diffuse schedulers'). Keeps the model's scheduler config, as diffusers' from_config." };
    public Option<string[]> SchedulerOverrides { get; } = new("--scheduler-option")
    {
        Description = "Override one scheduler config key, KEY=VALUE with a JSON value (e.g. use_karras_sigmas=true). Repeatable.",
        DefaultValueFactory = _ => [],
    };
    public Option<string> Output { get; } = new("--output", "-o")
    {
        Description = "PNG file to write; several images become FILE-0.png, FILE-1.png, ... (all images of the first prompt, then the next).",
        DefaultValueFactory = _ => "out.png",
    };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Prompt, NegativePrompt, Steps, Guidance, ClipSkip, Width, Height, Seed, NumImages, Eta, Scheduler, SchedulerOverrides, Output })
            command.Options.Add(o);
    }

    /// <summary>--output, checked to name a PNG before any model is loaded.</summary>
    public string OutputPath(ParseResult result)
    {
        var path = result.GetValue(Output)!;
        if (!path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--output must name a .png file, got '{path}'.");
        return path;
    }

    /// <summary>--seed, or a random one that <see cref="Finish"/> prints so the picture can be drawn again.</summary>
    public long ResolveSeed(ParseResult result) => result.GetValue(Seed) ?? Random.Shared.NextInt64(0, int.MaxValue);

    /// <summary>Writes the images, prints their paths on stdout and, for a random seed, the seed on stderr.</summary>
    public int Finish(ParseResult result, Tensor images, long seed)
    {
        foreach (var path in ImageWriter.WriteAll(images, OutputPath(result)))
            Console.WriteLine(path);
        if (result.GetValue(Seed) is null) Console.Error.WriteLine($"seed: {seed} (pass --seed {seed} to draw this picture again)");
        return 0;
    }
}
