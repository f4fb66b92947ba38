namespace ConntrackModel.Model.Conntrack;

/// <summary>
/// The tracker's verdict and the entry as it is afterwards. <paramref name="Kill"/>: the entry is deleted
/// (<c>nf_ct_kill_acct</c>, "only reply is a RST") while the packet is still accepted with it attached.
/// </summary>
public readonly record struct TrackResult(TrackVerdict Verdict, CtEntry Ct, bool Kill, string Note);
