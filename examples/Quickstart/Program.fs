// The seed chapter's autograd example, end to end (F#):
//   x = torch.randn(3, requires_grad=True); y = x * 2
//   while y.data.norm() < 1000: y = y * 2
//   y.backward(v) with v = [0.1, 1.0, 0.0001]; print(x.grad)
// y = 2^(i+1) · x, so J = 2^(i+1) · I and x.grad = Jᵀv = 2^(i+1) · v.
open Cotangent
open Cotangent.FSharp

Tensor.manualSeed 2025UL

let x = randn [ 3 ] |> requiresGrad
printfn "x = %O" x

let mutable y = x * 2.0
let mutable i = 0

while norm y < 1000.0 do
    y <- y * 2.0
    i <- i + 1

printfn "y = %O" y
printfn "i = %d" i

let v = tensor [ 0.1; 1.0; 0.0001 ]
y |> backwardWith v
printfn "x.grad = %O" x.Grad

// The graph the backward pass walked: one mul node per doubling, ending at the leaf x.
let chain =
    Tensor.gradFn y
    |> List.unfold (Option.map (fun n -> string n, Option.ofObj n.NextFunctions.[0]))

let leafFn = Tensor.gradFn x |> Option.map string |> Option.defaultValue "None"

printfn
    "grad_fn chain (%d nodes): %s -> leaf x (is_leaf = %b, grad_fn = %s)"
    chain.Length
    (String.concat " -> " chain)
    x.IsLeaf
    leafFn

let expected = Tensor.toArray v |> Array.map (fun vi -> vi * 2.0 ** float (i + 1))
let actual = Tensor.grad x |> Option.map Tensor.toArray |> Option.defaultValue [||]

let ok =
    actual.Length = 3
    && Array.forall2 (fun (a: float) e -> abs (a - e) <= 1e-6 * abs e) actual expected

printfn "x.grad = v * 2^(i+1) = %A: %s" expected (if ok then "OK" else "MISMATCH")
exit (if ok && chain.Length = i + 1 then 0 else 1)
