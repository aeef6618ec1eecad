namespace DiffusersSharp.TrainDemo;

/// <summary>
/// A shape's outline: <see cref="Kind"/> centred on (<see cref="CenterX"/>, <see cref="CenterY"/>) within a circle of
/// <see cref="Radius"/>, all in pixels. The data set draws scenes with it and the picture check fits it to drawn pixels.
/// </summary>
public readonly record struct ShapeOutline(ShapeKind Kind, double CenterX, double CenterY, double Radius)
{
    /// <summary>Whether the point (x, y) in pixels lies inside the shape.</summary>
    public bool Contains(double x, double y)
    {
        var dx = (x - CenterX) / Radius;
        var dy = (y - CenterY) / Radius;
        return Kind switch
        {
            ShapeKind.Circle => dx * dx + dy * dy <= 1,
            // Inscribed in the same circle as the others would look small; 0.85 gives the square about a circle's area.
            ShapeKind.Square => Math.Abs(dx) <= 0.85 && Math.Abs(dy) <= 0.85,
            ShapeKind.Triangle => InPolygon(dx, dy, Triangle),
            ShapeKind.Star => InPolygon(dx, dy, Star),
            _ => throw new InvalidOperationException($"Unknown shape {Kind}."),
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
