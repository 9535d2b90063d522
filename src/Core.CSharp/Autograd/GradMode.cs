namespace Cotangent;

/// <summary>
/// Whether ops record the graph. The flag flows with the logical call (an AsyncLocal), so a
/// <c>using var _ = Autograd.NoGrad();</c> in an async service method covers its awaits too.
/// </summary>
public static class GradMode
{
    static readonly AsyncLocal<bool?> Disabled = new();

    /// <summary>True unless inside a <see cref="Autograd.NoGrad"/> scope.</summary>
    public static bool IsEnabled => Disabled.Value != true;

    internal static IDisposable Set(bool enabled)
    {
        var before = Disabled.Value;
        Disabled.Value = !enabled;
        return new Restore(before);
    }

    sealed class Restore(bool? before) : IDisposable
    {
        bool done;
        public void Dispose()
        {
            if (done) return;
            done = true;
            Disabled.Value = before;
        }
    }
}
