namespace DiffusersSharp.TrainDemo;

/// <summary>What <see cref="DemoPictureCheck.Inspect"/> saw in a picture.</summary>
/// <param name="ShapePixels">Pixels nearest the asked shape colour.</param>
/// <param name="Cell">The grid cell nearest to those pixels' centroid; null when there are none.</param>
/// <param name="Background">Share of the other pixels nearest the asked background colour.</param>
/// <param name="Shape">The shape whose outline fits those pixels best; null when there are too few to fit.</param>
/// <param name="ShapeFit">That fit's intersection over union with the pixels, 0–1.</param>
/// <param name="ColourError">
/// RGB distance (0–255 scale) from the asked colour to the mean of the pixels nearer it than the background's colour:
/// how far the shape's colour is tinted (the orange "yellow" circle of the README's playground picture is 56 off); NaN
/// when no pixel is nearer.
/// </param>
public sealed record DemoPictureSeen(int ShapePixels, Placement? Cell, double Background, ShapeKind? Shape, double ShapeFit, double ColourError)
{
    /// <summary>The shape's colour is tinted: its mean is farther than <see cref="DemoPictureCheck.TintDistance"/> from the asked one.</summary>
    public bool Tinted => ColourError > DemoPictureCheck.TintDistance;

    /// <summary>A shape of the asked colour is drawn: at least <see cref="DemoPictureCheck.MinShapePixels"/> pixels have it.</summary>
    public bool DrawsColour => ShapePixels >= DemoPictureCheck.MinShapePixels;

    /// <summary>The rest of the picture is mostly the asked background.</summary>
    public bool ShowsBackground => Background >= DemoPictureCheck.BackgroundShare;

    /// <summary>A shape of the asked colour is drawn and the rest of the picture is the asked background.</summary>
    public bool ShowsColourOnBackground => DrawsColour && ShowsBackground;
}

/// <summary>
/// What a generated picture shows, by pixel statistics: each pixel counts as the palette colour nearest to it. A
/// shape of the asked colour is drawn when at least <see cref="MinShapePixels"/> pixels have it (a small shape covers
/// about 150); it sits in the grid cell nearest to their centroid; the background is right when most of the other
/// pixels have the background's colour; and the shape is the one whose outline, placed and sized to fit best, covers
/// those pixels with the highest intersection over union.
/// </summary>
public static class DemoPictureCheck
{
    public const int MinShapePixels = 40;
    /// <summary>Share of the pixels outside the shape's colour that must be the background's.</summary>
    public const double BackgroundShare = 0.8;
    /// <summary>A shape's mean colour this far (RGB, 0–255) from the asked one counts as tinted; palette colours are 150–400 apart.</summary>
    public const double TintDistance = 40;

    /// <summary>What the picture shows of a caption's shape colour and background.</summary>
    /// <param name="rgb">The picture as H × W × 3 values in 0–255 (the pipeline's output times 255).</param>
    public static DemoPictureSeen Inspect(float[] rgb, int size, DemoColour colour, DemoColour background)
    {
        var mask = new bool[size * size];
        int shape = 0, rest = 0, nearer = 0;
        double sumX = 0, sumY = 0, sumR = 0, sumG = 0, sumB = 0;
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                var i = (y * size + x) * 3;
                var (r, g, b) = (rgb[i], rgb[i + 1], rgb[i + 2]);
                var nearest = DemoColour.Nearest(r, g, b);
                if (colour.DistanceSquared(r, g, b) < background.DistanceSquared(r, g, b))
                {
                    nearer++;
                    sumR += r;
                    sumG += g;
                    sumB += b;
                }
                if (nearest == colour)
                {
                    mask[y * size + x] = true;
                    shape++;
                    sumX += x + 0.5;
                    sumY += y + 0.5;
                }
                else if (nearest == background)
                {
                    rest++;
                }
            }
        }
        var others = size * size - shape;
        var share = others == 0 ? 0 : rest / (double)others;
        var colourError = nearer == 0 ? double.NaN : Math.Sqrt(colour.DistanceSquared(sumR / nearer, sumG / nearer, sumB / nearer));
        if (shape == 0) return new DemoPictureSeen(0, null, share, null, 0, colourError);
        var (cx, cy) = (sumX / shape, sumY / shape);
        var (kind, fit) = shape >= MinShapePixels ? FitShape(mask, shape, size, cx, cy) : (default(ShapeKind?), 0.0);
        return new DemoPictureSeen(shape, Placement.Nearest(cx, cy, size), share, kind, fit, colourError);
    }

    /// <summary>
    /// The shape, centre (within 3 px of the centroid: a triangle's centroid lies below its circle's centre) and radius
    /// whose outline best matches the mask, by intersection over union.
    /// </summary>
    private static (ShapeKind?, double) FitShape(bool[] mask, int count, int size, double cx, double cy)
    {
        ShapeKind? best = null;
        var bestFit = 0.0;
        foreach (var kind in Enum.GetValues<ShapeKind>())
        {
            for (var radius = 4.0; radius <= 18.0; radius += 0.5)
            {
                for (var dy = -3; dy <= 3; dy++)
                {
                    for (var dx = -3; dx <= 3; dx++)
                    {
                        var outline = new ShapeOutline(kind, cx + dx, cy + dy, radius);
                        var fit = IntersectionOverUnion(mask, count, size, outline);
                        if (fit > bestFit) (best, bestFit) = (kind, fit);
                    }
                }
            }
        }
        return (best, bestFit);
    }

    private static double IntersectionOverUnion(bool[] mask, int count, int size, ShapeOutline outline)
    {
        // Every shape lies within 1.08 radii of its centre (the star's lower points), so only that square can hold outline pixels.
        var reach = outline.Radius * 1.1 + 1;
        int x0 = Math.Max(0, (int)(outline.CenterX - reach)), x1 = Math.Min(size - 1, (int)(outline.CenterX + reach));
        int y0 = Math.Max(0, (int)(outline.CenterY - reach)), y1 = Math.Min(size - 1, (int)(outline.CenterY + reach));
        int inside = 0, both = 0;
        for (var y = y0; y <= y1; y++)
        {
            for (var x = x0; x <= x1; x++)
            {
                if (!outline.Contains(x + 0.5, y + 0.5)) continue;
                inside++;
                if (mask[y * size + x]) both++;
            }
        }
        return both / (double)(count + inside - both);
    }
}
