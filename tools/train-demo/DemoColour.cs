namespace DiffusersSharp.TrainDemo;

/// <summary>A named colour of the grammar, in 0–255 RGB.</summary>
public sealed record DemoColour(string Name, byte R, byte G, byte B)
{
    /// <summary>Six colours far apart in RGB, so that a picture's pixels can be told apart by nearest colour.</summary>
    public static IReadOnlyList<DemoColour> Palette { get; } =
    [
        new("red", 220, 30, 30),
        new("green", 30, 170, 50),
        new("blue", 30, 60, 220),
        new("yellow", 245, 215, 30),
        new("white", 245, 245, 245),
        new("black", 15, 15, 15),
    ];

    public static DemoColour Named(string name) =>
        Palette.FirstOrDefault(c => c.Name == name) ?? throw new ArgumentException($"Unknown colour '{name}': use one of {string.Join(", ", Palette.Select(c => c.Name))}.");

    /// <summary>The palette colour nearest to a pixel given in 0–255.</summary>
    public static DemoColour Nearest(double r, double g, double b) => Palette.MinBy(c => c.DistanceSquared(r, g, b))!;

    /// <summary>Squared RGB distance to a pixel given in 0–255.</summary>
    public double DistanceSquared(double r, double g, double b) => (r - R) * (r - R) + (g - G) * (g - G) + (b - B) * (b - B);
}
