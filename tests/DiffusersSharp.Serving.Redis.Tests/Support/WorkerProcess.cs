using System.Collections.Concurrent;
using System.Diagnostics;

namespace DiffusersSharp.Serving.Redis.Tests.Support;

/// <summary>A <c>diffuse worker</c> (or <c>diffuse serve</c>) process on the tiny model, as an operator would start one.</summary>
public sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private WorkerProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The models folder the tests copy next to themselves (tiny-sd only).</summary>
    public static string ModelsDirectory => Path.Combine(AppContext.BaseDirectory, "models");

    /// <summary><c>diffuse serve --redis …</c>: the HTTP service as a node of the cluster, on <paramref name="port"/>.</summary>
    public static WorkerProcess Serve(RedisServingOptions options, int port, params string[] extra) => Run(
    [
        "serve", "--redis", options.Configuration, "--redis-prefix", options.KeyPrefix, "--models", ModelsDirectory, "--default-model", "tiny-sd",
        "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--requests-per-minute", "0", .. extra,
    ]);

    public static WorkerProcess Start(RedisServingOptions options, params string[] extra) => Run(
    [
        "worker", "--redis", options.Configuration, "--redis-prefix", options.KeyPrefix,
        "--models", ModelsDirectory, "--default-model", "tiny-sd", "--threads", "1",
        "--claim-idle", options.ClaimIdleTime.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--cache-mb", "0", .. extra,
    ]);

    private static WorkerProcess Run(string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "diffuse.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        return new WorkerProcess(Process.Start(start)!);
    }

    /// <summary>What a crash looks like to the cluster: SIGKILL, no chance to hand the job back.</summary>
    public void KillHard()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as an orchestrator stops a worker; returns its exit code.</summary>
    public int Terminate(TimeSpan limit)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()])) kill.WaitForExit();
        if (!_process.WaitForExit(limit)) throw new TimeoutException($"The worker did not stop on SIGTERM:\n{Output}");
        return _process.ExitCode;
    }

    public string Output => string.Join('\n', _output);

    public void Dispose()
    {
        if (!_process.HasExited) KillHard();
        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        while (_output.Count > 200) _output.TryDequeue(out _);
    }
}
