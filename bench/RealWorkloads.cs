// Workloads users run first (issue 14): a LeNet training step, a pre-norm transformer block
// forward + backward, Adam and AdamW steps over a million parameters, and batch-1/8 MLP
// inference. Both sides start from the same weights (copied into TorchSharp's modules by
// parameter order) and the first call's numbers are compared before anything is timed.
//   ../shared/tools/dotnet-glibc241 bench/bin/Release/net10.0/Bench.dll --real [--only TEXT]
using Cotangent;
using Cotangent.Nn;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = Cotangent.Tensor;
using Generator = Cotangent.Generator;
using Parameter = Cotangent.Nn.Parameter;
using TTensor = TorchSharp.torch.Tensor;

static class RealWorkloads
{
    /// <summary>Copies our parameters into theirs, in registration order (shapes must agree).</summary>
    static void CopyInto(Module ours, nn.Module theirs)
    {
        var ps = ours.Parameters().ToArray();
        var ts = theirs.parameters().ToArray();
        if (ps.Length != ts.Length) throw new InvalidOperationException($"bench: {ps.Length} parameters here, {ts.Length} in TorchSharp's model");
        using var _ = torch.no_grad();
        for (int i = 0; i < ps.Length; i++)
        {
            var shape = ps[i].Shape.Select(d => (long)d).ToArray();
            if (!ts[i].shape.SequenceEqual(shape)) throw new InvalidOperationException($"bench: parameter {i} is [{string.Join(", ", shape)}] here, [{string.Join(", ", ts[i].shape)}] in TorchSharp's");
            ts[i].copy_(torch.tensor(ps[i].Value.ToArray<float>(), shape));
        }
    }

    static TTensor Theirs(Tensor t) => torch.tensor(t.ToArray<float>(), t.Shape.Select(d => (long)d).ToArray());

    static TTensor TheirLabels(Tensor t) => torch.tensor(t.ToArray<long>(), t.Shape.Select(d => (long)d).ToArray());

    /// <summary>Both sides' first results agree, or the bench stops: a ratio of different computations means nothing.</summary>
    static void Same(string name, double ours, double theirs, double tol = 1e-4)
    {
        if (!(Math.Abs(ours - theirs) <= tol * Math.Max(1, Math.Abs(theirs))))
            throw new InvalidOperationException($"bench: {name}: Cotangent computes {ours}, TorchSharp {theirs}");
    }

    /// <summary>A pre-norm transformer encoder block: attention with batched matmul and softmax, then a GELU MLP.</summary>
    sealed class Block : Module
    {
        readonly LayerNorm ln1, ln2;
        readonly Linear q, k, v, o, fc1, fc2;
        readonly int heads;

        public Block(int width, int heads, Generator gen)
        {
            this.heads = heads;
            ln1 = AddModule("ln1", new LayerNorm([width]));
            q = AddModule("q", new Linear(width, width, generator: gen));
            k = AddModule("k", new Linear(width, width, generator: gen));
            v = AddModule("v", new Linear(width, width, generator: gen));
            o = AddModule("o", new Linear(width, width, generator: gen));
            ln2 = AddModule("ln2", new LayerNorm([width]));
            fc1 = AddModule("fc1", new Linear(width, 4 * width, generator: gen));
            fc2 = AddModule("fc2", new Linear(4 * width, width, generator: gen));
        }

        public override Tensor Forward(Tensor x)
        {
            int b = x.Size(0), s = x.Size(1), w = x.Size(2), d = w / heads;
            var h = ln1.Forward(x);
            Tensor Split(Tensor t) => t.Reshape(b, s, heads, d).Transpose(1, 2);   // [b, heads, s, d]
            var (qh, kh, vh) = (Split(q.Forward(h)), Split(k.Forward(h)), Split(v.Forward(h)));
            var att = (Tensor.MatMul(qh, kh.Transpose(2, 3)) * (1.0 / Math.Sqrt(d))).Softmax(-1);
            var mixed = Tensor.MatMul(att, vh).Transpose(1, 2).Reshape(b, s, w);
            x = x + o.Forward(mixed);
            return x + fc2.Forward(fc1.Forward(ln2.Forward(x)).Gelu());
        }
    }

