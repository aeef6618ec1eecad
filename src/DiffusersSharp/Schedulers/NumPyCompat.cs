namespace DiffusersSharp.Schedulers;

/// <summary>
/// The few NumPy routines diffusers builds its schedules with, reproduced operation for operation in float64 so that
/// timesteps and sigmas come out bit-identical (a different summation order or rounding mode would shift the last
/// bit of a sigma, and after rounding, sometimes a timestep).
/// </summary>
internal static class NumPyCompat
{
    /// <summary>
    /// <c>np.linspace(start, stop, num, endpoint)</c> in float64: <c>start + i * step</c>, the last value set to
    /// <c>stop</c> when it is an endpoint.
    /// </summary>
    public static double[] Linspace(double start, double stop, int num, bool endpoint = true)
    {
        if (num < 0) throw new ArgumentOutOfRangeException(nameof(num), num, "Number of samples must be non-negative.");
        var y = new double[num];
        var div = endpoint ? num - 1 : num;
        var delta = stop - start;
        if (div > 0)
        {
            var step = delta / div;
            for (var i = 0; i < num; i++)
                y[i] = step == 0 ? i / (double)div * delta + start : i * step + start;
            if (endpoint) y[num - 1] = stop;
        }
        else
        {
            // num == 1: NumPy multiplies by delta (0 * delta == 0) and adds start.
            for (var i = 0; i < num; i++) y[i] = i * delta + start;
        }
        return y;
    }

    /// <summary>
    /// <c>np.arange(start, stop, step)</c> for floats: NumPy sizes it as <c>ceil((stop - start) / step)</c> and fills
    /// <c>start + i * delta</c> with <c>delta = (start + step) - start</c>, which can differ from <c>step</c> in the last bit.
    /// </summary>
    public static double[] Arange(double start, double stop, double step)
    {
        var length = (long)Math.Ceiling((stop - start) / step);
        if (length <= 0) return Array.Empty<double>();
        var y = new double[length];
        y[0] = start;
        if (length > 1)
        {
            var delta = start + step - start;
            y[1] = start + step;
            for (var i = 2; i < length; i++) y[i] = start + i * delta;
        }
        return y;
    }

    /// <summary><c>np.round</c>: half to even.</summary>
    public static double Round(double x) => Math.Round(x, MidpointRounding.ToEven);

    public static double[] Round(double[] x) => x.Select(Round).ToArray();

    public static T[] Reverse<T>(T[] x) => x.Reverse().ToArray();

    /// <summary><c>np.interp(x, xp, fp)</c> (xp increasing), with NumPy's slope formula and end handling.</summary>
    public static double[] Interp(double[] x, double[] xp, double[] fp)
    {
        if (xp.Length != fp.Length || xp.Length == 0) throw new ArgumentException("xp and fp must have the same, non-zero length.");
        var n = xp.Length;
        var result = new double[x.Length];
        for (var i = 0; i < x.Length; i++)
        {
            var v = x[i];
            if (double.IsNaN(v)) { result[i] = v; continue; }
            if (v < xp[0]) { result[i] = fp[0]; continue; }
            if (v > xp[n - 1]) { result[i] = fp[n - 1]; continue; }
            // Largest j with xp[j] <= v.
            var j = Array.BinarySearch(xp, v);
            if (j < 0) j = ~j - 1;
            else while (j + 1 < n && xp[j + 1] == v) j++;
            if (j >= n - 1 || xp[j] == v) { result[i] = fp[Math.Min(j, n - 1)]; continue; }
            var slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
            var r = slope * (v - xp[j]) + fp[j];
            if (double.IsNaN(r))
            {
                r = slope * (v - xp[j + 1]) + fp[j + 1];
                if (double.IsNaN(r) && fp[j] == fp[j + 1]) r = fp[j];
            }
            result[i] = r;
        }
        return result;
    }

    /// <summary>
    /// <c>np.log</c> of a float32 value as NumPy's x86 SIMD loop computes it (<c>simd_log_FLOAT</c>): the exponent and a
    /// mantissa in [√½, √2) by bit manipulation, then <c>e·ln2 + P(m−1)/Q(m−1)</c> with two degree-5 polynomials in
    /// fused multiply-adds. It differs from a correctly rounded log in the last bit for some inputs, which moves
    /// interpolated timesteps by an ulp.
    /// </summary>
    public static float Log(float x)
    {
        if (float.IsNaN(x) || x < 0) return float.NaN;
        if (x == 0) return float.NegativeInfinity;
        if (float.IsPositiveInfinity(x)) return x;
        float exponent;
        if (x < 1.17549435e-38f)
        {
            // Denormals are scaled by 2^100 first.
            x *= BitConverter.Int32BitsToSingle(0x71800000);
            exponent = (BitConverter.SingleToInt32Bits(x) >>> 23) - 126 - 100;
        }
        else
        {
            exponent = (BitConverter.SingleToInt32Bits(x) >>> 23) - 126;
        }
        var m = BitConverter.Int32BitsToSingle((BitConverter.SingleToInt32Bits(x) & 0x7FFFFF) | (126 << 23));
        if (m <= 0.707106781186547524400844362104849039f)
        {
            m += m;
            exponent -= 1;
        }
        var y = m - 1;
        var num = MathF.FusedMultiplyAdd(2.589979117907922693523e-02f, y, 3.808837741388407920751e-01f);
        num = MathF.FusedMultiplyAdd(num, y, 1.480000633576506585156e+00f);
        num = MathF.FusedMultiplyAdd(num, y, 2.112677543073053063722e+00f);
        num = MathF.FusedMultiplyAdd(num, y, 9.999999999999998702752e-01f);
        num = MathF.FusedMultiplyAdd(num, y, 0f);
        var den = MathF.FusedMultiplyAdd(5.875095403124574342950e-03f, y, 1.546476374983906719538e-01f);
        den = MathF.FusedMultiplyAdd(den, y, 9.864942958519418960339e-01f);
        den = MathF.FusedMultiplyAdd(den, y, 2.453006071784736363091e+00f);
        den = MathF.FusedMultiplyAdd(den, y, 2.612677543073109236779e+00f);
        den = MathF.FusedMultiplyAdd(den, y, 1f);
        return MathF.FusedMultiplyAdd(exponent, 0.693147180559945309417232121458176568f, num / den);
    }

    /// <summary><c>np.arange(n)</c> as float64.</summary>
    public static double[] Indices(int n) => Enumerable.Range(0, n).Select(i => (double)i).ToArray();

    public static float[] ToFloat32(double[] x) => x.Select(v => (float)v).ToArray();

    public static double[] ToFloat64(float[] x) => x.Select(v => (double)v).ToArray();

    /// <summary><c>astype(np.int64)</c>: truncation toward zero.</summary>
    public static long[] ToInt64(double[] x) => x.Select(v => (long)v).ToArray();
}
