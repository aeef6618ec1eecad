namespace DiffusersSharp.Serving.Redis.Tests.Support;

/// <summary>
/// The Redis most tests share: the one CI started (address in <c>DIFFUSE_TEST_REDIS</c>), else one started here
/// for the test run. Tests keep apart by key prefix; those that restart Redis start their own <see cref="RedisServer"/>.
/// </summary>
public sealed class SharedRedis : IDisposable
{
    private readonly RedisServer? _own;

    public SharedRedis()
    {
        var address = Environment.GetEnvironmentVariable("DIFFUSE_TEST_REDIS");
        if (string.IsNullOrEmpty(address))
        {
            _own = RedisServer.Start();
            address = _own.Address;
        }
        Address = address;
    }

    public string Address { get; }

    public RedisServingOptions Options(Func<RedisServingOptions, RedisServingOptions>? change = null)
    {
        var options = new RedisServingOptions
        {
            Configuration = Address,
            KeyPrefix = "t" + Guid.NewGuid().ToString("N")[..10] + ":",
            // Long enough that a live worker on a busy machine is not taken for dead; short enough to keep claim tests quick.
            ClaimIdleTime = TimeSpan.FromSeconds(2),
            HeartbeatInterval = TimeSpan.FromMilliseconds(150),
            PollInterval = TimeSpan.FromMilliseconds(200),
        };
        return change is null ? options : change(options);
    }

    public void Dispose() => _own?.Dispose();
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<SharedRedis>
{
    public const string Name = "redis";
}
