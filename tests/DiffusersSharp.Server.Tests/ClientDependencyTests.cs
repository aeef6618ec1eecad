using System.Reflection;
using DiffusersSharp.Client;
using DiffusersSharp.Serving;

namespace DiffusersSharp.Server.Tests;

/// <summary>The typed client is light: it and the contract types it shares with the service need no TorchSharp, library or serving code.</summary>
public sealed class ClientDependencyTests
{
    [Fact]
    public void ClientReferencesOnlyTheContractsAndTheFramework()
    {
        var client = typeof(DiffusersClient).Assembly;
        var contracts = typeof(GenerationRequest).Assembly;
        Assert.Equal("DiffusersSharp.Serving.Contracts", contracts.GetName().Name);
        Assert.Equal(["DiffusersSharp.Serving.Contracts"], NonFramework(client));
        Assert.Empty(NonFramework(contracts));
    }

    private static string[] NonFramework(Assembly assembly) =>
        assembly.GetReferencedAssemblies().Select(a => a.Name!)
            .Where(name => name is not ("System" or "netstandard") && !name.StartsWith("System.", StringComparison.Ordinal) && !name.StartsWith("Microsoft.", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToArray();
}
