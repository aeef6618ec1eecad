using System.Text.Json.Nodes;
using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Runtime;
using DiffusersSharp.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

public class ControlNetTests(ITestOutputHelper output)
{
    private static string TinyControlNet => FixtureCase.PathOf("models/tiny-controlnet");

    [Fact]
    public void ControlNetModelMatchesDiffusers()
    {
        using var fixture = FixtureCase.Load("components/tiny-controlnet_shared");
        using var noGrad = no_grad();
        using var controlnet = ControlNetModel.FromPretrained(fixture.ModelPath(fixture.Manifest["model"]!.GetValue<string>()));
        var call = fixture.Manifest["call"]!.AsObject();

        using var result = controlnet.Forward(fixture.Tensor("sample"), tensor(call["timestep"]!.GetValue<long>()),
            fixture.Tensor("encoder_hidden_states"), fixture.Tensor("controlnet_cond"),
            call["conditioning_scale"]!.GetValue<double>(), call["guess_mode"]!.GetValue<bool>());

        Assert.Equal(6, result.DownBlockResSamples.Count);
        for (var i = 0; i < result.DownBlockResSamples.Count; i++)
            AssertClose(fixture.Tensor($"down_block_res_sample_{i}"), result.DownBlockResSamples[i], $"down_block_res_sample_{i}");
        AssertClose(fixture.Tensor("mid_block_res_sample"), result.MidBlockResSample, "mid_block_res_sample");
    }

    private void AssertClose(Tensor expected, Tensor actual, string what)
    {
        using (var diff = (expected - actual).abs().max())
            output.WriteLine($"{what}: max |diff| {diff.item<float>():G3}");
        TensorAssert.Close(expected, actual, 1e-4, what);
    }
}
