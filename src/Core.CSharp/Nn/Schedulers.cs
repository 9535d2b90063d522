namespace Cotangent.Nn;

/// <summary>lr = base·γ^epoch (torch.optim.lr_scheduler.ExponentialLR).</summary>
public sealed class ExponentialLr : LrScheduler
{
    readonly double gamma;

    /// <summary>Multiplies the rate by <paramref name="gamma"/> every epoch.</summary>
    public ExponentialLr(Optimizer optimizer, double gamma) : base(optimizer) => this.gamma = Rate("exponential_lr", "gamma", gamma);

    /// <inheritdoc/>
    protected internal override double RateAt(double b, int epoch) => b * Math.Pow(gamma, epoch);
}

/// <summary>lr = base·γ^(milestones passed) (torch.optim.lr_scheduler.MultiStepLR).</summary>
public sealed class MultiStepLr : LrScheduler
{
    readonly int[] milestones;
    readonly double gamma;

    /// <summary>Multiplies the rate by <paramref name="gamma"/> at each milestone epoch (increasing, 1 or more).</summary>
    public MultiStepLr(Optimizer optimizer, IEnumerable<int> milestones, double gamma = 0.1) : base(optimizer)
    {
        this.milestones = milestones?.ToArray() ?? throw new ArgumentNullException(nameof(milestones), "multi_step_lr: the milestones are null");
        for (int i = 0; i < this.milestones.Length; i++)
            if (this.milestones[i] < 1 || (i > 0 && this.milestones[i] <= this.milestones[i - 1]))
                throw new ArgumentException($"multi_step_lr: milestones must be increasing epochs, 1 or more, got [{string.Join(", ", this.milestones)}]", nameof(milestones));
        this.gamma = Rate("multi_step_lr", "gamma", gamma);
    }

    /// <inheritdoc/>
    protected internal override double RateAt(double b, int epoch) => b * Math.Pow(gamma, milestones.Count(m => m <= epoch));
}

/// <summary>
/// lr = base·(s + (e − s)·min(epoch, T)/T) (torch.optim.lr_scheduler.LinearLR): from
/// <c>startFactor</c>·base to <c>endFactor</c>·base over T epochs, then flat; a warm-up.
/// </summary>
public sealed class LinearLr : LrScheduler
{
    readonly double start, end;
    readonly int total;

    /// <summary>PyTorch's defaults: a third of the rate, rising to all of it over 5 epochs.</summary>
    public LinearLr(Optimizer optimizer, double startFactor = 1.0 / 3, double endFactor = 1.0, int totalIters = 5) : base(optimizer)
    {
        if (!(startFactor > 0 && startFactor <= 1)) throw new ArgumentOutOfRangeException(nameof(startFactor), startFactor, $"linear_lr: the start factor must be in (0, 1], got {startFactor}");
        if (!(endFactor >= 0 && endFactor <= 1)) throw new ArgumentOutOfRangeException(nameof(endFactor), endFactor, $"linear_lr: the end factor must be in [0, 1], got {endFactor}");
        (start, end, total) = (startFactor, endFactor, Epochs("linear_lr", "total iterations", totalIters));
        SetRates(0);   // the warm-up starts now, as PyTorch's does
    }

    /// <inheritdoc/>
    protected internal override double RateAt(double b, int epoch) => b * (start + (end - start) * Math.Min(epoch, total) / total);
}

/// <summary>
/// The 1cycle policy (torch.optim.lr_scheduler.OneCycleLR, stepped once per batch): from
/// max/div up to <c>maxLr</c> over the first <c>pctStart</c> of the steps, then down to
/// max/(div·finalDiv), by cosine (or linear) annealing; three phases go up, back to the start,
/// then down. Construction sets the optimizer's rate to the initial one, as PyTorch does;
/// stepping past <c>totalSteps</c> is refused.
/// </summary>
public sealed class OneCycleLr : LrScheduler
{
    readonly (double EndStep, double Start, double End)[] phases;
    readonly bool cosine;
    readonly int totalSteps;

