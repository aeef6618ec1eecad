using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using DiffusersSharp.Server.Tests.Support;

namespace DiffusersSharp.Server.Tests;

/// <summary>A table of bad requests, each answered with its status and a message naming the field, the server healthy after each.</summary>
public sealed class BadRequestTests(BadRequestServer fixture) : IClassFixture<BadRequestServer>
{
    /// <summary>A bad request: what is sent, the status expected, and the field its problem details must name (null: no field errors).</summary>
    public sealed record Case(string Path, Func<HttpContent?> Body, HttpStatusCode Status, string? Field, string Key = BadRequestServer.UserKey, string Method = "POST");

    private const string Gen = "v1/images/generations";

    private static Func<HttpContent?> Json(string json) => () => new StringContent(json, Encoding.UTF8, "application/json");

    private static Func<HttpContent?> Request(object fields) => Json(JsonSerializer.Serialize(fields));

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["malformed JSON"] = new(Gen, Json("""{"prompt": "a cat", """), HttpStatusCode.BadRequest, "body"),
        ["body is an array"] = new(Gen, Json("[1, 2]"), HttpStatusCode.BadRequest, "body"),
        ["empty body"] = new(Gen, Json(""), HttpStatusCode.BadRequest, "body"),
        ["not JSON content type"] = new(Gen, () => new StringContent("prompt=a cat", Encoding.UTF8, "text/plain"), HttpStatusCode.UnsupportedMediaType, null),
        ["prompt is a number"] = new(Gen, Json("""{"prompt": 5}"""), HttpStatusCode.BadRequest, "prompt"),
        ["missing prompt"] = new(Gen, Json("""{"num_inference_steps": 2}"""), HttpStatusCode.BadRequest, "prompt"),
        ["prompt too long"] = new(Gen, Request(new { prompt = new string('a', 5000) }), HttpStatusCode.BadRequest, "prompt"),
        ["steps as a string"] = new(Gen, Json("""{"prompt": "x", "num_inference_steps": "20"}"""), HttpStatusCode.BadRequest, "num_inference_steps"),
        ["steps fractional"] = new(Gen, Json("""{"prompt": "x", "num_inference_steps": 2.5}"""), HttpStatusCode.BadRequest, "num_inference_steps"),
        ["steps 0"] = new(Gen, Json("""{"prompt": "x", "num_inference_steps": 0}"""), HttpStatusCode.BadRequest, "num_inference_steps"),
        ["steps -1"] = new(Gen, Json("""{"prompt": "x", "num_inference_steps": -1}"""), HttpStatusCode.BadRequest, "num_inference_steps"),
        ["steps 10^6"] = new(Gen, Json("""{"prompt": "x", "num_inference_steps": 1000000}"""), HttpStatusCode.BadRequest, "num_inference_steps"),
        ["steps 0 on the jobs endpoint"] = new("v1/jobs", Json("""{"prompt": "x", "num_inference_steps": 0}"""), HttpStatusCode.BadRequest, "num_inference_steps"),
        ["guidance NaN as a string"] = new(Gen, Json("""{"prompt": "x", "guidance_scale": "NaN"}"""), HttpStatusCode.BadRequest, "guidance_scale"),
        ["guidance NaN literal"] = new(Gen, Json("""{"prompt": "x", "guidance_scale": NaN}"""), HttpStatusCode.BadRequest, "guidance_scale"),
        ["guidance negative"] = new(Gen, Json("""{"prompt": "x", "guidance_scale": -3}"""), HttpStatusCode.BadRequest, "guidance_scale"),
        ["width not divisible by 8"] = new(Gen, Json("""{"prompt": "x", "width": 65, "height": 64}"""), HttpStatusCode.BadRequest, "width"),
        ["height not divisible by 8"] = new(Gen, Json("""{"prompt": "x", "width": 64, "height": 100}"""), HttpStatusCode.BadRequest, "height"),
        ["negative width"] = new(Gen, Json("""{"prompt": "x", "width": -64, "height": 64}"""), HttpStatusCode.BadRequest, "width"),
        ["size over the cap"] = new(Gen, Json("""{"prompt": "x", "width": 4096, "height": 4096}"""), HttpStatusCode.BadRequest, "width"),
        ["OpenAI size malformed"] = new(Gen, Json("""{"prompt": "x", "size": "big"}"""), HttpStatusCode.BadRequest, "size"),
        ["OpenAI response_format unknown"] = new(Gen, Json("""{"prompt": "x", "response_format": "xml"}"""), HttpStatusCode.BadRequest, "response_format"),
        ["num_images_per_prompt 100"] = new(Gen, Json("""{"prompt": "x", "num_images_per_prompt": 100}"""), HttpStatusCode.BadRequest, "num_images_per_prompt"),
        ["negative seed"] = new(Gen, Json("""{"prompt": "x", "seed": -5}"""), HttpStatusCode.BadRequest, "seed"),
        ["unknown task"] = new(Gen, Json("""{"prompt": "x", "task": "painting"}"""), HttpStatusCode.BadRequest, "task"),
        ["image not base64"] = new(Gen, Json("""{"prompt": "x", "image": "not base64!!"}"""), HttpStatusCode.BadRequest, "image"),
        ["corrupt PNG"] = new(Gen, Request(new { prompt = "x", image = B64([0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5, 6, 7, 8]) }), HttpStatusCode.BadRequest, "image"),
        ["truncated PNG"] = new(Gen, Request(new { prompt = "x", image = B64(Png.Gray(64, 64)[..60]) }), HttpStatusCode.BadRequest, "image"),
        ["image-bomb header 100000x100000"] = new(Gen, Request(new { prompt = "x", image = B64(Png.BombHeader(100000, 100000)) }), HttpStatusCode.BadRequest, "image"),
        ["mask size mismatch"] = new(Gen, Request(new { prompt = "x", image = B64(Png.Gray(64, 64)), mask_image = B64(Png.Gray(32, 32)) }), HttpStatusCode.BadRequest, "mask_image"),
        ["mask without image"] = new(Gen, Request(new { prompt = "x", mask_image = B64(Png.Gray(64, 64)) }), HttpStatusCode.BadRequest, "image"),
        ["strength over 1"] = new(Gen, Request(new { prompt = "x", image = B64(Png.Gray(64, 64)), strength = 1.5 }), HttpStatusCode.BadRequest, "strength"),
        ["unknown model"] = new(Gen, Json("""{"prompt": "x", "model": "no-such-model"}"""), HttpStatusCode.BadRequest, "model"),
        ["model ../ escape"] = new(Gen, Json("""{"prompt": "x", "model": "../tiny-sd"}"""), HttpStatusCode.BadRequest, "model"),
        ["model absolute path"] = new(Gen, Json("""{"prompt": "x", "model": "/etc"}"""), HttpStatusCode.BadRequest, "model"),
        ["unknown scheduler"] = new(Gen, Json("""{"prompt": "x", "scheduler": "warp-drive"}"""), HttpStatusCode.BadRequest, "scheduler"),
        ["unknown scheduler option"] = new(Gen, Json("""{"prompt": "x", "scheduler": "euler", "scheduler_options": {"warp_factor": 9}}"""), HttpStatusCode.BadRequest, "scheduler_options"),
        ["oversized body"] = new(Gen, Request(new { prompt = "x", image = B64(new byte[1_200_000]) }), HttpStatusCode.RequestEntityTooLarge, null),
        ["no API key"] = new(Gen, Json("""{"prompt": "x"}"""), HttpStatusCode.Unauthorized, null, Key: ""),
        ["wrong API key"] = new(Gen, Json("""{"prompt": "x"}"""), HttpStatusCode.Unauthorized, null, Key: "not-a-key"),
        ["loading a model without the admin right"] = new("v1/models/tiny-sd/load", () => null, HttpStatusCode.Forbidden, null),
        ["loading a model by path"] = new("v1/models/..%2Ftiny-sd/load", () => null, HttpStatusCode.BadRequest, "name", Key: BadRequestServer.AdminKey),
        ["unknown job"] = new("v1/jobs/0123456789abcdef", () => null, HttpStatusCode.NotFound, null, Method: "GET"),
        ["unknown job's picture"] = new("v1/jobs/0123456789abcdef/images/0", () => null, HttpStatusCode.NotFound, null, Method: "GET"),
        ["cancelling an unknown job"] = new("v1/jobs/0123456789abcdef", () => null, HttpStatusCode.NotFound, null, Method: "DELETE"),
    };

    public static TheoryData<string> Names() => [.. Cases.Keys];

    [Fact]
    public void The_table_has_at_least_30_bad_requests() => Assert.True(Cases.Count >= 30, $"{Cases.Count} cases");

    [Theory]
    [MemberData(nameof(Names))]
    public async Task A_bad_request_gets_its_status_and_names_the_field_and_the_server_stays_healthy(string name)
    {
        var c = Cases[name];
        var http = fixture.Server.Http;
        using var message = new HttpRequestMessage(new HttpMethod(c.Method), c.Path) { Content = c.Body() };
        if (c.Key.Length > 0) message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", c.Key);
        using var response = await http.SendAsync(message);
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(c.Status == response.StatusCode, $"{name}: expected {(int)c.Status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal((int)c.Status, problem.RootElement.GetProperty("status").GetInt32());
        var detail = problem.RootElement.GetProperty("detail").GetString()!;
        Assert.DoesNotMatch(@"\bat [\w.]+\.\w+\(", body);
        Assert.DoesNotContain(".cs:line", body);
        Assert.DoesNotContain("Exception", body);
        Assert.DoesNotContain('\n', detail);
        if (c.Field is not null)
        {
            var errors = problem.RootElement.GetProperty("errors");
            Assert.True(errors.TryGetProperty(c.Field, out var messages), $"{name}: no error for '{c.Field}' in {body}");
            Assert.Contains(messages.EnumerateArray(), m => !string.IsNullOrWhiteSpace(m.GetString()));
            Assert.Contains(c.Field, detail);
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("healthz")).StatusCode);
        using var good = new HttpRequestMessage(HttpMethod.Post, Gen)
        {
            Content = new StringContent("""{"prompt": "x", "num_inference_steps": 2, "width": 64, "height": 64}""", Encoding.UTF8, "application/json"),
        };
        good.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BadRequestServer.UserKey);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(good)).StatusCode);
    }
}
