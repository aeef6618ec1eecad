using System.Diagnostics;
using System.Text.Json;

namespace DiffusersSharp.Bench;

/// <summary>Runs a <see cref="Stage"/> in a child process of this program and reads back its rows.</summary>
internal static class ChildProcess
{
    public const string ChildFlag = "--child";
    public const string ResultPrefix = "@@RESULT ";

    public static IReadOnlyList<StageResult> Run(Stage stage, BenchPaths paths, int? threads)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, UseShellExecute = false };
        var host = Environment.ProcessPath!;
        start.FileName = host;
        // Under `dotnet run` or `dotnet X.dll` the process is the dotnet host, which needs the program's dll.
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") start.ArgumentList.Add(Environment.GetCommandLineArgs()[0]);
        start.ArgumentList.Add(ChildFlag);
        start.ArgumentList.Add(JsonSerializer.Serialize(stage));
        start.ArgumentList.Add(paths.RepositoryRoot);
        start.ArgumentList.Add(paths.WorkDirectory);
        start.ArgumentList.Add(threads?.ToString() ?? "");
        start.ArgumentList.Add(paths.Fixtures ?? "");
        foreach (var (key, value) in stage.Environment) start.Environment[key] = value;

        using var process = Process.Start(start)!;
        IReadOnlyList<StageResult>? results = null;
        while (process.StandardOutput.ReadLine() is { } line)
        {
            if (line.StartsWith(ResultPrefix, StringComparison.Ordinal))
                results = JsonSerializer.Deserialize<List<StageResult>>(line[ResultPrefix.Length..]);
            else
                Console.Error.WriteLine(line);
        }
        process.WaitForExit();
        if (process.ExitCode != 0 || results is null)
            throw new InvalidOperationException($"Stage '{stage}' failed (exit code {process.ExitCode}).");
        return results;
    }

    /// <summary>The child's side: runs the stage and prints its rows as one line.</summary>
    public static int RunChild(IReadOnlyList<string> args)
    {
        var stage = JsonSerializer.Deserialize<Stage>(args[0])!;
        var paths = new BenchPaths(args[1], args[2], args[4].Length > 0 ? args[4] : null);
        if (int.TryParse(args[3], out var threads)) TorchSharp.torch.set_num_threads(threads);
        var results = new StageRunner(paths).Run(stage);
        Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(results));
        return 0;
    }
}
