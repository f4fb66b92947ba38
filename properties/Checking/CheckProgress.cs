namespace ConntrackModel.Properties.Checking;

/// <summary>Where a run is: tests done so far, and once a failure was found, successful shrink steps.</summary>
public sealed record CheckProgress(int TestsDone, int Tests, bool Shrinking, int ShrinkSteps);
