namespace Cotangent;

/// <summary>
/// Whether ops record the graph. The flag flows with the logical call (an AsyncLocal), so a
/// <c>using var _ = Autograd.NoGrad();</c> in an async service method covers its awaits too.
/// Scopes nest; the innermost one still open decides, even when they are disposed out of order.
/// </summary>
public static class GradMode
{
    static readonly FlowStack<FlagScope> Open = new();

    /// <summary>True unless the innermost open scope is a <see cref="Autograd.NoGrad"/> one.</summary>
    public static bool IsEnabled => Open.Top?.Enabled ?? true;

    internal static IDisposable Set(bool enabled) => FlagScope.Open(Open, enabled);
}
