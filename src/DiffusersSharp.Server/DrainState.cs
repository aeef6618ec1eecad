namespace DiffusersSharp.Server;

/// <summary>Set once shutdown begins: new work is refused with 503 and /readyz fails while running jobs finish.</summary>
public sealed class DrainState
{
    private volatile bool _draining;

    public bool Draining => _draining;

    public void Begin() => _draining = true;
}
