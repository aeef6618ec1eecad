using System.Globalization;
using System.Net;
using System.Security.Claims;
using System.Threading.RateLimiting;
using DiffusersSharp.Runtime;
using DiffusersSharp.Serving;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace DiffusersSharp.Server;

/// <summary>
/// Builds the service's web application, as <c>diffuse serve</c> and the tests run it. Settings come from the
/// <c>Diffuse</c> section of appsettings.json, environment variables (<c>Diffuse__Port</c>), command-line
/// arguments (<c>--Diffuse:Port=8080</c>) and, last and strongest, <paramref name="settings"/>.
/// </summary>
public sealed class DiffusersServer
{
    public const string GenerationRateLimit = "generation";
    /// <summary>The key of the <see cref="IJobService"/> that runs jobs (a test may register its own under it); the HTTP layer uses it through a metering wrapper.</summary>
    public const string JobBackend = "backend";
    public const string AdminPolicy = "admin";

    private DiffusersServer() { }

    /// <param name="configure">Runs after the service's own registrations; a test can register its own job service under
    /// <see cref="JobBackend"/> here, or an <see cref="IGenerationFaultInjector"/> for the local one.</param>
    public static WebApplication Build(string[] args, IReadOnlyDictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args });
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        var options = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();

        builder.Logging.ClearProviders();
        builder.Logging.AddJsonConsole(o =>
        {
            o.IncludeScopes = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            Listen(kestrel, options.Host, options.Port);
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainTimeout + TimeSpan.FromSeconds(5));

        var services = builder.Services;
        services.AddSingleton(options);
        var served = ServedModels.From(options);
        services.AddSingleton(served);
        services.AddSingleton<ApiKeys>();
        services.AddSingleton<ServerMetrics>();
        services.AddSingleton<DrainState>();
        services.ConfigureHttpJsonOptions(o => ServerJson.Configure(o.SerializerOptions));
        services.AddProblemDetails(o => o.CustomizeProblemDetails = c => c.ProblemDetails.Detail ??= DefaultDetail(c.ProblemDetails.Status));
        services.AddExceptionHandler<ProblemExceptionHandler>();
        services.AddOpenApi();
        AddSecurity(services, options);
        if (options.CorsOrigins.Count > 0)
            services.AddCors(c => c.AddDefaultPolicy(p => p.WithOrigins([.. options.CorsOrigins]).AllowAnyHeader().AllowAnyMethod()
                .WithExposedHeaders("Location", "Retry-After", "X-Request-Id")));

        RedisCluster.AddIfConfigured(builder, options, served);
        configure?.Invoke(builder);
        if (services.Any(d => d.ServiceType == typeof(IJobService) && Equals(d.ServiceKey, JobBackend)))
        {
            services.TryAddSingleton(_ => new ModelCatalog(served.Folder));
        }
        else
        {
            services.AddSingleton(sp => new LocalJobService(
                ToServingOptions(options, served, sp.GetRequiredService<ServerMetrics>()) with { FaultInjector = sp.GetService<IGenerationFaultInjector>() },
                sp.GetRequiredService<ILoggerFactory>()));
            services.AddKeyedSingleton<IJobService>(JobBackend, (sp, _) => sp.GetRequiredService<LocalJobService>());
            services.AddHostedService<JobServiceHost>();
            services.TryAddSingleton(sp => sp.GetRequiredService<LocalJobService>().Manager.Catalog);
            services.TryAddSingleton<IModelLoader>(sp => new PipelineModelLoader(sp.GetRequiredService<LocalJobService>().Manager));
        }
        services.AddSingleton<MeteredJobService>(sp => ActivatorUtilities.CreateInstance<MeteredJobService>(sp, sp.GetRequiredKeyedService<IJobService>(JobBackend)));
        services.AddSingleton<IJobService>(sp => sp.GetRequiredService<MeteredJobService>());

        var app = builder.Build();
        var drain = app.Services.GetRequiredService<DrainState>();
        app.Lifetime.ApplicationStopping.Register(drain.Begin);

        app.Use((context, next) =>
        {
            context.Response.Headers["X-Request-Id"] = context.TraceIdentifier;
            return next(context);
        });
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use((context, next) => drain.Draining && HttpMethods.IsPost(context.Request.Method)
            ? throw new ServiceUnavailableException("The server is shutting down and takes no new work; retry against another instance or after it restarts.")
            : next(context));
        app.UseRouting();
        if (options.CorsOrigins.Count > 0) app.UseCors();
        app.UseHttpMetrics(o => o.SetMetricFactory(Metrics.WithCustomRegistry(app.Services.GetRequiredService<ServerMetrics>().Registry)));
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseAuthorization();

        ImagesEndpoints.Map(app);
        JobsEndpoints.Map(app);
        ModelsEndpoints.Map(app);
        HealthEndpoints.Map(app);
        PlaygroundEndpoint.Map(app);
        app.MapOpenApi().AllowAnonymous();
        app.MapMetrics("/metrics", app.Services.GetRequiredService<ServerMetrics>().Registry).AllowAnonymous();
        return app;
    }

    /// <summary>The serving library's settings from the service's.</summary>
    public static ServingOptions ToServingOptions(ServerOptions options, ServedModels served, IServingMetrics metrics) => new()
    {
        ModelsDirectory = served.Folder,
        DefaultModel = served.DefaultModel,
        DType = options.DType is null ? null
            : !DTypeNames.TryParse(options.DType, out var dtype) ? throw new InvalidOperationException($"Diffuse:DType must be float32, float16 or bfloat16, got '{options.DType}'.")
            // float32 is what a pipeline loads in when no dtype is asked for.
            : dtype == TorchSharp.torch.ScalarType.Float32 ? null : dtype,
        Device = options.Device,
        QueueCapacity = options.Queue,
        WorkerCount = options.Workers,
        MaxBatchSize = options.Batch,
        MemoryBudgetBytes = options.MemoryBudgetBytes,
        ResultCacheBytes = options.ResultCacheBytes,
        StoreDirectory = options.DataDir ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "diffuse", "jobs"),
        DrainTimeout = options.DrainTimeout,
        Limits = options.Limits,
        Metrics = metrics,
    };

    /// <summary>A one-line detail for the answers ASP.NET makes itself (unknown route, wrong method, wrong content type).</summary>
    private static string? DefaultDetail(int? status) => status switch
    {
        StatusCodes.Status404NotFound => "There is nothing at this address; the OpenAPI document at /openapi/v1.json lists the endpoints.",
        StatusCodes.Status405MethodNotAllowed => "This address does not take this HTTP method; see /openapi/v1.json.",
        StatusCodes.Status415UnsupportedMediaType => "Send the request as JSON (Content-Type: application/json).",
        _ => null,
    };

    private static void Listen(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions kestrel, string host, int port)
    {
        if (host is "*" or "0.0.0.0" or "::") kestrel.ListenAnyIP(port);
        else if (host == "localhost") kestrel.ListenLocalhost(port);
        else if (IPAddress.TryParse(host, out var address)) kestrel.Listen(address, port);
        else throw new InvalidOperationException($"Diffuse:Host must be an IP address, 'localhost' or '*', got '{host}'.");
    }

    private static void AddSecurity(IServiceCollection services, ServerOptions options)
    {
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser().Build())
            .AddPolicy(AdminPolicy, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireRole(ApiKeyAuthenticationHandler.AdminRole));

        services.AddRateLimiter(limiter =>
        {
            limiter.OnRejected = async (context, _) =>
            {
                var seconds = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)) : 1;
                context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                await Problems.Write(context.HttpContext, StatusCodes.Status429TooManyRequests,
                    $"This client is over its rate of generation requests; retry after {seconds} s.");
            };
            limiter.AddPolicy(GenerationRateLimit, context =>
            {
                var user = context.User;
                var rate = user.FindFirst(ApiKeyAuthenticationHandler.RateLimitClaim) is { } claim
                    ? int.Parse(claim.Value, CultureInfo.InvariantCulture)
                    : options.RequestsPerMinute;
                if (rate <= 0) return RateLimitPartition.GetNoLimiter("unlimited");
                var client = context.RequestServices.GetRequiredService<ApiKeys>().Enabled
                    ? "key:" + user.FindFirstValue(ClaimTypes.Name)
                    : "address:" + context.Connection.RemoteIpAddress;
                return RateLimitPartition.GetTokenBucketLimiter($"{client}/{rate}", _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = rate,
                    TokensPerPeriod = 1,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(60.0 / rate),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
        });
    }
}
