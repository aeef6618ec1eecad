using System.Diagnostics;

namespace DiffusersSharp.Bench;

/// <summary>When, on what and from which commit a run was taken.</summary>
internal sealed record RunInfo(string Date, string Commit, bool Quick, string Cpu, int LogicalCores, int TorchThreads,
    string LoadAverageBefore, string LoadAverageAfter)
{
    public static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    public static double OneMinuteLoad() => double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    public static string CpuModel() =>
        File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";

    /// <summary>The repository's commit, with "+changes" when the work tree differs from it.</summary>
    public static string GitCommit(string repository)
    {
        string? Git(string args)
        {
            try
            {
                using var git = Process.Start(new ProcessStartInfo("git", args) { WorkingDirectory = repository, RedirectStandardOutput = true, RedirectStandardError = true })!;
                var output = git.StandardOutput.ReadToEnd().Trim();
                git.WaitForExit();
                return git.ExitCode == 0 ? output : null;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return null;
            }
        }
        var commit = Git("rev-parse --short HEAD") ?? "unknown";
        return Git("status --porcelain --untracked-files=no") is { Length: > 0 } ? commit + "+changes" : commit;
    }
}
