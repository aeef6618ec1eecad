namespace DiffusersSharp.Schedulers;

/// <summary>
/// float32 <c>log</c>, <c>exp</c> and <c>pow</c> as the reference torch's CPU kernels evaluate them on a tensor: SLEEF's 1-ulp
/// vector functions (<c>Sleef_logf8_u10</c>, <c>Sleef_expf8_u10</c>, <c>Sleef_powf8_u10</c>, AVX2 with FMA), which use double-float
/// arithmetic and differ from libm in the last bit for some inputs. Tables diffusers builds with these
/// (EDM's sigmas and c_noise timesteps, KDPM2's interpolated sigmas) come out bit-identical only with the same
/// algorithm.
/// </summary>
internal static class TorchCpuMath
{
    private const float Ln2Hi = 0.69314718246459960938f;
    private const float Ln2Lo = -1.904654323148236017e-09f;
    private const float RLn2 = 1.442695040888963407359924681001892137426645954152985934135449406931f;
    private const float L2U = 0.693145751953125f;
    private const float L2L = 1.428606765330187045e-06f;

    /// <summary>A double-float: an unevaluated sum hi + lo.</summary>
    private readonly record struct DF(float X, float Y);

    private static float Fma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);

    private static DF Add2(float x, float y)
    {
        var s = x + y;
        var v = s - x;
        return new DF(s, x - (s - v) + (y - v));
    }

    private static DF Add2(DF x, float y)
    {
        var s = x.X + y;
        var v = s - x.X;
        return new DF(s, x.X - (s - v) + (y - v) + x.Y);
    }

    private static DF Add2(DF x, DF y)
    {
        var s = x.X + y.X;
        var v = s - x.X;
        return new DF(s, x.X - (s - v) + (y.X - v) + (x.Y + y.Y));
    }

    private static DF Add(DF x, DF y)
    {
        var s = x.X + y.X;
        return new DF(s, x.X - s + y.X + x.Y + y.Y);
    }

    private static DF Add(DF x, float y)
    {
        var s = x.X + y;
        return new DF(s, x.X - s + y + x.Y);
    }

    private static DF Add(float x, DF y)
    {
        var s = x + y.X;
        return new DF(s, x - s + y.X + y.Y);
    }

    private static DF Scale(DF d, float s) => new(d.X * s, d.Y * s);

    private static DF Mul(DF x, float y)
    {
        var s = x.X * y;
        return new DF(s, Fma(x.Y, y, Fma(x.X, y, -s)));
    }

    private static DF Mul(DF x, DF y)
    {
        var s = x.X * y.X;
        return new DF(s, Fma(x.X, y.Y, Fma(x.Y, y.X, Fma(x.X, y.X, -s))));
    }

    private static DF Square(DF x)
    {
        var s = x.X * x.X;
        return new DF(s, Fma(x.X + x.X, x.Y, Fma(x.X, x.X, -s)));
    }

    private static DF Div(DF n, DF d)
    {
        var t = 1 / d.X;
        var s = n.X * t;
        var u = Fma(t, n.X, -s);
        var v = Fma(-d.Y, t, Fma(-d.X, t, 1));
        return new DF(s, Fma(s, v, Fma(n.Y, t, u)));
    }

    private static DF Normalize(DF t)
    {
        var s = t.X + t.Y;
        return new DF(s, t.X - s + t.Y);
    }

    private static int Bits(float f) => BitConverter.SingleToInt32Bits(f);

    private static float FromBits(int i) => BitConverter.Int32BitsToSingle(i);

    private static int ILogB2k(float d) => ((Bits(d) >>> 23) & 0xff) - 0x7f;

    private static float LdExp3(float d, int q) => FromBits(Bits(d) + (q << 23));

    private static float Pow2i(int q) => FromBits((q + 0x7f) << 23);

    private static float LdExp(float x, int q)
    {
        // Splits the scaling so that neither factor overflows.
        var m = q >> 31;
        m = (((m + q) >> 6) - m) << 4;
        q -= m << 2;
        m += 127;
        m = Math.Clamp(m, 0, 255);
        var u = FromBits(m << 23);
        x = x * u * u * u * u;
        return x * FromBits((q + 0x7f) << 23);
    }

    /// <summary>Mantissa in [0.75, 1.5) and exponent, scaling subnormals first.</summary>
    private static (float M, int E) Reduce(float d)
    {
        var subnormal = d < 1.17549435e-38f;
        if (subnormal) d *= (float)(1L << 32) * (float)(1L << 32);
        var e = ILogB2k(d * (1.0f / 0.75f));
        var m = LdExp3(d, -e);
        return (m, subnormal ? e - 64 : e);
    }

    /// <summary>SLEEF's <c>xlogf_u1</c>.</summary>
    public static float Log(float d)
    {
        var (m, e) = Reduce(d);
        var s = Mul(new DF(Ln2Hi, Ln2Lo), e);
        var x = Div(Add2(-1, m), Add2(1, m));
        var x2 = x.X * x.X;
        var t = Fma(Fma(0.3027294874e+0f, x2, 0.3996108174e+0f), x2, 0.6666694880e+0f);
        s = Add(s, Scale(x, 2));
        s = Add(s, x2 * x.X * t);
        var r = s.X + s.Y;
        if (float.IsPositiveInfinity(d)) r = float.PositiveInfinity;
        if (d < 0 || float.IsNaN(d)) r = float.NaN;
        if (d == 0) r = float.NegativeInfinity;
        return r;
    }

    /// <summary>SLEEF's <c>xexpf</c>.</summary>
    public static float Exp(float d)
    {
        var q = (int)MathF.Round(d * RLn2, MidpointRounding.ToEven);
        var s = Fma(q, -L2U, d);
        s = Fma(q, -L2L, s);
        var u = 0.000198527617612853646278381f;
        u = Fma(u, s, 0.00139304355252534151077271f);
        u = Fma(u, s, 0.00833336077630519866943359f);
        u = Fma(u, s, 0.0416664853692054748535156f);
        u = Fma(u, s, 0.166666671633720397949219f);
        u = Fma(u, s, 0.5f);
        u = 1.0f + Fma(s * s, u, s);
        u = u * Pow2i(q >> 1) * Pow2i(q - (q >> 1));
        if (d < -104) u = 0;
        if (d > 100) u = float.PositiveInfinity;
        return float.IsNaN(d) ? d : u;
    }

    /// <summary>SLEEF's <c>xexpm1f</c>: e^a − 1 from the double-float exp, rounded once.</summary>
    public static float Expm1(float a)
    {
        var d = Add2(ExpK2(new DF(a, 0)), -1.0f);
        var x = d.X + d.Y;
        if (a > 88.72283172607421875f) x = float.PositiveInfinity;
        if (a < -16.635532333438687426013570f) x = -1;
        if (a == 0 && float.IsNegative(a)) x = -0.0f;
        return x;
    }

    /// <summary>SLEEF's <c>expk2f</c>: exp of a double-float, as a double-float.</summary>
    private static DF ExpK2(DF d)
    {
        var q = (int)MathF.Round((d.X + d.Y) * RLn2, MidpointRounding.ToEven);
        var s = Add2(d, q * -L2U);
        s = Add2(s, q * -L2L);
        var u = 0.1980960224e-3f;
        u = Fma(u, s.X, 0.1394256484e-2f);
        u = Fma(u, s.X, 0.8333456703e-2f);
        u = Fma(u, s.X, 0.4166637361e-1f);
        var t = Add2(Mul(s, u), 0.166666659414234244790680580464e+0f);
        t = Add2(Mul(s, t), 0.5f);
        t = Add2(s, Mul(Square(s), t));
        t = Add(1, t);
        var scale1 = Pow2i(q >> 1);
        var scale2 = Pow2i(q - (q >> 1));
        t = new DF(t.X * scale1 * scale2, t.Y * scale1 * scale2);
        return d.X < -104 ? new DF(0, 0) : t;
    }

    /// <summary><c>torch.exp</c> of a float32 vector (SLEEF for every element, as torch's vectorised map does).</summary>
    public static float[] ExpVector(float[] x) => x.Select(Exp).ToArray();

    /// <summary><c>torch.log</c> of a float32 vector.</summary>
    public static float[] LogVector(float[] x) => x.Select(Log).ToArray();

    /// <summary>SLEEF's <c>logkf</c>: log as a double-float.</summary>
    private static DF LogK(float d)
    {
        var (m, e) = Reduce(d);
        var x = Div(Add2(-1, m), Add2(1, m));
        var x2 = Square(x);
        var t = Fma(Fma(0.240320354700088500976562f, x2.X, 0.285112679004669189453125f), x2.X, 0.400007992982864379882812f);
        var c = new DF(0.66666662693023681640625f, 3.69183861259614332084311e-09f);
        var s = Mul(new DF(Ln2Hi, Ln2Lo), e);
        s = Add(s, Scale(x, 2));
        return Add(s, Mul(Mul(x2, x), Add2(Mul(x2, t), c)));
    }

    /// <summary>SLEEF's <c>expkf</c>: exp of a double-float.</summary>
    private static float ExpK(DF d)
    {
        var q = (int)MathF.Round((d.X + d.Y) * RLn2, MidpointRounding.ToEven);
        var s = Add2(d, q * -L2U);
        s = Add2(s, q * -L2L);
        s = Normalize(s);
        var u = 0.00136324646882712841033936f;
        u = Fma(u, s.X, 0.00836596917361021041870117f);
        u = Fma(u, s.X, 0.0416710823774337768554688f);
        u = Fma(u, s.X, 0.166665524244308471679688f);
        u = Fma(u, s.X, 0.499999850988388061523438f);
        var t = Add(s, Mul(Square(s), u));
        t = Add(1, t);
        var r = LdExp(t.X + t.Y, q);
        return d.X < -104 ? 0 : r;
    }

    /// <summary>SLEEF's <c>xpowf</c> (special cases for the finite, positive bases schedulers use, plus NaN/zero/one).</summary>
    public static float Pow(float x, float y)
    {
        if (float.IsNaN(x) || float.IsNaN(y)) return float.NaN;
        if (y == 0 || x == 1) return 1;
        var yIsInt = MathF.Truncate(y) == y || MathF.Abs(y) > (1 << 24);
        var yIsOdd = yIsInt && MathF.Abs(y) < (1 << 24) && ((int)y & 1) == 1;
        if (x == 0) return (y < 0) ? (yIsOdd ? MathF.CopySign(float.PositiveInfinity, x) : float.PositiveInfinity) : (yIsOdd ? x : 0);
        var result = ExpK(Mul(LogK(MathF.Abs(x)), y));
        if (float.IsNaN(result)) result = float.PositiveInfinity;
        result *= x > 0 ? 1 : yIsInt ? (yIsOdd ? -1 : 1) : float.NaN;
        return result;
    }

    /// <summary><c>torch.pow(t, exponent)</c> on a float32 vector: SLEEF in blocks of 8 (16 per loop), the rest with libm.</summary>
    public static float[] PowVector(float[] x, float exponent)
    {
        var vectorized = x.Length / 16 * 16;
        return x.Select((v, i) => i < vectorized ? Pow(v, exponent) : MathF.Pow(v, exponent)).ToArray();
    }
}
