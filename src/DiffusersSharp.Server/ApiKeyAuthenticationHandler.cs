using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DiffusersSharp.Server;

/// <summary>
/// Authenticates <c>Authorization: Bearer KEY</c> (what OpenAI clients send) or <c>X-API-Key: KEY</c> against the
/// hashed keys. Without configured keys everyone is an admin, as befits a loopback development server.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeys keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string AdminRole = "admin";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!keys.Enabled)
            return Task.FromResult(Success("anonymous", admin: true));
        var presented = PresentedKey();
        if (presented is null) return Task.FromResult(AuthenticateResult.NoResult());
        return Task.FromResult(keys.Find(presented) is { } entry
            ? Success(entry.Name, entry.Admin, entry.RequestsPerMinute)
            : AuthenticateResult.Fail("The API key is not valid."));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        await Problems.Write(Context, StatusCodes.Status401Unauthorized,
            PresentedKey() is null ? "An API key is required: send Authorization: Bearer KEY or X-API-Key: KEY." : "The API key is not valid.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.Write(Context, StatusCodes.Status403Forbidden, "This API key may not do that (it needs the admin right).");

    private string? PresentedKey()
    {
        if (Request.Headers["X-API-Key"] is [{ Length: > 0 } k]) return k;
        var auth = Request.Headers.Authorization.ToString();
        return auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && auth.Length > 7 ? auth[7..].Trim() : null;
    }

    private AuthenticateResult Success(string name, bool admin, int? requestsPerMinute = null)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, name) };
        if (admin) claims.Add(new Claim(ClaimTypes.Role, AdminRole));
        if (requestsPerMinute is { } rate) claims.Add(new Claim(RateLimitClaim, rate.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName));
    }

    public const string RateLimitClaim = "diffuse:requests_per_minute";
}
