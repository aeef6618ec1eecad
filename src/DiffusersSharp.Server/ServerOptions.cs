using DiffusersSharp.Serving;

namespace DiffusersSharp.Server;

/// <summary>
/// The service's settings, bound from the <c>Diffuse</c> configuration section (appsettings.json, environment
/// variables such as <c>Diffuse__Port</c>, or <c>diffuse serve</c>'s options).
/// </summary>
public sealed record ServerOptions
{
    public const string Section = "Diffuse";

    /// <summary>Address Kestrel listens on; loopback unless set.</summary>
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 8080;
    /// <summary>Folder whose sub-folders are the models clients can name; the repository's bundled models when null.</summary>
    public string? Models { get; init; }
    /// <summary>The model used when a request names none; the first in <see cref="Models"/> when null.</summary>
    public string? DefaultModel { get; init; }
    public int Workers { get; init; } = 1;
    /// <summary>Jobs that may wait; beyond it requests get 429 with Retry-After.</summary>
    public int Queue { get; init; } = 16;
    /// <summary>Most compatible requests run together as one batch (1: no batching).</summary>
    public int Batch { get; init; } = 4;
    /// <summary>Folder of the job store (SQLite) and finished pictures, which survive restarts; ~/.local/share/diffuse/jobs when null.</summary>
    public string? DataDir { get; init; }

    /// <summary>A plain API key (e.g. from <c>--api-key</c>); hashed at start and never kept. Grants admin rights.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Keys stored as SHA-256 hashes. When none is configured the API is open (localhost development).</summary>
    public IReadOnlyList<ApiKeyEntry> ApiKeys { get; init; } = [];
    /// <summary>Generation requests a key (or, without keys, a client address) may make per minute; 0: unlimited.</summary>
    public int RequestsPerMinute { get; init; } = 600;

    /// <summary>Largest request body; larger ones get 413 before being read.</summary>
    public long MaxRequestBodyBytes { get; init; } = 48L << 20;
    /// <summary>num_inference_steps for requests that give none (OpenAI clients cannot); the pipeline's default (50) when null.</summary>
    public int? DefaultSteps { get; init; }
    /// <summary>What a request may ask for (steps, pixels, pictures, input picture size...); checked before any work.</summary>
    public ValidationLimits Limits { get; init; } = new();
    /// <summary>The dtype models load in: float32 (default), float16 or bfloat16.</summary>
    public string? DType { get; init; }
    /// <summary>The device models run on: cpu, cuda, cuda:N.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Loaded models are evicted, least recently used first, while their weights take more than this.</summary>
    public long MemoryBudgetBytes { get; init; } = 8L << 30;
    /// <summary>Bytes of pictures kept for repeated seeded requests; 0 turns the result cache off.</summary>
    public long ResultCacheBytes { get; init; } = 256L << 20;

    /// <summary>Origins allowed to call the API from a browser; CORS is off when empty.</summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];
    /// <summary>How long shutdown waits for running jobs before stopping them; queued jobs stay for the next start.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
