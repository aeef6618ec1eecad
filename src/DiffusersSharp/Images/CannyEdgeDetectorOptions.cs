namespace DiffusersSharp.Images;

/// <summary>
/// Thresholds of <see cref="CannyEdgeDetector"/>, as <c>cv2.Canny(image, threshold1, threshold2)</c> takes them: on the
/// L1 gradient magnitude |∂x| + |∂y| of 3×3 Sobel filters, so a step of contrast c (0–255) across an edge scores 4·c.
/// The defaults are the ones diffusers' ControlNet examples use.
/// </summary>
public sealed record CannyEdgeDetectorOptions
{
    /// <summary>Pixels above this (hysteresis) threshold are edges when connected to a strong edge.</summary>
    public double LowThreshold { get; init; } = 100;

    /// <summary>Pixels above this threshold are edges on their own.</summary>
    public double HighThreshold { get; init; } = 200;
}
