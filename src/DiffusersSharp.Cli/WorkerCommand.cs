using System.CommandLine;
using System.Runtime.InteropServices;
using DiffusersSharp.Runtime;
using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Redis;
using Microsoft.Extensions.Logging;

namespace DiffusersSharp.Cli;

/// <summary>
/// <c>diffuse worker</c>: a GPU (or CPU) worker of a Redis cluster. It takes jobs from the shared queue, runs them on
/// this machine's models and stores their pictures in Redis; API nodes (<c>diffuse serve --redis</c>) take the requests.
/// SIGTERM or Ctrl+C hands a running job back to the queue and exits.
/// </summary>
internal static class WorkerCommand
{
    public static Command Create()
    {
        var redis = new RedisOptions();
        var models = new Option<string>("--models")
        {
            Description = "Folder whose sub-folders are the models jobs may name (diffusers pipeline folders). Must hold the same models as the API nodes'.",
            Required = true,
        };
        var defaultModel = new Option<string?>("--default-model") { Description = "Model for jobs that name none (default: the first in --models); loaded at start." };
        var workers = new Option<int>("--workers") { Description = "Jobs this process runs at once (one per device is right).", DefaultValueFactory = _ => 1 };
        var common = new CommonOptions();

        var command = new Command("worker", "Run a worker of a Redis cluster: take queued jobs, generate, store the pictures in Redis.");
        redis.AddTo(command);
        command.Options.Add(models);
        command.Options.Add(defaultModel);
        command.Options.Add(workers);
        command.Options.Add(common.DType);
        command.Options.Add(common.Device);
        command.Options.Add(common.Threads);

        command.SetAction(result => CliErrors.Run(() =>
        {
            var options = redis.Read(result, maxQueueLength: 1)
                ?? throw new ArgumentException("diffuse worker needs --redis HOST:PORT (or $DIFFUSE_REDIS).");
            var count = result.GetValue(workers);
            if (count < 1) throw new ArgumentException($"--workers must be at least 1, got {count}.");
            var modelsDir = result.GetValue(models)!;
            if (!Directory.Exists(modelsDir)) throw new ArgumentException($"--models: no folder '{modelsDir}'.");
            NativeRuntime.EnsureLoaded();
            var load = common.LoadOptions(result);
            var dtype = result.GetValue(common.DType)!;
            var serving = new ServingOptions
            {
                ModelsDirectory = modelsDir,
                DefaultModel = result.GetValue(defaultModel),
                DType = dtype is "float32" or "fp32" ? null : load.DType,
                Device = result.GetValue(common.Device)!,
            };
            return RunAsync(options, serving, count).GetAwaiter().GetResult();
        }));
        return command;
    }

    private static async Task<int> RunAsync(RedisServingOptions options, ServingOptions serving, int count)
    {
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        }));
        var logger = loggers.CreateLogger("diffuse.worker");
        using var stop = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });

        var names = new ModelCatalog(serving.ModelsDirectory).Names();
        if (names.Count == 0) throw new ArgumentException($"--models: '{serving.ModelsDirectory}' holds no model folders.");
        using var manager = new PipelineManager(serving with { DefaultModel = serving.DefaultModel ?? names[0] }, loggers);
        await manager.PreloadAsync(serving.DefaultModel ?? names[0], stop.Token).ConfigureAwait(false);
        await using var store = await RedisJobStore.ConnectAsync(options).ConfigureAwait(false);
        var executor = new PipelineJobExecutor(manager);
        var running = Enumerable.Range(0, count).Select(_ => new RedisWorker(store, executor, logger: logger)).ToList();
        logger.LogInformation("{Count} worker(s) {Names} taking jobs from Redis at {Redis} (prefix '{Prefix}')",
            count, string.Join(", ", running.Select(w => w.Name)), options.Configuration, options.KeyPrefix);
        await Task.WhenAll(running.Select(w => w.RunAsync(stop.Token))).ConfigureAwait(false);
        logger.LogInformation("Stopped: {Completed} job(s) completed, {Failed} failed, {Claimed} taken over from stopped workers",
            running.Sum(w => w.JobsCompleted), running.Sum(w => w.JobsFailed), running.Sum(w => w.JobsClaimed));
        return 0;
    }
}
