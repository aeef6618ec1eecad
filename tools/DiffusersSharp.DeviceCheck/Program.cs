using DiffusersSharp.DeviceCheck;

return DeviceCheckProgram.Run(args);
