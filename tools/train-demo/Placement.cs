namespace DiffusersSharp.TrainDemo;

/// <summary>One cell of a 3 × 3 grid and its caption words ("top left", "center", ...).</summary>
public sealed record Placement(string Name, int Column, int Row)
{
    public static IReadOnlyList<Placement> All { get; } =
    [
        new("top left", 0, 0), new("top", 1, 0), new("top right", 2, 0),
        new("left", 0, 1), new("center", 1, 1), new("right", 2, 1),
        new("bottom left", 0, 2), new("bottom", 1, 2), new("bottom right", 2, 2),
    ];

    public static Placement Center => All[4];

    public static Placement Named(string name) =>
        All.FirstOrDefault(p => p.Name == name) ?? throw new ArgumentException($"Unknown position '{name}': use one of {string.Join(", ", All.Select(p => p.Name))}.");

    /// <summary>The cell whose centre is nearest to the point (x, y) of a square image of side <paramref name="imageSize"/>.</summary>
    public static Placement Nearest(double x, double y, int imageSize) =>
        All.MinBy(p => Math.Pow(p.CenterIn(imageSize).X - x, 2) + Math.Pow(p.CenterIn(imageSize).Y - y, 2))!;

    /// <summary>The cell's centre in pixels of a square image of side <paramref name="imageSize"/>.</summary>
    public (double X, double Y) CenterIn(int imageSize) => (imageSize * (0.25 + 0.25 * Column), imageSize * (0.25 + 0.25 * Row));
}
