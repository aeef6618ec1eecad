using DiffusersSharp.Pipelines;
using Spectre.Console;

namespace DiffusersSharp.Cli;

/// <summary>A denoising progress bar on stderr, so stdout carries only the written file names.</summary>
internal static class ProgressReporter
{
    public static T Run<T>(int steps, Func<StepEndCallback, T> work)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        if (!console.Profile.Capabilities.Interactive)
            return work(_ => { });
        return console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("denoising", maxValue: steps);
                return work(args =>
                {
                    task.MaxValue = args.TotalSteps;
                    task.Value = args.Step + 1;
                });
            });
    }
}