    static TTensor TheirBlock(TTensor x, nn.Module<TTensor, TTensor>[] m, int heads)
    {
        long b = x.shape[0], s = x.shape[1], w = x.shape[2], d = w / heads;
        var h = m[0].forward(x);
        TTensor Split(TTensor t) => t.reshape(b, s, heads, d).transpose(1, 2);
        var (qh, kh, vh) = (Split(m[1].forward(h)), Split(m[2].forward(h)), Split(m[3].forward(h)));
        var att = (qh.matmul(kh.transpose(2, 3)) * (1.0 / Math.Sqrt(d))).softmax(-1);
        var mixed = att.matmul(vh).transpose(1, 2).reshape(b, s, w);
        x = x + m[4].forward(mixed);
        return x + m[7].forward(nn.functional.gelu(m[6].forward(m[5].forward(x))));
    }

    static Tensor Sq(Tensor t) => t * t;

    public static void Add(Action<string, Action, Func<Action>, double> compare)
    {
        // LeNet-style CNN training step on 28×28 images
        foreach (int batch in new[] { 64, 256 })
        {
            var gen = new Generator(3);
            var net = new Sequential(new Conv2d(1, 6, 5, generator: gen), new ReLU(), new MaxPool2d(2), new Conv2d(6, 16, 5, generator: gen), new ReLU(), new MaxPool2d(2),
                new Flatten(), new Linear(256, 120, generator: gen), new ReLU(), new Linear(120, 84, generator: gen), new ReLU(), new Linear(84, 10, generator: gen));
            var opt = new Sgd(net.Parameters(), 0.01);
            var x = Tensor.Randn([batch, 1, 28, 28], DType.Float32, gen).Keep();
            var y = Tensor.Randint(0, 10, [batch], gen).Keep();
            double first = Tensor.CrossEntropy(net.Forward(x), y).Item<float>();
            compare($"LeNet CNN step, batch {batch}", () =>
            {
                using var _ = Tensor.Scope();
                opt.ZeroGrad();
                Tensor.CrossEntropy(net.Forward(x), y).Backward();
                opt.Step();
            }, () =>
            {
                var tnet = nn.Sequential(("c1", nn.Conv2d(1, 6, 5)), ("r1", nn.ReLU()), ("p1", nn.MaxPool2d(2)), ("c2", nn.Conv2d(6, 16, 5)), ("r2", nn.ReLU()), ("p2", nn.MaxPool2d(2)),
                    ("f", nn.Flatten()), ("l1", nn.Linear(256, 120)), ("r3", nn.ReLU()), ("l2", nn.Linear(120, 84)), ("r4", nn.ReLU()), ("l3", nn.Linear(84, 10)));
                CopyInto(net, tnet);
                var (tx, ty) = (Theirs(x), TheirLabels(y));
                Same($"LeNet batch {batch} loss", first, nn.functional.cross_entropy(tnet.forward(tx), ty).item<float>());
                var topt = optim.SGD(tnet.parameters(), 0.01);
                return () =>
                {
                    using var _ = torch.NewDisposeScope();
                    topt.zero_grad();
                    nn.functional.cross_entropy(tnet.forward(tx), ty).backward();
                    topt.step();
                };
            }, 0);
        }

        // pre-norm transformer block, forward + backward
        foreach (var (batch, seq, width) in new[] { (8, 64, 128), (8, 256, 256) })
        {
            const int heads = 4;
            var gen = new Generator(4);
            var block = new Block(width, heads, gen);
            var x = Tensor.Randn([batch, seq, width], DType.Float32, gen).Keep();
            double first = Sq(block.Forward(x)).Mean().Item<float>();
            compare($"transformer block b{batch} s{seq} w{width}", () =>
            {
                using var _ = Tensor.Scope();
                block.ZeroGrad();
                Sq(block.Forward(x)).Mean().Backward();
            }, () =>
            {
                var mods = new nn.Module<TTensor, TTensor>[] { nn.LayerNorm(width), nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width), nn.Linear(width, width),
                    nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.Linear(4 * width, width) };
                var all = nn.Sequential(mods.Select((m, i) => ($"m{i}", (nn.Module<TTensor, TTensor>)m)).ToArray());
                CopyInto(block, all);
                var tx = Theirs(x);
                Same($"transformer b{batch} s{seq} w{width}", first, TheirBlock(tx, mods, heads).square().mean().item<float>());
                return () =>
                {
                    using var _ = torch.NewDisposeScope();
                    all.zero_grad();
                    TheirBlock(tx, mods, heads).square().mean().backward();
                };
            }, 0);
        }

