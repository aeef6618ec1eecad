using System.Net;
using System.Net.Http.Headers;
using DiffusersSharp.Server.Tests.Support;

namespace DiffusersSharp.Server.Tests;

/// <summary>API keys (hashed, Bearer or X-API-Key, admin right), per-key rate limits, CORS, loopback binding.</summary>
public sealed class SecurityTests
{
    private const string Body = """{"prompt": "x", "num_inference_steps": 2, "width": 64, "height": 64}""";

    [Fact]
    public async Task Without_keys_the_api_is_open_and_bound_to_loopback()
    {
        Assert.Equal("127.0.0.1", new ServerOptions().Host);
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs);
        Assert.Equal("127.0.0.1", server.BaseAddress.Host);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.PostAsync("v1/images/generations", EndpointTests.Json(Body))).StatusCode);
    }

    [Fact]
    public async Task Hashed_keys_authenticate_by_bearer_or_header_and_only_admins_load_models()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs, new Dictionary<string, string?>
        {
            ["Diffuse:ApiKeys:0:Name"] = "alice",
            ["Diffuse:ApiKeys:0:Sha256"] = ApiKeys.Hash("alice-secret"),
            ["Diffuse:ApiKey"] = "operator-secret",
        });
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(server, "POST", "v1/images/generations", null)).StatusCode);
        var wrong = await Send(server, "POST", "v1/images/generations", "alice-secreT");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal("Bearer", wrong.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.OK, (await Send(server, "POST", "v1/images/generations", "alice-secret")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(server, "POST", "v1/images/generations", "alice-secret", header: true)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(server, "GET", "v1/models", null)).StatusCode);

        Assert.Equal(HttpStatusCode.Forbidden, (await Send(server, "POST", "v1/models/tiny-sd/load", "alice-secret")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(server, "POST", "v1/models/tiny-sd/load", "operator-secret")).StatusCode);

        // Health, readiness, metrics and the playground page stay open for probes and browsers.
        foreach (var path in new[] { "healthz", "readyz", "metrics", "/", "openapi/v1.json" })
            Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task Each_key_has_its_own_rate_and_going_over_gets_429_with_retry_after()
    {
        using var jobs = new FakeJobService();
        await using var server = await FakeServer.StartAsync(jobs, new Dictionary<string, string?>
        {
            ["Diffuse:RequestsPerMinute"] = "3",
            ["Diffuse:ApiKeys:0:Name"] = "slow",
            ["Diffuse:ApiKeys:0:Sha256"] = ApiKeys.Hash("slow-key"),
            ["Diffuse:ApiKeys:1:Name"] = "other",
            ["Diffuse:ApiKeys:1:Sha256"] = ApiKeys.Hash("other-key"),
            ["Diffuse:ApiKeys:2:Name"] = "fast",
            ["Diffuse:ApiKeys:2:Sha256"] = ApiKeys.Hash("fast-key"),
            ["Diffuse:ApiKeys:2:RequestsPerMinute"] = "100",
        });
        for (var i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.OK, (await Send(server, "POST", "v1/images/generations", "slow-key")).StatusCode);
        var refused = await Send(server, "POST", "v1/images/generations", "slow-key");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await Send(server, "POST", "v1/jobs", "slow-key")).StatusCode);
        // Reading is not rate limited, and other keys have their own budget.
        Assert.Equal(HttpStatusCode.OK, (await Send(server, "GET", "v1/models", "slow-key")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(server, "POST", "v1/images/generations", "other-key")).StatusCode);
        for (var i = 0; i < 5; i++)
            Assert.Equal(HttpStatusCode.OK, (await Send(server, "POST", "v1/images/generations", "fast-key")).StatusCode);
    }

    [Fact]
    public async Task Cors_is_off_unless_origins_are_configured()
    {
        using (var jobs = new FakeJobService())
        await using (var closed = await FakeServer.StartAsync(jobs))
            Assert.False((await Preflight(closed)).Headers.Contains("Access-Control-Allow-Origin"));

        using var jobs2 = new FakeJobService();
        await using var open = await FakeServer.StartAsync(jobs2, new Dictionary<string, string?> { ["Diffuse:CorsOrigins:0"] = "https://app.example" });
        var allowed = await Preflight(open);
        Assert.Equal("https://app.example", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    private static async Task<HttpResponseMessage> Preflight(RunningServer server)
    {
        using var message = new HttpRequestMessage(HttpMethod.Options, "v1/jobs");
        message.Headers.Add("Origin", "https://app.example");
        message.Headers.Add("Access-Control-Request-Method", "POST");
        message.Headers.Add("Access-Control-Request-Headers", "content-type");
        return await server.Http.SendAsync(message);
    }

    private static async Task<HttpResponseMessage> Send(RunningServer server, string method, string path, string? key, bool header = false)
    {
        using var message = new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? EndpointTests.Json(Body) : null };
        if (key is not null)
        {
            if (header) message.Headers.Add("X-API-Key", key);
            else message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return await server.Http.SendAsync(message);
    }
}
