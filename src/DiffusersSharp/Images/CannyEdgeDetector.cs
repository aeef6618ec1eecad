using static TorchSharp.torch;

namespace DiffusersSharp.Images;

/// <summary>
/// The Canny edge detector (Canny, 1986) exactly as OpenCV's <c>cv2.Canny(image, low, high)</c> computes it with its
/// defaults (apertureSize 3, L2gradient false), which is how diffusers' ControlNet examples make canny control images.
/// Hand-written: NuGet has no maintained managed Canny (OpenCvSharp wraps the native library; ImageSharp has Sobel but no Canny).
/// <para>
/// The steps, as in OpenCV's <c>canny.cpp</c>:
/// <list type="number">
/// <item>No blur and no grayscale conversion (cv2.Canny does neither): each channel gets 3×3 Sobel derivatives ∂x, ∂y
/// with replicated borders, and each pixel keeps the channel whose |∂x| + |∂y| is largest (the first on ties).</item>
/// <item>Non-maximum suppression in fixed point: the gradient direction is binned at tan 22.5° and tan 67.5°
/// (horizontal, vertical or diagonal), and a pixel survives when its magnitude exceeds the neighbour behind it and is at
/// least the one ahead (strictly exceeds both on diagonals); magnitudes outside the image count as 0.</item>
/// <item>Double threshold with hysteresis: survivors above ⌊high⌋ are edges, survivors above ⌊low⌋ become edges when
/// 8-connected to an edge, everything else is background.</item>
/// </list>
/// The result is white (255) edges on black, replicated to 3 channels as the diffusers docs do after cv2.Canny.
/// </para>
/// </summary>
public sealed class CannyEdgeDetector
{
    // OpenCV's fixed-point tangent of 22.5°: round(tan(22.5°) · 2^15).
    private const int Shift = 15;
    private const long Tan22 = 13573;

    private const byte Candidate = 0;
    private const byte NotEdge = 1;
    private const byte Edge = 2;

    public CannyEdgeDetector(CannyEdgeDetectorOptions? options = null)
    {
        Options = options ?? new CannyEdgeDetectorOptions();
        var (low, high) = (Options.LowThreshold, Options.HighThreshold);
        if (!double.IsFinite(low) || !double.IsFinite(high) || low < 0 || high < 0)
            throw new ArgumentException($"Canny thresholds must be finite and non-negative, got low {low} and high {high}.", nameof(options));
        if (low > high)
            throw new ArgumentException($"The low Canny threshold ({low}) must not exceed the high one ({high}).", nameof(options));
    }

    public CannyEdgeDetectorOptions Options { get; }

    /// <summary>Edge map of an 8-bit image: uint8 [H, W, 3], [H, W, 1] or [H, W] in; uint8 [H, W, 3] of 0 / 255 out.</summary>
    public Tensor Detect(Tensor image)
    {
        var pil = ImageIO.FromTensor(image);
        var edges = DetectEdges(pil.Pixels, pil.Height, pil.Width, pil.Channels);
        var rgb = new byte[edges.Length * 3];
        for (var i = 0; i < edges.Length; i++)
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = edges[i];
        return ImageIO.ToTensor(new PilImage(pil.Height, pil.Width, 3, rgb));
    }

    /// <summary>One byte per pixel, 255 on edges, for row-major H×W×C pixels.</summary>
    private byte[] DetectEdges(byte[] pixels, int height, int width, int channels)
    {
        var (dx, dy, magnitude) = Gradients(pixels, height, width, channels);
        // OpenCV compares integer magnitudes with the floored thresholds.
        var low = (long)Math.Floor(Options.LowThreshold);
        var high = (long)Math.Floor(Options.HighThreshold);

        var map = new byte[height * width];
        var strong = new Stack<int>();
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = y * width + x;
                var m = magnitude[i];
                if (m > low && IsLocalMaximum(magnitude, height, width, x, y, dx[i], dy[i]))
                {
                    map[i] = Candidate;
                    if (m > high)
                    {
                        map[i] = Edge;
                        strong.Push(i);
                    }
                }
                else
                {
                    map[i] = NotEdge;
                }
            }
        }

        // Hysteresis: grow edges into 8-connected candidates.
        while (strong.Count > 0)
        {
            var i = strong.Pop();
            var (y, x) = (i / width, i % width);
            for (var ny = Math.Max(0, y - 1); ny <= Math.Min(height - 1, y + 1); ny++)
            {
                for (var nx = Math.Max(0, x - 1); nx <= Math.Min(width - 1, x + 1); nx++)
                {
                    var n = ny * width + nx;
                    if (map[n] != Candidate) continue;
                    map[n] = Edge;
                    strong.Push(n);
                }
            }
        }

        var edges = new byte[map.Length];
        for (var i = 0; i < map.Length; i++)
            edges[i] = map[i] == Edge ? (byte)255 : (byte)0;
        return edges;
    }

    /// <summary>OpenCV's direction-binned non-maximum test, in its fixed point and with its asymmetric comparisons.</summary>
    private static bool IsLocalMaximum(int[] magnitude, int height, int width, int x, int y, int gx, int gy)
    {
        int At(int cx, int cy) => cx < 0 || cy < 0 || cx >= width || cy >= height ? 0 : magnitude[cy * width + cx];

        var m = magnitude[y * width + x];
        long ax = Math.Abs(gx);
        var ay = (long)Math.Abs(gy) << Shift;
        var tan22x = ax * Tan22;
        if (ay < tan22x)
            return m > At(x - 1, y) && m >= At(x + 1, y);
        var tan67x = tan22x + (ax << (Shift + 1));
        if (ay > tan67x)
            return m > At(x, y - 1) && m >= At(x, y + 1);
        // Diagonal: along (1, 1) when the derivatives share a sign, else along (1, -1).
        var s = (gx ^ gy) < 0 ? -1 : 1;
        return m > At(x - s, y - 1) && m > At(x + s, y + 1);
    }

    /// <summary>3×3 Sobel derivatives with replicated borders, keeping per pixel the channel of largest L1 magnitude.</summary>
    private static (int[] Dx, int[] Dy, int[] Magnitude) Gradients(byte[] pixels, int height, int width, int channels)
    {
        var dx = new int[height * width];
        var dy = new int[height * width];
        var magnitude = new int[height * width];
        int P(int x, int y, int c) => pixels[(Math.Clamp(y, 0, height - 1) * width + Math.Clamp(x, 0, width - 1)) * channels + c];

        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = y * width + x;
                for (var c = 0; c < channels; c++)
                {
                    var gx = P(x + 1, y - 1, c) - P(x - 1, y - 1, c) + 2 * (P(x + 1, y, c) - P(x - 1, y, c)) + P(x + 1, y + 1, c) - P(x - 1, y + 1, c);
                    var gy = P(x - 1, y + 1, c) - P(x - 1, y - 1, c) + 2 * (P(x, y + 1, c) - P(x, y - 1, c)) + P(x + 1, y + 1, c) - P(x + 1, y - 1, c);
                    var m = Math.Abs(gx) + Math.Abs(gy);
                    if (c > 0 && m <= magnitude[i]) continue;
                    (dx[i], dy[i], magnitude[i]) = (gx, gy, m);
                }
            }
        }
        return (dx, dy, magnitude);
    }
}