        // ResNet basic block (conv 3×3, batch norm, relu, conv, batch norm, residual, relu) at 32×32, 64 channels, SGD step
        {
            const int batch = 16, ch = 64;
            var gen = new Generator(7);
            var c1 = new Conv2d(ch, ch, 3, padding: 1, bias: false, generator: gen);
            var c2 = new Conv2d(ch, ch, 3, padding: 1, bias: false, generator: gen);
            var (b1, b2) = (new BatchNorm2d(ch), new BatchNorm2d(ch));
            var blockModules = new Sequential(c1, b1, c2, b2);
            var opt = new Sgd(blockModules.Parameters(), 0.01);
            var x = Tensor.Randn([batch, ch, 32, 32], DType.Float32, gen).Keep();
            Tensor Ours() => (b2.Forward(c2.Forward(b1.Forward(c1.Forward(x)).Relu())) + x).Relu();
            double first = Sq(Ours()).Mean().Item<float>();
            compare($"ResNet basic block step, b{batch} 64ch 32x32", () =>
            {
                using var _ = Tensor.Scope();
                opt.ZeroGrad();
                Sq(Ours()).Mean().Backward();
                opt.Step();
            }, () =>
            {
                var tc1 = nn.Conv2d(ch, ch, 3, padding: 1, bias: false);
                var tc2 = nn.Conv2d(ch, ch, 3, padding: 1, bias: false);
                var (tb1, tb2) = (nn.BatchNorm2d(ch), nn.BatchNorm2d(ch));
                var all = nn.Sequential(("c1", tc1), ("b1", tb1), ("c2", tc2), ("b2", tb2));
                CopyInto(blockModules, all);
                var tx = Theirs(x);
                TTensor Them() => nn.functional.relu(tb2.forward(tc2.forward(nn.functional.relu(tb1.forward(tc1.forward(tx))))) + tx);
                Same($"ResNet block b{batch}", first, Them().square().mean().item<float>());
                var topt = optim.SGD(all.parameters(), 0.01);
                return () =>
                {
                    using var _ = torch.NewDisposeScope();
                    topt.zero_grad();
                    Them().square().mean().backward();
                    topt.step();
                };
            }, 0);
        }

        // Adam and AdamW steps over ~1M parameters in 10 tensors, gradients already there
        foreach (bool decoupled in new[] { false, true })
        {
            var gen = new Generator(5);
            var ps = Enumerable.Range(0, 10).Select(_ => new Parameter(Tensor.Randn([100_000], DType.Float32, gen))).ToArray();
            foreach (var p in ps) p.SetGrad(Tensor.Randn([100_000], DType.Float32, gen));
            Optimizer opt = decoupled ? new AdamW(ps, 1e-3) : new Adam(ps, 1e-3);
            compare($"{(decoupled ? "AdamW" : "Adam")} step, 1M parameters", () =>
            {
                using var _ = Tensor.Scope();
                opt.Step();
            }, () =>
            {
                var tps = ps.Select(p =>
                {
                    var t = Theirs(p.Value).requires_grad_(true);
                    t.grad = Theirs(p.Grad!);
                    return new TorchSharp.Modules.Parameter(t);
                }).ToArray();
                optim.Optimizer topt = decoupled ? optim.AdamW(tps, 1e-3) : optim.Adam(tps, 1e-3);
                return () =>
                {
                    using var _ = torch.NewDisposeScope();
                    topt.step();
                };
            }, 0);
        }

        // MLP inference at batch 1 and 8 (a service call)
        foreach (int batch in new[] { 1, 8 })
        {
            var gen = new Generator(6);
            var net = new Sequential(new Linear(784, 256, generator: gen), new ReLU(), new Linear(256, 256, generator: gen), new ReLU(), new Linear(256, 10, generator: gen));
            var x = Tensor.Randn([batch, 784], DType.Float32, gen).Keep();
            double first;
            using (Autograd.NoGrad()) first = net.Forward(x).Sum().Item<float>();
            compare($"MLP inference, batch {batch}", () =>
            {
                using var _ = Tensor.Scope();
                using var __ = Autograd.NoGrad();
                net.Forward(x);
            }, () =>
            {
                var tnet = nn.Sequential(("l1", nn.Linear(784, 256)), ("r1", nn.ReLU()), ("l2", nn.Linear(256, 256)), ("r2", nn.ReLU()), ("l3", nn.Linear(256, 10)));
                CopyInto(net, tnet);
                var tx = Theirs(x);
                using (torch.no_grad()) Same($"MLP inference batch {batch}", first, tnet.forward(tx).sum().item<float>());
                return () =>
                {
                    using var _ = torch.NewDisposeScope();
                    using var __ = torch.no_grad();
                    tnet.forward(tx);
                };
            }, 0);
        }
    }
}
