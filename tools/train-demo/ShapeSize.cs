namespace DiffusersSharp.TrainDemo;

/// <summary>The two sizes of the grammar ("small", "large"), as the shape's outer radius in pixels of a 64-pixel image.</summary>
public enum ShapeSize
{
    Small,
    Large,
}
