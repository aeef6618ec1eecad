using DiffusersSharp.Runtime;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>
/// libtorch's CPU convolution back-end switches (PyTorch's <c>torch.backends.mkldnn.enabled</c> and
/// <c>torch.backends.nnpack.enabled</c>). NativeRuntime turns NNPACK off when it loads libtorch; the demo trainer turns
/// oneDNN off, because its convolution backward gave wrong gradients here. This class shares a collection with the
/// trainer's tests, as both flip process-wide flags.
/// </summary>
[Collection(nameof(ConvolutionBackendTests))]
public class ConvolutionBackendTests
{
    [Fact]
    public void WithoutOneDnnStackedConvolutionGradientsMatchFloat64()
    {
        var (mkldnn, nnpack) = (NativeRuntime.MkldnnEnabled, NativeRuntime.NnpackEnabled);
        Assert.True(mkldnn, "libtorch's default, oneDNN on");
        Assert.False(nnpack, "NativeRuntime turns NNPACK off when it loads libtorch");
        try
        {
            NativeRuntime.MkldnnEnabled = false;
            NativeRuntime.NnpackEnabled = false;
            Assert.False(NativeRuntime.MkldnnEnabled);
            Assert.False(NativeRuntime.NnpackEnabled);

            // The case that failed with oneDNN: two 3 × 3 convolutions, the input gradient of the first (50–80 % off).
            using var scope = NewDisposeScope();
            using var generator = new Generator(0, CPU);
            var input = randn([16, 16, 32, 32], generator: generator);
            var first = randn([16, 16, 3, 3], generator: generator) * 0.1;
            var second = randn([8, 16, 3, 3], generator: generator) * 0.1;
            var upstream = randn([16, 8, 32, 32], generator: generator);
            Tensor InputGradient(ScalarType dtype)
            {
                var x = input.to(dtype).detach().requires_grad_(true);
                var h = nn.functional.conv2d(x, first.to(dtype), padding: [1, 1]);
                (nn.functional.conv2d(h, second.to(dtype), padding: [1, 1]) * upstream.to(dtype)).sum().backward();
                return x.grad!.to(ScalarType.Float64);
            }
            var reference = InputGradient(ScalarType.Float64);
            var error = ((InputGradient(ScalarType.Float32) - reference).abs().max() / reference.abs().max()).item<double>();
            Assert.True(error < 1e-5, $"float32 input gradient off by {error:E2} of its largest value");

            NativeRuntime.MkldnnEnabled = true;
            NativeRuntime.NnpackEnabled = true;
            Assert.True(NativeRuntime.MkldnnEnabled);
            Assert.True(NativeRuntime.NnpackEnabled);
        }
        finally
        {
            NativeRuntime.MkldnnEnabled = mkldnn;
            NativeRuntime.NnpackEnabled = nnpack;
        }
    }
}
