using Xunit.Sdk;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests.Support;

/// <summary>Tensor comparisons at the fixtures README's tolerances.</summary>
public static class TensorAssert
{
    /// <summary>Latents and model outputs: |a - e| ≤ atol × max(1, |e|) elementwise (README: atol about 1e-4).</summary>
    public static void Close(Tensor expected, Tensor actual, double atol = 1e-4, string what = "tensor")
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        var e = expected.to(ScalarType.Float64).cpu();
        var a = actual.to(ScalarType.Float64).cpu();
        var allowed = e.abs().clamp_min(1.0) * atol;
        var diff = (a - e).abs();
        var nan = a.isnan().any().item<bool>();
        if (nan && !e.isnan().any().item<bool>()) throw new XunitException($"{what}: result has NaN where expected has none.");
        var excess = (diff - allowed).nan_to_num(0.0);
        var worst = excess.max().item<double>();
        if (worst > 0)
        {
            var idx = excess.flatten().argmax().item<long>();
            throw new XunitException(
                $"{what}: max |diff| {diff.nan_to_num(0.0).max().item<double>():G4} exceeds atol {atol:G3}×max(1,|x|) " +
                $"(at flat index {idx}: expected {e.flatten()[idx].item<double>():G8}, got {a.flatten()[idx].item<double>():G8}).");
        }
    }

    /// <summary>Images in [0,1]: max |a - e| ≤ 1/255.</summary>
    public static void ImagesClose(Tensor expected, Tensor actual, string what = "images") =>
        CloseAbsolute(expected, actual, 1.0 / 255, what);

    public static void CloseAbsolute(Tensor expected, Tensor actual, double tolerance, string what = "tensor")
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        var worst = (actual.to(ScalarType.Float64).cpu() - expected.to(ScalarType.Float64).cpu()).abs().max().item<double>();
        if (!(worst <= tolerance)) throw new XunitException($"{what}: max |diff| {worst:G4} exceeds {tolerance:G4}.");
    }

    public static void Equal(Tensor expected, Tensor actual, string what = "tensor")
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        var e = expected.to(ScalarType.Float64).cpu();
        var a = actual.to(ScalarType.Float64).cpu();
        if (!e.eq(a).all().item<bool>())
            throw new XunitException($"{what}: expected [{string.Join(", ", e.data<double>().Take(16))}], got [{string.Join(", ", a.data<double>().Take(16))}].");
    }
}
