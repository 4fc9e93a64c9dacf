/**
 * What the TypeScript side of every WebAssembly kernel in shared/kernels/ needs (their
 * loaders: shared/train/mf-wasm-kernel.ts, shared/aggregate/weighted-fold-kernel.ts,
 * shared/aggregate/centered-clipping-kernel.ts): the module's bytes from its generated
 * base64 constant, the module compiled once per thread, regions of linear memory laid out
 * one after another, and a memory grown to hold them. The kernels allocate nothing; their
 * loaders pass byte offsets from such a layout.
 */

/** A kernel's bytes from its generated base64 constant (shared/kernels/*-wasm.ts). */
export function kernelBytes(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

const compiled = new Map<string, WebAssembly.Module | null>();

/**
 * The kernel compiled synchronously, once per thread (keyed by its base64), or null where
 * this runtime cannot compile it (no WebAssembly, or no SIMD). Synchronous compilation is
 * refused on a browser's main thread for modules over 4 KB: use it for smaller kernels.
 */
export function compiledKernel(base64: string): WebAssembly.Module | null {
  let module = compiled.get(base64);
  if (module === undefined) {
    try {
      module = new WebAssembly.Module(kernelBytes(base64));
    } catch {
      module = null;
    }
    compiled.set(base64, module);
  }
  return module;
}

/** Regions of a linear memory, one after another, each aligned to 16 bytes (one v128). */
export class MemoryLayout {
  private at: number;

  /** `start`: the first free byte (the kernel's __heap_base, or 16 to keep address 0 unused). */
  constructor(start: number) {
    this.at = align16(start);
  }

  /** The byte offset of a new region of `bytes` bytes. */
  take(bytes: number): number {
    const p = this.at;
    this.at = align16(this.at + bytes);
    return p;
  }

  /** The end of everything taken so far. */
  get end(): number {
    return this.at;
  }
}

/** Grows `memory` until it holds `bytes` bytes (WebAssembly pages of 64 KiB). */
export function growToHold(memory: WebAssembly.Memory, bytes: number): void {
  const need = Math.ceil(bytes / 65536) - memory.buffer.byteLength / 65536;
  if (need > 0) memory.grow(need);
}

function align16(n: number): number {
  return (n + 15) & ~15;
}
