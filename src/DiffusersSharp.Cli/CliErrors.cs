using DiffusersSharp.Runtime;

namespace DiffusersSharp.Cli;

/// <summary>Turns any failure into one line on stderr and a non-zero exit code, never a stack trace.</summary>
internal static class CliErrors
{
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled");
            return 130;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine("error: " + OneLine(e));
            return e is NativeRuntimeException ? 3 : 1;
        }
    }

    /// <summary>The message a user reads: the cause of a failed static initialiser, on one line.</summary>
    public static string OneLine(Exception e)
    {
        var message = e is TypeInitializationException && e.InnerException is not null ? e.InnerException.Message : e.Message;
        // .NET appends " (Parameter 'name')" and the value to an argument exception's message; ours already say both.
        if (e is ArgumentException { ParamName: { } name }
            && message.IndexOf($" (Parameter '{name}')", StringComparison.Ordinal) is var cut and > 0)
            message = message[..cut];
        return message.ReplaceLineEndings(" ").Trim();
    }
}
