using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Reporting;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Tests;

/// <summary>Helpers: parse a script, run it, observe it.</summary>
internal static class Run
{
    /// <summary>The command line run in process: its exit code, stdout and stderr.</summary>
    public static (Cli.ExitCode Code, string Out, string Err) Ctmodel(params string[] args)
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        var code = Cli.Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    public static Scenario Parse(string script)
    {
        var r = ScenarioParser.Parse("test.scenario", script);
        Assert.True(r.Ok, string.Join("\n", r.Errors));
        return r.Scenario!;
    }

    public static Simulation Sim(string script, ulong seed = 1)
    {
        var sim = Simulation.Run(Parse(script), ChoiceSource.Seeded(seed));
        Assert.Null(sim.Rejected);
        return sim;
    }

    public static Observation Observe(string script, ulong seed = 1)
    {
        var scenario = Parse(script);
        var sim = Simulation.Run(scenario, ChoiceSource.Seeded(seed));
        Assert.Null(sim.Rejected);
        return Observation.Of(sim, WireExploration.Explore(scenario, ChoiceSource.Seeded(seed)).Wire);
    }

    /// <summary>The parser refuses <paramref name="text"/>, its first error starting with <paramref name="message"/>.</summary>
    public static void ParseRefused(string text, string message)
    {
        var r = ScenarioParser.Parse("t", text);
        Assert.False(r.Ok);
        Assert.StartsWith(message, r.Errors[0].Message, StringComparison.Ordinal);
    }

    /// <summary>The model refuses <paramref name="script"/> at its last line, with a message that starts with <paramref name="message"/>.</summary>
    public static void RefusedAtLastLine(string script, string message)
    {
        var sim = Simulation.Run(Parse(script), ChoiceSource.First);
        Assert.Equal(script.Split('\n').Length, sim.RejectedLine?.Line);
        Assert.StartsWith(message, sim.Rejected, StringComparison.Ordinal);
    }

    public static string Example(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "examples", name));

    public static ConnectionObservation Conn(this Observation o, string name) => o.Connections.Single(c => c.Name == name);
}
