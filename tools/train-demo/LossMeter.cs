using System.Diagnostics;
using System.Globalization;

namespace DiffusersSharp.TrainDemo;

/// <summary>Averages the loss over each logging window, prints it with speed and time left, and appends it to a CSV.</summary>
public sealed class LossMeter(string stage, int totalSteps, int every, Action<string> log, string csvPath)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private double _sum;
    private int _count;
    private int _stepsTimed;

    /// <summary>Adds one step's loss; returns the running window average.</summary>
    public double Add(int step, double loss)
    {
        _sum += loss;
        _count++;
        _stepsTimed++;
        var average = _sum / _count;
        if (step % every == 0 || step == totalSteps)
        {
            var perSecond = _stepsTimed / _clock.Elapsed.TotalSeconds;
            var left = TimeSpan.FromSeconds((totalSteps - step) / perSecond);
            log(string.Create(CultureInfo.InvariantCulture, $"{stage}: step {step}/{totalSteps} loss {average:F5} ({perSecond:F2} steps/s, {left:hh\\:mm\\:ss} left)"));
            File.AppendAllText(csvPath, string.Create(CultureInfo.InvariantCulture, $"{stage},{step},{average:F6}\n"));
            _sum = 0;
            _count = 0;
        }
        return average;
    }
}
