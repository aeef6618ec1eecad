namespace DiffusersSharp.Serving;

/// <summary>A model in the pipeline cache: its name, what its parameters take, and how many leases hold it now.</summary>
public sealed record LoadedModelInfo(string Model, string DType, string Device, long Bytes, int Leases);
