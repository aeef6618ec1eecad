using System.Globalization;
using static TorchSharp.torch;

namespace DiffusersSharp.DeviceCheck;

/// <summary>Command line of the parity and precision modes.</summary>
/// <param name="Cases">Fixture cases to run (e.g. <c>components/tiny-sd_unet_scalar_t</c>); null: the default set.</param>
/// <param name="SummaryPath">A file the result lines are appended to, besides stdout.</param>
/// <param name="Size">Precision mode: image side in pixels.</param>
/// <param name="Steps">Precision mode: denoising steps.</param>
public sealed record DeviceCheckOptions(Device Device, string Fixtures, IReadOnlyList<string>? Cases, string? SummaryPath, int Size, int Steps)
{
    public static DeviceCheckOptions Parse(IReadOnlyList<string> args)
    {
        Device? device = null;
        string? fixtures = null;
        string[]? cases = null;
        string? summary = null;
        int size = 128, steps = 10;
        for (var i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--device": device = ParseDevice(Value()); break;
                case "--fixtures": fixtures = Path.GetFullPath(Value()); break;
                case "--cases": cases = Value().Split(',', StringSplitOptions.RemoveEmptyEntries); break;
                case "--summary": summary = Value(); break;
                case "--size": size = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--steps": steps = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"Unknown argument '{args[i]}'.\n{DeviceCheckProgram.Usage}");
            }
        }
        if (device is null) throw new ArgumentException("--device is required (cpu, cuda or cuda:N).");
        if (fixtures is null) throw new ArgumentException("--fixtures is required (a tests/fixtures folder or the device check's copy).");
        if (!Directory.Exists(fixtures)) throw new DirectoryNotFoundException($"Fixtures folder {fixtures} not found.");
        return new DeviceCheckOptions(device, fixtures, cases, summary, size, steps);
    }

    private static Device ParseDevice(string value)
    {
        if (value == "cpu") return CPU;
        if (value != "cuda" && !value.StartsWith("cuda:", StringComparison.Ordinal))
            throw new ArgumentException($"Unknown --device '{value}': use cpu, cuda or cuda:N.");
        if (!cuda.is_available()) throw new ArgumentException($"--device {value}: CUDA is not available to this libtorch.");
        return value == "cuda" ? CUDA : new Device(TorchSharp.DeviceType.CUDA, int.Parse(value[5..], CultureInfo.InvariantCulture));
    }

    /// <summary>Writes a result line to stdout and to the summary file.</summary>
    public void Report(string line)
    {
        Console.WriteLine(line);
        if (SummaryPath is not null) File.AppendAllText(SummaryPath, line + Environment.NewLine);
    }
}
