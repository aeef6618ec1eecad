namespace DiffusersSharp.TrainDemo;

/// <summary>
/// What a generated picture shows, by pixel statistics: each pixel counts as the palette colour nearest to it. A
/// shape of the asked colour is drawn when at least <see cref="MinShapePixels"/> pixels have it (a small shape covers
/// about 150); it sits in the grid cell nearest to their centroid; the background is right when most of the other
/// pixels have the background's colour.
/// </summary>
public static class DemoPictureCheck
{
    public const int MinShapePixels = 40;
    /// <summary>Share of the pixels outside the shape's colour that must be the background's.</summary>
    public const double BackgroundShare = 0.8;

    /// <summary>What the picture shows of a caption's shape colour and background.</summary>
    /// <param name="rgb">The picture as H × W × 3 values in 0–255 (the pipeline's output times 255).</param>
    public static (int ShapePixels, Placement? Cell, double Background) Inspect(float[] rgb, int size, DemoColour colour, DemoColour background)
    {
        int shape = 0, rest = 0;
        double sumX = 0, sumY = 0;
        for (var y = 0; y < size; y++)
        {
            for (var x = 0; x < size; x++)
            {
                var i = (y * size + x) * 3;
                var nearest = DemoColour.Nearest(rgb[i], rgb[i + 1], rgb[i + 2]);
                if (nearest == colour)
                {
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
        if (shape == 0) return (0, null, share);
        return (shape, Placement.Nearest(sumX / shape, sumY / shape, size), share);
    }

    /// <summary>A shape of the asked colour is drawn and the rest of the picture is the asked background.</summary>
    public static bool ShowsColourOnBackground((int ShapePixels, Placement? Cell, double Background) seen) =>
        seen.ShapePixels >= MinShapePixels && seen.Background >= BackgroundShare;
}
