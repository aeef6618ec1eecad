using System.CommandLine;
using System.Globalization;
using DiffusersSharp.Runtime;
using DiffusersSharp.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace DiffusersSharp.Cli;

/// <summary>
/// <c>diffuse serve</c>: the HTTP service. Each option given here overrides the same setting from appsettings.json or
/// the environment (<c>Diffuse__Port=8080</c>); with none it serves the repository's bundled model on 127.0.0.1:8080.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        // Each option and the Diffuse:* setting it sets.
        var options = new (Option Option, string Setting)[]
        {
            (new Option<string>("--models") { Description = "Folder whose sub-folders are the models clients can name (default: the repository's models/ or its tiny test models)." }, "Models"),
            (new Option<string>("--default-model") { Description = "Model for requests that name none (default: the first in --models)." }, "DefaultModel"),
            (new Option<int>("--port") { Description = "TCP port (default 8080)." }, "Port"),
            (new Option<string>("--host") { Description = "Address to listen on (default 127.0.0.1; '*' for every interface)." }, "Host"),
            (new Option<int>("--workers") { Description = "Jobs generated at once (default 1: one generation already uses every core)." }, "Workers"),
            (new Option<int>("--queue") { Description = "Jobs that may wait; beyond, requests get 429 (default 16)." }, "Queue"),
            (new Option<int>("--batch") { Description = "Most compatible jobs run as one batch (default 4; 1 turns batching off)." }, "Batch"),
            (new Option<string>("--api-key") { Description = "Require this API key (Authorization: Bearer KEY); keys in appsettings.json are stored as SHA-256 hashes, see 'diffuse serve hash-key'." }, "ApiKey"),
            (new Option<string>("--dtype") { Description = "Weights and compute precision: float32 (default), float16 or bfloat16." }, "DType"),
            (new Option<string>("--device") { Description = "Device: cpu (default), cuda or cuda:N." }, "Device"),
            (new Option<string>("--data-dir") { Description = "Folder of the job store and pictures, kept across restarts (default ~/.local/share/diffuse/jobs)." }, "DataDir"),
            (new Option<int>("--default-steps") { Description = "num_inference_steps for requests that give none (default: the pipeline's, 50)." }, "DefaultSteps"),
            (new Option<int>("--requests-per-minute") { Description = "Generation requests per minute per key or client address (default 600; 0: unlimited)." }, "RequestsPerMinute"),
        };
        var command = new Command("serve", "Serve the models over HTTP: REST and OpenAI-compatible image API, jobs with progress events, metrics, and a playground page at /.");
        foreach (var (option, _) in options) command.Options.Add(option);
        // With --redis the service is a node of a Redis cluster (docs/deployment.md): --workers 0 makes it API-only.
        var redis = new RedisOptions();
        redis.AddTo(command);
        command.Subcommands.Add(HashKeyCommand());

        command.SetAction(async result =>
        {
            try
            {
                NativeRuntime.EnsureLoaded();
                var settings = new Dictionary<string, string?>();
                foreach (var (option, setting) in options)
                    if (result.GetResult(option) is { Implicit: false } given)
                        settings[$"{ServerOptions.Section}:{setting}"] = Convert.ToString(given.GetValueOrDefault<object>(), CultureInfo.InvariantCulture);
                if (redis.Read(result, maxQueueLength: 0) is { } cluster) RedisOptions.AddSettings(cluster, settings);
                await using var app = DiffusersServer.Build([], settings);
                await app.StartAsync(CancellationToken.None);
                var served = (ServedModels)app.Services.GetService(typeof(ServedModels))!;
                Console.Error.WriteLine($"diffuse serve: {string.Join(", ", app.Urls)} (playground at /, API under /v1, OpenAPI at /openapi/v1.json); " +
                                        $"models in {served.Folder}, default {served.DefaultModel}. Ctrl+C drains and stops.");
                await app.WaitForShutdownAsync(CancellationToken.None);
                return 0;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Console.Error.WriteLine("error: " + CliErrors.OneLine(e));
                return e is NativeRuntimeException ? 3 : 1;
            }
        });
        return command;
    }

    private static Command HashKeyCommand()
    {
        var key = new Argument<string>("key") { Description = "The API key to hash." };
        var command = new Command("hash-key", "Print the SHA-256 of an API key, as Diffuse:ApiKeys:N:Sha256 in appsettings.json stores it.") { key };
        command.SetAction(result =>
        {
            Console.WriteLine(ApiKeys.Hash(result.GetValue(key)!));
            return 0;
        });
        return command;
    }
}
