using System.CommandLine;
using DiffusersSharp.Cli;

var root = new RootCommand("diffuse: run diffusers-format diffusion models (Stable Diffusion and more) from .NET.");
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(Img2ImgCommand.Create());
root.Subcommands.Add(InpaintCommand.Create());
root.Subcommands.Add(ControlNetCommand.Create());
root.Subcommands.Add(SchedulersCommand.Create());
root.Subcommands.Add(WorkerCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
var parsed = root.Parse(args);
// 'serve' drains running jobs on Ctrl+C or SIGTERM (up to its drain timeout): the web host handles those signals itself;
// 'worker' hands its running jobs back on them.
var configuration = parsed.CommandResult.Command.Name is "serve" or "worker" ? new InvocationConfiguration { ProcessTerminationTimeout = null } : null;
return await parsed.InvokeAsync(configuration);
