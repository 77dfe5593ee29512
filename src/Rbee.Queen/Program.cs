// placeholder entry point; replaced by the foundation work.
Console.Error.WriteLine("not built yet");
return 2;
