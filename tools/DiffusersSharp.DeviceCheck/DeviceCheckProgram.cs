using DiffusersSharp.Bench;
using DiffusersSharp.Runtime;

namespace DiffusersSharp.DeviceCheck;

/// <summary>
/// The device check's entry point. Modes: <c>parity</c> (golden fixture cases on a device, float32, TF32 off),
/// <c>precision</c> (16-bit pictures on a device against the CPU's float32 ones, as PSNR) and <c>bench</c> (the
/// benchmark, bench/README.md). Run with <c>--device cpu</c> it checks itself without an accelerator.
/// </summary>
public static class DeviceCheckProgram
{
    public const string Usage =
        "devicecheck parity --device cpu|cuda[:N] --fixtures DIR [--cases NAME,NAME] [--summary FILE]\n" +
        "devicecheck precision --device cpu|cuda[:N] --fixtures DIR [--size PX] [--steps N] [--summary FILE]\n" +
        "devicecheck bench [benchmark options, see bench/README.md]\n" +
        "devicecheck files --fixtures DIR   (lists the fixture files parity and precision read, for a slim copy)";

    /// <returns>0 when every check passed, 1 when one failed, 2 for a bad command line or a missing fixture.</returns>
    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == ChildProcess.ChildFlag) return BenchMain.Run(args);
        try
        {
            if (args.FirstOrDefault() == "files")
            {
                foreach (var file in ParityCheck.DefaultFiles(FixturesOf(args[1..]))) Console.WriteLine(file);
                return 0;
            }
            NativeRuntime.EnsureLoaded();
            return args.FirstOrDefault() switch
            {
                "bench" => BenchMain.Run(args[1..]),
                "parity" => ParityCheck.Run(DeviceCheckOptions.Parse(args[1..])),
                "precision" => PrecisionCheck.Run(DeviceCheckOptions.Parse(args[1..])),
                _ => throw new ArgumentException($"Give a mode.\n{Usage}"),
            };
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or NativeRuntimeException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }

    private static string FixturesOf(string[] args) =>
        args is ["--fixtures", var dir] ? Path.GetFullPath(dir) : throw new ArgumentException($"files takes --fixtures DIR.\n{Usage}");
}
