using System.Globalization;
using DiffusersSharp.TrainDemo;

// train-demo: trains models/demo-shapes from scratch (or resumes). See models/demo-shapes/README.md.
try
{
    var options = CommandLine.Parse(args, out var smoke, out var evaluate, out var guidanceScale);
    if (smoke) options = options.AsSmoke();
    GlibcHeap.KeepFreedMemory();
    if (evaluate > 0)
    {
        TorchSharp.torch.set_num_threads(options.Threads);
        Console.WriteLine(DemoEvaluation.Run(options.OutputDirectory, evaluate, Console.WriteLine, guidanceScale));
        return 0;
    }
    Console.WriteLine($"train-demo: output {options.OutputDirectory}, checkpoints {options.CheckpointDirectory}");
    var started = DateTime.UtcNow;
    var (vaeLoss, unetLoss) = new DemoTrainer(options, line => Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {line}")).Run();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"done in {DateTime.UtcNow - started:hh\\:mm\\:ss}: vae loss {vaeLoss:F5}, unet loss {unetLoss:F5}"));
    return 0;
}
catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException)
{
    Console.Error.WriteLine($"train-demo: {e.Message}");
    return 2;
}
