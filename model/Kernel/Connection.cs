using ConntrackModel.Model.Addressing;

namespace ConntrackModel.Model.Kernel;

/// <summary>A connection the scenario opened: name, how connect() returned and the socket's own addresses.</summary>
public sealed record Connection(string Name, ConnectResult Result, SockAddr Local, SockAddr Remote);
