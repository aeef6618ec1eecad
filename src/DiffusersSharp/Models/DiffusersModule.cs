using TorchSharp;

namespace DiffusersSharp.Models;

/// <summary>
/// Base of DiffusersSharp's modules. Submodules are registered explicitly under diffusers' names (the checkpoint
/// keys), so TorchSharp's reflection-based registration — which runs when a module is registered into its parent and
/// would add every module-typed field a second time under its C# name — is turned off.
/// </summary>
public abstract class DiffusersModule : torch.nn.Module
{
    protected DiffusersModule(string name) : base(name) { }

    protected override void RegisterComponents() { }
}

/// <summary><see cref="DiffusersModule"/> for single-input modules (<c>forward(x)</c>).</summary>
public abstract class DiffusersModule<T, TResult> : torch.nn.Module<T, TResult>
{
    protected DiffusersModule(string name) : base(name) { }

    protected override void RegisterComponents() { }
}
