using DiffusersSharp.Bench;

// Where DiffusersSharp stands on this machine: speed, FLOP/s and peak memory of SD 1.5's stages (see bench/README.md).
return BenchMain.Run(args);
