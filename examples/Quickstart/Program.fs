// The seed chapter's autograd example, end to end (F#):
//   x = torch.randn(3, requires_grad=True); y = x * 2
//   while y.data.norm() < 1000: y = y * 2
//   y.backward(v) with v = [0.1, 1.0, 0.0001]; print(x.grad)
// y = 2^(i+1) · x, so J = 2^(i+1) · I and x.grad = Jᵀv = 2^(i+1) · v.
open Cotangent
open Cotangent.FSharp

Tensor.ManualSeed 2025UL

let x = Tensor.randn [ 3 ] |> Tensor.requiresGrad
printfn "x = %O" x

let mutable y = x * 2.0
let mutable i = 0

while Tensor.norm y < 1000.0 do
    y <- y * 2.0
    i <- i + 1

printfn "y = %O" y
printfn "i = %d" i

let v = tensor [ 0.1; 1.0; 0.0001 ]
y |> Tensor.backwardWith v
printfn "x.grad = %O" x.Grad

// The graph the backward pass walked: one mul node per doubling, ending at the leaf x.
let chain =
    y.GradFn
    |> List.unfold (function
        | null -> None
        | n -> Some(string n, n.NextFunctions[0]))

let leafFn =
    match x.GradFn with
    | null -> "None"
    | n -> string n

printfn "grad_fn chain (%d nodes): %s -> leaf x (is_leaf = %b, grad_fn = %s)" chain.Length (String.concat " -> " chain) x.IsLeaf leafFn

let expected = Tensor.toArray v |> Array.map (fun vi -> vi * 2.0 ** float (i + 1))
let actual = x |> Tensor.grad |> Option.map Tensor.toArray |> Option.defaultValue [||]
let ok = Array.forall2 (fun (a: float) e -> abs (a - e) <= 1e-6 * abs e) actual expected
printfn "x.grad = v * 2^(i+1) = %A: %s" expected (if ok then "OK" else "MISMATCH")
exit (if ok && chain.Length = i + 1 then 0 else 1)
