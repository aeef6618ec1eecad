namespace DiffusersSharp.Images;

/// <summary>
/// An 8-bit image laid out as Pillow holds mode "RGB" (3 channels) or "L" (1 channel), with the few Pillow operations
/// diffusers' image processor applies, ported to give Pillow's exact bytes: <c>Image.resize</c> with LANCZOS or NEAREST
/// and <c>convert("L")</c> / <c>convert("RGB")</c>.
/// </summary>
internal sealed class PilImage
{
    // Pillow's fixed-point resampling: 8 bits for the result, 2 for overshoot of negative lobes (Resample.c).
    private const int PrecisionBits = 32 - 8 - 2;

    public PilImage(int height, int width, int channels, byte[] pixels)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"Expected 1 (L) or 3 (RGB) channels, got {channels}.", nameof(channels));
        if (pixels.Length != height * width * channels)
            throw new ArgumentException($"{pixels.Length} bytes do not make a {height}x{width}x{channels} image.", nameof(pixels));
        Height = height;
        Width = width;
        Channels = channels;
        Pixels = pixels;
    }

    public int Height { get; }
    public int Width { get; }
    public int Channels { get; }
    /// <summary>Row-major H×W×C bytes.</summary>
    public byte[] Pixels { get; }

    /// <summary>Pillow's <c>Image.resize((width, height), resample)</c> for "lanczos" or "nearest"; the same size is a copy.</summary>
    public PilImage Resize(int width, int height, string resample)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"Cannot resize to {width}x{height}.");
        if (width == Width && height == Height) return new PilImage(Height, Width, Channels, (byte[])Pixels.Clone());
        return resample switch
        {
            "lanczos" => ResizeLanczos(width, height),
            "nearest" => ResizeNearest(width, height),
            _ => throw new NotSupportedException($"Unsupported resample '{resample}': DiffusersSharp supports lanczos and nearest."),
        };
    }

    /// <summary>Pillow's <c>convert("L")</c>: ITU-R 601-2 luma in 16-bit fixed point, rounded half up.</summary>
    public PilImage ToGray()
    {
        if (Channels == 1) return new PilImage(Height, Width, 1, (byte[])Pixels.Clone());
        var output = new byte[Height * Width];
        for (var i = 0; i < output.Length; i++)
        {
            var p = i * 3;
            output[i] = (byte)((Pixels[p] * 19595 + Pixels[p + 1] * 38470 + Pixels[p + 2] * 7471 + 0x8000) >> 16);
        }
        return new PilImage(Height, Width, 1, output);
    }

    /// <summary>Pillow's <c>convert("RGB")</c> from "L": the level in every channel.</summary>
    public PilImage ToRgb()
    {
        if (Channels == 3) return new PilImage(Height, Width, 3, (byte[])Pixels.Clone());
        var output = new byte[Height * Width * 3];
        for (var i = 0; i < Pixels.Length; i++)
            output[3 * i] = output[3 * i + 1] = output[3 * i + 2] = Pixels[i];
        return new PilImage(Height, Width, 3, output);
    }

    // ImagingResampleInner: a horizontal pass when the width changes, then a vertical pass when the height does.
    private PilImage ResizeLanczos(int width, int height)
    {
        var image = this;
        if (width != Width)
        {
            var (bounds, kk, ksize) = PrecomputeCoefficients(Width, width);
            var output = new byte[Height * width * Channels];
            for (var y = 0; y < Height; y++)
            for (var x = 0; x < width; x++)
            for (var c = 0; c < Channels; c++)
            {
                int xmin = bounds[2 * x], count = bounds[2 * x + 1];
                var ss = 1 << (PrecisionBits - 1);
                for (var k = 0; k < count; k++)
                    ss += Pixels[(y * Width + xmin + k) * Channels + c] * kk[x * ksize + k];
                output[(y * width + x) * Channels + c] = Clip8(ss);
            }
            image = new PilImage(Height, width, Channels, output);
        }
        if (height != Height)
        {
            var (bounds, kk, ksize) = PrecomputeCoefficients(Height, height);
            var source = image.Pixels;
            var output = new byte[height * width * Channels];
            for (var y = 0; y < height; y++)
            {
                int ymin = bounds[2 * y], count = bounds[2 * y + 1];
                for (var x = 0; x < width; x++)
                for (var c = 0; c < Channels; c++)
                {
                    var ss = 1 << (PrecisionBits - 1);
                    for (var k = 0; k < count; k++)
                        ss += source[((ymin + k) * width + x) * Channels + c] * kk[y * ksize + k];
                    output[(y * width + x) * Channels + c] = Clip8(ss);
                }
            }
            image = new PilImage(height, width, Channels, output);
        }
        return image;
    }

    // Resample.c precompute_coeffs + normalize_coeffs_8bpc for the full box (0, inSize) and the LANCZOS filter.
    private static (int[] Bounds, int[] Kk, int Ksize) PrecomputeCoefficients(int inSize, int outSize)
    {
        const double filterSupport = 3.0;
        // Pillow takes the box as floats: (float)(in1 - in0), then divides in double.
        var scale = (double)(float)inSize / outSize;
        var filterScale = Math.Max(scale, 1.0);
        var support = filterSupport * filterScale;
        var ksize = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[outSize * 2];
        var kk = new int[outSize * ksize];
        var weights = new double[ksize];
        for (var xx = 0; xx < outSize; xx++)
        {
            var center = (xx + 0.5) * scale;
            var ss = 1.0 / filterScale;
            // C's (int) cast truncates toward zero, as C#'s does.
            var xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            var xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            var ww = 0.0;
            Array.Clear(weights);
            for (var x = 0; x < xmax; x++)
            {
                var w = Lanczos((x + xmin - center + 0.5) * ss);
                weights[x] = w;
                ww += w;
            }
            for (var x = 0; x < ksize; x++)
            {
                var w = x < xmax && ww != 0.0 ? weights[x] / ww : weights[x];
                kk[xx * ksize + x] = w < 0
                    ? (int)(-0.5 + w * (1 << PrecisionBits))
                    : (int)(0.5 + w * (1 << PrecisionBits));
            }
            bounds[2 * xx] = xmin;
            bounds[2 * xx + 1] = xmax;
        }
        return (bounds, kk, ksize);
    }

    private static double Lanczos(double x) => -3.0 <= x && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0;

    private static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }

    // Pillow's clip8 looks up ss >> PRECISION_BITS (an arithmetic shift) in a table that saturates to [0, 255].
    private static byte Clip8(int ss) => (byte)Math.Clamp(ss >> PrecisionBits, 0, 255);

    // _imaging.c resize with NEAREST: an affine scale (Geometry.c ImagingScaleAffine) sampling at pixel centres,
    // stepping the source coordinate by repeated addition in double.
    private PilImage ResizeNearest(int width, int height)
    {
        var a0 = (double)(float)Width / width;
        var a4 = (double)(float)Height / height;
        var xin = new int[width];
        var xo = a0 * 0.5;
        for (var x = 0; x < width; x++)
        {
            xin[x] = Coord(xo);
            xo += a0;
        }
        var output = new byte[height * width * Channels];
        var yo = a4 * 0.5;
        for (var y = 0; y < height; y++)
        {
            var yi = Coord(yo);
            yo += a4;
            // Outside the source Pillow leaves the zero fill.
            if (yi < 0 || yi >= Height) continue;
            for (var x = 0; x < width; x++)
            {
                if (xin[x] < 0 || xin[x] >= Width) continue;
                Array.Copy(Pixels, (yi * Width + xin[x]) * Channels, output, (y * width + x) * Channels, Channels);
            }
        }
        return new PilImage(height, width, Channels, output);
    }

    private static int Coord(double v) => v < 0.0 ? -1 : (int)v;
}
