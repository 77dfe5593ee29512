using System.Text.Json;
using Rbee.Keeper.Cli;
using Rbee.Keeper.Connection;
using Rbee.Keeper.Output;

namespace Rbee.Keeper.Chat;

public sealed record RunRequest(Uri QueenUrl, string Model, string? Prompt, bool Json)
{
    public IReadOnlyList<string> Parameters { get; init; } = [];

    /// <summary><c>--hive-url</c>: no queen; a worker on that hive is reused or started, and asked directly.</summary>
    public Uri? HiveUrl { get; init; }
}

/// <summary>
/// <c>rbee run MODEL [PROMPT]</c>: with a prompt (or one piped on stdin), the answer streamed to stdout and exit; on a
/// terminal without one, an interactive chat (<see cref="InteractiveChat"/>). The queen starts a worker where the model
/// fits when none runs; what it does meanwhile goes to stderr.
/// </summary>
public sealed class RunCommand(KeeperIo io)
{
    public async Task<int> RunAsync(RunRequest request, CancellationToken ct)
    {
        var status = new StatusLine(io.Error, io.ErrorIsTerminal, io.ErrorHasColor);
        var parameters = ChatClient.ParseParameters(request.Parameters);
        ChatClient chatClient;
        if (request.HiveUrl is { } hiveUrl)
        {
            var (workerUrl, workerKey) = await HiveWorker.ResolveAsync(hiveUrl, request.Model, status.Show, ct);
            chatClient = new ChatClient(workerUrl, workerKey) { Parameters = parameters };
        }
        else chatClient = ChatClient.Create(request.QueenUrl, parameters);
        status.Clear();
        using var chat = chatClient;
        var prompt = request.Prompt;
        if (prompt is null && !io.InputIsTerminal) prompt = await io.Input.ReadToEndAsync(ct);
        if (prompt is null) return await new InteractiveChat(io, chat, request.Model).RunAsync(ct);
        if (string.IsNullOrWhiteSpace(prompt)) throw CliFailure.Usage("the prompt is empty: rbee run MODEL \"PROMPT\" (or no prompt on a terminal to chat)");

        var answer = await chat.StreamAsync(request.Model, [new ChatMessage("user", prompt)],
            text =>
            {
                status.Clear();
                if (request.Json) return;
                io.Output.Write(text);
                io.Output.Flush();
            },
            status.Show, ct);
        status.Clear();
        if (request.Json)
        {
            io.Output.WriteLine(JsonSerializer.Serialize(
                new RunOutput(request.Model, answer.Content, answer.FinishReason, answer.HiveId, answer.WorkerUrl), KeeperJsonContext.Default.RunOutput));
        }
        else if (!answer.Content.EndsWith('\n')) io.Output.WriteLine();
        return ExitCodes.Ok;
    }
}
