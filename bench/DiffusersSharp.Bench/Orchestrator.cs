using System.Diagnostics;
using static TorchSharp.torch;

namespace DiffusersSharp.Bench;

/// <summary>Plans the stages, runs each in a child process, prints the table and the targets, writes the JSON.</summary>
internal sealed class Orchestrator(BenchOptions options, BenchPaths paths)
{
    private IReadOnlyList<string> Precisions => options.DTypes ?? ["float32", "bfloat16"];

    /// <summary>Image side of the UNet and generation rows the targets read.</summary>
    private int TargetSize => options.Quick ? 256 : 512;

    /// <summary>
    /// The stages in order. --quick keeps what the targets read, at 256×256: libtorch's throughput, the bfloat16 load,
    /// the UNet step in both precisions, a short bfloat16 generation and 30 tiny-model generations.
    /// </summary>
    public IEnumerable<Stage> Plan()
    {
        if (options.OnCuda) return CudaPlan();
        return CpuPlan();
    }

    /// <summary>
    /// On CUDA: the rows diffusers' eager H200 anchors give (../shared/performance-anchors.md), in each precision
    /// (default float16): the UNet step at 512² (guidance batch 2) and a whole 50-step Euler generation at 512², also
    /// under model CPU offload.
    /// </summary>
    private IEnumerable<Stage> CudaPlan()
    {
        if (!RandomModelFolder.Exists(paths)) yield return new Stage("build");
        foreach (var dtype in options.DTypes ?? ["float16"])
        {
            yield return new Stage("unet", dtype, 512, Repeats: 20, Device: options.Device);
            yield return new Stage("generate", dtype, 512, "euler", Repeats: 3, Steps: 50, Device: options.Device);
            yield return new Stage("generate", dtype, 512, "euler-offload", Repeats: 2, Steps: 50, Device: options.Device);
        }
    }

    private IEnumerable<Stage> CpuPlan()
    {
        var quick = options.Quick;
        var repeats = quick ? 1 : 3;
        if (!quick || !RandomModelFolder.Exists(paths)) yield return new Stage("build");
        foreach (var dtype in Precisions) yield return new Stage("ops", dtype, Repeats: quick ? 1 : 4);
        foreach (var dtype in quick ? ["bfloat16"] : Precisions) yield return new Stage("load", dtype);
        if (!quick)
            foreach (var dtype in Precisions) yield return new Stage("text", dtype, Repeats: repeats);
        foreach (var dtype in Precisions)
        {
            yield return new Stage("unet", dtype, 256, Repeats: repeats);
            if (!quick) yield return new Stage("unet", dtype, 512, Repeats: repeats);
        }
        if (!quick)
        {
            foreach (var dtype in Precisions)
            {
                yield return new Stage("unet", dtype, 512, "channels-last", repeats);
                yield return new Stage("unet", dtype, 512, "thp-off", repeats);
            }
            yield return new Stage("unet", "bfloat16", 512, "sliced", repeats);
            foreach (var dtype in Precisions) yield return new Stage("vae", dtype, 512, Repeats: repeats);
            yield return new Stage("vae", "float32", 512, "batch2", 1);
            yield return new Stage("vae", "float32", 512, "batch2-sliced", 1);
            yield return new Stage("vae", "float32", 1024, Repeats: 1);
            yield return new Stage("vae", "float32", 1024, "tiled", 1);
        }
        foreach (var dtype in quick ? ["bfloat16"] : Precisions)
            yield return new Stage("generate", dtype, TargetSize, Steps: quick ? 4 : 20);
        yield return new Stage("flat", Steps: quick ? 30 : 100);
    }

    public int Run()
    {
        Directory.CreateDirectory(paths.WorkDirectory);
        var loadBefore = RunInfo.LoadAverage();
        var total = Stopwatch.StartNew();
        var rows = new List<StageResult>();
        Console.WriteLine(Report.Header);
        foreach (var stage in Plan().Where(s => options.Only is null || options.Only.Contains(s.Kind)))
        {
            Console.Error.WriteLine($"[{total.Elapsed:mm\\:ss}] {stage}");
            var load = RunInfo.OneMinuteLoad();
            var results = ChildProcess.Run(stage, paths, options.Threads).Select(r => r with { LoadAverage = load }).ToList();
            rows.AddRange(results);
            foreach (var r in results) Console.WriteLine(Report.Row(r, rows));
        }
        // The targets are the CPU's (bfloat16 against float32 on this machine's cores).
        var checks = RandomModelFolder.Exists(paths) && !options.OnCuda
            ? Targets.Evaluate(rows, RandomModelFolder.WeightBytes(paths), TargetSize, TargetSize)
            : [];
        var info = new RunInfo(DateTime.Now.ToString("yyyy-MM-dd HH:mm"), RunInfo.GitCommit(paths.RepositoryRoot), options.Quick,
            options.OnCuda ? $"{RunInfo.CpuModel()}; {GpuMemorySampler.GpuName(options.Device) ?? options.Device}" : RunInfo.CpuModel(), Environment.ProcessorCount, options.Threads ?? get_num_threads(), loadBefore, RunInfo.LoadAverage());
        Console.WriteLine();
        Console.WriteLine(Report.TargetTable(checks));
        Console.WriteLine($"{info.Date}, commit {info.Commit}, {info.Cpu}, {info.TorchThreads} threads, load average {info.LoadAverageBefore} before and {info.LoadAverageAfter} after; {total.Elapsed.TotalSeconds:F0} s in all.");
        Report.WriteJson(options.JsonPath, info, rows, checks);
        Console.WriteLine($"Results written to {Path.GetFullPath(options.JsonPath)}.");
        return 0;
    }
}