    /// <summary>A 1cycle schedule over <paramref name="totalSteps"/> steps.</summary>
    public OneCycleLr(Optimizer optimizer, double maxLr, int totalSteps, double pctStart = 0.3, string annealStrategy = "cos", double divFactor = 25, double finalDivFactor = 1e4, bool threePhase = false)
        : base(optimizer)
    {
        Rate("one_cycle_lr", "the maximum rate", maxLr);
        this.totalSteps = Epochs("one_cycle_lr", "total steps", totalSteps);
        if (!(pctStart > 0 && pctStart < 1)) throw new ArgumentOutOfRangeException(nameof(pctStart), pctStart, $"one_cycle_lr: pct_start must be in (0, 1), got {pctStart}");
        if (annealStrategy is not ("cos" or "linear")) throw new ArgumentException($"one_cycle_lr: anneal strategy must be \"cos\" or \"linear\", got \"{annealStrategy}\"", nameof(annealStrategy));
        if (!(divFactor > 0) || !(finalDivFactor > 0) || double.IsInfinity(divFactor) || double.IsInfinity(finalDivFactor))
            throw new ArgumentOutOfRangeException(nameof(divFactor), $"one_cycle_lr: the division factors must be finite and positive, got {divFactor} and {finalDivFactor}");
        cosine = annealStrategy == "cos";
        double initial = maxLr / divFactor, min = initial / finalDivFactor, up = pctStart * totalSteps - 1;
        phases = threePhase
            ? [(up, initial, maxLr), (2 * pctStart * totalSteps - 2, maxLr, initial), (totalSteps - 1, initial, min)]
            : [(up, initial, maxLr), (totalSteps - 1, maxLr, min)];
        optimizer.LearningRate = initial;
        foreach (var g in optimizer.Groups)
            if (g.LearningRate is not null) g.LearningRate = initial;
    }

    /// <inheritdoc/>
    protected internal override double RateAt(double b, int step)
    {
        if (step > totalSteps)
            throw new InvalidOperationException($"one_cycle_lr: stepped {step} times, past the {totalSteps} total steps it was made for");
        double begin = 0;
        for (int i = 0; i < phases.Length; i++)
        {
            var (endStep, start, end) = phases[i];
            if (step <= endStep || i == phases.Length - 1)
            {
                double pct = endStep > begin ? (step - begin) / (endStep - begin) : 1;
                return cosine ? end + (start - end) / 2 * (Math.Cos(Math.PI * pct) + 1) : (end - start) * pct + start;
            }
            begin = endStep;
        }
        return phases[^1].End;
    }
}

/// <summary>
/// Schedules one after another (torch.optim.lr_scheduler.SequentialLR): before milestone k the
/// k-th runs, each counting its epochs from its own start; e.g. a <see cref="LinearLr"/>
/// warm-up, then <see cref="CosineAnnealingLr"/>. All must schedule the same optimizer.
/// </summary>
public sealed class SequentialLr : LrScheduler
{
    readonly LrScheduler[] schedules;
    readonly int[] milestones;

    /// <summary>Chains <paramref name="schedulers"/>, switching at <paramref name="milestones"/> (one fewer, increasing).</summary>
    public SequentialLr(Optimizer optimizer, IEnumerable<LrScheduler> schedulers, IEnumerable<int> milestones) : base(optimizer)
    {
        schedules = schedulers?.ToArray() ?? throw new ArgumentNullException(nameof(schedulers), "sequential_lr: the schedulers are null");
        this.milestones = milestones?.ToArray() ?? throw new ArgumentNullException(nameof(milestones), "sequential_lr: the milestones are null");
        if (schedules.Length == 0 || schedules.Any(s => s is null))
            throw new ArgumentException("sequential_lr: needs at least one scheduler, and no null", nameof(schedulers));
        if (this.milestones.Length != schedules.Length - 1)
            throw new ArgumentException($"sequential_lr: {schedules.Length} schedulers need {schedules.Length - 1} milestones, got {this.milestones.Length}", nameof(milestones));
        for (int i = 0; i < this.milestones.Length; i++)
            if (this.milestones[i] < 1 || (i > 0 && this.milestones[i] <= this.milestones[i - 1]))
                throw new ArgumentException($"sequential_lr: milestones must be increasing epochs, 1 or more, got [{string.Join(", ", this.milestones)}]", nameof(milestones));
        if (schedules.Any(s => !ReferenceEquals(s.Target, optimizer)))
            throw new ArgumentException("sequential_lr: every scheduler must schedule the optimizer given to SequentialLr", nameof(schedulers));
        SetRates(0);
    }

