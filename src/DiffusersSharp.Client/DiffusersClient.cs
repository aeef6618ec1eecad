using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using DiffusersSharp.Serving;
using DiffusersSharp.Serving.Api;

namespace DiffusersSharp.Client;

/// <summary>
/// The DiffusersSharp service's API over HTTP. Every non-success answer becomes a <see cref="DiffusersApiException"/>
/// carrying the server's problem details.
/// </summary>
public sealed class DiffusersClient : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    /// <summary>Uses <paramref name="http"/> as given (its BaseAddress is the server; its lifetime stays the caller's).</summary>
    public DiffusersClient(HttpClient http)
    {
        _http = http;
        if (_http.BaseAddress is null) throw new ArgumentException("The HttpClient needs a BaseAddress (the server's URL).", nameof(http));
    }

    public DiffusersClient(Uri baseAddress, string? apiKey = null)
    {
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        _ownsHttp = true;
        if (apiKey is not null) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
    }

    /// <summary>Generates and waits; the pictures come back as base64 PNGs in <see cref="ImagesResponse.Data"/>.</summary>
    public async Task<ImagesResponse> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        using var response = await _http.PostAsJsonAsync("v1/images/generations", request, Json, cancellationToken);
        return await Read<ImagesResponse>(response, cancellationToken);
    }

    /// <summary>Generates one picture and returns its PNG bytes.</summary>
    public async Task<byte[]> GeneratePngAsync(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/images/generations") { Content = JsonContent.Create(request, options: Json) };
        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("image/png"));
        using var response = await _http.SendAsync(message, cancellationToken);
        await EnsureSuccess(response, cancellationToken);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    /// <summary>Queues a job. With an <paramref name="idempotencyKey"/>, a retry returns the first job instead of a new one.</summary>
    public async Task<JobInfo> SubmitAsync(GenerationRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/jobs") { Content = JsonContent.Create(request, options: Json) };
        if (idempotencyKey is not null) message.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await _http.SendAsync(message, cancellationToken);
        return await Read<JobInfo>(response, cancellationToken);
    }

    public async Task<JobInfo> GetJobAsync(string id, CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync($"v1/jobs/{Uri.EscapeDataString(id)}", cancellationToken);
        return await Read<JobInfo>(response, cancellationToken);
    }

    /// <summary>The job's events as the server streams them (Server-Sent Events): its state now, then each change, ending after the last.</summary>
    public async IAsyncEnumerable<JobEvent> WatchAsync(string id, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, $"v1/jobs/{Uri.EscapeDataString(id)}/events");
        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        await EnsureSuccess(response, cancellationToken);
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        await foreach (var item in SseParser.Create(stream, (type, data) => JsonSerializer.Deserialize<JobEvent>(data, Json)!).EnumerateAsync(cancellationToken))
            yield return item.Data;
    }

    /// <summary>PNG bytes of picture <paramref name="index"/> of a finished job.</summary>
    public async Task<byte[]> GetImageAsync(string id, int index, CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync($"v1/jobs/{Uri.EscapeDataString(id)}/images/{index}", cancellationToken);
        await EnsureSuccess(response, cancellationToken);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    /// <summary>Cancels a queued or running job; returns it as it stands after the cancel.</summary>
    public async Task<JobInfo> CancelAsync(string id, CancellationToken cancellationToken = default)
    {
        using var response = await _http.DeleteAsync($"v1/jobs/{Uri.EscapeDataString(id)}", cancellationToken);
        return await Read<JobInfo>(response, cancellationToken);
    }

    /// <summary>Submits, reports each event to <paramref name="progress"/>, and returns the pictures once the job succeeded.
    /// Cancelling <paramref name="cancellationToken"/> cancels the job on the server.</summary>
    public async Task<JobResult> RunAsync(GenerationRequest request, IProgress<JobEvent>? progress = null, CancellationToken cancellationToken = default)
    {
        var job = await SubmitAsync(request, cancellationToken: cancellationToken);
        try
        {
            await foreach (var e in WatchAsync(job.Id, cancellationToken))
            {
                progress?.Report(e);
                job = e.Job;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await CancelAsync(job.Id, CancellationToken.None);
            throw;
        }
        if (job.State != JobState.Succeeded)
            throw new DiffusersApiException(HttpStatusCode.InternalServerError, $"Job {job.State}", job.Error ?? $"Job {job.Id} ended {job.State}.",
                new Dictionary<string, string[]>(), null);
        var images = new List<byte[]>();
        for (var i = 0; i < job.ImageCount; i++)
            images.Add(await GetImageAsync(job.Id, i, cancellationToken));
        return new JobResult(job, images);
    }

    public async Task<ModelList> ListModelsAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync("v1/models", cancellationToken);
        return await Read<ModelList>(response, cancellationToken);
    }

    public async Task<SchedulerList> ListSchedulersAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync("v1/schedulers", cancellationToken);
        return await Read<SchedulerList>(response, cancellationToken);
    }

    /// <summary>Loads a model ahead of use (needs an admin key when keys are on).</summary>
    public async Task<ModelLoaded> LoadModelAsync(string name, CancellationToken cancellationToken = default)
    {
        using var response = await _http.PostAsync($"v1/models/{Uri.EscapeDataString(name)}/load", null, cancellationToken);
        return await Read<ModelLoaded>(response, cancellationToken);
    }

    /// <summary>True when <c>/healthz</c> answers 200: the process is alive.</summary>
    public async Task<bool> IsHealthyAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync("healthz", cancellationToken);
        return response.IsSuccessStatusCode;
    }

    /// <summary>True when <c>/readyz</c> answers 200: default model loaded, workers running, not draining.</summary>
    public async Task<bool> IsReadyAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync("readyz", cancellationToken);
        return response.IsSuccessStatusCode;
    }

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    private static async Task<T> Read<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await EnsureSuccess(response, cancellationToken);
        return await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken)
            ?? throw new DiffusersApiException(response.StatusCode, "Empty answer", "The server answered without a body.", new Dictionary<string, string[]>(), null);
    }

    private static async Task EnsureSuccess(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode) return;
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        string? title = null;
        var detail = body;
        var errors = new Dictionary<string, string[]>();
        try
        {
            using var problem = JsonDocument.Parse(body);
            var root = problem.RootElement;
            if (root.TryGetProperty("title", out var t)) title = t.GetString();
            if (root.TryGetProperty("detail", out var d)) detail = d.GetString() ?? "";
            if (root.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Object)
                foreach (var field in e.EnumerateObject())
                    errors[field.Name] = field.Value.EnumerateArray().Select(m => m.GetString() ?? "").ToArray();
        }
        catch (JsonException)
        {
            // Not problem details (e.g. a proxy's error page): the body itself is the detail.
        }
        var retryAfter = response.Headers.RetryAfter?.Delta;
        throw new DiffusersApiException(response.StatusCode, title ?? response.ReasonPhrase, detail, errors, retryAfter);
    }
}
