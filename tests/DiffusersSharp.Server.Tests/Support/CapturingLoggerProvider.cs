using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace DiffusersSharp.Server.Tests.Support;

/// <summary>Keeps every log line with its category and scopes (as "Key=Value" pairs), the way the JSON console writes them.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public ConcurrentQueue<Line> Lines { get; } = new();

    public sealed record Line(string Category, string Message, IReadOnlyList<string> Scopes);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose() { }

    private sealed class Logger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => provider._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scopes = new List<string>();
            provider._scopes.ForEachScope((scope, list) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object?>> pairs)
                    list.AddRange(pairs.Select(p => $"{p.Key}={p.Value}"));
                else if (scope is not null)
                    list.Add(scope.ToString()!);
            }, scopes);
            provider.Lines.Enqueue(new Line(category, formatter(state, exception), scopes));
        }
    }
}
