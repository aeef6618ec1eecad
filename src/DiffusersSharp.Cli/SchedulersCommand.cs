using System.CommandLine;
using DiffusersSharp.Schedulers;

namespace DiffusersSharp.Cli;

/// <summary><c>diffuse schedulers</c>: the short names and the diffusers classes and options each stands for.</summary>
internal static class SchedulersCommand
{
    public static Command Create()
    {
        var command = new Command("schedulers", "List the schedulers --scheduler accepts: short names with the class and options each stands for, then every class.");
        command.SetAction(_ =>
        {
            Console.WriteLine($"{"name",-20} {"class",-34} {"options",-60} what");
            foreach (var a in SchedulerAliases.All)
            {
                var options = string.Join(", ", a.Options.Select(o => $"{o.Key}={o.Value.ToJsonString()}"));
                Console.WriteLine($"{a.Name,-20} {a.ClassName,-34} {options,-60} {a.Description}");
            }
            Console.WriteLine();
            Console.WriteLine("classes: " + string.Join(", ", SchedulerFactory.KnownClassNames));
            return 0;
        });
        return command;
    }
}
