// rbee: placeholder entry point; replaced by the CLI work.
Console.Error.WriteLine("rbee: not built yet");
return 2;
