using DiffusersSharp.Bench;
using DiffusersSharp.Runtime;

// Where DiffusersSharp stands on this machine: speed, FLOP/s and peak memory of SD 1.5's stages (see bench/README.md).
try
{
    NativeRuntime.EnsureLoaded();
    if (args.Length > 0 && args[0] == ChildProcess.ChildFlag) return ChildProcess.RunChild(args[1..]);
    var options = BenchOptions.Parse(args);
    return new Orchestrator(options, new BenchPaths(BenchPaths.FindRepositoryRoot(), options.WorkDirectory)).Run();
}
catch (Exception e) when (e is ArgumentException or DirectoryNotFoundException or InvalidOperationException or NativeRuntimeException)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}
