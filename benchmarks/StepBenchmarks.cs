using BenchmarkDotNet.Attributes;
using ConntrackModel.Model.Addressing;
using ConntrackModel.Model.Choices;
using ConntrackModel.Model.Kernel;
using ConntrackModel.Model.Scenarios;

namespace ConntrackModel.Benchmarks;

/// <summary>
/// <c>LinuxKernel.Step</c> for the two commands of the workload, on a namespace that already holds N connections:
/// how a step's cost grows with the size of the state it updates (persistent maps: logarithmically).
/// </summary>
[MemoryDiagnoser]
public class StepBenchmarks
{
    private World _world = World.Initial;
    private World _connected = World.Initial;
    private readonly Command _connect = new Command.Connect("X", null, new SockAddr(IPv4Address.Loopback, 8080));
    private readonly Command _send = new Command.Send("X", "payload");

    [Params(1_000, 10_000, 100_000)]
    public int Connections { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _world = Worlds.After(Connections);
        _connected = LinuxKernel.Step(_world, _connect, ChoiceSource.Seeded(1)).World;
    }

    /// <summary>connect: handshake through conntrack, SNAT and confirm; accept on the server side.</summary>
    [Benchmark]
    public StepResult Connect() => LinuxKernel.Step(_world, _connect, ChoiceSource.Seeded(1));

    /// <summary>send: one data segment and its ACK through conntrack.</summary>
    [Benchmark]
    public StepResult Send() => LinuxKernel.Step(_connected, _send, ChoiceSource.Seeded(1));
}
