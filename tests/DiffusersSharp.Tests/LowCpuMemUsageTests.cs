using DiffusersSharp.Loading;
using DiffusersSharp.Models;
using DiffusersSharp.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusersSharp.Tests;

/// <summary>Models built without weights and filled from the files equal models built, cast and then filled.</summary>
public class LowCpuMemUsageTests
{
    [Theory]
    [InlineData(null)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void EmptyBuildLoadsTheSameWeightsAsAFullBuild(ScalarType? dtype)
    {
        var dir = FixtureCase.PathOf("models/tiny-sd/unet");
        using var empty = UNet2DConditionModel.FromPretrained(dir, new LoadOptions { DType = dtype });
        using var full = UNet2DConditionModel.FromPretrained(dir, new LoadOptions { DType = dtype, LowCpuMemUsage = false });
        var expected = full.state_dict();
        var actual = empty.state_dict();
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, tensor) in actual)
        {
            Assert.Equal(expected[name].dtype, tensor.dtype);
            Assert.Equal(DeviceType.CPU, tensor.device_type);
            Assert.False(tensor.requires_grad, name);
            TensorAssert.Equal(expected[name], tensor, name);
        }
    }

    [Fact]
    public void BuildingWithoutWeightsLeavesOtherThreadsAlone()
    {
        var (model, otherThreadDevice) = EmptyWeights.Build(() =>
            (Layers.Linear(4, 4), Task.Run(() => { using var t = zeros(1); return t.device_type; }).Result), ScalarType.BFloat16);
        using var _ = model;
        Assert.Equal(DeviceType.META, model.weight.device_type);
        Assert.Equal(ScalarType.BFloat16, model.weight.dtype);
        Assert.Equal(DeviceType.CPU, otherThreadDevice);
        EmptyWeights.Materialize(model, CPU);
        Assert.Equal(DeviceType.CPU, model.weight.device_type);
        Assert.Equal(ScalarType.BFloat16, model.bias!.dtype);
    }

    [Fact]
    public void ComponentDTypesOverrideThePipelineDType()
    {
        using var pipeline = Pipelines.StableDiffusion.StableDiffusionPipeline.FromPretrained(FixtureCase.PathOf("models/tiny-sd"),
            new LoadOptions { DType = ScalarType.BFloat16, ComponentDTypes = new Dictionary<string, ScalarType> { ["vae"] = ScalarType.Float32 } });
        Assert.Equal(ScalarType.Float32, pipeline.Vae.DType);
        Assert.Equal(ScalarType.BFloat16, pipeline.Unet.DType);
        Assert.Equal(ScalarType.BFloat16, pipeline.TextEncoder.DType);
    }
}
