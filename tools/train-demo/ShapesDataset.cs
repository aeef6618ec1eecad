using static TorchSharp.torch;

namespace DiffusersSharp.TrainDemo;

/// <summary>
/// The synthetic captioned data set: picture <c>i</c> of seed <c>s</c> is always the same scene and caption, drawn
/// on the fly (no files). Pictures are <see cref="ImageSize"/>² RGB with 4 × 4 supersampled edges.
/// </summary>
public sealed class ShapesDataset(int seed, int imageSize = 64)
{
    private const int Supersampling = 4;

    public int Seed { get; } = seed;
    public int ImageSize { get; } = imageSize;

    /// <summary>The scene of picture <paramref name="index"/>: every attribute uniform, the background unlike the shape.</summary>
    public ShapeScene Scene(long index)
    {
        var random = RandomFor(index, 0);
        var shape = (ShapeKind)random.Next(Enum.GetValues<ShapeKind>().Length);
        var palette = DemoColour.Palette;
        var colour = palette[random.Next(palette.Count)];
        var background = palette.Where(c => c != colour).ElementAt(random.Next(palette.Count - 1));
        var position = Placement.All[random.Next(Placement.All.Count)];
        var size = (ShapeSize)random.Next(2);
        var (cx, cy) = position.CenterIn(ImageSize);
        var scale = ImageSize / 64.0;
        var radius = (size == ShapeSize.Small ? 7.5 : 13.5) * scale + (random.NextDouble() - 0.5) * 2 * scale;
        cx += (random.NextDouble() - 0.5) * 4 * scale;
        cy += (random.NextDouble() - 0.5) * 4 * scale;
        return new ShapeScene(shape, colour, background, position, size, cx, cy, radius);
    }

    /// <summary>
    /// The caption of picture <paramref name="index"/>: usually the full one, sometimes without the size (30 %) or,
    /// for a centred shape, without the position (50 %), so that short prompts work too.
    /// </summary>
    public string Caption(long index, ShapeScene scene) => Caption(scene, RandomFor(index, 1));

    /// <summary>A caption of <paramref name="scene"/> with the optional parts chosen by <paramref name="random"/>.</summary>
    public static string Caption(ShapeScene scene, Random random)
    {
        var withSize = random.NextDouble() >= 0.3;
        var withPosition = scene.Position != Placement.Center || random.NextDouble() >= 0.5;
        return scene.Caption(withSize, withPosition);
    }

    /// <summary>The picture as [3, H, W] floats in [-1, 1], diffusers' image range.</summary>
    public float[] Render(ShapeScene scene)
    {
        var n = ImageSize;
        var pixels = new float[3 * n * n];
        double[] fg = [scene.Colour.R, scene.Colour.G, scene.Colour.B];
        double[] bg = [scene.Background.R, scene.Background.G, scene.Background.B];
        // Pixels farther from the centre than the shape's bounding circle are background: no need to sample them.
        var reach = scene.Radius * 1.5 + 1;
        var outline = scene.Outline;
        for (var y = 0; y < n; y++)
        {
            for (var x = 0; x < n; x++)
            {
                var covered = 0;
                if (Math.Abs(x + 0.5 - scene.CenterX) <= reach && Math.Abs(y + 0.5 - scene.CenterY) <= reach)
                for (var sy = 0; sy < Supersampling; sy++)
                    for (var sx = 0; sx < Supersampling; sx++)
                        if (outline.Contains(x + (sx + 0.5) / Supersampling, y + (sy + 0.5) / Supersampling))
                            covered++;
                var coverage = covered / (double)(Supersampling * Supersampling);
                for (var c = 0; c < 3; c++)
                    pixels[c * n * n + y * n + x] = (float)((bg[c] + coverage * (fg[c] - bg[c])) / 127.5 - 1);
            }
        }
        return pixels;
    }

    /// <summary>Pictures <paramref name="indices"/> as a [B, 3, H, W] batch in [-1, 1], and their captions.</summary>
    public (Tensor Images, string[] Captions) Batch(IReadOnlyList<long> indices)
    {
        var n = ImageSize;
        var data = new float[indices.Count * 3 * n * n];
        var captions = new string[indices.Count];
        Parallel.For(0, indices.Count, i =>
        {
            var scene = Scene(indices[i]);
            Render(scene).CopyTo(data, i * 3 * n * n);
            captions[i] = Caption(indices[i], scene);
        });
        // A copy in libtorch's memory: autograd reads a layer's input again in the backward pass, after this array is gone.
        using var view = tensor(data, [indices.Count, 3, n, n]);
        var images = view.clone();
        GC.KeepAlive(data);
        return (images, captions);
    }

    // One independent stream per (seed, picture, purpose), so any picture is drawn without drawing those before it.
    private Random RandomFor(long index, int purpose)
    {
        var z = unchecked((ulong)Seed * 0x9E3779B97F4A7C15UL ^ (ulong)index * 0xBF58476D1CE4E5B9UL ^ (ulong)purpose * 0x94D049BB133111EBUL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return new Random((int)((z ^ (z >> 31)) & 0x7FFFFFFF));
    }
}
