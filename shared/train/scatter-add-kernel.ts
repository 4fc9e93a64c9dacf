import * as tf from '@tensorflow/tfjs';

/**
 * The gradient of `tf.gather` is `UnsortedSegmentSum`. tfjs's wasm backend does not
 * register it at all, and the cpu backend's version loops once per output row over the
 * whole input (≈ 10–16 s per step on a 3000×32 table; see DESIGN.md). Both are replaced
 * here by a plain typed-array scatter-add: out[segmentIds[i], :] += x[i, :].
 */
function scatterAdd(x: Float32Array, ids: Int32Array, inner: number, out: Float32Array, numSegments: number): void {
  out.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue; // tf semantics: out-of-range ids are dropped
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] += x[src + j];
  }
}

function outShape(x: tf.TensorInfo, ids: tf.TensorInfo, numSegments: number): number[] {
  return [numSegments, ...x.shape.slice(ids.shape.length)];
}

interface CpuLikeBackend {
  data: { get(id: tf.DataId): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}
interface WasmLikeBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

const cpuKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const b = backend as unknown as CpuLikeBackend;
  const xs = b.data.get(x.dataId).values as Float32Array;
  const ids = Int32Array.from(b.data.get(segmentIds.dataId).values as ArrayLike<number>);
  const shape = outShape(x, segmentIds, numSegments);
  const inner = ids.length === 0 ? 0 : xs.length / ids.length;
  const out = new Float32Array(numSegments * inner || tf.util.sizeFromShape(shape));
  scatterAdd(xs, ids, inner, out, numSegments);
  return b.makeTensorInfo(shape, 'float32', out);
};

const wasmKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const b = backend as unknown as WasmLikeBackend;
  const shape = outShape(x, segmentIds, numSegments);
  // Allocate first: growing the wasm heap would detach views taken before.
  const out = b.makeOutput(shape, 'float32');
  const xs = b.typedArrayFromHeap(x) as Float32Array;
  const rawIds = b.typedArrayFromHeap(segmentIds);
  const ids = rawIds instanceof Int32Array ? rawIds : Int32Array.from(rawIds);
  const inner = ids.length === 0 ? 0 : xs.length / ids.length;
  scatterAdd(xs, ids, inner, b.typedArrayFromHeap(out) as Float32Array, numSegments);
  return out;
};

let registered = false;

/** Registers the fast scatter-add for the cpu and wasm backends (idempotent). */
export function registerScatterAddKernels(): void {
  if (registered) return;
  registered = true;
  for (const [backendName, kernelFunc] of [
    ['cpu', cpuKernel],
    ['wasm', wasmKernel],
  ] as const) {
    if (tf.getKernel('UnsortedSegmentSum', backendName)) tf.unregisterKernel('UnsortedSegmentSum', backendName);
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName, kernelFunc });
  }
}
