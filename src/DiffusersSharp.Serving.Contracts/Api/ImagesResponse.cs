namespace DiffusersSharp.Serving.Api;

/// <summary>The answer of <c>POST /v1/images/generations</c>: the OpenAI Images API's <c>{created, data: [{b64_json}]}</c>, plus the job that made the pictures.</summary>
public sealed record ImagesResponse(long Created, IReadOnlyList<ImageData> Data, JobInfo Job);
