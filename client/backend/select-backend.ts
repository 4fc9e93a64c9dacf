/// <reference types="vite/client" />
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlainUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { BackendName } from '../../shared/protocol/messages.ts';
import { registerScatterAddKernels } from '../../shared/train/scatter-add-kernel.ts';

export interface AdapterSummary {
  readonly vendor: string;
  readonly architecture: string;
  readonly isFallback: boolean;
}

export interface BackendChoice {
  readonly name: BackendName;
  /** A human sentence saying why this backend runs here. */
  readonly reason: string;
  readonly adapter?: AdapterSummary;
}

/** The order tried when WebGPU is absent or only a software emulation. */
const NON_GPU_ORDER: readonly BackendName[] = ['wasm', 'webgl', 'cpu'];

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlainUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimdUrl,
});

/** Looks at the WebGPU adapter (if any) without creating a device. */
async function probeAdapter(): Promise<AdapterSummary | undefined> {
  if (typeof navigator === 'undefined' || !navigator.gpu) return undefined;
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return undefined;
    const info = adapter.info as GPUAdapterInfo | undefined;
    const legacyFallback = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
    const infoFallback = (info as unknown as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true;
    const architecture = info?.architecture ?? '';
    return {
      vendor: info?.vendor ?? '',
      architecture,
      isFallback: legacyFallback || infoFallback || architecture.toLowerCase() === 'swiftshader',
    };
  } catch {
    return undefined;
  }
}

/** tf.setBackend's boolean is the truth: tf.getBackend() may name a backend that failed. */
async function trySetBackend(name: BackendName): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

function describeAdapter(a: AdapterSummary): string {
  return [a.vendor, a.architecture].filter((s) => s.length > 0).join(' ') || 'unknown adapter';
}

/**
 * Chooses and activates the TensorFlow.js backend. A forced backend (the page's
 * `?backend=` parameter) is tried exactly; if it fails the normal policy runs:
 * WebGPU on a real GPU adapter, otherwise wasm, then webgl, then cpu.
 */
export async function selectBackend(forced?: BackendName | null): Promise<BackendChoice> {
  registerScatterAddKernels();
  const adapter = await probeAdapter();
  let prefix = '';

  if (forced) {
    if (await trySetBackend(forced)) {
      const extra = forced === 'webgpu' && adapter ? ` (adapter: ${describeAdapter(adapter)}${adapter.isFallback ? ', software fallback' : ''})` : '';
      return { name: forced, reason: `Forced by the page's backend parameter${extra}.`, adapter };
    }
    prefix = `The forced backend '${forced}' failed to initialise; `;
  }

  const lead = (s: string): string => (prefix ? prefix + s.charAt(0).toLowerCase() + s.slice(1) : s);

  let why: string;
  if (!adapter) {
    why = typeof navigator !== 'undefined' && navigator.gpu ? 'No WebGPU adapter is available' : 'This browser has no WebGPU';
  } else if (adapter.isFallback) {
    why = `WebGPU adapter is a software fallback (${adapter.architecture || adapter.vendor || 'unknown'})`;
  } else if (forced !== 'webgpu' && (await trySetBackend('webgpu'))) {
    return { name: 'webgpu', reason: lead(`WebGPU runs on a hardware adapter (${describeAdapter(adapter)}).`), adapter };
  } else {
    why = `WebGPU failed to initialise on ${describeAdapter(adapter)}`;
  }

  const failed: BackendName[] = [];
  for (const name of NON_GPU_ORDER) {
    if (name === forced) continue;
    if (await trySetBackend(name)) {
      const after = failed.length > 0 ? ` (${failed.join(', ')} failed to initialise)` : '';
      const tail = name === 'wasm' ? 'wasm is faster here' : `using ${name}${after}`;
      return { name, reason: lead(`${why}; ${tail}.`), adapter };
    }
    failed.push(name);
  }
  throw new Error(lead(`${why}; no TensorFlow.js backend could be initialised.`));
}
