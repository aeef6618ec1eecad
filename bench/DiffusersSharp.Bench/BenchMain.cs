using DiffusersSharp.Runtime;

namespace DiffusersSharp.Bench;

/// <summary>The benchmark's entry point, also reached through the device check's <c>bench</c> mode (tools/DiffusersSharp.DeviceCheck).</summary>
public static class BenchMain
{
    /// <summary>Runs the benchmark (or, with <see cref="ChildProcess.ChildFlag"/> first, one stage as its child process).</summary>
    public static int Run(string[] args)
    {
        try
        {
            NativeRuntime.EnsureLoaded();
            if (args.Length > 0 && args[0] == ChildProcess.ChildFlag) return ChildProcess.RunChild(args[1..]);
            var options = BenchOptions.Parse(args);
            if (options.OnCuda && !TorchSharp.torch.cuda.is_available())
                throw new ArgumentException($"--device {options.Device}: CUDA is not available to this libtorch (see the README's GPU section).");
            var paths = new BenchPaths(BenchPaths.FindRepositoryRoot(), options.WorkDirectory, options.FixturesDirectory);
            return new Orchestrator(options, paths).Run();
        }
        catch (Exception e) when (e is ArgumentException or DirectoryNotFoundException or InvalidOperationException or NativeRuntimeException)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }
}
