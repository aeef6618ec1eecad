using System.Text.Json;

namespace DiffusersSharp.TrainDemo;

/// <summary>Where a training run stands, saved next to its checkpoints so a re-run resumes.</summary>
public sealed class TrainState
{
    public string Fingerprint { get; set; } = "";
    public int VaeStep { get; set; }
    public double VaeLoss { get; set; }
    public double ScalingFactor { get; set; }
    public int UnetStep { get; set; }
    public double UnetLoss { get; set; }

    /// <summary>The saved state, or a fresh one; refuses a checkpoint made with other settings.</summary>
    public static TrainState Load(string path, string fingerprint)
    {
        if (!File.Exists(path)) return new TrainState { Fingerprint = fingerprint };
        var state = JsonSerializer.Deserialize<TrainState>(File.ReadAllText(path))
            ?? throw new InvalidDataException($"{path} is not a training state.");
        if (state.Fingerprint != fingerprint)
            throw new InvalidOperationException(
                $"The checkpoint in {Path.GetDirectoryName(path)} was made with other settings ({state.Fingerprint}); run with the same options or delete that folder.");
        return state;
    }

    public void Save(string path)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temporary, path, overwrite: true);
    }
}
