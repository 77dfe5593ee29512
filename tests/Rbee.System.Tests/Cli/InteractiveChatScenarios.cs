using Rbee.SystemTests.Infrastructure;
using Rbee.Testing;
using Xunit.Abstractions;

namespace Rbee.SystemTests.Cli;

/// <summary>
/// <c>rbee run MODEL</c> without a prompt, driven through a pseudo-terminal like a person at a keyboard: questions
/// answered in turn, <c>/bye</c> and Ctrl-D leave, Ctrl-C stops the current answer and the chat goes on.
/// </summary>
[Collection("System")]
[Trait("Category", "System")]
public sealed class InteractiveChatScenarios(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(90);
    /// <summary>The chat's prompt (InteractiveChat.Prompt in the CLI).</summary>
    private const string Prompt = ">>> ";

    [Fact]
    public async Task AChatAnswersInTurn_LeavesWithBye_AndCtrlCStopsOnlyTheAnswer()
    {
        using var home = new TempHome();
        await using var cluster = await RoutingCluster.StartAsync(twoHives: false);
        var tiny = "chat-tiny-" + FreePort.Next();
        var slow = "chat-slow-" + FreePort.Next();
        cluster.Put(cluster.A, RoutingCluster.TinyModel, tiny);
        cluster.Put(cluster.A, RoutingCluster.SlowModel, slow);
        await cluster.WaitListedAsync(tiny, RoutingCluster.Budget);
        await cluster.WaitListedAsync(slow, RoutingCluster.Budget);
        var env = new Dictionary<string, string?> { ["HOME"] = home.Path };

        await using (var chat = LiveRbee.OnTerminal(["run", tiny, "--queen-url", cluster.Queen.Url, "--param", "max_tokens=8"], env))
        {
            try
            {
                await chat.WaitForAsync("first prompt", "the chat's prompt", Budget, t => t.Contains(Prompt, StringComparison.Ordinal));
                await chat.TypeAsync("Echoes\r");
                await chat.WaitForAsync("first answer", "a second prompt after the answer", Budget, _ => chat.Count(Prompt) >= 2);
                await chat.TypeAsync("Once upon a time\r");
                await chat.WaitForAsync("second answer", "a third prompt after the answer", Budget, _ => chat.Count(Prompt) >= 3);
                await chat.TypeAsync("/bye\r");
                Assert.Equal(0, await chat.WaitExitAsync("bye", Budget));
                // Short answers (max_tokens) keep the whole conversation within the tiny model's 128-token context.
                Assert.DoesNotContain("rbee run:", chat.Text);
            }
            finally
            {
                output.WriteLine(chat.Text);
            }
        }

        await using (var chat = LiveRbee.OnTerminal(["run", slow, "--queen-url", cluster.Queen.Url, "--param", "ignore_eos=true", "--param", "max_tokens=3000"], env))
        {
            try
            {
                await chat.WaitForAsync("prompt", "the chat's prompt", Budget, t => t.Contains(Prompt, StringComparison.Ordinal));
                await chat.TypeAsync("go\r");
                await cluster.Stream.WaitForAsync("answer streaming", $"first_byte of a request for {slow}", Budget, (name, d) =>
                    name == "request" && d.GetProperty("phase").GetString() == "first_byte" && d.GetProperty("model").GetString() == slow);
                await chat.TypeAsync("\u0003");
                await chat.WaitForAsync("ctrl-c", "(stopped) and the prompt again", Budget,
                    t => t.Contains("(stopped)", StringComparison.Ordinal) && chat.Count(Prompt) >= 2);
                // The queen saw the client leave: the answer really stopped, not just its printing.
                await cluster.Stream.WaitForAsync("request ended", $"the {slow} request done or failed", Budget, (name, d) =>
                    name == "request" && d.GetProperty("model").GetString() == slow && d.GetProperty("phase").GetString() is "done" or "failed");
                await chat.TypeAsync("\u0004");
                Assert.Equal(0, await chat.WaitExitAsync("ctrl-d", Budget));
            }
            finally
            {
                output.WriteLine(chat.Text);
            }
        }
    }
}
