/// Bad input gets an exception that names the op and what was wrong, before any work.
module Cotangent.Tests.ErrorTests

open System
open Expecto
open Cotangent
open Cotangent.Tests.Check

let private a23 = Tensor.Zeros(2, 3)
let private a4 = Tensor.Zeros(4)

let private shapeError name (f: unit -> Tensor) parts =
    test name { throwsWith<ShapeMismatchException, _> f parts }

let tests =
    testList
        "errors"
        [ testList
              "shapes"
              [ shapeError "add" (fun () -> a23 + a4) [ "add"; "[2, 3]"; "[4]" ]
                shapeError "sub" (fun () -> a23 - a4) [ "sub"; "[2, 3]"; "[4]" ]
                shapeError "mul" (fun () -> a23 * a4) [ "mul"; "[2, 3]"; "[4]" ]
                shapeError "div" (fun () -> a23 / a4) [ "div"; "[2, 3]"; "[4]" ]
                shapeError "pow" (fun () -> a23.Pow a4) [ "pow"; "[2, 3]"; "[4]" ]
                shapeError "maximum" (fun () -> Tensor.Maximum(a23, a4)) [ "maximum"; "[2, 3]"; "[4]" ]
                shapeError "where" (fun () -> Tensor.Where(a23.Gt 0.0, a23, a4)) [ "where"; "[2, 3]"; "[4]" ]
                shapeError "matmul" (fun () -> Tensor.MatMul(a23, Tensor.Zeros(4, 5))) [ "matmul"; "[2, 3]"; "[4, 5]" ]
                shapeError
                    "matmul batch"
                    (fun () -> Tensor.MatMul(Tensor.Zeros(2, 2, 3), Tensor.Zeros(3, 3, 1)))
                    [ "matmul"; "[2]"; "[3]" ]
                shapeError "dot" (fun () -> Tensor.Dot(a4, Tensor.Zeros 3)) [ "dot"; "[4]"; "[3]" ]
                shapeError "cat" (fun () -> Tensor.Cat([| a23; Tensor.Zeros(3, 3) |], 1)) [ "cat"; "[2, 3]"; "[3, 3]" ]
                shapeError "stack" (fun () -> Tensor.Stack([| a23; a4 |])) [ "stack"; "[2, 3]"; "[4]" ]
                shapeError "reshape" (fun () -> a23.Reshape(4, 2)) [ "reshape"; "[2, 3]"; "[4, 2]" ]
                shapeError "expand" (fun () -> a23.Expand(2, 4)) [ "expand"; "[2, 3]"; "[2, 4]" ]
                shapeError "mse_loss" (fun () -> Tensor.MseLoss(a23, a4)) [ "mse_loss"; "[2, 3]"; "[4]" ]
                shapeError
                    "gather"
                    (fun () -> a23.Gather(1, Tensor.Zeros([| 3; 1 |], DType.Int64)))
                    [ "gather"; "[3, 1]"; "[2, 3]" ]
                shapeError
                    "cross_entropy"
                    (fun () -> Tensor.CrossEntropy(a23, Tensor.Zeros([| 3 |], DType.Int64)))
                    [ "cross_entropy"; "[2, 3]"; "[3]" ]
                shapeError "split" (fun () -> a23.Split([| 1; 1 |], 1) |> Array.head) [ "split"; "[2, 3]" ] ]
          testList
              "dtypes"
              [ test "exp of int64" {
                    throwsWith<DTypeMismatchException, _> (fun () -> Tensor.From(1L).Exp()) [ "exp"; "int64" ]
                }
                test "index_select with float indices" {
                    throwsWith<DTypeMismatchException, _>
                        (fun () -> a23.IndexSelect(0, Tensor.From 0.0))
                        [ "index_select"; "float64" ]
                }
                test "cross_entropy with float labels" {
                    throwsWith<DTypeMismatchException, _>
                        (fun () -> Tensor.CrossEntropy(a23, Tensor.From(0.0, 1.0)))
                        [ "cross_entropy"; "int64"; "float64" ]
                }
                test "where with a float condition" {
                    throwsWith<DTypeMismatchException, _>
                        (fun () -> Tensor.Where(a23, a23, a23))
                        [ "where"; "bool"; "float32" ]
                }
                test "add of bools" {
                    throwsWith<DTypeMismatchException, _>
                        (fun () -> Tensor.From(true) + Tensor.From(false))
                        [ "add"; "bool" ]
                } ]
          testList
              "axes and indices"
              [ test "sum over a missing axis" {
                    throwsWith<AxisOutOfRangeException, _> (fun () -> a23.Sum 2) [ "sum"; "axis 2"; "rank 2" ]
                }
                test "softmax over a missing axis" {
                    throwsWith<AxisOutOfRangeException, _> (fun () -> a23.Softmax -3) [ "axis -3" ]
                }
                test "permute that is not a permutation" {
                    throwsWith<AxisOutOfRangeException, _> (fun () -> a23.Permute(0, 0)) [ "permute" ]
                }
                test "index out of range" {
                    throwsWith<IndexOutOfRangeException, _>
                        (fun () -> a23.IndexSelect(0, Tensor.From(0L, 2L)))
                        [ "index_select"; "index 2"; "size 2" ]
                }
                test "label out of range" {
                    throwsWith<IndexOutOfRangeException, _>
                        (fun () -> Tensor.CrossEntropy(a23, Tensor.From(0L, 3L)))
                        [ "cross_entropy"; "label 3"; "3 classes" ]
                }
                test "max over an empty axis" {
                    throwsWith<ArgumentException, _> (fun () -> Tensor.Zeros(0, 2).Max(0)) [ "max"; "size 0" ]
                } ]
          testList
              "devices"
              [ test "an op on a CUDA device says no backend serves it" {
                    throwsWith<DeviceUnavailableException, _>
                        (fun () -> Tensor.Zeros([| 2 |], device = Device.Cuda(Device.CudaCount + 1)))
                        [ "zeros:"; "not available" ]
                } ] ]
