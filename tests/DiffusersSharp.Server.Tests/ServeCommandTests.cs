using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using DiffusersSharp.Server.Tests.Support;

namespace DiffusersSharp.Server.Tests;

/// <summary><c>diffuse serve</c> as a user runs it: options, the bundled default model, and a clean stop on Ctrl+C.</summary>
public sealed partial class ServeCommandTests
{
    [Fact]
    public void Without_settings_the_bundled_model_is_served()
    {
        var served = ServedModels.From(new ServerOptions());
        Assert.True(File.Exists(Path.Combine(served.Folder, served.DefaultModel, "model_index.json")));
    }

    [Fact]
    public async Task Serve_takes_its_options_answers_and_stops_cleanly_on_sigint()
    {
        var folder = Directory.CreateTempSubdirectory("diffuse-cli-serve-").FullName;
        var models = Path.Combine(folder, "models");
        Directory.CreateDirectory(models);
        Directory.CreateSymbolicLink(Path.Combine(models, "tiny-sd"), Path.Combine(AppContext.BaseDirectory, "fixtures", "models", "tiny-sd"));
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "diffuse.dll"), "serve", "--port", "0", "--models", models,
                     "--data-dir", Path.Combine(folder, "data"), "--api-key", "cli-key", "--default-steps", "2" })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        try
        {
            Uri? address = null;
            var stderr = new System.Text.StringBuilder();
            while (address is null && await process.StandardError.ReadLineAsync() is { } line)
            {
                stderr.AppendLine(line);
                if (ListeningLine().Match(line) is { Success: true } m) address = new Uri(m.Groups[1].Value + "/");
            }
            Assert.True(address is not null, $"diffuse serve did not start: {stderr}");
            using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
            for (var i = 0; i < 600 && !(await http.GetAsync("readyz")).IsSuccessStatusCode; i++) await Task.Delay(100);

            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("v1/models")).StatusCode);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "cli-key");
            Assert.Contains("\"tiny-sd\"", await http.GetStringAsync("v1/models"));
            var job = await new Client.DiffusersClient(http).RunAsync(new Serving.GenerationRequest { Prompt = "x", Width = 64, Height = 64, Scheduler = "euler" });
            Assert.Equal((2, 2), (job.Job.Step, job.Job.TotalSteps)); // --default-steps

            using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                await kill.WaitForExitAsync();
            await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            Assert.Equal(0, process.ExitCode);
            Assert.Contains("Job service stopped", await stdout);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            Directory.Delete(folder, recursive: true);
        }
    }

    [GeneratedRegex(@"^diffuse serve: (http://[\d.]+:\d+)")]
    private static partial Regex ListeningLine();
}