    /// <inheritdoc/>
    protected internal override double RateAt(double b, int epoch)
    {
        int k = milestones.Count(m => m <= epoch);
        int local = k == 0 ? epoch : epoch - milestones[k - 1];
        return schedules[k].RateAt(b, local);
    }
}

/// <summary>
/// Cuts the rate by <c>factor</c> when a metric stops improving for <c>patience</c> epochs
/// (torch.optim.lr_scheduler.ReduceLROnPlateau): improvement is relative or absolute by
/// <c>threshold</c>, for a metric to minimise or maximise; after a cut, <c>cooldown</c> epochs
/// pass before counting again; never below <c>minLr</c>, and cuts smaller than <c>eps</c> are skipped.
/// </summary>
public sealed class ReduceLrOnPlateau
{
    readonly Optimizer optimizer;
    readonly bool minimise, relative;
    readonly double factor, threshold, minLr, eps;
    readonly int patience, cooldown;
    int cooldownLeft;

    /// <summary>PyTorch's defaults: mode "min", factor 0.1, patience 10, threshold 1e-4 relative.</summary>
    public ReduceLrOnPlateau(Optimizer optimizer, string mode = "min", double factor = 0.1, int patience = 10, double threshold = 1e-4, string thresholdMode = "rel", int cooldown = 0, double minLr = 0, double eps = 1e-8)
    {
        this.optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer), "reduce_lr_on_plateau: the optimizer is null");
        if (mode is not ("min" or "max")) throw new ArgumentException($"reduce_lr_on_plateau: mode must be \"min\" or \"max\", got \"{mode}\"", nameof(mode));
        if (thresholdMode is not ("rel" or "abs")) throw new ArgumentException($"reduce_lr_on_plateau: threshold mode must be \"rel\" or \"abs\", got \"{thresholdMode}\"", nameof(thresholdMode));
        if (!(factor >= 0 && factor < 1)) throw new ArgumentOutOfRangeException(nameof(factor), factor, $"reduce_lr_on_plateau: factor must be in [0, 1), got {factor}");
        if (patience < 0 || cooldown < 0) throw new ArgumentOutOfRangeException(nameof(patience), $"reduce_lr_on_plateau: patience and cooldown must be 0 or more, got {patience} and {cooldown}");
        if (!(threshold >= 0) || !(minLr >= 0) || !(eps >= 0) || double.IsInfinity(threshold) || double.IsInfinity(minLr))
            throw new ArgumentOutOfRangeException(nameof(threshold), $"reduce_lr_on_plateau: threshold, min_lr and eps must be finite, 0 or more, got {threshold}, {minLr}, {eps}");
        (minimise, relative, this.factor, this.patience, this.threshold, this.cooldown, this.minLr, this.eps) =
            (mode == "min", thresholdMode == "rel", factor, patience, threshold, cooldown, minLr, eps);
        Best = minimise ? double.PositiveInfinity : double.NegativeInfinity;
    }

    /// <summary>The best metric seen so far.</summary>
    public double Best { get; private set; }

    /// <summary>Epochs since the metric last improved (reset by a cut and during cooldown).</summary>
    public int BadEpochs { get; private set; }

    bool Better(double a) => (minimise, relative) switch
    {
        (true, true) => a < Best * (1 - threshold),
        (true, false) => a < Best - threshold,
        (false, true) => a > Best * (1 + threshold),
        _ => a > Best + threshold,
    };

    /// <summary>Records one epoch's metric and cuts the rate if it has plateaued. A NaN metric is refused.</summary>
    public void Step(double metric)
    {
        if (double.IsNaN(metric)) throw new ArgumentException("reduce_lr_on_plateau: the metric is NaN", nameof(metric));
        if (Better(metric)) { Best = metric; BadEpochs = 0; }
        else BadEpochs++;
        if (cooldownLeft > 0) { cooldownLeft--; BadEpochs = 0; }
        if (BadEpochs > patience)
        {
            double old = optimizer.LearningRate, cut = Math.Max(old * factor, minLr);
            if (old - cut > eps) optimizer.LearningRate = cut;
            foreach (var g in optimizer.Groups)
                if (g.LearningRate is double r && r - Math.Max(r * factor, minLr) > eps) g.LearningRate = Math.Max(r * factor, minLr);
            cooldownLeft = cooldown;
            BadEpochs = 0;
        }
    }
}
