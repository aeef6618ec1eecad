using System.Diagnostics;
using System.Globalization;

namespace DiffusersSharp.Bench;

/// <summary>
/// Peak GPU memory of a stage, from <c>nvidia-smi</c>'s <c>memory.used</c> sampled every 20 ms: TorchSharp 0.107 does
/// not expose PyTorch's <c>torch.cuda.max_memory_allocated</c> (the caching allocator's statistics are C++ only), so
/// this reads the driver's view instead. It counts what the process holds on the device above what was in use when
/// sampling started: the CUDA context (some hundreds of MiB) and the allocator's cached blocks besides the tensors, so
/// it reads higher than diffusers' <c>max_memory_allocated</c>, and it assumes nothing else runs on that GPU.
/// Peaks shorter than the sampling interval can be missed.
/// </summary>
internal sealed class GpuMemorySampler : IDisposable
{
    private readonly Process? _process;
    private readonly Thread? _reader;
    private readonly long _baselineMiB;
    private long _peakMiB;

    private GpuMemorySampler(string device)
    {
        if (!device.StartsWith("cuda", StringComparison.Ordinal)) return;
        var index = DeviceIndex(device);
        if (Query(index, "memory.used") is not { } baseline) return;
        _baselineMiB = long.Parse(baseline, CultureInfo.InvariantCulture);
        _peakMiB = _baselineMiB;
        var start = new ProcessStartInfo("nvidia-smi", ["--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", index, "-lms", "20"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        _process = Process.Start(start);
        if (_process is null) return;
        _reader = new Thread(() =>
        {
            while (_process.StandardOutput.ReadLine() is { } line)
                if (long.TryParse(line.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var used))
                    Interlocked.Exchange(ref _peakMiB, Math.Max(Interlocked.Read(ref _peakMiB), used));
        }) { IsBackground = true };
        _reader.Start();
    }

    /// <summary>Starts sampling for a CUDA device; on the CPU, or without nvidia-smi, a sampler that reports nothing.</summary>
    public static GpuMemorySampler Start(string device) => new(device);

    /// <summary>The peak so far above the memory in use at the start, in MiB; null where nothing could be sampled.</summary>
    public double? PeakAboveBaselineMiB => _process is null ? null : Interlocked.Read(ref _peakMiB) - _baselineMiB;

    /// <summary>The GPU's name as nvidia-smi reports it, or null.</summary>
    public static string? GpuName(string device) => Query(DeviceIndex(device), "name");

    private static string DeviceIndex(string device) => device.StartsWith("cuda:", StringComparison.Ordinal) ? device[5..] : "0";

    private static string? Query(string index, string field)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("nvidia-smi", [$"--query-gpu={field}", "--format=csv,noheader,nounits", "-i", index])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null) return null;
            var text = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 && text.Length > 0 ? text.Split('\n')[0].Trim() : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no nvidia-smi on this machine
        }
    }

    public void Dispose()
    {
        if (_process is null) return;
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit();
        _reader?.Join();
        _process.Dispose();
    }
}
