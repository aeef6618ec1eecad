namespace DiffusersSharp.TrainDemo;

/// <summary>
/// One picture of the data set: a single filled shape on a flat background. <see cref="CenterX"/>, <see cref="CenterY"/>
/// and <see cref="Radius"/> are in pixels; the caption names the shape, its colour, size and cell, and the background.
/// </summary>
public sealed record ShapeScene(
    ShapeKind Shape,
    DemoColour Colour,
    DemoColour Background,
    Placement Position,
    ShapeSize Size,
    double CenterX,
    double CenterY,
    double Radius)
{
    /// <summary>
    /// "a small green triangle at the top left on a white background". The size may be left out (then either size
    /// fits), and so may the position of a centred shape: "a red circle on a blue background" is a centred circle.
    /// </summary>
    public string Caption(bool withSize = true, bool withPosition = true)
    {
        if (!withPosition && Position != Placement.Center)
            throw new ArgumentException("Only a centred shape may be captioned without its position.", nameof(withPosition));
        var size = withSize ? (Size == ShapeSize.Small ? "small " : "large ") : "";
        var position = withPosition ? $" at the {Position.Name}" : "";
        return $"a {size}{Colour.Name} {Shape.ToString().ToLowerInvariant()}{position} on a {Background.Name} background";
    }

    /// <summary>The shape's outline, where it is drawn.</summary>
    public ShapeOutline Outline => new(Shape, CenterX, CenterY, Radius);
}
