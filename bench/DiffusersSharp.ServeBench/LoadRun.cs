using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using DiffusersSharp.Serving;

namespace DiffusersSharp.ServeBench;

/// <summary><paramref name="clients"/> concurrent clients sending <paramref name="requests"/> synchronous generations, each timed end to end.</summary>
internal static class LoadRun
{
    public static async Task<LoadResult> RunAsync(HttpClient http, int clients, int requests, Func<int, GenerationRequest> request)
    {
        var latencies = new ConcurrentBag<double>();
        int accepted = 0, refused = 0, errors = 0, next = 0;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) is var i && i <= requests)
            {
                var body = new StringContent(JsonSerializer.Serialize(request(i)), Encoding.UTF8, "application/json");
                var started = Stopwatch.GetTimestamp();
                using var response = await http.PostAsync("v1/images/generations", body);
                await response.Content.LoadIntoBufferAsync();
                var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                switch (response.StatusCode)
                {
                    case HttpStatusCode.OK: Interlocked.Increment(ref accepted); latencies.Add(ms); break;
                    case HttpStatusCode.TooManyRequests: Interlocked.Increment(ref refused); break;
                    default: Interlocked.Increment(ref errors); break;
                }
            }
        })));
        return new LoadResult(requests, accepted, refused, errors, wall.Elapsed.TotalSeconds, latencies.ToList());
    }

    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = p / 100 * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }
}
