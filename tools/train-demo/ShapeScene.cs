namespace DiffusersSharp.TrainDemo;

/// <summary>
/// One picture of the data set: a single filled shape on a flat background. <see cref="CenterX"/>, <see cref="CenterY"/>
/// and <see cref="Radius"/> are in pixels; the caption names the shape, its colour, size and cell, and the background.
/// </summary>
public sealed record ShapeScene(
    ShapeKind Shape,
    DemoColour Colour,
    DemoColour Background,
    Placement Position,
    ShapeSize Size,
    double CenterX,
    double CenterY,
    double Radius)
{
    /// <summary>
    /// "a small green triangle at the top left on a white background". The size may be left out (then either size
    /// fits), and so may the position of a centred shape: "a red circle on a blue background" is a centred circle.
    /// </summary>
    public string Caption(bool withSize = true, bool withPosition = true)
    {
        if (!withPosition && Position != Placement.Center)
            throw new ArgumentException("Only a centred shape may be captioned without its position.", nameof(withPosition));
        var size = withSize ? (Size == ShapeSize.Small ? "small " : "large ") : "";
        var position = withPosition ? $" at the {Position.Name}" : "";
        return $"a {size}{Colour.Name} {Shape.ToString().ToLowerInvariant()}{position} on a {Background.Name} background";
    }

    /// <summary>Whether the point (x, y) in pixels lies inside the shape.</summary>
    public bool Contains(double x, double y)
    {
        var dx = (x - CenterX) / Radius;
        var dy = (y - CenterY) / Radius;
        return Shape switch
        {
            ShapeKind.Circle => dx * dx + dy * dy <= 1,
            // Inscribed in the same circle as the others would look small; 0.85 gives the square about a circle's area.
            ShapeKind.Square => Math.Abs(dx) <= 0.85 && Math.Abs(dy) <= 0.85,
            ShapeKind.Triangle => InPolygon(dx, dy, Triangle),
            ShapeKind.Star => InPolygon(dx, dy, Star),
            _ => throw new InvalidOperationException($"Unknown shape {Shape}."),
        };
    }

    // Upward triangle in the unit circle, lowered by a quarter so its area is centred on the cell.
    private static readonly (double X, double Y)[] Triangle = [(0, -0.95), (0.95, 0.75), (-0.95, 0.75)];

    private static readonly (double X, double Y)[] Star = StarVertices(5, 1.0, 0.45);

    private static (double X, double Y)[] StarVertices(int points, double outer, double inner) =>
        Enumerable.Range(0, 2 * points).Select(i =>
        {
            var angle = -Math.PI / 2 + i * Math.PI / points;
            var r = i % 2 == 0 ? outer : inner;
            return (r * Math.Cos(angle), r * Math.Sin(angle) + 0.08);
        }).ToArray();

    // Even-odd ray casting.
    private static bool InPolygon(double x, double y, (double X, double Y)[] polygon)
    {
        var inside = false;
        for (int i = 0, j = polygon.Length - 1; i < polygon.Length; j = i++)
        {
            var (xi, yi) = polygon[i];
            var (xj, yj) = polygon[j];
            if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi)
                inside = !inside;
        }
        return inside;
    }
}
