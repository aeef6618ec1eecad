namespace DiffusersSharp.Server;

/// <summary>Loads models ahead of use (warm-up) and tells which are loaded; backed by the serving library's pipeline manager.</summary>
public interface IModelLoader
{
    Task LoadAsync(string name, CancellationToken cancellationToken);

    IReadOnlyList<string> Loaded();
}
