namespace DiffusersSharp.TrainDemo;

/// <summary>The shapes the demo data set draws; the caption word is the lower-case name.</summary>
public enum ShapeKind
{
    Circle,
    Square,
    Triangle,
    Star,
}
