using System.Globalization;
using System.Text.Json;
using DiffusersSharp.Serving;
using Microsoft.AspNetCore.Http;

namespace DiffusersSharp.Server;

/// <summary>Reads a generation request's JSON body; malformed JSON and wrong types become 400s naming the field.</summary>
internal static class GenerationBody
{
    public static async Task<(GenerationRequest Request, OpenAiImageFields OpenAi)> ReadAsync(HttpRequest http, ServerOptions options, CancellationToken cancellationToken)
    {
        if (!http.HasJsonContentType())
            throw new RequestProblemException(StatusCodes.Status415UnsupportedMediaType, "Send the request as JSON (Content-Type: application/json).");
        // Buffered (Kestrel's body limit bounds it) so that both views of the body are read by the serializer,
        // whose errors carry the JSON path of the field at fault.
        using var buffer = new MemoryStream();
        await http.Body.CopyToAsync(buffer, cancellationToken);
        var json = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        var request = JsonSerializer.Deserialize<GenerationRequest>(json, ServerJson.Options)
            ?? throw Problems.Field("body", "The body must be a JSON object, not null.");
        var openAi = JsonSerializer.Deserialize<OpenAiImageFields>(json, ServerJson.Options)!;
        if (request.NumInferenceSteps is null && options.DefaultSteps is { } steps)
            request = request with { NumInferenceSteps = steps };
        return (ApplyOpenAi(request, openAi), openAi);
    }

    /// <summary>Folds OpenAI's <c>n</c> and <c>size</c> into diffusers' fields, refusing contradictions.</summary>
    private static GenerationRequest ApplyOpenAi(GenerationRequest request, OpenAiImageFields openAi)
    {
        if (openAi.N is { } n)
        {
            if (request.NumImagesPerPrompt is { } k && k != n)
                throw Problems.Field("n", $"n ({n}) contradicts num_images_per_prompt ({k}); give one of them.");
            request = request with { NumImagesPerPrompt = n };
        }
        if (openAi.Size is { } size)
        {
            var parts = size.Split('x', 'X');
            if (parts.Length != 2
                || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var width)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var height))
                throw Problems.Field("size", $"size must be \"WIDTHxHEIGHT\" (e.g. \"512x512\"), got \"{size}\".");
            if ((request.Width is { } w && w != width) || (request.Height is { } h && h != height))
                throw Problems.Field("size", "size contradicts width/height; give one of them.");
            request = request with { Width = width, Height = height };
        }
        if (openAi.ResponseFormat is not (null or "b64_json" or "url"))
            throw Problems.Field("response_format", $"response_format must be \"b64_json\" or \"url\", got \"{openAi.ResponseFormat}\".");
        return request;
    }
}
