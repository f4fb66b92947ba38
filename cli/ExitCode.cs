namespace ConntrackModel.Cli;

/// <summary>Process exit codes, as grep and diff use them.</summary>
public enum ExitCode
{
    /// <summary>Ran; no invariant was violated.</summary>
    Ok = 0,

    /// <summary>Ran; an invariant was violated.</summary>
    Violation = 1,

    /// <summary>Usage or input error (bad arguments, unreadable or invalid scenario).</summary>
    BadInput = 2,

    /// <summary>A bug in ctmodel.</summary>
    Internal = 3,
}
