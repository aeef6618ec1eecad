using System.Globalization;
using DiffusersSharp.Bench.Redis;
using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;

// Scale-out benchmark: throughput with 1..N `diffuse worker` processes on the tiny model, and the Redis queue's own
// overhead per job against the single-process queue. Needs a running redis-server (--redis, default 127.0.0.1:6391).
var redis = Arg("--redis") ?? "127.0.0.1:6391";
var models = Path.GetFullPath(Arg("--models") ?? FindModels());
var maxWorkers = int.Parse(Arg("--max-workers") ?? "3", CultureInfo.InvariantCulture);
var jobs = int.Parse(Arg("--jobs") ?? "40", CultureInfo.InvariantCulture);
var steps = int.Parse(Arg("--steps") ?? "10", CultureInfo.InvariantCulture);
var overheadJobs = int.Parse(Arg("--overhead-jobs") ?? "200", CultureInfo.InvariantCulture);

Console.WriteLine($"# {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load average {LoadAverage()}, redis {redis}, models {models}");
Console.WriteLine();
Console.WriteLine($"Throughput: {jobs} jobs of tiny-sd, 64x64, {steps} steps, one libtorch thread per worker process");
Console.WriteLine();
Console.WriteLine("| worker processes | jobs/s | speed-up | wall s | load avg at start |");
Console.WriteLine("|---|---|---|---|---|");
double? single = null;
for (var n = 1; n <= maxWorkers; n++)
{
    var load = LoadAverage();
    var (rate, wall) = await Scaling.RunAsync(redis, models, n, jobs, steps);
    single ??= rate;
    Console.WriteLine($"| {n} | {rate:0.00} | {rate / single:0.00}x | {wall:0.0} | {load} |");
}

Console.WriteLine();
Console.WriteLine($"Queue overhead: {overheadJobs} jobs one after another, submit to pictures (GenerateAsync), worker in the same process");
Console.WriteLine();
Console.WriteLine("| queue | executor | p50 ms | p90 ms |");
Console.WriteLine("|---|---|---|---|");
var noop = await Overhead.NoOpAsync(redis, overheadJobs);
Console.WriteLine($"| Redis | none (no-op) | {noop.P50:0.00} | {noop.P90:0.00} |");
var paired = await Overhead.PairedAsync(redis, models, overheadJobs);
Console.WriteLine($"| single-process | tiny-sd, 1 step, 64x64 | {paired.Local.P50:0.00} | {paired.Local.P90:0.00} |");
Console.WriteLine($"| Redis | tiny-sd, 1 step, 64x64 | {paired.Redis.P50:0.00} | {paired.Redis.P90:0.00} |");
Console.WriteLine($"| single-process | the job's own run | {paired.LocalRun.P50:0.00} | {paired.LocalRun.P90:0.00} |");
Console.WriteLine($"| Redis | the job's own run | {paired.RedisRun.P50:0.00} | {paired.RedisRun.P90:0.00} |");
Console.WriteLine($"| single-process | outside the run | {paired.LocalOutside.P50:0.00} | {paired.LocalOutside.P90:0.00} |");
Console.WriteLine($"| Redis | outside the run | {paired.RedisOutside.P50:0.00} | {paired.RedisOutside.P90:0.00} |");
Console.WriteLine();
Console.WriteLine($"Redis over single-process, median of the paired differences: {paired.Difference:+0.00;-0.00} ms in all, {paired.OutsideDifference:+0.00;-0.00} ms outside the job's run (target: under 2 ms at p50)");
return 0;

string? Arg(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

static string FindModels()
{
    for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
    {
        var candidate = Path.Combine(dir.FullName, "tests", "fixtures", "models");
        if (Directory.Exists(Path.Combine(candidate, "tiny-sd"))) return candidate;
    }
    throw new ArgumentException("No models folder: pass --models DIR (a folder holding tiny-sd).");
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
