(**
---
title: VjpRule
category: Reference
categoryindex: 9
index: 1
---
*)
(*** hide ***)
#load "../../scripts/docs/refs.fsx"
(**
# VjpRule

Namespace: [Cotangent](cotangent.html) · Assembly: Cotangent.dll

```csharp
public delegate Tensor? VjpRule(int i, Tensor cotangent, Tensor[] inputs, Tensor output);
```

A VJP rule: the gradient with respect to input `i`, given the cotangent of the output, the op's
inputs and its output; `null` when input `i` is not differentiable. The engine calls it only for
inputs that need a gradient, and reduces broadcast axes itself. It is what
[CustomOp.Apply](cotangent-customop.html) records as the backward function of an op you write
(a [Function](cotangent-function.html) subclass gets one made for it). Write the rule with
Cotangent ops if its result must itself be differentiable (`createGraph`, nested transforms).

(This page is written by hand: fsdocs 22 cannot read a C# delegate type.)

## Example

softplus(x) = log(1 + eˣ) with its rule, ∂/∂x = σ(x), used as any other op:
*)
open Cotangent

let softplus (x: Tensor) =
    CustomOp.Apply(
        "my_softplus",
        [| x |],
        (fun xs -> (xs.[0].Exp() + 1.0).Log()),
        VjpRule(fun _ cotangent inputs _ -> cotangent * inputs.[0].Sigmoid())
    )

let x = Tensor.FromArray([| -1.0; 0.0; 2.0 |], [| 3 |]).RequireGrad()
let y = softplus x
y.Sum().Backward()
printfn "GradFn: %O" y.GradFn
printfn "x.Grad: %O" x.Grad
printfn "σ(x):   %O" (x.Detach().Sigmoid())
(*** include-output ***)
