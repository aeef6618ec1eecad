namespace DiffusersSharp.Server.Tests.Support;

/// <summary>One server (API keys on, small body and pixel caps) answering a table of bad requests, staying healthy.</summary>
public sealed class BadRequestServer : IAsyncLifetime
{
    public const string UserKey = "user-key-0123456789";
    public const string AdminKey = "admin-key-0123456789";

    private readonly FakeJobService _jobs = new();

    public RunningServer Server { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Server = await FakeServer.StartAsync(_jobs, new Dictionary<string, string?>
        {
            ["Diffuse:ApiKeys:0:Name"] = "user",
            ["Diffuse:ApiKeys:0:Sha256"] = ApiKeys.Hash(UserKey),
            ["Diffuse:ApiKeys:1:Name"] = "admin",
            ["Diffuse:ApiKeys:1:Sha256"] = ApiKeys.Hash(AdminKey),
            ["Diffuse:ApiKeys:1:Admin"] = "true",
            ["Diffuse:RequestsPerMinute"] = "0",
            ["Diffuse:MaxRequestBodyBytes"] = "1000000",
            ["Diffuse:Limits:MaxPixels"] = "262144",
            ["Diffuse:Limits:MaxInputImagePixels"] = "1048576",
        });

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _jobs.Dispose();
    }
}
