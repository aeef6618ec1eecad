using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace DiffusersSharp.Server;

/// <summary>The playground: one static page at <c>/</c>, embedded in the assembly (no build step).</summary>
internal static class PlaygroundEndpoint
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var page = ReadPage();
        app.MapGet("/", () => Results.Text(page, "text/html; charset=utf-8"))
            .ExcludeFromDescription().AllowAnonymous();
    }

    private static string ReadPage()
    {
        using var stream = typeof(PlaygroundEndpoint).Assembly.GetManifestResourceStream("playground.html")
            ?? throw new InvalidOperationException("The playground page is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
