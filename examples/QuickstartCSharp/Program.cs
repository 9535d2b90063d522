// The seed chapter's autograd example, end to end (C#). See examples/Quickstart for the F# twin.
// y = 2^(i+1)·x, so x.Grad = Jᵀv = 2^(i+1)·v.
using Cotangent;

Tensor.ManualSeed(2025);
var x = Tensor.Randn(3).RequireGrad();       // a new leaf; tensors never change
var y = x * 2;
int i = 0;
while (y.Norm().Item<float>() < 1000) { y = y * 2; i++; }
Console.WriteLine($"y = {y}\ni = {i}");

var v = Tensor.From(0.1f, 1.0f, 0.0001f);
y.Backward(v);                               // Jᵀv, as torch's y.backward(v)
Console.WriteLine($"x.grad = {x.Grad}");     // accumulates until x.ZeroGrad()

var chain = new List<string>();
for (var n = y.GradFn; n is not null; n = n.NextFunctions[0]) chain.Add(n.ToString());
Console.WriteLine($"grad_fn chain ({chain.Count} nodes): {string.Join(" -> ", chain)} -> leaf x");

var expected = v.ToArray<double>().Select(e => e * Math.Pow(2, i + 1)).ToArray();
var actual = x.Grad!.ToArray<double>();
bool ok = actual.Zip(expected).All(p => Math.Abs(p.First - p.Second) <= 1e-6 * Math.Abs(p.Second));
Console.WriteLine($"x.grad = v * 2^(i+1) = [{string.Join(", ", expected)}]: {(ok ? "OK" : "MISMATCH")}");
return ok && chain.Count == i + 1 ? 0 : 1;
