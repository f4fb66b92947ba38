namespace ConntrackModel.Model.Packets;

/// <summary>The TCP header flags the model uses.</summary>
[Flags]
public enum TcpFlags
{
    None = 0,
    Fin = 1,
    Syn = 2,
    Rst = 4,
    Psh = 8,
    Ack = 16,
}
