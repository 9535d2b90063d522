/// Random differentiable programs: chains of registered ops with their non-differentiable
/// arguments fixed, defined on all reals so any chain is valid. For chain-rule properties.
namespace Cotangent.Testing

open System
open Cotangent
open FsCheck
open FsCheck.FSharp

/// One op application in a program: the registry name, a description, and the function.
type ProgramStep =
    {
        /// The op's registry name.
        Op: string
        /// The step as text, e.g. `mul 2.5`, printed with a failure.
        Describe: string
        /// The step itself.
        Apply: Tensor -> Tensor
    }

    override s.ToString() = s.Describe

/// An input and the steps applied to it in order.
[<ReferenceEquality>]
type Program =
    {
        /// The program's input.
        Input: Tensor
        /// The steps, applied in order.
        Steps: ProgramStep list
    }

    override p.ToString() =
        sprintf "x = %O\nsteps: %s" p.Input (p.Steps |> List.map string |> String.concat " → ")

/// Random programs (chains of registered ops) and their generators.
[<RequireQualifiedAccess>]
module Programs =

    let private matrix (r: Random) rows cols =
        // entries scaled by 1/√rows so values stay of order one along a chain
        Tensor.FromArray(
            Array.init (rows * cols) (fun _ -> (r.NextDouble() * 2.0 - 1.0) / sqrt (float rows)),
            [| rows; cols |]
        )

    /// A random step for an input of the given shape, and the shape it produces.
    let step (r: Random) (shape: int[]) : ProgramStep * int[] =
        let rank = shape.Length

        let unary op (f: Tensor -> Tensor) =
            { Op = op; Describe = op; Apply = f }, shape

        let choices =
            [ yield fun () -> unary "sin" (fun x -> x.Sin())
              yield fun () -> unary "cos" (fun x -> x.Cos())
              yield fun () -> unary "tanh" (fun x -> x.Tanh())
              yield fun () -> unary "sigmoid" (fun x -> x.Sigmoid())
              yield fun () -> unary "softplus" (fun x -> x.Softplus())
              yield fun () -> unary "gelu" (fun x -> x.Gelu())
              yield fun () -> unary "erf" (fun x -> x.Erf())
              yield fun () -> unary "neg" (fun x -> x.Neg())
              yield fun () -> unary "pow_scalar" (fun x -> x.Pow 2.0)
              yield
                  fun () ->
                      let c = Sampling.tensorIn r Sampling.Real shape

                      { Op = "mul"
                        Describe = "mul by a constant"
                        Apply = fun x -> x * c },
                      shape
              yield
                  fun () ->
                      let c = Sampling.tensorIn r Sampling.Real (shape |> Array.skip (r.Next(rank + 1)))

                      { Op = "add"
                        Describe = sprintf "add a broadcast constant %s" (Sampling.shapeText c.Shape)
                        Apply = fun x -> x + c },
                      shape
              if rank >= 1 then
                  yield
                      fun () ->
                          let k = r.Next(1, 5)
                          let m = matrix r shape.[rank - 1] k

                          { Op = "matmul"
                            Describe = sprintf "matmul by %s" (Sampling.shapeText m.Shape)
                            Apply = fun x -> Tensor.MatMul(x, m) },
                          Array.append shape.[.. rank - 2] [| k |]

                  yield
                      fun () ->
                          let a = r.Next rank

                          { Op = "sum"
                            Describe = sprintf "sum over axis %d" a
                            Apply = fun x -> x.Sum(a) },
                          Array.removeAt a shape

                  yield fun () -> unary "softmax" (fun x -> x.Softmax(-1))

                  yield
                      fun () ->
                          { Op = "reshape"
                            Describe = "flatten"
                            Apply = fun x -> x.Reshape(-1) },
                          [| Array.fold (*) 1 shape |]
              if rank >= 2 then
                  yield
                      fun () ->
                          { Op = "transpose"
                            Describe = "transpose the last two axes"
                            Apply = fun x -> x.T },
                          Array.append shape.[.. rank - 3] [| shape.[rank - 1]; shape.[rank - 2] |]
              if rank >= 1 && shape.[rank - 1] >= 2 then
                  yield
                      fun () ->
                          let n = shape.[rank - 1]

                          { Op = "slice"
                            Describe = "slice the first half of the last axis"
                            Apply = fun x -> x.Slice(-1, 0, n / 2) },
                          Array.append shape.[.. rank - 2] [| n / 2 |] ]

        choices.[r.Next choices.Length] ()

    /// A program of lo..hi steps on a float64 input of rank 1..3.
    let generate lo hi : Gen<Program> =
        gen {
            let! seed = Gen.choose (0, Int32.MaxValue)
            let! length = Gen.choose (lo, hi)
            let r = Random seed
            let shape0 = Sampling.shape r 1 3

            let steps, _ =
                List.fold (fun (acc, s) _ -> let st, s' = step r s in (st :: acc, s')) ([], shape0) [ 1..length ]

            return
                { Input = Sampling.tensorIn r Sampling.Real shape0
                  Steps = List.rev steps }
        }

    /// Programs that shrink by dropping trailing steps (every prefix is itself valid).
    let arbitrary lo hi : Arbitrary<Program> =
        Arb.fromGenShrink (
            generate lo hi,
            fun p ->
                if p.Steps.Length <= lo then
                    Seq.empty
                else
                    seq {
                        for n in p.Steps.Length - 1 .. -1 .. lo ->
                            { p with
                                Steps = List.truncate n p.Steps }
                    }
        )

    /// Runs the steps on x.
    let apply (p: Program) (x: Tensor) =
        p.Steps |> List.fold (fun h s -> s.Apply h) x
