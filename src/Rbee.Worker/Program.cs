// llm-worker-rbee: placeholder entry point; the Serving work replaces it.
Console.Error.WriteLine("llm-worker-rbee: not built yet");
return 2;
