using System.CommandLine;
using DiffusersSharp.Cli;

var root = new RootCommand("diffuse: run diffusers-format diffusion models (Stable Diffusion and more) from .NET.");
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(Img2ImgCommand.Create());
root.Subcommands.Add(InpaintCommand.Create());
root.Subcommands.Add(ControlNetCommand.Create());
root.Subcommands.Add(SchedulersCommand.Create());
root.Subcommands.Add(WorkerCommand.Create());
return await root.Parse(args).InvokeAsync();
